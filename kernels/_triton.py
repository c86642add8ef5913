"""The one module that imports Triton: whether it is installed and whether kernels can run.

Kernels run on CUDA tensors, or on CPU tensors under Triton's interpreter (``TRITON_INTERPRET=1``,
which must be set before Triton is first imported; ``tests/conftest.py`` does so on machines
without a GPU). Importing this module never fails: without Triton, :data:`AVAILABLE` is False and
:func:`unavailable_reason` says why.
"""

from __future__ import annotations

import os

import torch

try:
    import triton
    import triton.language as tl
except ImportError as error:  # pragma: no cover - triton is a pinned dependency
    triton = tl = None
    _IMPORT_ERROR = f"triton is not installed ({error})"
else:
    _IMPORT_ERROR = None

#: Triton imports here.
AVAILABLE = _IMPORT_ERROR is None


def interpreting() -> bool:
    """True when Triton runs kernels in its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def unavailable_reason(device: torch.device) -> str | None:
    """None if Triton kernels can run on ``device``, else a sentence saying why not."""
    if not AVAILABLE:
        return _IMPORT_ERROR
    if device.type == "cuda":
        return None
    if device.type == "cpu" and interpreting():
        return None
    return (f"Triton kernels need CUDA tensors (got {device.type}); on CPU they run only under Triton's "
            f"interpreter (set TRITON_INTERPRET=1 before importing qgac_fast)")
