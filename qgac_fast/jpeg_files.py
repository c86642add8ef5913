"""Finding JPEG files in folders: the rule shared by :class:`qgac_fast.Corrector` and ``qgac-fast correct``."""

from __future__ import annotations

import os

__all__ = ["JPEG_SUFFIXES", "find_jpegs"]

#: Suffixes of the files a folder is searched for (compared case-insensitively).
JPEG_SUFFIXES = (".jpg", ".jpeg")


def find_jpegs(folder: str | os.PathLike) -> list[str]:
    """Paths of the files under ``folder`` (recursively) whose names end in a :data:`JPEG_SUFFIXES`
    suffix in any case, in sorted order (names sorted within each folder, sub-folders in sorted
    order after their parent's files)."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend(os.path.join(root, name) for name in sorted(files) if name.lower().endswith(JPEG_SUFFIXES))
    return found
