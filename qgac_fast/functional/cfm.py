"""Convolutional Filter Manifold (CFM): the per-sample dynamic 8x8/stride-8 convolution of QGAC.

A CFM layer's hypernetwork maps a quantization table to a convolution weight; the weight is
applied with kernel 8, stride 8 and no padding on a tiled coefficient plane (see
:mod:`qgac_fast.functional.transform`), i.e. as a per-block linear map from ``Cin * 64`` coefficients to
``Cout`` features on the ``(H/8, W/8)`` block grid. The transposed CFM maps block features back to
8x8 coefficient tiles. This module is the reference (plain PyTorch, differentiable, float64
capable); the Triton twins live in ``qgac_fast.kernels.cfm``.

Weights come in *sets*: ``weight[t]`` is the weight generated for the ``t``-th distinct table and
``table_index[n]`` says which set sample ``n`` uses, so a batch whose files share a table
generates (and reads) the weight once (:func:`unique_tables`, :class:`TableWeightCache`).

Dtype rule (:func:`~qgac_fast.functional.checks.cfm_result_dtype`, shared with the kernels): the
result has the activation's dtype when it is floating; for integer activations (raw int16
coefficients with a folded first layer, see :func:`fold_dequantize_normalize`) it is float32
(float64 when the weight is float64: the reference's exact path). Weight and bias are cast to that
dtype before use.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .checks import BLOCK, cfm_result_dtype, check_conv_args, check_conv_transpose_args

__all__ = [
    "TableWeightCache",
    "cfm_conv",
    "cfm_conv_transpose",
    "fold_dequantize_normalize",
    "unique_tables",
]


def _gather(weight: torch.Tensor, bias: torch.Tensor | None, table_index: torch.Tensor | None,
            dtype: torch.dtype):
    """Per-sample weight (N, ...) and bias (N, Cout) or None, cast to ``dtype``."""
    if table_index is not None:
        # index_select, not indexing: its backward (index_add) is several times faster on CPUs
        weight = weight.index_select(0, table_index)
        bias = None if bias is None else bias.index_select(0, table_index)
    return weight.to(dtype), None if bias is None else bias.to(dtype)


def _prelu(y: torch.Tensor, slope) -> torch.Tensor:
    if slope is None:
        return y
    slope = torch.as_tensor(slope, dtype=y.dtype, device=y.device).reshape(-1)
    return F.prelu(y, slope)


def cfm_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *,
             table_index: torch.Tensor | None = None, prelu: torch.Tensor | float | None = None) -> torch.Tensor:
    """Apply a per-sample 8x8, stride-8 convolution (a CFM) to a tiled coefficient plane.

    ``y[n, o, i, j] = bias[t, o] + sum_{c,u,v} weight[t, o, c, u, v] * x[n, c, 8i+u, 8j+v]`` with
    ``t = table_index[n]`` (``t = n`` without an index), then PReLU if ``prelu`` is given.

    Args:
        x: ``(N, Cin, H, W)`` tiled planes, H and W multiples of 8; float, or integer (raw int16
            coefficients, for a weight folded by :func:`fold_dequantize_normalize`).
        weight: ``(T, Cout, Cin, 8, 8)`` weight sets.
        bias: ``(T, Cout)`` or None.
        table_index: ``(N,)`` int64 index of each sample's weight set in ``[0, T)``; None means
            ``T == N``, one set per sample.
        prelu: PReLU slope fused as the epilogue: a scalar or ``(Cout,)``; None for no activation.

    Returns:
        ``(N, Cout, H/8, W/8)`` block features, dtype per the module's dtype rule;
        differentiable in ``x``, ``weight``, ``bias`` and ``prelu``.

    Example:
        >>> x = torch.ones(2, 1, 16, 8, dtype=torch.float64)
        >>> w = torch.ones(2, 3, 1, 8, 8, dtype=torch.float64)
        >>> cfm_conv(x, w).shape
        torch.Size([2, 3, 2, 1])
    """
    n, cin, h, w, cout = check_conv_args(x, weight, bias, table_index, prelu)
    dtype = cfm_result_dtype(x, weight)
    weights, b = _gather(weight, bias, table_index, dtype)
    # each block's Cin * 64 coefficients as a column: one batched matmul per batch; on CPUs it
    # trains about twice as fast as the same sums as a grouped convolution (groups = N)
    columns = x.to(dtype).reshape(n, cin, h, BLOCK, w, BLOCK).permute(0, 1, 3, 5, 2, 4)
    columns = columns.reshape(n, cin * BLOCK * BLOCK, h * w)
    weights = weights.reshape(n, cout, cin * BLOCK * BLOCK)
    y = torch.bmm(weights, columns) if b is None else torch.baddbmm(b.unsqueeze(-1), weights, columns)
    return _prelu(y.reshape(n, cout, h, w), prelu)


def cfm_conv_transpose(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *,
                       table_index: torch.Tensor | None = None,
                       prelu: torch.Tensor | float | None = None) -> torch.Tensor:
    """Transposed CFM: map block features to 8x8 coefficient tiles with per-sample weights.

    ``y[n, o, 8i+u, 8j+v] = bias[t, o] + sum_c weight[t, c, o, u, v] * x[n, c, i, j]``
    (``conv_transpose2d`` with kernel 8, stride 8 per sample), then PReLU if ``prelu`` is given.

    Args:
        x: ``(N, Cin, h, w)`` float block features.
        weight: ``(T, Cin, Cout, 8, 8)`` weight sets.
        bias: ``(T, Cout)`` or None (one value per output channel, added to all 64 positions).
        table_index, prelu: as in :func:`cfm_conv`.

    Returns:
        ``(N, Cout, 8h, 8w)`` tiled planes, dtype per the module's dtype rule.
    """
    n, cin, h, w, cout = check_conv_transpose_args(x, weight, bias, table_index, prelu)
    dtype = cfm_result_dtype(x, weight)
    weights, b = _gather(weight, bias, table_index, dtype)
    # (Cout * 64, Cin) per sample times the (Cin, h * w) features, then each column to its tile
    weights = weights.reshape(n, cin, cout * BLOCK * BLOCK).transpose(1, 2)
    features = x.to(dtype).reshape(n, cin, h * w)
    y = (torch.bmm(weights, features) if b is None
         else torch.baddbmm(b.repeat_interleave(BLOCK * BLOCK, dim=1).unsqueeze(-1), weights, features))
    y = y.reshape(n, cout, BLOCK, BLOCK, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, cout, h * BLOCK, w * BLOCK)
    return _prelu(y, prelu)


def unique_tables(tables: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Distinct quantization tables of a batch, so a hypernetwork runs once per distinct table.

    Args:
        tables: ``(N, 8, 8)`` tables (any dtype).

    Returns:
        ``(unique, table_index)``: ``unique`` ``(T, 8, 8)`` the distinct tables in order of first
        appearance, ``table_index`` ``(N,)`` int64 with ``unique[table_index] == tables``.

    Example:
        >>> t = torch.stack([torch.full((8, 8), v) for v in (5, 2, 5)])
        >>> unique, index = unique_tables(t)
        >>> unique[:, 0, 0].tolist(), index.tolist()
        ([5, 2], [0, 1, 0])
    """
    if tables.dim() != 3 or tables.shape[1:] != (BLOCK, BLOCK):
        raise ValueError(f"tables must have shape (N, 8, 8), got {tuple(tables.shape)}")
    n = tables.shape[0]
    sorted_unique, inverse = torch.unique(tables.reshape(n, BLOCK * BLOCK), dim=0, return_inverse=True)
    # torch.unique sorts; reorder by first appearance so distinct tables keep the batch's order
    positions = torch.arange(n, device=tables.device)
    first = torch.full((sorted_unique.shape[0],), n, dtype=torch.int64, device=tables.device)
    first = first.scatter_reduce(0, inverse, positions, reduce="amin")
    order = torch.argsort(first)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel(), device=tables.device)
    return sorted_unique[order].reshape(-1, BLOCK, BLOCK), rank[inverse]


