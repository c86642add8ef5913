"""The files a ``qgac-fast`` command takes and where its outputs go.

Inputs are files (taken whatever their suffix), folders (searched recursively for ``*.jpg`` and
``*.jpeg``, any case; with ``blind`` also PNG, BMP, TIFF and WebP files) and globs (``**``
recursive; matched folders are searched like folders). Outputs mirror the inputs under OUTDIR
(:func:`plan_outputs`), and under torchrun each rank takes its share (:func:`shard`).
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

from ..jpeg_files import find_jpegs
from ..options import FORMATS

__all__ = ["collect_inputs", "plan_outputs", "shard"]

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


def plan_outputs(found: list[tuple[str, str]], outdir: str, format: str) -> tuple[list[tuple[str, str]],
                                                                                   list[tuple[str, str, str]]]:
    """Output paths for ``collect_inputs``' files, sorted by input path.

    Returns:
        ``(pairs, refused)``: ``(input, output)`` to correct, and ``(input, output, reason)`` for
        inputs refused because their output is an input file or another input's output.
    """
    from ..inference.outputs import refusals

    suffix = FORMATS[format]
    planned = [(path, os.path.join(outdir, str(Path(relative).with_suffix(suffix))))
               for path, relative in sorted(found)]
    refused = refusals(planned, remedy="correct them in separate runs with different -o")
    pairs = [pair for i, pair in enumerate(planned) if i not in refused]
    return pairs, [(*planned[i], why) for i, why in sorted(refused.items())]


def shard(items: list, rank: int, world: int) -> list:
    """This rank's share: the items ``i`` with ``i % world == rank``."""
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"need 0 <= RANK < WORLD_SIZE, got RANK={rank}, WORLD_SIZE={world}")
    return items[rank::world]
