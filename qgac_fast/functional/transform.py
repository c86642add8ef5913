"""Blockwise 8x8 DCT-II in libjpeg's scaling, on tiled planes and on block grids.

Conventions used throughout ``qgac_fast``:

* A *tiled plane* is ``(..., H, W)`` with ``H`` and ``W`` multiples of 8; the 8x8 tile at block
  position ``(i, j)`` holds one block, in natural order (row = vertical frequency, ``[0, 0]`` the
  DC term). This is the layout the model and the Triton kernels work on.
* A *block grid* is ``(..., H/8, W/8, 8, 8)``: the same numbers with the blocks split out. This is
  the layout of :class:`qgac_fast.coefficients.JPEGCoefficients`.
* The transform is the orthonormal 2-D DCT-II. Applied to pixels level-shifted to [-128, 127] it
  gives coefficients on libjpeg's scale: DC = 8 x block mean, range about [-1024, 1016].

The float transforms are expressed as ``(blocks, 64) @ (64, 64)`` with the Kronecker product of
the 8x8 DCT matrix with itself, which is exactly how the Triton kernels compute them
(:mod:`qgac_fast.kernels.transform`). :func:`dequantize_idct` and :func:`dct_quantize` are the
references of the fused kernels, defined as compositions of :func:`idct` / :func:`dct` with
:func:`qgac_fast.functional.quantization.dequantize` / :func:`~qgac_fast.functional.quantization.quantize`.
These are the reference maths only; :mod:`qgac_fast.ops` chooses between them and the kernels.
:func:`fdct_islow` and :func:`idct_islow` are integer twins of libjpeg's accurate integer DCTs
(jfdctint, jidctint), used by the reference encoder and the uint8 decode to reproduce libjpeg
bit for bit.
"""

from __future__ import annotations

import math

import torch

from .dtypes import float_dtype
from .checks import BLOCK, check_fused_coefficients, check_plane, normalize_table
from .quantization import dequantize, quantize

__all__ = [
    "BLOCK",
    "dct_matrix",
    "dct_kron_matrix",
    "blockify",
    "deblockify",
    "block_dct",
    "block_idct",
    "dct",
    "idct",
    "dequantize_idct",
    "dct_quantize",
    "fdct_islow",
    "idct_islow",
    "islow_inverse_pass",
]