def fold_dequantize_normalize(weight: torch.Tensor, bias: torch.Tensor | None, tables: torch.Tensor,
                              mean: torch.Tensor, std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold dequantization and per-frequency normalisation into a CFM's weight and bias.

    A CFM applied to normalised coefficients ``(c * q - mean) / std`` is linear in the raw
    quantized coefficients ``c``: with ``W' = W * q / std`` and ``b' = b - sum(W * mean / std)``,
    ``cfm_conv(raw, W', b') == cfm_conv((raw * q - mean) / std, W, b)`` (tables tiled over the
    plane, ``mean``/``std`` per channel and frequency), so the first layer reads int16 directly.

    Args:
        weight: ``(T, Cout, Cin, 8, 8)`` float weight sets.
        bias: ``(T, Cout)`` or None (zero).
        tables: ``(T, 8, 8)`` the quantization steps (raw integer values, not the /255 values
            the hypernetwork sees) of each weight set's table.
        mean, std: ``(Cin, 8, 8)`` per-channel, per-frequency normalisation statistics (on the
            dequantized coefficients' scale), ``std > 0``.

    Returns:
        ``(weight', bias')`` of shapes ``(T, Cout, Cin, 8, 8)`` and ``(T, Cout)`` in the weight's
        dtype; differentiable.
    """
    if weight.dim() != 5 or weight.shape[3:] != (BLOCK, BLOCK):
        raise ValueError(f"weight must have shape (T, Cout, Cin, 8, 8), got {tuple(weight.shape)}")
    t, cout, cin = weight.shape[:3]
    if tables.shape != (t, BLOCK, BLOCK):
        raise ValueError(f"tables must have shape (T, 8, 8) = ({t}, 8, 8), one per weight set, got {tuple(tables.shape)}")
    for name, stat in (("mean", mean), ("std", std)):
        if stat.shape != (cin, BLOCK, BLOCK):
            raise ValueError(f"{name} must have shape (Cin, 8, 8) = ({cin}, 8, 8), got {tuple(stat.shape)}")
    if bias is not None and bias.shape != (t, cout):
        raise ValueError(f"bias must have shape (T, Cout) = ({t}, {cout}), got {tuple(bias.shape)}")
    dtype = weight.dtype
    inv_std = 1.0 / std.to(dtype)
    scaled = weight * inv_std  # W / std, broadcast over (T, Cout)
    folded_weight = scaled * tables.to(dtype)[:, None, None]
    shift = (scaled * mean.to(dtype)).sum(dim=(2, 3, 4))
    folded_bias = -shift if bias is None else bias.to(dtype) - shift
    return folded_weight, folded_bias


class TableWeightCache:
    """A bounded LRU map from a quantization table to the weights a hypernetwork generated for it.

    Valid only while the generator is frozen (inference with fixed parameters, same device and
    dtype): any parameter update changes the weights a table maps to, so keep one cache per
    frozen model and call :meth:`clear` after loading new parameters. Keys are the table's
    values (their float64 bytes), so a table arriving on any device or integer/float dtype with
    the same values hits the same entry; :meth:`lookup` copies the distinct tables to the CPU
    (one small synchronisation per batch).

    Args:
        maxsize: the most tables kept (least recently used dropped first), ``>= 1``.
    """

    def __init__(self, maxsize: int = 64):
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self._entries: OrderedDict[bytes, tuple[torch.Tensor, ...]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def lookup(self, tables: torch.Tensor, generate: Callable[[torch.Tensor], tuple[torch.Tensor, ...]]
               ) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """Weights for a batch's tables, generating only those of tables not cached.

        Args:
            tables: ``(N, 8, 8)`` the batch's tables.
            generate: maps ``(M, 8, 8)`` distinct tables to a tuple of tensors with leading dim
                ``M`` (for example ``(weight, bias)``); called at most once, with the misses.

        Returns:
            ``(outputs, table_index)``: each output stacked over the batch's distinct tables
            ``(T, ...)``, and ``table_index`` ``(N,)`` for :func:`cfm_conv`.
        """
        unique, table_index = unique_tables(tables)
        keys = [row.numpy().tobytes() for row in unique.detach().to("cpu", torch.float64).reshape(-1, 64)]
        missing = [i for i, key in enumerate(keys) if key not in self._entries]
        if missing:
            fresh = generate(unique[missing])
            for j, i in enumerate(missing):
                self._entries[keys[i]] = tuple(out[j] for out in fresh)
        outputs = tuple(torch.stack(parts) for parts in zip(*(self._entries[key] for key in keys)))
        for key in keys:
            self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)
        return outputs, table_index
