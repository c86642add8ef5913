"""The ``qgac-fast`` subcommands and their parser, run by :func:`qgac_fast.cli.main` (which sets the
process up first: this module imports torch).

Each subcommand is a pair: ``_add_<name>(subparsers)`` declares its arguments and sets
``run=_run_<name>``, a function ``(args) -> exit status``; larger ones live in their own module
with ``add_parser`` / ``run`` (``correct_cli``, ``train.cli``). Register new subcommands in
``_SUBCOMMANDS``; heavy imports stay inside the run functions.

Subcommands:
    info FILE...   layout and quantization tables of JPEG files (folders: their JPEG files), with
                   the closest IJG quality (baseline tables, and cjpeg's non-baseline ones above
                   255), EXIF orientation and ICC profile; estimated tables for decoded images (PNG...).
    eval DIR...    JPEG (and corrected) PSNR, PSNR-B and SSIM of image folders, the literature's protocol.
    correct INPUT... [-o OUTDIR]   correct JPEG files, folders and globs with a QGAC model.
    train --out DIR   train QGAC weights (also under torchrun).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys

from . import correct_cli
from ._version import __version__
from .argtypes import add_threads, jpeg_quality, positive_int
from .options import PRECISIONS
from .train import cli as train_cli

__all__ = ["build_parser", "freeze_collector", "main"]


def _describe(path: str) -> dict:
    """What ``info`` reports about one JPEG, as JSON-ready values: its layout and tables, and the
    first table of a twice-compressed file (``primary``); for an image file that is no JPEG, the
    quantization estimated from its pixels (``estimate``).

    The file is read once (:func:`~qgac_fast.sources.read_source`: a pipe or ``/dev/stdin`` too),
    within the default limits. Raises ``JPEGError`` (bad or unsupported JPEG), ``ValueError``
    (above the limits, a device) or ``OSError`` (unreadable path).
    """
    from . import metadata
    from .blind import decoded_pixels
    from .codec import DEFAULT_MAX_PIXELS, read_coefficients
    from .sources import input_byte_limit, read_source
    from .estimate import estimate_quantization
    from .quality import closest_quality

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
    from . import metadata

    return None if not profile else {"description": metadata.icc_description(profile), "bytes": len(profile)}


def _metadata_line(info: dict) -> str:
    """``info``'s line on the EXIF Orientation (JPEGs) and the ICC profile."""
    from . import metadata

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
    from .primary import find_primary, find_shifted_primary

    primary = find_primary(jc)
    if primary is None and (shifted := find_shifted_primary(jc)) is not None:
        primary = shifted[0]
    return primary


def _format_info(info: dict) -> str:
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


def _add_info(subparsers) -> None:
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
    parser.set_defaults(run=_run_info)


def _run_info(args: argparse.Namespace) -> int:
    from .errors import JPEGError

    found, errors = correct_cli.collect_inputs(args.files)
    for arg, reason in errors:
        print(f"{arg}: {reason}", file=sys.stderr)
    if not found and not errors:
        print("no JPEG files found in the inputs", file=sys.stderr)
        return 1
    infos, failed = [], bool(errors)
    for path, _ in found:
        try:
            info = _describe(path)
        except (JPEGError, OSError, ValueError, TypeError) as error:
            failed = True
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            print(f"{path}: {reason}", file=sys.stderr)
            continue
        if args.json:
            infos.append(info)
        else:
            print(_format_info(info))
    if args.json:
        print(json.dumps(infos, indent=2))
    return 1 if failed else 0


def _add_eval(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval", help="measure JPEG and corrected PSNR, PSNR-B and SSIM on image folders",
        description="For each image of each folder and each quality: compress with libjpeg (IJG tables, "
                    "4:2:0), decode, correct with the model, and measure both against the original "
                    "(PSNR | PSNR-B / SSIM, means over images; RGB, or one gray channel with --gray) in the "
                    "protocol of the published tables (SSIM with an 8x8 uniform window; --json also holds "
                    "the 11x11 Gaussian SSIM as ssim_gaussian). "
                    "Prints a Markdown table per folder; folders that cannot be evaluated are reported "
                    "on stderr as 'path: reason' and make the exit status 1.")
    parser.add_argument("datasets", nargs="+", metavar="DATASET_DIR",
                        help="folder of BMP, PNG, JPEG or TIFF images (not recursive)")
    parser.add_argument("--quality", nargs="+", type=jpeg_quality, required=True, metavar="Q",
                        help="IJG qualities 1..100, e.g. --quality 10 20 30")
    parser.add_argument("--gray", action="store_true",
                        help="evaluate gray: gray files as they are, colour files' BT.601 studio-range luma")
    parser.add_argument("--json", metavar="FILE", help="also write all results as a JSON list to FILE (atomically)")
    parser.add_argument("--model", default="default", metavar="NAME_OR_PATH",
                        help="shipped weights (default, default-gan) or a .safetensors path (default: %(default)s)")
    parser.add_argument("--device", help="cpu, cuda, cuda:N (default: CUDA when available, else cpu)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="model precision: auto (bf16 autocast on CUDA and on CPUs with native bf16, else "
                             "float32), float32, bf16, fp16 (CUDA) (default: %(default)s); recorded in --json, "
                             "with the threads")
    parser.add_argument("--limit", type=positive_int, metavar="N", help="only the first N images of each folder")
    add_threads(parser)
    parser.add_argument("--jpeg-only", action="store_true", help="measure the JPEG only; load no model")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=_run_eval)