def dct_matrix(dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> torch.Tensor:
    """The orthonormal 8-point DCT-II matrix ``D`` (8, 8), built in float64, then cast.

    ``D[k, n] = c(k) cos((2n + 1) k pi / 16)`` with ``c(0) = sqrt(1/8)``, ``c(k > 0) = 1/2``; the
    2-D transform of a block ``x`` is ``D @ x @ D.T`` and its inverse ``D.T @ X @ D``.
    """
    k = torch.arange(BLOCK, dtype=torch.float64).unsqueeze(1)
    n = torch.arange(BLOCK, dtype=torch.float64).unsqueeze(0)
    d = torch.cos((2 * n + 1) * k * math.pi / (2 * BLOCK)) * math.sqrt(2.0 / BLOCK)
    d[0] /= math.sqrt(2.0)
    return d.to(dtype=dtype, device=device)


def dct_kron_matrix(dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> torch.Tensor:
    """The (64, 64) 2-D DCT operator ``K = kron(D, D)`` on row-major flattened blocks.

    For a block ``x`` flattened as ``x.reshape(64)``, ``K @ x`` is the row-major flattening of
    ``D @ x @ D.T``; on a batch of flattened blocks ``(B, 64)`` the forward DCT is ``x @ K.T`` and
    the inverse ``X @ K`` (``K`` is orthogonal).
    """
    d = dct_matrix(torch.float64)
    k = torch.kron(d, d)
    # The entries coupling frequencies 0 and 4 are exactly +-1/8 (c(0) = cos(pi/4)/2 = 1/sqrt(8)),
    # but their float64 products land a few ulps short. Stored exactly, integer inputs whose
    # transform is mathematically a .5 tie (DC-only blocks above all) give an exact tie here, as
    # they do in libjpeg's integer arithmetic and in a float32 kernel, so every path breaks it
    # the same way instead of by rounding noise.
    eighths = torch.round(k * 8)
    k = torch.where((k * 8 - eighths).abs() < 1e-9, eighths / 8, k)
    return k.to(dtype=dtype, device=device)


def blockify(plane: torch.Tensor) -> torch.Tensor:
    """Split a tiled plane ``(..., H, W)`` into a block grid ``(..., H/8, W/8, 8, 8)`` (a copy
    only if needed; dtype kept)."""
    check_plane(plane, "plane")
    *lead, h, w = plane.shape
    x = plane.reshape(*lead, h // BLOCK, BLOCK, w // BLOCK, BLOCK)
    return x.transpose(-3, -2)


def deblockify(blocks: torch.Tensor) -> torch.Tensor:
    """Join a block grid ``(..., Bh, Bw, 8, 8)`` into a tiled plane ``(..., 8 Bh, 8 Bw)``
    (dtype kept)."""
    if blocks.dim() < 4 or blocks.shape[-2:] != (BLOCK, BLOCK):
        raise ValueError(f"blocks must have shape (..., Bh, Bw, 8, 8), got {tuple(blocks.shape)}")
    *lead, bh, bw, _, _ = blocks.shape
    return blocks.transpose(-3, -2).reshape(*lead, bh * BLOCK, bw * BLOCK)


def plane_matmul(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """``x @ matrix`` with one product of the same shape per plane, so that every plane goes
    through the same arithmetic whatever its place in the batch.

    A single ``(planes * R, K) @ (K, N)`` product would give two equal planes bits that may differ
    in the last place: BLAS kernels may sum a row or column in another order depending on where
    it falls in the matrix (seen with MKL on AMD Zen 4 for Cb and Cr in one product). Keeping
    each plane its own item of one batched product makes, for example, Cb and Cr with equal
    values come out bit-identical.

    Args:
        x: ``(..., R, K)``: the leading dims index the planes, each an ``(R, K)`` matrix.
        matrix: ``(K, N)``, same dtype and device.

    Returns:
        ``(..., R, N)``.
    """
    *lead, rows, inner = x.shape
    planes = x.reshape(math.prod(lead), rows, inner)
    out = torch.bmm(planes, matrix.expand(planes.shape[0], *matrix.shape))
    return out.reshape(*lead, rows, matrix.shape[-1])


def _apply_kron(blocks: torch.Tensor, inverse: bool, dtype: torch.dtype | None) -> torch.Tensor:
    dt = float_dtype(blocks, dtype)
    x = blocks.to(dt)
    k = dct_kron_matrix(dt, x.device)
    # a block grid (..., Bh, Bw, 8, 8) is one plane: one product per plane (see plane_matmul)
    grid = x.shape[-4:-2] if x.dim() >= 4 else x.shape[:-2]
    lead = x.shape[:x.dim() - 2 - len(grid)]
    flat = x.reshape(*lead, math.prod(grid), BLOCK * BLOCK)
    out = plane_matmul(flat, k if inverse else k.T)
    return out.reshape(x.shape)


def block_dct(blocks: torch.Tensor, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Forward 2-D DCT of each block of ``(..., 8, 8)``.

    Args:
        blocks: ``(..., 8, 8)`` samples, typically level-shifted pixels in [-128, 127].
        dtype: compute/output dtype; default: the input's if floating, else float32.

    Returns:
        ``(..., 8, 8)`` coefficients on libjpeg's scale (DC = 8 x mean); differentiable.
    """
    if blocks.dim() < 2 or blocks.shape[-2:] != (BLOCK, BLOCK):
        raise ValueError(f"blocks must have shape (..., 8, 8), got {tuple(blocks.shape)}")
    return _apply_kron(blocks, False, dtype)


def block_idct(coefficients: torch.Tensor, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Inverse 2-D DCT of each block of ``(..., 8, 8)`` (dequantized coefficients, libjpeg's
    scale) into samples (level-shifted, i.e. add 128 for pixels). Differentiable; ``dtype`` as
    in :func:`block_dct`."""
    if coefficients.dim() < 2 or coefficients.shape[-2:] != (BLOCK, BLOCK):
        raise ValueError(f"coefficients must have shape (..., 8, 8), got {tuple(coefficients.shape)}")
    return _apply_kron(coefficients, True, dtype)


def dct(plane: torch.Tensor, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Blockwise forward DCT of a tiled plane.

    Args:
        plane: ``(..., H, W)`` samples, H and W multiples of 8; level-shifted pixels
            ([-128, 127]) give libjpeg-scaled coefficients.
        dtype: compute/output dtype; default: the input's if floating, else float32.

    Returns:
        ``(..., H, W)`` tiled coefficients (each 8x8 tile one block, natural order);
        differentiable.

    Example:
        >>> x = torch.full((8, 8), 10.0, dtype=torch.float64)
        >>> round(dct(x)[0, 0].item(), 6)  # DC = 8 x mean
        80.0
    """
    check_plane(plane, "plane")
    return deblockify(_apply_kron(blockify(plane), False, dtype))


def idct(plane: torch.Tensor, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Blockwise inverse DCT of a tiled coefficient plane ``(..., H, W)`` (dequantized,
    libjpeg's scale) into level-shifted samples ``(..., H, W)`` (add 128 for pixels); ``dtype``
    as in :func:`dct`."""
    check_plane(plane, "plane")
    return deblockify(_apply_kron(blockify(plane), True, dtype))


# --------------------------------------------------------------------------------------------
# Fused (de)quantization: the references of the fused kernels, as compositions of the ops above


def dequantize_idct(coefficients: torch.Tensor, table: torch.Tensor, *, pixels: bool = False,
                    dtype: torch.dtype | None = None) -> torch.Tensor:
    """Dequantize and inverse-DCT tiled planes: ``idct(dequantize(coefficients, table))``.

    Args:
        coefficients: ``(N, C, H, W)`` quantized coefficients (int16 from a file, or float),
            H and W multiples of 8.
        table: ``(8, 8)``, ``(N, 8, 8)`` (per sample), ``(N, 1, 8, 8)`` or ``(N, C, 8, 8)``
            (per sample and channel) quantization steps, integer or float.
        pixels: False: level-shifted samples in ``dtype``. True: uint8 pixels as libjpeg's float
            IDCT writes them, ``floor(y + 128 + 0.5)`` clamped to 0..255 (computed in ``dtype``).
        dtype: compute dtype (the output's when ``pixels`` is False); default: the
            coefficients' if floating, else float32.

    Returns:
        ``(N, C, H, W)`` float samples (differentiable), or uint8 pixels.

    Example:
        >>> q = torch.zeros(1, 1, 8, 8, dtype=torch.int16); q[..., 0, 0] = 2
        >>> dequantize_idct(q, torch.full((8, 8), 16), pixels=True)[0, 0, 0, 0].item()  # 128 + 32/8
        132
    """
    dt = float_dtype(coefficients, dtype)
    check_fused_coefficients(coefficients, table)
    t = normalize_table(table, *coefficients.shape[:2])
    y = idct(dequantize(coefficients, t, dtype=dt))
    if pixels:
        y = torch.floor((y + 128.0) + 0.5).clamp_(0, 255).to(torch.uint8)
    return y


def dct_quantize(x: torch.Tensor, table: torch.Tensor, *, level_shift: bool = False,
                 dtype: torch.dtype | None = None) -> torch.Tensor:
    """Forward DCT and quantize tiled planes: ``quantize(dct(x [- 128]), table)`` as int16.

    Args:
        x: ``(N, C, H, W)`` samples, H and W multiples of 8: level-shifted ([-128, 127]), or
            pixels (0..255, uint8 or float) with ``level_shift=True``, which subtracts 128 first.
        table: quantization steps, shapes as in :func:`dequantize_idct`; positive.
        dtype: compute dtype; default float32 (float64 for float64 input).

    Returns:
        ``(N, C, H, W)`` int16 quantized coefficients, rounded half away from zero (libjpeg's
        rounding of the float DCT) and saturated to -32768..32767. Not differentiable.
    """
    dt = dtype if dtype is not None else (torch.float64 if x.dtype == torch.float64 else torch.float32)
    if not dt.is_floating_point:
        raise ValueError(f"dtype must be a floating point dtype, got {dt}")
    check_fused_coefficients(x, table, name="x")
    t = normalize_table(table, *x.shape[:2])
    v = x.to(dt)
    if level_shift:
        v = v - 128.0
    q = quantize(dct(v), t)
    return q.clamp_(-32768, 32767).to(torch.int16)


# --------------------------------------------------------------------------------------------
# Integer twin of libjpeg's accurate forward DCT (jfdctint.c, "islow"): Loeffler-Ligtenberg-
# Moschytz with 13-bit fixed-point constants, rows first with 2 extra fraction bits, then
# columns. Output is scaled up by 8 relative to the orthonormal DCT (libjpeg folds that factor
# into the quantization divisor).
_CONST_BITS = 13
_PASS1_BITS = 2


def _fix(x: float) -> int:
    return int(x * (1 << _CONST_BITS) + 0.5)


_F = {name: _fix(v) for name, v in {
    "0_298631336": 0.298631336, "0_390180644": 0.390180644, "0_541196100": 0.541196100,
    "0_765366865": 0.765366865, "0_899976223": 0.899976223, "1_175875602": 1.175875602,
    "1_501321110": 1.501321110, "1_847759065": 1.847759065, "1_961570560": 1.961570560,
    "2_053119869": 2.053119869, "2_562915447": 2.562915447, "3_072711026": 3.072711026,
}.items()}


def _descale(x: torch.Tensor, n: int) -> torch.Tensor:
    """Round-half-up right shift by ``n`` bits (arithmetic), as libjpeg's DESCALE."""
    return torch.div(x + (1 << (n - 1)), 1 << n, rounding_mode="floor")


def _islow_1d(v: list[torch.Tensor], even_shift, odd_shift) -> list[torch.Tensor]:
    """One 1-D pass over the 8 inputs ``v[0..7]``; returns the 8 outputs."""
    s07, d07 = v[0] + v[7], v[0] - v[7]
    s16, d16 = v[1] + v[6], v[1] - v[6]
    s25, d25 = v[2] + v[5], v[2] - v[5]
    s34, d34 = v[3] + v[4], v[3] - v[4]
    # even part
    e0, e3 = s07 + s34, s07 - s34
    e1, e2 = s16 + s25, s16 - s25
    out = [None] * 8
    out[0] = even_shift(e0 + e1)
    out[4] = even_shift(e0 - e1)
    z1 = (e2 + e3) * _F["0_541196100"]
    out[2] = odd_shift(z1 + e3 * _F["0_765366865"])
    out[6] = odd_shift(z1 - e2 * _F["1_847759065"])
    # odd part (inputs d34, d25, d16, d07 are the paper's i0..i3)
    z1 = d34 + d07
    z2 = d25 + d16
    z3 = d34 + d16
    z4 = d25 + d07
    z5 = (z3 + z4) * _F["1_175875602"]
    t4 = d34 * _F["0_298631336"]
    t5 = d25 * _F["2_053119869"]
    t6 = d16 * _F["3_072711026"]
    t7 = d07 * _F["1_501321110"]
    z1 = z1 * -_F["0_899976223"]
    z2 = z2 * -_F["2_562915447"]
    z3 = z3 * -_F["1_961570560"] + z5
    z4 = z4 * -_F["0_390180644"] + z5
    out[7] = odd_shift(t4 + z1 + z3)
    out[5] = odd_shift(t5 + z2 + z4)
    out[3] = odd_shift(t6 + z2 + z3)
    out[1] = odd_shift(t7 + z1 + z4)
    return out


def fdct_islow(blocks: torch.Tensor) -> torch.Tensor:
    """libjpeg's accurate integer forward DCT (jfdctint) on integer blocks, bit-exact.

    Args:
        blocks: integer ``(..., 8, 8)`` level-shifted samples in [-128, 127].

    Returns:
        int64 ``(..., 8, 8)``: the DCT scaled up by 8 (``~ 8 * block_dct(blocks)``), exactly the
        integers libjpeg hands to its quantizer (which divides by ``8 * table``). Not
        differentiable.
    """
    if blocks.dtype.is_floating_point or blocks.dtype == torch.bool:
        raise TypeError(f"fdct_islow needs integer blocks, got {blocks.dtype}")
    if blocks.dim() < 2 or blocks.shape[-2:] != (BLOCK, BLOCK):
        raise ValueError(f"blocks must have shape (..., 8, 8), got {tuple(blocks.shape)}")
    x = blocks.to(torch.int64)
    # pass 1: rows (last axis); outputs keep PASS1_BITS fraction bits
    rows = _islow_1d([x[..., i] for i in range(BLOCK)],
                     lambda t: t * (1 << _PASS1_BITS),
                     lambda t: _descale(t, _CONST_BITS - _PASS1_BITS))
    x = torch.stack(rows, dim=-1)
    # pass 2: columns; removes PASS1_BITS, leaves the overall factor 8
    cols = _islow_1d([x[..., i, :] for i in range(BLOCK)],
                     lambda t: _descale(t, _PASS1_BITS),
                     lambda t: _descale(t, _CONST_BITS + _PASS1_BITS))
    return torch.stack(cols, dim=-2)


def islow_inverse_pass(v: list[torch.Tensor], shift) -> list[torch.Tensor]:
    """One 1-D pass of libjpeg's accurate integer inverse DCT (jidctint) over ``v[0..7]``
    (integer tensors, frequencies in order); ``shift`` descales each of the 8 outputs (the
    pass is linear up to there, which the exact Triton decode builds its matrices from)."""
    # even part
    z1 = (v[2] + v[6]) * _F["0_541196100"]
    e2 = z1 - v[6] * _F["1_847759065"]
    e3 = z1 + v[2] * _F["0_765366865"]
    e0 = (v[0] + v[4]) * (1 << _CONST_BITS)
    e1 = (v[0] - v[4]) * (1 << _CONST_BITS)
    t10, t13, t11, t12 = e0 + e3, e0 - e3, e1 + e2, e1 - e2
    # odd part: inputs v7, v5, v3, v1
    o0, o1, o2, o3 = v[7], v[5], v[3], v[1]
    z1 = o0 + o3
    z2 = o1 + o2
    z3 = o0 + o2
    z4 = o1 + o3
    z5 = (z3 + z4) * _F["1_175875602"]
    z1 = z1 * -_F["0_899976223"]
    z2 = z2 * -_F["2_562915447"]
    z3 = z3 * -_F["1_961570560"] + z5
    z4 = z4 * -_F["0_390180644"] + z5
    o0 = o0 * _F["0_298631336"] + z1 + z3
    o1 = o1 * _F["2_053119869"] + z2 + z4
    o2 = o2 * _F["3_072711026"] + z2 + z3
    o3 = o3 * _F["1_501321110"] + z1 + z4
    return [shift(t10 + o3), shift(t11 + o2), shift(t12 + o1), shift(t13 + o0),
            shift(t13 - o0), shift(t12 - o1), shift(t11 - o2), shift(t10 - o3)]


def idct_islow(coefficients: torch.Tensor) -> torch.Tensor:
    """libjpeg's accurate integer inverse DCT (jidctint) on dequantized integer blocks.

    Args:
        coefficients: integer ``(..., 8, 8)`` dequantized coefficients (quantized value x table).

    Returns:
        int64 ``(..., 8, 8)`` pixels: level shift (+128) applied and range-limited to 0..255, as
        libjpeg's IDCT writes its output samples. Bit-exact with libjpeg for valid data (libjpeg
        wraps rather than clamps values more than ~384 out of range). Not differentiable.
    """
    if coefficients.dtype.is_floating_point or coefficients.dtype == torch.bool:
        raise TypeError(f"idct_islow needs integer coefficients, got {coefficients.dtype}")
    if coefficients.dim() < 2 or coefficients.shape[-2:] != (BLOCK, BLOCK):
        raise ValueError(f"coefficients must have shape (..., 8, 8), got {tuple(coefficients.shape)}")
    x = coefficients.to(torch.int64)
    # pass 1: columns (vertical frequencies -> rows), keeping PASS1_BITS fraction bits
    cols = islow_inverse_pass([x[..., i, :] for i in range(BLOCK)],
                             lambda t: _descale(t, _CONST_BITS - _PASS1_BITS))
    x = torch.stack(cols, dim=-2)
    # pass 2: rows; removes PASS1_BITS and the factor 8
    rows = islow_inverse_pass([x[..., i] for i in range(BLOCK)],
                             lambda t: _descale(t, _CONST_BITS + _PASS1_BITS + 3))
    return (torch.stack(rows, dim=-1) + 128).clamp_(0, 255)
