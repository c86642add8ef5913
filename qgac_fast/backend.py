"""The one place that decides which implementation of an operation runs.

Every public operation takes ``backend="auto" | "reference"``: "reference" is the pure-PyTorch
path (differentiable, any device, float64-capable), "auto" picks the fastest implementation
available for the inputs' device. Until the Triton kernels land, "auto" always resolves to
"reference".
"""

from __future__ import annotations

import torch

BACKENDS = ("auto", "reference")


def resolve_backend(backend: str, *tensors: torch.Tensor) -> str:
    """Return the concrete backend ("reference") for ``backend`` and the given inputs.

    Args:
        backend: one of :data:`BACKENDS`.
        tensors: the operation's tensor inputs; their device decides what "auto" picks.

    Raises:
        ValueError: ``backend`` is not one of :data:`BACKENDS`.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return "reference"