def _run_eval(args: argparse.Namespace) -> int:
    from .atomic import write_atomic
    from .evaluate import evaluate, format_table, list_images, to_json
    from .inference.outputs import report_refusal

    import torch

    if args.json:
        images = []
        for folder in args.datasets:
            try:
                images.extend(list_images(folder))
            except ValueError:  # reported below, when the folder is evaluated
                pass
        why = report_refusal(args.json, images, [])
        if why is not None:
            print(f"qgac-fast eval: --json {args.json}: {why}", file=sys.stderr)
            return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    corrector, precision = None, None
    if not args.jpeg_only:
        from .correct import correct
        from .devices import resolve_device
        from .inference import resolve_precision
        from .model import load_model

        try:
            device = resolve_device(args.device)
        except ValueError as error:
            print(f"qgac-fast eval: --device: {error}", file=sys.stderr)
            return 2
        try:
            model = load_model(args.model, device=device)
        except Exception as error:  # any reason the weights cannot be used ends the command cleanly
            reason = str(error) or type(error).__name__
            print(f"qgac-fast eval: cannot load model {args.model!r}: {reason}", file=sys.stderr)
            return 1
        try:
            precision = resolve_precision(args.precision, model.mean.device)
        except ValueError as error:
            print(f"qgac-fast eval: {error}", file=sys.stderr)
            return 2

        def corrector(data: bytes):
            return correct(data, model=model, precision=precision)

        freeze_collector()

    results, failed = [], False
    for folder in args.datasets:
        try:
            result = evaluate(folder, args.quality, corrector, gray=args.gray, limit=args.limit,
                              progress=not args.quiet)
        except (ValueError, OSError) as error:
            failed = True
            print(f"{folder}: {error}", file=sys.stderr)
            continue
        if precision is not None:
            result["precision"] = precision
            result["threads"] = torch.get_num_threads()
        results.append(result)
        print(format_table(result), flush=True)
    if args.json:
        try:
            write_atomic(args.json, to_json(results).encode())
        except OSError as error:
            print(f"qgac-fast eval: cannot write --json {args.json}: {error.strerror or error}", file=sys.stderr)
            return 1
    return 1 if failed else 0


_SUBCOMMANDS = (_add_info, _add_eval, correct_cli.add_parser, train_cli.add_parser)


def build_parser() -> argparse.ArgumentParser:
    """The ``qgac-fast`` argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="qgac-fast", description="Fast Quantization Guided JPEG Artifact Correction.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", required=True, metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a subcommand with ``argv`` (default ``sys.argv[1:]``); returns the exit status. The command
    line's entry is :func:`qgac_fast.cli.main`, which sets the process up first.

    Usage errors and ``--help`` exit through ``SystemExit`` as argparse does (status 2 and 0).
    """
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if argv and os.path.isfile(argv[0]):  # a file where the command goes: say which command reads it
        parser.error(f"{argv[0]!r} is a file, not a command: the command comes first, e.g. "
                     f"'qgac-fast info {argv[0]}' or 'qgac-fast correct {argv[0]}'")
    args = parser.parse_args(argv)
    # A subcommand may freeze the collector's objects once its model is loaded (freeze_collector);
    # what it froze is handed back when it returns, so that a caller running main() again (tests,
    # a program embedding the command line) can collect the first run's garbage
    owns_freeze = gc.get_freeze_count() == 0
    try:
        return args.run(args)
    except BrokenPipeError:
        # The reader went away (`qgac-fast info *.jpg | head`): stop quietly like other Unix tools;
        # pointing stdout at devnull keeps the interpreter's final flush from raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        if owns_freeze:
            gc.unfreeze()


def freeze_collector() -> None:
    """Move every object alive now (torch's modules, the loaded model) out of the garbage
    collector's generations, unless the process already froze some (then its choice stands): a
    full collection in the per-image loop then scans only what the images made, not 300,000
    objects (0.17 s each; 0.50 -> 0.11 s of collections over an 8 MP folder). :func:`main`
    unfreezes them when the subcommand returns."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
