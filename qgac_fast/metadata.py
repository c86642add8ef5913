"""Image metadata a correction keeps: the EXIF block and the ICC colour profile of a JPEG.

The one place that knows their JPEG form (EXIF: an APP1 marker ``"Exif\\0\\0"`` + a TIFF
structure; ICC: APP2 markers ``"ICC_PROFILE\\0"`` + chunk number + chunk count + part of the
profile, a profile above 64 KB spanning several) and the EXIF Orientation tag (1..8):

* :func:`exif_from_markers` / :func:`icc_from_markers`: the metadata of markers that
  :func:`~qgac_fast.read_coefficients` kept (:attr:`~qgac_fast.JPEGCoefficients.markers`).
* :func:`metadata_markers` / :func:`insert_markers`: the markers back, and spliced into a JPEG
  file's bytes (JPEG outputs of :func:`~qgac_fast.compress`, which writes none).
* :func:`orientation`, :func:`apply_orientation`: read the tag, and turn pixels upright with the
  tag reset to 1.
* :func:`icc_description`: the name an ICC profile gives itself (what ``qgac-fast info`` shows).
"""

from __future__ import annotations

import struct

import numpy as np

__all__ = ["ORIENTATIONS", "apply_orientation", "exif_from_markers", "icc_description", "icc_from_markers",
           "insert_markers", "metadata_markers", "orientation"]

APP0, APP1, APP2 = 0xE0, 0xE1, 0xE2
EXIF_HEADER = b"Exif\x00\x00"
ICC_HEADER = b"ICC_PROFILE\x00"
#: Largest marker payload: a segment's 16-bit length counts its own two bytes.
MAX_MARKER_BYTES = 65533
_ICC_CHUNK_BYTES = MAX_MARKER_BYTES - len(ICC_HEADER) - 2  # profile bytes per APP2 marker
_ORIENTATION_TAG = 0x0112
#: What each EXIF Orientation asks a viewer to do with the stored pixels.
ORIENTATIONS = {1: "upright", 2: "mirror", 3: "rotate 180", 4: "flip", 5: "transpose", 6: "rotate 90 clockwise",
                7: "transverse", 8: "rotate 90 counter-clockwise"}
_ICC_HEADER_BYTES = 128


def exif_from_markers(markers) -> bytes | None:
    """The EXIF TIFF structure (after ``"Exif\\0\\0"``, as Pillow's ``exif=`` save option takes it)
    of the first EXIF APP1 among ``(code, payload)`` markers, or None."""
    for code, payload in markers:
        if code == APP1 and payload.startswith(EXIF_HEADER):
            return bytes(payload[len(EXIF_HEADER):])
    return None


def icc_from_markers(markers) -> bytes | None:
    """The ICC profile reassembled from the APP2 chunks among ``(code, payload)`` markers, or None
    when there is none or the chunks are inconsistent (numbers not 1..count each once, counts
    differing), as libjpeg's ``jpeg_read_icc_profile`` decides."""
    chunks: dict[int, bytes] = {}
    counts = set()
    for code, payload in markers:
        if code == APP2 and payload.startswith(ICC_HEADER) and len(payload) >= len(ICC_HEADER) + 2:
            number, count = payload[len(ICC_HEADER)], payload[len(ICC_HEADER) + 1]
            if number in chunks:
                return None
            chunks[number] = bytes(payload[len(ICC_HEADER) + 2:])
            counts.add(count)
    if not chunks or len(counts) != 1 or set(chunks) != set(range(1, counts.pop() + 1)):
        return None
    return b"".join(chunks[number] for number in sorted(chunks))


def metadata_markers(exif: bytes | None, icc_profile: bytes | None) -> list[tuple[int, bytes]]:
    """``(code, payload)`` JPEG markers holding ``exif`` (a TIFF structure; one APP1) and
    ``icc_profile`` (as many APP2 chunks as it needs, at most 255), None meaning absent.

    Raises:
        ValueError: an EXIF block above one marker (65527 bytes) or a profile above 255 chunks.
    """
    markers = []
    if exif:
        if len(EXIF_HEADER) + len(exif) > MAX_MARKER_BYTES:
            raise ValueError(f"EXIF of {len(exif)} bytes does not fit a JPEG marker "
                             f"(at most {MAX_MARKER_BYTES - len(EXIF_HEADER)})")
        markers.append((APP1, EXIF_HEADER + exif))
    if icc_profile:
        parts = [icc_profile[i:i + _ICC_CHUNK_BYTES] for i in range(0, len(icc_profile), _ICC_CHUNK_BYTES)]
        if len(parts) > 255:
            raise ValueError(f"ICC profile of {len(icc_profile)} bytes needs more than 255 JPEG markers")
        markers += [(APP2, ICC_HEADER + bytes([n, len(parts)]) + part) for n, part in enumerate(parts, 1)]
    return markers


