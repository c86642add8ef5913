"""Finding JPEG files in folders: the rule shared by :class:`qgac_fast.Corrector` and ``qgac-fast correct``."""

from __future__ import annotations

import os

__all__ = ["IMAGE_SUFFIXES", "JPEG_SUFFIXES", "find_jpegs"]

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
