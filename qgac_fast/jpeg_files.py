"""The files a run takes: JPEG files found in folders (the rule shared by
:class:`qgac_fast.Corrector`, ``qgac-fast correct`` and :mod:`qgac_fast.ray`), their size from the
header alone (the progress bar's total), and the inputs a command or a Ray run names.

Inputs are files (taken whatever their suffix), folders (searched recursively for ``*.jpg`` and
``*.jpeg``, any case; with ``blind`` also PNG, BMP, TIFF and WebP files) and globs (``**``
recursive; matched folders are searched like folders): :func:`collect_inputs`.
"""

from __future__ import annotations

import glob
import os
import re
import warnings
from pathlib import Path

__all__ = ["IMAGE_SUFFIXES", "JPEG_SUFFIXES", "collect_inputs", "declared_megapixels", "find_jpegs"]

#: Suffixes of the files a folder is searched for (compared case-insensitively).
JPEG_SUFFIXES = (".jpg", ".jpeg")

#: Suffixes of the decoded images a folder search adds with ``blind`` (corrected the blind way,
#: :mod:`qgac_fast.blind`). Not by default: earlier outputs (PNG) in a tree would be corrected again.
IMAGE_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".webp")


def find_jpegs(folder: str | os.PathLike, *, blind: bool = False) -> list[str]:
    """Paths of the files under ``folder`` (recursively) whose names end in a :data:`JPEG_SUFFIXES`
    suffix (with ``blind``, also an :data:`IMAGE_SUFFIXES` one) in any case, in sorted order (names
    sorted within each folder, sub-folders in sorted order after their parent's files)."""
    suffixes = JPEG_SUFFIXES + (IMAGE_SUFFIXES if blind else ())
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend(os.path.join(root, name) for name in sorted(files) if name.lower().endswith(suffixes))
    return found


def declared_megapixels(path: str | os.PathLike) -> float:
    """Width x height / 1e6 that the image file at ``path`` declares (JPEG, PNG, BMP, TIFF, WebP),
    read from its header only (Pillow's lazy open: no pixel is decoded); 0.0 for a file that
    cannot be opened or is no image (its failure is reported where it is read for real)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():  # a huge declared size is the reader's to refuse, not this
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
    except Exception:  # noqa: BLE001 -- Pillow's plugins raise many types; an estimate never fails
        return 0.0
    return width * height / 1e6


_MAGIC = re.compile(r"[*?[]")


def _glob_base(pattern: str) -> str:
    """The leading folders of ``pattern`` that hold no glob magic ('.' if none)."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if _MAGIC.search(part):
            break
        fixed.append(part)
    return os.path.join(*fixed) if fixed else "."


def _inside(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or lies under it (real paths)."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def collect_inputs(inputs: list[str], blind: bool = False,
                   exclude: str | None = None) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Expand INPUT arguments (folders: :func:`~qgac_fast.jpeg_files.find_jpegs`, with ``blind``).

    ``exclude`` is a folder (OUTDIR) whose files a folder or glob search leaves out, unless the
    search starts inside it; files named one by one are always taken.

    Returns:
        ``(found, errors)``: ``found`` is ``(path, relative_path)`` per input file (the relative
        path is where its output goes under OUTDIR, before the suffix changes), each file once
        (first occurrence wins); ``errors`` is ``(argument, reason)`` for arguments that name
        nothing.
    """
    found: list[tuple[str, str]] = []
    errors: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(path: str, relative: str, searched: str | None = None) -> None:
        if exclude is not None and searched is not None and _inside(path, exclude) and not _inside(searched, exclude):
            return
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            found.append((path, os.path.normpath(relative)))

    for arg in inputs:
        if os.path.isdir(arg):
            for path in find_jpegs(arg, blind=blind):
                add(path, os.path.relpath(path, arg), arg)
        elif os.path.exists(arg):
            add(arg, os.path.basename(arg))
        elif _MAGIC.search(arg):
            matches = sorted(glob.glob(arg, recursive=True))
            if not matches:
                errors.append((arg, "no file matches this pattern"))
            base = _glob_base(arg)
            for match in matches:
                paths = find_jpegs(match, blind=blind) if os.path.isdir(match) else [match]
                for path in paths:
                    add(path, os.path.relpath(path, base), base)
        else:
            try:
                os.stat(arg)
                reason = "not a file or folder"
            except OSError as error:  # e.g. "No such file or directory", "Too many levels of symbolic links"
                reason = error.strerror or str(error)
            errors.append((arg, reason))
    return found, errors
