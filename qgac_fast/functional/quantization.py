"""Quantization and dequantization of DCT coefficients with per-sample 8x8 tables.

Coefficients are tiled planes ``(..., H, W)`` (see :mod:`qgac_fast.functional.transform`); a table is
``(..., 8, 8)`` in natural order whose leading dims broadcast against the plane's leading dims,
and is repeated over the block grid. Rounding is half away from zero, as libjpeg's quantizer.
"""

from __future__ import annotations

import torch

from .dtypes import float_dtype

__all__ = [
    "round_half_away_from_zero",
    "tile_table",
    "quantize",
    "dequantize",
    "quantize_scaled",
    "clamp_to_bins",
]

def round_half_away_from_zero(x: torch.Tensor) -> torch.Tensor:
    """``sign(x) * floor(|x| + 0.5)`` (libjpeg's rounding; ``torch.round`` rounds half to even).
    Gradient is zero almost everywhere."""
    return torch.sign(x) * torch.floor(torch.abs(x) + 0.5)


def tile_table(table: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Repeat a ``(..., 8, 8)`` table over a ``height x width`` plane (multiples of 8):
    ``(..., height, width)``."""
    if table.dim() < 2 or table.shape[-2:] != (8, 8):
        raise ValueError(f"table must have shape (..., 8, 8), got {tuple(table.shape)}")
    if height % 8 or width % 8:
        raise ValueError(f"plane height and width must be multiples of 8, got {height}x{width}")
    reps = [1] * (table.dim() - 2) + [height // 8, width // 8]
    return table.repeat(*reps)


def quantize(coefficients: torch.Tensor, table: torch.Tensor, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Quantize a tiled coefficient plane: ``round_half_away(coefficients / table)``.

    Args:
        coefficients: ``(..., H, W)`` unquantized coefficients (libjpeg's scale), H, W multiples
            of 8.
        table: ``(..., 8, 8)`` positive quantization steps (any numeric dtype), broadcast over
            the leading dims and repeated over the block grid.
        dtype: output float dtype; default: the coefficients' if floating, else float32.

    Returns:
        ``(..., H, W)`` float tensor of integers (the quantized coefficients). The rounding has
        zero gradient; convert with ``.to(torch.int16)`` for storage.
    """
    x = coefficients.to(float_dtype(coefficients, dtype))
    q = tile_table(table, *x.shape[-2:]).to(x.dtype)
    return round_half_away_from_zero(x / q)


def dequantize(coefficients: torch.Tensor, table: torch.Tensor, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Multiply a tiled plane of quantized coefficients by its table.

    Args:
        coefficients: ``(..., H, W)`` quantized coefficients (int16 from a file, or float).
        table: ``(..., 8, 8)`` quantization steps, broadcast as in :func:`quantize`.
        dtype: output float dtype; default: the coefficients' if floating, else float32.

    Returns:
        ``(..., H, W)`` dequantized coefficients on libjpeg's scale; differentiable in
        ``coefficients`` (and ``table``).
    """
    x = coefficients.to(float_dtype(coefficients, dtype))
    return x * tile_table(table, *x.shape[-2:]).to(x.dtype)


def quantize_scaled(values: torch.Tensor, table: torch.Tensor, scale: int = 8) -> torch.Tensor:
    """libjpeg's integer quantizer: ``sign(v) * ((|v| + d // 2) // d)`` with ``d = scale * table``.

    ``values`` is an integer block grid ``(..., 8, 8)`` scaled up by ``scale`` (the output of
    :func:`qgac_fast.functional.transform.fdct_islow`, ``scale = 8``); ``table`` is ``(..., 8, 8)``
    broadcastable to it. Returns int64 quantized coefficients.
    """
    if values.dtype.is_floating_point:
        raise TypeError(f"quantize_scaled needs integer values, got {values.dtype}")
    v = values.to(torch.int64)
    d = table.to(torch.int64) * scale
    if bool((d <= 0).any()):
        raise ValueError("quantization table entries must be positive")
    mag = torch.div(v.abs() + torch.div(d, 2, rounding_mode="floor"), d, rounding_mode="floor")
    return torch.where(v < 0, -mag, mag)


def clamp_to_bins(coefficients: torch.Tensor, dequantized: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """The quantization constraint: each coefficient clamped to its quantization bin, within half a
    step of the file's dequantized coefficient.

    A JPEG stores ``c = round(x / T)`` for each true coefficient ``x``, so ``x`` lies in
    ``[(c - 1/2) T, (c + 1/2) T]``. Clamping a restored coefficient to that interval (a projection
    onto a convex set that contains the truth) can only bring it closer to ``x``; since the DCT is
    orthonormal, the restored luma's squared error in pixels cannot grow. It matters at high
    qualities, where the bins are narrow and a network's residual would otherwise leave them. The
    correction applies it to Y only (:func:`~qgac_fast.functional.jpeg.decode_normalized`'s
    ``bins``): Cb and Cr are restored on the luma grid, while a 4:2:0 file's bins constrain the
    half-resolution chroma.

    Args:
        coefficients: float ``(N, C, H, W)`` tiled coefficient planes (de-normalised).
        dequantized: the input's dequantized planes of the same shape.
        table: ``(N, 8, 8)`` steps (one table per sample, shared by its ``C`` planes).

    Returns:
        float ``(N, C, H, W)`` in ``coefficients``' dtype.
    """
    half_step = tile_table(table.to(coefficients.dtype), *coefficients.shape[-2:]).unsqueeze(1) / 2
    return torch.minimum(torch.maximum(coefficients, dequantized - half_step), dequantized + half_step)
