"""The dtype rule shared by the float reference ops."""

from __future__ import annotations

import torch


def float_dtype(x: torch.Tensor, dtype: torch.dtype | None) -> torch.dtype:
    """The compute dtype of a float op: ``dtype`` if given (must be floating), else ``x``'s dtype
    when it is floating, else float32 (integer coefficients or pixels)."""
    if dtype is not None:
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating point dtype, got {dtype}")
        return dtype
    return x.dtype if x.dtype.is_floating_point else torch.float32
