"""Output files: the rules for output paths, atomic writes, the run's report (the encoding itself:
:mod:`qgac_fast.inference.encoding`).

The rules are shared by :meth:`qgac_fast.Corrector.correct_files` and ``qgac-fast correct``: an
output that is one of the input files (same path or same file; an input given as an open file or a
PIL image opened from a path names its file too) is refused, and so is a second input
with the same output; a run's report (``--json``) may be neither an input nor an output; writes
are atomic (a temporary name in the same folder, then ``os.replace``), so a failure leaves no
partial file and an existing output is complete.
"""

from __future__ import annotations

import errno
import os
from typing import Any, Callable, Iterable, Sequence

import torch

from ..atomic import write_atomic
from ..options import DEFAULT_PNG_LEVEL, FORMATS, check_output_options
from .encoding import encode_image, format_of, jpeg_subsampling  # also importable from here, as before
from .results import CorrectionResult, FileResult, display, reason, source_path

__all__ = ["FATAL_WRITE_ERRORS", "FOLDER_WRITE_ERRORS", "FORMATS", "check_output_options", "encode_image",
           "format_of", "jpeg_subsampling", "refusals", "report_refusal", "write_output", "write_result"]

#: errno values of a failed write that every later write would meet too (full disk, quota): the
#: run stops instead of correcting each file to fail at its write.
FATAL_WRITE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT})
#: errno values of a failed write that are about the output's folder (a read-only mount, no
#: permission): the later files bound for that folder fail unread, the others go on.
FOLDER_WRITE_ERRORS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _files(sources: Iterable[Any]) -> tuple[set[str], set[tuple[int, int]]]:
    """The real paths and ``(st_dev, st_ino)`` identities of the files ``sources`` name
    (:func:`~qgac_fast.inference.results.source_path`)."""
    paths = [path for path in map(source_path, sources) if path is not None]
    return {os.path.realpath(p) for p in paths}, {_identity(p) for p in paths} - {None}


def _is_one_of(path: str, names: set[str], identities: set[tuple[int, int]]) -> bool:
    """``path`` is one of these files: the same real path (symbolic links followed) or the same
    file (a hard link)."""
    identity = _identity(path)
    return os.path.realpath(path) in names or (identity is not None and identity in identities)


def refusals(pairs: Sequence[tuple[Any, str]], *,
             remedy: str = "give them different output paths") -> dict[int, str]:
    """The pairs ``(input, output_path)`` whose output may not be written, by index, with the
    reason: the output is an input file (same path or same file), or a previous pair's output
    (the reason names both inputs, the output and the way out: rename one, or ``remedy``).

    An input file is any file an input names (:func:`~qgac_fast.inference.results.source_path`):
    a path, or the file behind an open file object or a PIL image opened from a path."""
    names, identities = _files(src for src, _ in pairs)
    owners: dict[str, str] = {}
    refused = {}
    for i, (src, dst) in enumerate(pairs):
        real = os.path.realpath(dst)
        if _is_one_of(dst, names, identities):
            refused[i] = "refusing to overwrite an input file with the output"
        elif real in owners:
            refused[i] = (f"{owners[real]} and {display(src)} would both be written to {dst}: rename one of "
                          f"them, or {remedy}")
        else:
            owners[real] = display(src)
    return refused


def report_refusal(report: str | os.PathLike, inputs: Iterable[Any], outputs: Iterable[str]) -> str | None:
    """Why a run's report file (``--json``) may not be written, or None.

    ``inputs`` are the run's inputs (paths, or anything
    :func:`~qgac_fast.inference.results.source_path` takes) and ``outputs`` its output paths,
    refused ones included. The report may not be an input file nor an output (same path or same
    file, as :func:`refusals` decides), nor a folder.
    """
    report = os.fspath(report)
    if _is_one_of(report, *_files(inputs)):
        return "refusing to overwrite an input file with the report"
    if _is_one_of(report, *_files(outputs)):
        return "refusing to overwrite an output of this run with the report"
    if os.path.isdir(report):
        return "is a folder"
    return None


def write_output(image: torch.Tensor, source: Any, dst: str, format: str, jpeg_quality: int,
                 size: tuple[int, int] | None = None, tiles: int = 0, *, subsampling: str = "4:2:0",
                 webp_quality: int | None = None, png_level: int = DEFAULT_PNG_LEVEL, exif: bytes | None = None,
                 icc_profile: bytes | None = None, apply_orientation: bool = False,
                 store: Callable[[str, bytes], None] | None = None) -> FileResult:
    """Encode (:func:`encode_image`, with the metadata and orientation options) and write one
    corrected image atomically; an error is a failed result that names the output (``cannot write
    OUTPUT: reason``) and leaves no file, with ``stops`` set when the error is one every write
    (:data:`FATAL_WRITE_ERRORS`) or every write to this folder (:data:`FOLDER_WRITE_ERRORS`) would
    meet.

    ``store(dst, data)`` writes the encoded file; default: a local path, parent folders created,
    through :func:`~qgac_fast.atomic.write_atomic`. Another store (a remote file system's) must be
    atomic too and raise ``OSError`` on failure."""
    try:
        data = encode_image(image, format, jpeg_quality=jpeg_quality, subsampling=subsampling,
                            webp_quality=webp_quality, png_level=png_level, exif=exif, icc_profile=icc_profile,
                            apply_orientation=apply_orientation)
    except Exception as error:  # noqa: BLE001
        return FileResult(display(source), dst, "failed", f"cannot encode {format}: {reason(error)}", size, tiles)
    try:
        (store or _store_local)(dst, data)
    except OSError as error:
        stops = "run" if error.errno in FATAL_WRITE_ERRORS else "folder" if error.errno in FOLDER_WRITE_ERRORS else None
        return FileResult(display(source), dst, "failed", f"cannot write {dst}: {reason(error)}", size, tiles,
                          stops=stops)
    return FileResult(display(source), dst, "ok", None, size, tiles)


def _store_local(dst: str, data: bytes) -> None:
    folder = os.path.dirname(dst)
    if folder:
        os.makedirs(folder, exist_ok=True)
    write_atomic(dst, data)


def write_result(result: CorrectionResult, source: Any, dst: str, format: str, jpeg_quality: int, *,
                 subsampling: str | None = None, webp_quality: int | None = None, png_level: int = DEFAULT_PNG_LEVEL,
                 apply_orientation: bool = False, store: Callable[[str, bytes], None] | None = None,
                 writing: Callable[[str], None] | None = None) -> FileResult:
    """Write one successful :class:`CorrectionResult` (:func:`write_output`) with its input's EXIF and
    ICC profile, in the chroma ``subsampling`` given or else the input's own
    (:func:`jpeg_subsampling`), calling ``writing(dst)`` first; the file result says which table
    corrected it (a decoded input's carries its estimate)."""
    if writing is not None:
        writing(dst)
    written = write_output(result.image, source, dst, format, jpeg_quality, result.size, result.tiles,
                           subsampling=subsampling or jpeg_subsampling(result.subsampling), webp_quality=webp_quality,
                           png_level=png_level, exif=result.exif, icc_profile=result.icc_profile, apply_orientation=apply_orientation,
                           store=store)
    if result.estimate is not None:
        written.estimate = result.estimate.to_json()
    elif result.primary is not None:
        written.table = {"used": "primary", **result.primary.to_json()}
    else:
        written.table = {"used": "file"}
    return written
