"""Environment report for bug reports: ``python -m qgac_fast.env``."""

from __future__ import annotations

import platform
import sys
from importlib import metadata


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def report() -> dict[str, str]:
    """Versions of qgac_fast, its dependencies, libjpeg and the accelerator, and the malloc that
    ``correct`` and ``eval`` would run on (:mod:`qgac_fast.allocator`), as strings."""
    import torch

    from .allocator import allocator_library
    from .codec import LIBJPEG_VERSION
    from ._version import __version__

    info = {
        "qgac_fast": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda": f"{torch.version.cuda} ({torch.cuda.get_device_name()})" if torch.cuda.is_available() else "unavailable",
        "libjpeg (extension)": LIBJPEG_VERSION,
    }
    try:
        info["malloc (correct, eval)"] = allocator_library() or "the C library's"
    except ValueError as error:
        info["malloc (correct, eval)"] = str(error)
    for distribution in ("triton", "numpy", "pillow", "PyTurboJPEG", "safetensors", "tqdm"):
        info[distribution] = _version(distribution)
    return info


def main() -> int:
    for key, value in report().items():
        print(f"{key:>20}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
