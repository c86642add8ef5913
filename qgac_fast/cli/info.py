"""``qgac-fast info``: what a JPEG file holds (layout, quantization tables and their closest IJG
quality, a twice-compressed file's first quality, EXIF orientation, ICC profile), or for another
image file (PNG...) the JPEG history estimated from its pixels; as text or JSON.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..jpeg_files import collect_inputs

__all__ = ["add_parser", "describe_file", "format_info", "run"]


def add_parser(subparsers) -> None:
    """Declare ``info`` and its arguments on an argparse ``subparsers`` object."""
    parser = subparsers.add_parser(
        "info", help="show the layout and quantization tables of JPEG files",
        description="For each JPEG: size, colour space, chroma subsampling, progressive or not, and each "
                    "quantization table (DQT slot, the components that use it, its 8x8 steps in natural "
                    "order) with the closest IJG (libjpeg) quality, and the first quality of a file "
                    "compressed twice; its EXIF orientation and ICC profile. For another image file (PNG...): "
                    "the JPEG grid, layout and tables estimated from its pixels, or that it has no JPEG "
                    "history. FILE is a file, a folder (its *.jpg and *.jpeg, recursively) or a glob, as for "
                    "correct. Files that cannot be read are reported on stderr as 'path: reason'; the exit "
                    "status is 1 if any failed.")
    parser.add_argument("files", nargs="+", metavar="FILE", help="JPEG or image file, folder or glob")
    parser.add_argument("--json", action="store_true", help="print one JSON list of per-file objects instead")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``info``; returns the exit status: 0 every file described, 1 one could not be (or none found)."""
    found, errors = collect_inputs(args.files)
    for arg, reason in errors:
        print(f"{arg}: {reason}", file=sys.stderr)
    if not found and not errors:
        print("no JPEG files found in the inputs", file=sys.stderr)
        return 1
    infos, failed = [], bool(errors)
    for path, _ in found:
        try:
            info = describe_file(path)
        except (OSError, ValueError, TypeError) as error:  # JPEGError and ImageError are ValueErrors
            failed = True
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            print(f"{path}: {reason}", file=sys.stderr)
            continue
        if args.json:
            infos.append(info)
        else:
            print(format_info(info))
    if args.json:
        print(json.dumps(infos, indent=2))
    return 1 if failed else 0


def describe_file(path: str) -> dict:
    """What ``info`` reports about one JPEG, as JSON-ready values: its layout and tables, and the
    first table of a twice-compressed file (``primary``); for an image file that is no JPEG, the
    quantization estimated from its pixels (``estimate``).

    The file is read once (:func:`~qgac_fast.sources.read_source`: a pipe or ``/dev/stdin`` too),
    within the default limits. Raises ``JPEGError`` (bad or unsupported JPEG), ``ValueError``
    (above the limits, a device) or ``OSError`` (unreadable path).
    """
    from .. import metadata
    from ..blind import decoded_pixels
    from ..codec import DEFAULT_MAX_PIXELS, read_coefficients
    from ..sources import input_byte_limit, read_source
    from ..estimate import estimate_quantization
    from ..quality import closest_quality

    data = read_source(path, input_byte_limit(DEFAULT_MAX_PIXELS))
    decoded = decoded_pixels(data)
    if decoded is not None:
        pixels = decoded.pixels
        return {"path": path, "width": pixels.shape[2], "height": pixels.shape[1],
                "icc_profile": _icc_json(decoded.icc_profile), "estimate": estimate_quantization(pixels).to_json()}
    jc = read_coefficients(data)
    tables = []
    for slot in sorted(set(jc.table_indices)):
        users = [c for c, s in enumerate(jc.table_indices) if s == slot]
        # Compare luma-coded components with the luminance table and Cb/Cr with chrominance;
        # an RGB JPEG's components are neither, so try both.
        chroma = None if jc.color_space == "rgb" else users[0] != 0
        match = closest_quality(jc.quantization[users[0]], chroma=chroma)
        tables.append({
            "slot": slot,
            "components": users,
            "values": jc.quantization[users[0]].tolist(),
            "quality": match.quality,
            "exact": match.exact,
            "distance": match.distance,
            "compared_with": "chroma" if match.chroma else "luma",
            "baseline": match.baseline,
        })
    return {
        "path": path,
        "width": jc.width,
        "height": jc.height,
        "color_space": jc.color_space,
        "subsampling": jc.subsampling,
        "progressive": jc.progressive,
        "orientation": None if jc.exif is None else metadata.orientation(jc.exif),
        "icc_profile": _icc_json(jc.icc_profile),
        "components": [{"index": c, "sampling": list(jc.sampling[c]), "table": slot}
                       for c, slot in enumerate(jc.table_indices)],
        "tables": tables,
        "primary": None if (primary := _primary(jc)) is None else primary.to_json(),
    }


