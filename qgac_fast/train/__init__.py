"""Training QGAC: on-the-fly JPEG data, the training loop and the jobs it drives (its command line:
:mod:`qgac_fast.cli.train`).

The settings (:mod:`.config`) import no torch, so that the command line can build its parser
without it; the loop's names are imported on first use (PEP 562, as the package does).
"""

import importlib

from .config import STAGES, TrainConfig

_LAZY = {"Objective": ".objective", "train": ".loop", "validate": ".validation"}

__all__ = ["STAGES", "Objective", "TrainConfig", "train", "validate"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value
