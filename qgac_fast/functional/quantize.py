"""Quantization and dequantization of DCT coefficients with per-sample 8x8 tables.

Coefficients are tiled planes ``(..., H, W)`` (see :mod:`qgac_fast.functional.dct`); a table is
``(..., 8, 8)`` in natural order whose leading dims broadcast against the plane's leading dims,
and is repeated over the block grid. Rounding is half away from zero, as libjpeg's quantizer.
"""

from __future__ import annotations

import torch

from ..backend import resolve_backend

__all__ = [
    "round_half_away_from_zero",
    "tile_table",
    "quantize",
    "dequantize",
    "quantize_scaled",
    "ijg_quantization_tables",
]

# ITU-T T.81 Annex K tables (natural order), the bases libjpeg scales by quality.
_K1_LUMA = [
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
]
_K2_CHROMA = [
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
] + [99] * 32


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


def _float(x: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    if dtype is None:
        dtype = x.dtype if x.dtype.is_floating_point else torch.float32
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating point dtype, got {dtype}")
    return x.to(dtype)


def quantize(coefficients: torch.Tensor, table: torch.Tensor, *, dtype: torch.dtype | None = None,
             backend: str = "auto") -> torch.Tensor:
    """Quantize a tiled coefficient plane: ``round_half_away(coefficients / table)``.

    Args:
        coefficients: ``(..., H, W)`` unquantized coefficients (libjpeg's scale), H, W multiples
            of 8.
        table: ``(..., 8, 8)`` positive quantization steps (any numeric dtype), broadcast over
            the leading dims and repeated over the block grid.
        dtype: output float dtype; default: the coefficients' if floating, else float32.
        backend: ``"auto"`` or ``"reference"``.

    Returns:
        ``(..., H, W)`` float tensor of integers (the quantized coefficients). The rounding has
        zero gradient; convert with ``.to(torch.int16)`` for storage.
    """
    resolve_backend(backend, coefficients, table)
    x = _float(coefficients, dtype)
    q = tile_table(table, *x.shape[-2:]).to(x.dtype)
    return round_half_away_from_zero(x / q)


def dequantize(coefficients: torch.Tensor, table: torch.Tensor, *, dtype: torch.dtype | None = None,
               backend: str = "auto") -> torch.Tensor:
    """Multiply a tiled plane of quantized coefficients by its table.

    Args:
        coefficients: ``(..., H, W)`` quantized coefficients (int16 from a file, or float).
        table: ``(..., 8, 8)`` quantization steps, broadcast as in :func:`quantize`.
        dtype: output float dtype; default: the coefficients' if floating, else float32.
        backend: ``"auto"`` or ``"reference"``.

    Returns:
        ``(..., H, W)`` dequantized coefficients on libjpeg's scale; differentiable in
        ``coefficients`` (and ``table``).
    """
    resolve_backend(backend, coefficients, table)
    x = _float(coefficients, dtype)
    return x * tile_table(table, *x.shape[-2:]).to(x.dtype)


def quantize_scaled(values: torch.Tensor, table: torch.Tensor, scale: int = 8) -> torch.Tensor:
    """libjpeg's integer quantizer: ``sign(v) * ((|v| + d // 2) // d)`` with ``d = scale * table``.

    ``values`` is an integer block grid ``(..., 8, 8)`` scaled up by ``scale`` (the output of
    :func:`qgac_fast.functional.dct.fdct_islow`, ``scale = 8``); ``table`` is ``(..., 8, 8)``
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


def ijg_quantization_tables(quality: int, *, force_baseline: bool = True) -> torch.Tensor:
    """The tables libjpeg (``jpeg_set_quality``) uses at ``quality`` 1..100: int32 ``(2, 8, 8)``,
    luma then chroma, natural order."""
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")
    q = int(quality)
    scale = 5000 // q if q < 50 else 200 - 2 * q
    base = torch.tensor([_K1_LUMA, _K2_CHROMA], dtype=torch.int64).reshape(2, 8, 8)
    t = torch.div(base * scale + 50, 100, rounding_mode="floor").clamp(min=1, max=255 if force_baseline else 32767)
    return t.to(torch.int32)