def _icc_json(profile: bytes | None) -> dict | None:
    """An ICC profile as ``info`` reports it: its description (None when unreadable) and size."""
    from .. import metadata

    return None if not profile else {"description": metadata.icc_description(profile), "bytes": len(profile)}


def _metadata_line(info: dict) -> str:
    """``info``'s line on the EXIF Orientation (JPEGs) and the ICC profile."""
    from .. import metadata

    parts = []
    if "orientation" in info:
        parts.append("no EXIF" if info["orientation"] is None else
                     f"EXIF orientation {info['orientation']} ({metadata.ORIENTATIONS[info['orientation']]})")
    icc = info["icc_profile"]
    parts.append("no ICC profile" if icc is None else
                 f"ICC profile {icc['description'] or '(no description)'!r}, {icc['bytes']:,} bytes")
    return "  " + "; ".join(parts)


def _primary(jc):
    """The primary table of a twice-compressed JPEG, aligned or shifted (:mod:`qgac_fast.primary`), or None."""
    from ..primary import find_primary, find_shifted_primary

    primary = find_primary(jc)
    if primary is None and (shifted := find_shifted_primary(jc)) is not None:
        primary = shifted[0]
    return primary


def format_info(info: dict) -> str:
    """The human-readable ``info`` block of one file."""
    if "estimate" in info:
        est = info["estimate"]
        head = f"{info['path']}: {info['width']}x{info['height']}, not a JPEG file: "
        if not est["found"]:
            return head + est["reason"] + "\n" + _metadata_line(info)
        quality = f"IJG quality {est['quality']}" if est["quality"] else "non-IJG luma table"
        lines = [head + f"decoded JPEG, {quality}, {est['subsampling']}, grid offset {tuple(est['offset'])}, "
                        f"confidence {est['confidence']:.2f} (estimated from the pixels)", _metadata_line(info)]
        for name in ("luma", "chroma"):
            if est[name] is not None:
                lines.append(f"  {name} table:")
                lines.extend("    " + " ".join(f"{v:3d}" for v in row) for row in est[name])
        return "\n".join(lines)
    lines = [f"{info['path']}: {info['width']}x{info['height']}, {info['color_space']}, {info['subsampling']}, "
             f"{'progressive' if info['progressive'] else 'sequential'}", _metadata_line(info)]
    for table in info["tables"]:
        users = table["components"]
        label = f"component{'s' if len(users) > 1 else ''} {', '.join(map(str, users))}"
        kind = table["compared_with"] + ("" if table["baseline"] else ", non-baseline")
        if table["exact"]:
            quality = f"IJG quality {table['quality']} (exact {kind} table)"
        else:
            quality = (f"closest IJG quality {table['quality']} (approximate {kind} table, "
                       f"sum of |differences| {table['distance']:g})")
        lines.append(f"  table {table['slot']} ({label}): {quality}")
        lines.extend("    " + " ".join(f"{v:3d}" for v in row) for row in table["values"])
    if info["primary"] is not None:
        grid = f", on a grid shifted to {tuple(info['primary']['offset'])}" if info["primary"]["shifted"] else ""
        lines.append(f"  compressed twice: first at IJG quality {info['primary']['quality']}{grid} (fit "
                     f"{info['primary']['fit']:.2f}); correct --table auto uses it")
    return "\n".join(lines)
