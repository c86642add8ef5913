"""Distinct rows of a tensor, the blocks that the table searches count once."""

from __future__ import annotations

import numpy as np
import torch

from . import _jpeg

__all__ = ["distinct_rows"]


def distinct_rows(rows: torch.Tensor) -> torch.Tensor:
    """The distinct rows of ``rows`` (an ``(N, K)`` tensor of a dtype numpy holds), as a new
    ``(M, K)`` tensor of the same dtype and device: the first occurrence of each, in input order.

    Rows are compared by their bytes (for integers, by value; for floats, ``-0.0`` and ``0.0``
    differ), with the extension's hash table (``csrc/distinct.cpp``), on the CPU: the same rows as
    ``torch.unique(rows, dim=0)`` (``tests/test_distinct.py``; floats apart from ``-0.0``), in
    linear time; a 24-megapixel photo's 375,000 luma blocks took 0.10 s with ``numpy.unique`` on
    opaque rows (a sort), 0.014 s here.

    Raises:
        ValueError: ``rows`` is not 2-D.
        RuntimeError: the built extension is older than this function (rebuild it).
    """
    if rows.dim() != 2:
        raise ValueError(f"rows must be 2-D, got shape {tuple(rows.shape)}")
    array = np.ascontiguousarray(rows.detach().cpu().numpy())
    if array.shape[1] == 0:
        return torch.from_numpy(array[:1].copy()).to(rows.device)  # at most one distinct (empty) row
    if not hasattr(_jpeg, "distinct_rows"):
        raise RuntimeError("the built extension has no distinct_rows (rebuild it: pip install -e . or make)")
    first = _jpeg.distinct_rows(array.view(np.uint8).reshape(array.shape[0], array.shape[1] * array.itemsize))
    return torch.from_numpy(array[first]).to(rows.device)