def insert_markers(jpeg: bytes, markers) -> bytes:
    """``jpeg`` with ``(code, payload)`` markers inserted after its SOI and its JFIF APP0 marker if
    it starts with one (where libjpeg and jpegtran put them; EXIF readers look near the start).

    Raises:
        ValueError: ``jpeg`` does not start with SOI, or a payload above 65533 bytes.
    """
    if not jpeg.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG file: no SOI marker at the start")
    at = 2
    if jpeg[2:4] == b"\xff\xe0":
        at = 4 + struct.unpack(">H", jpeg[4:6])[0]
    segments = []
    for code, payload in markers:
        if len(payload) > MAX_MARKER_BYTES:
            raise ValueError(f"marker 0x{code:X} payload of {len(payload)} bytes exceeds {MAX_MARKER_BYTES}")
        segments.append(struct.pack(">BBH", 0xFF, code, len(payload) + 2) + payload)
    return jpeg[:at] + b"".join(segments) + jpeg[at:]


def _orientation_entry(exif: bytes) -> tuple[str, int] | None:
    """Byte order and offset of the value of the Orientation entry in IFD0 of the TIFF structure
    ``exif``, or None if it has none or is malformed (metadata must never fail a correction)."""
    if len(exif) < 8 or exif[:2] not in (b"II", b"MM"):
        return None
    order = "<" if exif[:2] == b"II" else ">"
    ifd = struct.unpack(order + "I", exif[4:8])[0]
    if ifd + 2 > len(exif):
        return None
    count = struct.unpack(order + "H", exif[ifd:ifd + 2])[0]
    for entry in range(ifd + 2, min(ifd + 2 + 12 * count, len(exif) - 11), 12):
        tag, kind = struct.unpack(order + "HH", exif[entry:entry + 4])
        if tag == _ORIENTATION_TAG:
            return (order, entry + 8) if kind == 3 else None  # SHORT, value in the entry itself
    return None


def orientation(exif: bytes | None) -> int:
    """The EXIF Orientation (1..8) of the TIFF structure ``exif``; 1 when absent or invalid."""
    found = _orientation_entry(exif) if exif else None
    if found is None:
        return 1
    order, at = found
    value = struct.unpack(order + "H", exif[at:at + 2])[0]
    return value if 1 <= value <= 8 else 1


def apply_orientation(pixels: np.ndarray, exif: bytes | None) -> tuple[np.ndarray, bytes | None]:
    """Pixels turned upright per the EXIF Orientation, and the EXIF with Orientation reset to 1
    (everything else byte for byte), so that viewers do not turn them a second time.

    Numpy, not torch: the engine's writer threads call this, and a torch op there would start an
    OpenMP team beside the model's (``docs/engine.md``, "Threads on the CPU").

    Args:
        pixels: ``(H, W)`` or ``(H, W, C)`` as stored in the file (Pillow's layout).
        exif: the file's TIFF structure, or None (then nothing changes).

    Returns:
        ``(pixels, exif)``; the pixels may be a non-contiguous view.
    """
    value = orientation(exif)
    if value == 1:
        return pixels, exif
    # Orientation says where the stored rows and columns go for display: 2 mirror, 3 rotate 180,
    # 4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise.
    transpose = lambda a: a.swapaxes(0, 1)  # noqa: E731
    turned = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: transpose,
        6: lambda a: transpose(a)[:, ::-1],
        7: lambda a: transpose(a)[::-1, ::-1],
        8: lambda a: transpose(a)[::-1],
    }[value](pixels)
    order, at = _orientation_entry(exif)
    return turned, exif[:at] + struct.pack(order + "H", 1) + exif[at + 2:]


def icc_description(profile: bytes) -> str | None:
    """The profile description (``desc`` tag) of an ICC profile: its ASCII text (ICC v2
    ``textDescriptionType``) or first record (ICC v4 ``multiLocalizedUnicodeType``), without
    trailing NULs and spaces; None when the profile has no readable one (metadata is reported,
    never fails)."""
    def u32(at: int) -> int:
        return struct.unpack(">I", profile[at:at + 4])[0]

    if len(profile) < _ICC_HEADER_BYTES + 4:
        return None
    count = u32(_ICC_HEADER_BYTES)
    for entry in range(_ICC_HEADER_BYTES + 4, min(_ICC_HEADER_BYTES + 4 + 12 * count, len(profile) - 11), 12):
        if profile[entry:entry + 4] != b"desc":
            continue
        at, size = u32(entry + 4), u32(entry + 8)
        tag = profile[at:at + size]
        if tag[:4] == b"desc" and len(tag) >= 12:  # v2: type, reserved, ASCII count, ASCII
            text = tag[12:12 + u32(at + 8)].decode("latin-1")
        elif tag[:4] == b"mluc" and len(tag) >= 28:  # v4: type, reserved, records, record size, records
            length, offset = struct.unpack(">II", tag[20:28])
            text = tag[offset:offset + length].decode("utf-16-be", errors="replace")
        else:
            return None
        return text.rstrip("\0 ") or None
    return None
