"""JFIF full-range RGB <-> YCbCr, in float (differentiable) and as libjpeg's integer twins.

Channels are on dim -3: images are ``(..., 3, H, W)``. Values are on the 0..255 scale, Cb and Cr
offset by +128 (no normalisation).
"""

from __future__ import annotations

import torch

from .dtypes import float_dtype

__all__ = [
    "RGB_TO_YCBCR",
    "YCBCR_TO_RGB",
    "rgb_to_ycbcr",
    "ycbcr_to_rgb",
    "rgb_to_ycbcr_libjpeg",
    "ycbcr_to_rgb_libjpeg",
]

#: JFIF forward matrix (rows Y, Cb, Cr); Cb and Cr then get +128.
RGB_TO_YCBCR = (
    (0.299, 0.587, 0.114),
    (-0.168736, -0.331264, 0.5),
    (0.5, -0.418688, -0.081312),
)
#: JFIF inverse matrix applied to (Y, Cb - 128, Cr - 128).
YCBCR_TO_RGB = (
    (1.0, 0.0, 1.402),
    (1.0, -0.344136, -0.714136),
    (1.0, 1.772, 0.0),
)


def _check(x: torch.Tensor, name: str) -> None:
    if x.dim() < 3 or x.shape[-3] != 3:
        raise ValueError(f"{name} must have shape (..., 3, H, W), got {tuple(x.shape)}")


def _mix(x: torch.Tensor, matrix) -> torch.Tensor:
    m = torch.tensor(matrix, dtype=torch.float64).to(dtype=x.dtype, device=x.device)
    return torch.einsum("ij,...jhw->...ihw", m, x)


def rgb_to_ycbcr(rgb: torch.Tensor, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """JFIF RGB -> YCbCr.

    Args:
        rgb: ``(..., 3, H, W)`` RGB on the 0..255 scale (any dtype; uint8 is promoted).
        dtype: output float dtype; default: the input's if floating, else float32.

    Returns:
        ``(..., 3, H, W)`` float Y, Cb, Cr on the 0..255 scale (Cb, Cr offset by +128), not
        rounded or clamped; differentiable.
    """
    _check(rgb, "rgb")
    x = rgb.to(float_dtype(rgb, dtype))
    offset = torch.tensor([0.0, 128.0, 128.0], dtype=x.dtype, device=x.device).view(3, 1, 1)
    return _mix(x, RGB_TO_YCBCR) + offset


def ycbcr_to_rgb(ycbcr: torch.Tensor, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """JFIF YCbCr -> RGB: inverse of :func:`rgb_to_ycbcr`.

    Args:
        ycbcr: ``(..., 3, H, W)`` on the 0..255 scale, Cb and Cr offset by +128.

    Returns:
        ``(..., 3, H, W)`` float RGB on the 0..255 scale, not rounded or clamped; differentiable.
    """
    _check(ycbcr, "ycbcr")
    x = ycbcr.to(float_dtype(ycbcr, dtype))
    offset = torch.tensor([0.0, 128.0, 128.0], dtype=x.dtype, device=x.device).view(3, 1, 1)
    return _mix(x - offset, YCBCR_TO_RGB)


# libjpeg's fixed-point tables (16 fraction bits, FIX(x) = round(x * 2**16)).
_SCALEBITS = 16
_ONE_HALF = 1 << (_SCALEBITS - 1)


def _fixp(x: float) -> int:
    return int(x * (1 << _SCALEBITS) + 0.5)


def _shift(x: torch.Tensor) -> torch.Tensor:
    return torch.div(x, 1 << _SCALEBITS, rounding_mode="floor")


def rgb_to_ycbcr_libjpeg(rgb: torch.Tensor) -> torch.Tensor:
    """libjpeg's encoder colour conversion (jccolor.c), bit-exact integer arithmetic.

    Args:
        rgb: integer ``(..., 3, H, W)`` RGB in 0..255.

    Returns:
        uint8 ``(..., 3, H, W)`` YCbCr (Cb, Cr offset by +128). libjpeg uses the constants
        0.29900, 0.58700, 0.11400, 0.16874, 0.33126, 0.41869, 0.08131 in 16-bit fixed point with
        a rounding bias of 0.5 for Y and 0.5 - 2**-16 for Cb and Cr. Not differentiable.
    """
    _check(rgb, "rgb")
    if rgb.dtype.is_floating_point:
        raise TypeError(f"rgb_to_ycbcr_libjpeg needs integer input, got {rgb.dtype}")
    # int32 holds every sum (|sum| < 2**25 for 0..255 input) and ``>>`` floors as _shift does: the
    # same bits as int64 with a floor division, about ten times faster on the CPU.
    r, g, b = rgb.to(torch.int32).unbind(-3)
    center = 128 << _SCALEBITS
    y = (_fixp(0.299) * r + _fixp(0.587) * g + _fixp(0.114) * b + _ONE_HALF) >> _SCALEBITS
    cb = (-_fixp(0.16874) * r - _fixp(0.33126) * g + _fixp(0.5) * b + center + _ONE_HALF - 1) >> _SCALEBITS
    cr = (_fixp(0.5) * r - _fixp(0.41869) * g - _fixp(0.08131) * b + center + _ONE_HALF - 1) >> _SCALEBITS
    return torch.stack([y, cb, cr], dim=-3).clamp(0, 255).to(torch.uint8)


def ycbcr_to_rgb_libjpeg(ycbcr: torch.Tensor) -> torch.Tensor:
    """libjpeg's decoder colour conversion (jdcolor.c), bit-exact integer arithmetic.

    Args:
        ycbcr: integer ``(..., 3, H, W)`` in 0..255 (Cb, Cr offset by +128).

    Returns:
        uint8 ``(..., 3, H, W)`` RGB: ``R = Y + round(1.402 (Cr-128))``,
        ``G = Y + floor((-0.34414 (Cb-128) - 0.71414 (Cr-128)) + 0.5)``,
        ``B = Y + round(1.772 (Cb-128))`` in 16-bit fixed point, clamped to 0..255.
    """
    _check(ycbcr, "ycbcr")
    if ycbcr.dtype.is_floating_point:
        raise TypeError(f"ycbcr_to_rgb_libjpeg needs integer input, got {ycbcr.dtype}")
    y, cb, cr = ycbcr.to(torch.int64).unbind(-3)
    cb = cb - 128
    cr = cr - 128
    r = y + _shift(_fixp(1.402) * cr + _ONE_HALF)
    g = y + _shift(-_fixp(0.34414) * cb - _fixp(0.71414) * cr + _ONE_HALF)
    b = y + _shift(_fixp(1.772) * cb + _ONE_HALF)
    return torch.stack([r, g, b], dim=-3).clamp(0, 255).to(torch.uint8)
