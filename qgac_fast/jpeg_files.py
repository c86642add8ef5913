"""Finding JPEG files in folders (the rule shared by :class:`qgac_fast.Corrector` and ``qgac-fast
correct``), and their size from the header alone (the progress bar's total)."""

from __future__ import annotations

import os
import warnings

__all__ = ["IMAGE_SUFFIXES", "JPEG_SUFFIXES", "declared_megapixels", "find_jpegs"]

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
