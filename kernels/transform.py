"""Triton kernels of the blockwise 8x8 DCT and inverse DCT, with (de)quantization fused in.

Each program reads ``BM`` consecutive 8x8 blocks (raster order over one plane's block grid)
straight from the strided input as a ``(BM, 64)`` tile, multiplies it by the ``(64, 64)``
Kronecker DCT matrix (``K.T`` forward, ``K`` inverse, see
:func:`qgac_fast.functional.transform.dct_kron_matrix`) with a float32 accumulator, and writes the
``(BM, 64)`` result back to the blocks' places. The fused variants scale the tile by the plane's
quantization table before the product (dequantize + IDCT) or divide and round after it
(DCT + quantize).

Precision:

* float32 operands use ``input_precision="ieee"`` (exact float32 products and sums; never TF32,
  whose ~1e-3 relative error would show as pixel errors and flip quantized values).
* float16 / bfloat16 operands go to the tensor cores with the matrix split in two parts of the
  operand dtype (``K = K_hi + K_lo``, two dots into one float32 accumulator): the products are
  exact and the matrix keeps ~22 bits (float16) or ~16 bits (bfloat16), far below the output's
  rounding, so the result is a float32-quality transform of the same (rounded) input, rounded
  once to the output dtype. (In Triton's interpreter, whose bfloat16 dots are wrong, bfloat16
  takes the float32 path on the same rounded input.)
* Quantized outputs divide with IEEE rounding (``div_rn``) and round half away from zero as
  libjpeg does; the fused ops always compute in float32.

Every public function here is the Triton twin of a reference op in
:mod:`qgac_fast.functional.transform` (same name). The kernels are registered as ``torch.library`` custom ops
(``qgac_fast::block_dct``, ``block_idct``, ``dequantize_idct``, ``dct_quantize``, with fake
implementations) so that ``torch.compile`` and ``torch.export`` see one opaque call; the two plain
transforms have autograd formulas (each is the other's adjoint). Plain eager calls that record
no autograd graph launch the kernel directly, skipping the dispatcher's Python custom-op path.
"""

from __future__ import annotations

import torch

from qgac_fast.functional.checks import BLOCK, check_fused_coefficients, check_plane, normalize_table
from qgac_fast.functional.transform import dct_kron_matrix

from ._triton import AVAILABLE, interpreting, tl, triton

if not AVAILABLE:  # pragma: no cover - triton is a pinned dependency
    raise ImportError("qgac_fast.kernels.transform needs Triton")

__all__ = [
    "dct",
    "idct",
    "block_dct",
    "block_idct",
    "dequantize_idct",
    "dct_quantize",
    "unsupported_reason",
]

_FLOATS = (torch.float32, torch.float16, torch.bfloat16)
#: Input dtypes the kernels load (converted to the compute dtype in registers).
_INPUTS = _FLOATS + (torch.uint8, torch.int8, torch.int16, torch.int32)
#: Table dtypes the fused kernels load (converted to float32 in registers, as the reference does).
_TABLES = _INPUTS + (torch.int64, torch.float64)
_INT32_MAX = 2**31 - 1

_MODE_TRANSFORM, _MODE_DEQUANTIZE, _MODE_QUANTIZE = 0, 1, 2


@triton.jit
def _round_to(x, dtype: tl.constexpr, EMULATE_RNE: tl.constexpr):
    """float32 ``x`` rounded to ``dtype``. Triton's interpreter truncates float32 -> bfloat16
    (the GPU rounds to nearest even): with EMULATE_RNE the rounding is done on the bits first."""
    if EMULATE_RNE and dtype == tl.bfloat16:
        bits = x.to(tl.uint32, bitcast=True)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
        x = bits.to(tl.float32, bitcast=True)
    return x.to(dtype)


@triton.jit
def _dct_kernel(x_ptr, out_ptr, m_ptr, table_ptr,
                C, BW, BLOCKS, TILES,
                sxn, sxc, sxbi, sxbj, sxr, sxk,
                son, soc, sobi, sobj, sor, sok,
                stn, stc, str_, stk,
                MODE: tl.constexpr, PIXELS: tl.constexpr, LEVEL_SHIFT: tl.constexpr,
                SPLIT: tl.constexpr, ROUND_INPUT: tl.constexpr, I64: tl.constexpr,
                TILED: tl.constexpr, ROWS8: tl.constexpr, EMULATE_RNE: tl.constexpr,
                BM: tl.constexpr, KC: tl.constexpr):
    """Transform BM blocks of plane ``pid // TILES``.

    Plane ``p = n * C + c`` of x starts at ``n * sxn + c * sxc``; its block ``b`` (raster order,
    ``BW`` blocks a row, ``BLOCKS`` in all) at ``(b // BW) * sxbi + (b % BW) * sxbj``; element
    ``(r, k)`` of a block at ``r * sxr + k * sxk``. Same for out (``so*``) and for the table
    (``st*``, no block strides). ``m_ptr``: ``(64, 64)`` float32 matrix, or for SPLIT the
    ``(2, 64, 64)`` hi/lo parts in the compute dtype. MODE 0: ``out = x @ M``; 1: ``(x * t) @ M``;
    2: ``round_half_away((x [- 128]) @ M / t)`` clamped to int16. PIXELS (MODE 1):
    ``floor(y + 128 + 0.5)`` clamped to 0..255.
    """
    pid = tl.program_id(0)
    plane = pid // TILES
    tile = pid - plane * TILES
    n = (plane // C).to(tl.int64)
    c = (plane % C).to(tl.int64)
    b = tile * BM + tl.arange(0, BM)
    ok = b < BLOCKS
    # rows and columns of a block as separate axes, so that the compiler sees the 8 contiguous
    # elements of each block row (vectorised loads and stores when the column stride is 1)
    col = tl.arange(0, 8)
    kr = tl.arange(0, KC // 8)
    r = tl.arange(0, 8)
    if I64:
        b = b.to(tl.int64)
        col = col.to(tl.int64)
        kr = kr.to(tl.int64)
        r = r.to(tl.int64)
    bi = b // BW
    bj = b - bi * BW
    if ROWS8:  # the launcher checked: both row strides are multiples of 8 (aligned block rows)
        sxr = tl.multiple_of(sxr, 8)
        sor = tl.multiple_of(sor, 8)
    if TILED:  # block strides are 8 element strides: say so, for the alignment analysis
        x_blocks = bi * (8 * sxr) + bj * (8 * sxk)
        o_blocks = bi * (8 * sor) + bj * (8 * sok)
    else:
        x_blocks = bi * sxbi + bj * sxbj
        o_blocks = bi * sobi + bj * sobj
    x_base = x_ptr + n * sxn + c * sxc + x_blocks[:, None, None]
    t_base = table_ptr + n * stn + c * stc
    ok3 = ok[:, None, None]

    # K in chunks of KC (KC / 8 rows of each block): the float32 FMA dot holds its operands in
    # registers, so a 64-deep dot would spill
    m_offs = tl.arange(0, KC)[:, None] * 64 + tl.arange(0, 64)[None, :]
    acc = tl.zeros((BM, 64), dtype=tl.float32)
    for j in tl.static_range(64 // KC):
        rows = kr + j * (KC // 8)
        x = tl.load(x_base + (rows[:, None] * sxr + col[None, :] * sxk)[None, :, :], mask=ok3, other=0)
        if SPLIT:
            # x in the compute dtype (float16/bfloat16) times the matrix split in two parts of
            # that dtype: tensor-core products are exact, the float32 accumulator sums both
            x = tl.reshape(x.to(m_ptr.dtype.element_ty), (BM, KC))
            acc = tl.dot(x, tl.load(m_ptr + j * KC * 64 + m_offs), acc)
            acc = tl.dot(x, tl.load(m_ptr + 64 * 64 + j * KC * 64 + m_offs), acc)
        else:
            x = x.to(tl.float32)
            if ROUND_INPUT:  # the reference casts the input to the compute dtype first
                x = _round_to(x, out_ptr.dtype.element_ty, EMULATE_RNE).to(tl.float32)
            if MODE == 1:
                t = tl.load(t_base + rows[:, None] * str_ + col[None, :] * stk).to(tl.float32)
                x = x * t[None, :, :]
            if LEVEL_SHIFT:
                x = x - 128.0
            x = tl.reshape(x, (BM, KC))
            acc = tl.dot(x, tl.load(m_ptr + j * KC * 64 + m_offs), acc, input_precision="ieee")

    y = tl.reshape(acc, (BM, 8, 8))
    if MODE == 2:
        t = tl.load(t_base + r[:, None] * str_ + col[None, :] * stk).to(tl.float32)
        v = tl.math.div_rn(y, t[None, :, :])
        a = tl.floor(tl.abs(v) + 0.5)
        y = tl.where(v < 0, -a, a)
        y = tl.minimum(tl.maximum(y, -32768.0), 32767.0)
    elif PIXELS:
        y = y + 128.0
        y = tl.floor(y + 0.5)
        y = tl.minimum(tl.maximum(y, 0.0), 255.0)
    o_ptrs = (out_ptr + n * son + c * soc + o_blocks[:, None, None]
              + (r[:, None] * sor + col[None, :] * sok)[None, :, :])
    tl.store(o_ptrs, _round_to(y, out_ptr.dtype.element_ty, EMULATE_RNE), mask=ok3)


# --------------------------------------------------------------------------------------------
# Launch


_MATRICES: dict[tuple, torch.Tensor] = {}


def _matrix(inverse: bool, dtype: torch.dtype, split: bool, device: torch.device) -> torch.Tensor:
    """The operand ``M`` of ``out = x @ M``: ``K`` (inverse) or ``K.T`` (forward), contiguous;
    float32 (64, 64), or for ``split`` the (2, 64, 64) parts ``hi = M.to(dtype)`` and
    ``lo = (M - hi).to(dtype)``. Built in float64 once per device."""
    key = (inverse, dtype, split, device)
    m = _MATRICES.get(key)
    if m is None:
        k = dct_kron_matrix(torch.float64)
        k = k if inverse else k.T
        if split:
            hi = k.to(dtype)
            lo = (k - hi.double()).to(dtype)
            m = torch.stack([hi, lo])
        else:
            m = k.to(torch.float32)
        m = m.contiguous().to(device)
        _MATRICES[key] = m
    return m


def _block_strides(t: torch.Tensor, tiled: bool) -> tuple[int, ...]:
    """(plane n, plane c, block row, block column, element row, element column) strides of a
    4-D tiled plane ``(N, C, H, W)`` or a 5-D block grid ``(N, Bh, Bw, 8, 8)``."""
    if tiled:
        sn, sc, sh, sw = t.stride()
        return sn, sc, BLOCK * sh, BLOCK * sw, sh, sw
    sn, sbi, sbj, sr, sk = t.stride()
    return sn, 0, sbi, sbj, sr, sk


def _max_offset(strides: tuple[int, ...], bh: int, bw: int) -> int:
    """Largest element offset within one plane."""
    _, _, sbi, sbj, sr, sk = strides
    return (bh - 1) * sbi + (bw - 1) * sbj + (BLOCK - 1) * (sr + sk)


def _pick_tile(blocks: int, split: bool) -> tuple[int, int, int]:
    """(BM blocks a program, KC-deep K chunks, num_warps), from ptxas's register counts for sm_90
    (no spills): the float32 FMA dot at 64 blocks x 32-deep chunks on 8 warps (75 registers);
    the tensor-core split at 128 blocks x 64 deep on 8 warps (74 registers, wgmma). Tiny planes
    get smaller tiles (``tl.dot`` needs BM >= 16) rather than idle lanes."""
    bm = max(16, min(128 if split else 64, triton.next_power_of_2(blocks)))
    kc = 64 if split else 32
    return bm, kc, 8 if bm >= 64 else 4


def _launch(x: torch.Tensor, out: torch.Tensor, table: torch.Tensor | None, *, tiled: bool, mode: int,
            inverse: bool, pixels: bool = False, level_shift: bool = False) -> torch.Tensor:
    """Run :func:`_dct_kernel` on ``x`` into ``out`` (both 4-D tiled planes ``(N, C, H, W)`` or
    both 5-D block grids ``(N, Bh, Bw, 8, 8)``); ``table`` is ``(N, C, 8, 8)`` (possibly
    expanded) for the fused modes."""
    if tiled:
        n, c, h, w = x.shape
        bh, bw = h // BLOCK, w // BLOCK
    else:
        n, bh, bw = x.shape[:3]
        c = 1
    blocks = bh * bw
    if n * c * blocks == 0:
        return out
    xs, os_ = _block_strides(x, tiled), _block_strides(out, tiled)
    if table is None:
        ts = (0, 0, 0, 0)
        table_arg = x
    else:
        table_arg = table
        ts = tuple(table.stride())
    compute = out.dtype if mode == _MODE_TRANSFORM else torch.float32
    # bfloat16 dots are wrong in Triton's interpreter: there the input is rounded to bfloat16,
    # then multiplied in float32 (same numbers, one exact float32 product instead of two parts)
    split = compute in (torch.float16, torch.bfloat16) and not (interpreting() and compute == torch.bfloat16)
    round_input = not split and compute != torch.float32 and x.dtype != compute
    m = _matrix(inverse, compute if split else torch.float32, split, x.device)
    i64 = max(_max_offset(xs, bh, bw), _max_offset(os_, bh, bw)) > _INT32_MAX
    bm, kc, warps = _pick_tile(blocks, split)
    tiles = triton.cdiv(blocks, bm)
    grid = (n * c * tiles,)
    if grid[0] > _INT32_MAX:
        raise ValueError(f"{n * c} planes of {blocks} blocks exceed the kernel's grid; split the batch")
    _dct_kernel[grid](
        x, out, m, table_arg, c, bw, blocks, tiles, *xs, *os_, *ts,
        MODE=mode, PIXELS=pixels, LEVEL_SHIFT=level_shift, SPLIT=split, ROUND_INPUT=round_input, I64=i64,
        TILED=tiled, ROWS8=xs[4] % 8 == 0 and os_[4] % 8 == 0, EMULATE_RNE=interpreting(), BM=bm, KC=kc,
        num_warps=warps)
    return out


def _as_planes(x: torch.Tensor) -> torch.Tensor:
    """``(..., H, W)`` as ``(N, C, H, W)`` (a view when the strides allow it)."""
    if x.dim() == 2:
        return x.reshape(1, 1, *x.shape)
    if x.dim() == 3:
        return x.unsqueeze(0)
    return x.reshape(-1, *x.shape[-3:])


def _as_grids(x: torch.Tensor) -> torch.Tensor:
    """``(..., 8, 8)`` blocks as ``(N, Bh, Bw, 8, 8)`` (a view when the strides allow it):
    ``(8, 8)`` and ``(B, 8, 8)`` as one row of blocks, ``(..., Bh, Bw, 8, 8)`` with the leading
    dims merged."""
    if x.dim() <= 3:
        return x.reshape(1, 1, -1, BLOCK, BLOCK)
    return x.reshape(-1, *x.shape[-4:])


def _transform(x: torch.Tensor, dtype: torch.dtype, tiled: bool, inverse: bool) -> torch.Tensor:
    out = torch.empty(x.shape, dtype=dtype, device=x.device)
    if tiled:
        _launch(_as_planes(x), _as_planes(out), None, tiled=True, mode=_MODE_TRANSFORM, inverse=inverse)
    else:
        _launch(_as_grids(x), _as_grids(out), None, tiled=False, mode=_MODE_TRANSFORM, inverse=inverse)
    return out


# --------------------------------------------------------------------------------------------
# Custom ops


@torch.library.custom_op("qgac_fast::block_dct", mutates_args=())
def _block_dct_op(x: torch.Tensor, dtype: torch.dtype, tiled: bool) -> torch.Tensor:
    return _transform(x, dtype, tiled, inverse=False)


@torch.library.custom_op("qgac_fast::block_idct", mutates_args=())
def _block_idct_op(x: torch.Tensor, dtype: torch.dtype, tiled: bool) -> torch.Tensor:
    return _transform(x, dtype, tiled, inverse=True)


@_block_dct_op.register_fake
def _(x, dtype, tiled):
    return x.new_empty(x.shape, dtype=dtype)


@_block_idct_op.register_fake
def _(x, dtype, tiled):
    return x.new_empty(x.shape, dtype=dtype)


def _setup_transform(ctx, inputs, output):
    x, _, tiled = inputs
    ctx.x_dtype = x.dtype
    ctx.tiled = tiled


def _dct_backward(ctx, grad):
    # out = x @ K.T per block, so dL/dx = grad @ K: the inverse transform (and vice versa)
    if not ctx.x_dtype.is_floating_point:
        return None, None, None
    return torch.ops.qgac_fast.block_idct(grad, ctx.x_dtype, ctx.tiled), None, None


def _idct_backward(ctx, grad):
    if not ctx.x_dtype.is_floating_point:
        return None, None, None
    return torch.ops.qgac_fast.block_dct(grad, ctx.x_dtype, ctx.tiled), None, None


_block_dct_op.register_autograd(_dct_backward, setup_context=_setup_transform)
_block_idct_op.register_autograd(_idct_backward, setup_context=_setup_transform)


def _dequantize_idct_impl(coefficients: torch.Tensor, table: torch.Tensor, dtype: torch.dtype,
                          pixels: bool) -> torch.Tensor:
    n, c = coefficients.shape[:2]
    out = torch.empty(coefficients.shape, dtype=torch.uint8 if pixels else dtype, device=coefficients.device)
    t = normalize_table(table, n, c).expand(n, c, BLOCK, BLOCK)
    return _launch(coefficients, out, t, tiled=True, mode=_MODE_DEQUANTIZE, inverse=True, pixels=pixels)


@torch.library.custom_op("qgac_fast::dequantize_idct", mutates_args=())
def _dequantize_idct_op(coefficients: torch.Tensor, table: torch.Tensor, dtype: torch.dtype,
                        pixels: bool) -> torch.Tensor:
    return _dequantize_idct_impl(coefficients, table, dtype, pixels)


@_dequantize_idct_op.register_fake
def _(coefficients, table, dtype, pixels):
    return coefficients.new_empty(coefficients.shape, dtype=torch.uint8 if pixels else dtype)


def _dct_quantize_impl(x: torch.Tensor, table: torch.Tensor, level_shift: bool) -> torch.Tensor:
    n, c = x.shape[:2]
    out = torch.empty(x.shape, dtype=torch.int16, device=x.device)
    t = normalize_table(table, n, c).expand(n, c, BLOCK, BLOCK)
    return _launch(x, out, t, tiled=True, mode=_MODE_QUANTIZE, inverse=False, level_shift=level_shift)


@torch.library.custom_op("qgac_fast::dct_quantize", mutates_args=())
def _dct_quantize_op(x: torch.Tensor, table: torch.Tensor, level_shift: bool) -> torch.Tensor:
    return _dct_quantize_impl(x, table, level_shift)


@_dct_quantize_op.register_fake
def _(x, table, level_shift):
    return x.new_empty(x.shape, dtype=torch.int16)


# --------------------------------------------------------------------------------------------
# Public twins: validate what only the kernels need, then call the custom op


def unsupported_reason(op: str, *tensors: torch.Tensor, dtype: torch.dtype | None = None) -> str | None:
    """None if the kernel of ``op`` takes these inputs and this compute/output ``dtype``, else a
    sentence saying why not.

    ``op``: ``"dct"`` (x), ``"dequantize_idct"`` (coefficients, table; dtype = output) or
    ``"dct_quantize"`` (x, table; dtype = compute dtype). ``backend="auto"`` falls back to the
    reference when this is not None; the twins below raise ``TypeError`` with it.
    """
    x = tensors[0]
    if x.dtype not in _INPUTS:
        return (f"{op}: the Triton kernel does not take {x.dtype} input (one of "
                f"{', '.join(str(d).removeprefix('torch.') for d in _INPUTS)}); use backend='reference'")
    for t in tensors[1:]:
        if t.dtype not in _TABLES:
            return f"{op}: the Triton kernel does not take a {t.dtype} table; use backend='reference'"
    allowed = (torch.float32,) if op == "dct_quantize" else _FLOATS
    if dtype is not None and dtype not in allowed:
        return (f"{op}: the Triton kernel computes in {' or '.join(str(d).removeprefix('torch.') for d in allowed)}"
                f", not {dtype}; use backend='reference'")
    return None


def _require(op: str, *tensors: torch.Tensor, dtype: torch.dtype | None = None) -> None:
    for t in tensors[1:]:
        if t.device != tensors[0].device:
            raise ValueError(f"{op}: inputs are on different devices: {tensors[0].device} and {t.device}")
    reason = unsupported_reason(op, *tensors, dtype=dtype)
    if reason is not None:
        raise TypeError(reason)


def _eager(*tensors: torch.Tensor) -> bool:
    """True to call a kernel directly rather than through its custom op: not under
    ``torch.compile`` / export tracing, and no autograd graph to record (the dispatcher's
    Python custom-op path costs ~10 us a call, as much as a small kernel)."""
    if torch.compiler.is_compiling():
        return False
    return not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))


def _check_blocks(x: torch.Tensor) -> None:
    if x.dim() < 2 or x.shape[-2:] != (BLOCK, BLOCK):
        raise ValueError(f"blocks must have shape (..., 8, 8), got {tuple(x.shape)}")


def dct(plane: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Triton twin of :func:`qgac_fast.functional.transform.dct`: blockwise forward DCT of a tiled plane.

    Args:
        plane: ``(..., H, W)`` samples (H, W multiples of 8), any strides; float32, float16,
            bfloat16, uint8, int8, int16 or int32.
        dtype: compute and output dtype: float32, float16 or bfloat16 (the input is rounded to it
            first, as the reference does; the products accumulate in float32).

    Returns:
        ``(..., H, W)`` contiguous coefficients of ``dtype``; differentiable.
    """
    check_plane(plane, "plane")
    _require("dct", plane, dtype=dtype)
    if _eager(plane):
        return _transform(plane, dtype, True, inverse=False)
    return torch.ops.qgac_fast.block_dct(plane, dtype, True)


def idct(plane: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Triton twin of :func:`qgac_fast.functional.transform.idct` (arguments as :func:`dct`)."""
    check_plane(plane, "plane")
    _require("dct", plane, dtype=dtype)
    if _eager(plane):
        return _transform(plane, dtype, True, inverse=True)
    return torch.ops.qgac_fast.block_idct(plane, dtype, True)


def block_dct(blocks: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Triton twin of :func:`qgac_fast.functional.transform.block_dct` on ``(..., 8, 8)`` blocks."""
    _check_blocks(blocks)
    _require("dct", blocks, dtype=dtype)
    if _eager(blocks):
        return _transform(blocks, dtype, False, inverse=False)
    return torch.ops.qgac_fast.block_dct(blocks, dtype, False)


def block_idct(blocks: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Triton twin of :func:`qgac_fast.functional.transform.block_idct` on ``(..., 8, 8)`` blocks."""
    _check_blocks(blocks)
    _require("dct", blocks, dtype=dtype)
    if _eager(blocks):
        return _transform(blocks, dtype, False, inverse=True)
    return torch.ops.qgac_fast.block_idct(blocks, dtype, False)


def dequantize_idct(coefficients: torch.Tensor, table: torch.Tensor, dtype: torch.dtype = torch.float32,
                    pixels: bool = False) -> torch.Tensor:
    """Triton twin of :func:`qgac_fast.functional.transform.dequantize_idct`.

    Args:
        coefficients: ``(N, C, H, W)`` quantized coefficients, any strides (int16 from a file;
            int8/int32/uint8 and float32/float16/bfloat16 are read too).
        table: ``(8, 8)``, ``(N, 8, 8)``, ``(N, 1, 8, 8)`` or ``(N, C, 8, 8)`` quantization steps,
            integer or float (rounded to float32 as the reference does), on the same device.
        dtype: output dtype (float32, float16 or bfloat16); the kernel computes in float32.
        pixels: return uint8 pixels: ``floor(y + 128 + 0.5)`` clamped to 0..255.

    Returns:
        ``(N, C, H, W)`` contiguous level-shifted samples of ``dtype``, or uint8 pixels. Forward
        only: use the reference for gradients.
    """
    check_fused_coefficients(coefficients, table)
    _require("dequantize_idct", coefficients, table, dtype=dtype)
    if torch.is_grad_enabled() and (coefficients.requires_grad or table.requires_grad):
        raise ValueError("dequantize_idct: the Triton kernel is forward only; use backend='reference' for gradients")
    if _eager():
        return _dequantize_idct_impl(coefficients, table, dtype, pixels)
    return torch.ops.qgac_fast.dequantize_idct(coefficients, table, dtype, pixels)


def dct_quantize(x: torch.Tensor, table: torch.Tensor, level_shift: bool = False,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Triton twin of :func:`qgac_fast.functional.transform.dct_quantize` (float32 compute).

    Args:
        x: ``(N, C, H, W)`` samples, any strides: level-shifted floats, or with ``level_shift``
            pixels 0..255 (uint8 or float), from which 128 is subtracted first.
        table: as in :func:`dequantize_idct`; positive steps.
        dtype: the compute dtype; only float32 (TypeError otherwise).

    Returns:
        ``(N, C, H, W)`` contiguous int16 quantized coefficients, rounded half away from zero and
        saturated to the int16 range.
    """
    check_fused_coefficients(x, table, name="x")
    _require("dct_quantize", x, table, dtype=dtype)
    if _eager():
        return _dct_quantize_impl(x, table, level_shift)
    return torch.ops.qgac_fast.dct_quantize(x, table, level_shift)


# --------------------------------------------------------------------------------------------
# Ahead-of-time compile check (kernels/_compile_check.py)


def _compile_checks() -> list:
    """Every launched variant: each compute dtype of the plain transform (split dots for
    float16/bfloat16, IEEE float32 otherwise), the fused modes with int16 coefficients and an
    int32 table, uint8 pixels in and out, 64-bit offsets, and the small tile."""
    pointers = {"float32": "*fp32", "float16": "*fp16", "bfloat16": "*bf16", "int16": "*i16", "uint8": "*u8",
                "int32": "*i32"}
    ints = {name: "i32" for name in ("C", "BW", "BLOCKS", "TILES", "sxn", "sxc", "sxbi", "sxbj", "sxr", "sxk",
                                     "son", "soc", "sobi", "sobj", "sor", "sok", "stn", "stc", "str_", "stk")}

    def entry(x, out, m, table, mode, pixels=False, level_shift=False, split=False, round_input=False,
              i64=False, tiled=True, bm=None):
        bm_, kc, _ = _pick_tile(1 << 20, split)
        warps = _pick_tile(bm or bm_, split)[2]  # the launcher's warps for this tile
        signature = {"x_ptr": pointers[x], "out_ptr": pointers[out], "m_ptr": pointers[m],
                     "table_ptr": pointers[table], **ints}
        if i64:
            signature.update({name: "i64" for name in ("sxbi", "sxbj", "sobi", "sobj")})
        constexprs = {"MODE": mode, "PIXELS": pixels, "LEVEL_SHIFT": level_shift, "SPLIT": split,
                      "ROUND_INPUT": round_input, "I64": i64, "TILED": tiled, "ROWS8": tiled,
                      "EMULATE_RNE": False, "BM": bm or bm_, "KC": kc}
        return _dct_kernel, signature, constexprs, {"num_warps": warps}

    entries = [
        # plain transform: float32 (IEEE FMA dot) from float and integer inputs, float16 input
        # to float32, block lists, 64-bit offsets, the smallest tile
        entry("float32", "float32", "float32", "float32", 0),
        entry("int16", "float32", "float32", "float32", 0),
        entry("uint8", "float32", "float32", "float32", 0),
        entry("float16", "float32", "float32", "float32", 0),
        entry("float32", "float32", "float32", "float32", 0, tiled=False),
        entry("float32", "float32", "float32", "float32", 0, i64=True),
        entry("float32", "float32", "float32", "float32", 0, bm=16),
        # tensor-core split dots: float16 and bfloat16 compute from each input, block lists,
        # 64-bit offsets, small tiles (mma.sync below 64 rows)
        entry("float16", "float16", "float16", "float16", 0, split=True),
        entry("bfloat16", "bfloat16", "bfloat16", "bfloat16", 0, split=True),
        entry("float32", "float16", "float16", "float16", 0, split=True),
        entry("float32", "bfloat16", "bfloat16", "bfloat16", 0, split=True),
        entry("int16", "bfloat16", "bfloat16", "bfloat16", 0, split=True),
        entry("bfloat16", "bfloat16", "bfloat16", "bfloat16", 0, split=True, tiled=False),
        entry("float16", "float16", "float16", "float16", 0, split=True, i64=True),
        entry("float16", "float16", "float16", "float16", 0, split=True, bm=16),
        entry("bfloat16", "bfloat16", "bfloat16", "bfloat16", 0, split=True, bm=32),
        # dequantize + IDCT: float32, float16 and bfloat16 out, uint8 pixels, float table
        entry("int16", "float32", "float32", "int32", 1),
        entry("int16", "float16", "float32", "int32", 1),
        entry("int16", "bfloat16", "float32", "int32", 1),
        entry("int16", "uint8", "float32", "int32", 1, pixels=True),
        entry("int16", "float32", "float32", "float32", 1, bm=16),
        entry("float32", "float32", "float32", "float32", 1, i64=True),
        # DCT + quantize: level-shifted floats, uint8 pixels with the shift, small tile
        entry("float32", "int16", "float32", "int32", 2),
        entry("uint8", "int16", "float32", "int32", 2, level_shift=True),
        entry("float16", "int16", "float32", "float32", 2),
        entry("float32", "int16", "float32", "float32", 2, level_shift=True, bm=16),
    ]
    return entries


#: (kernel, signature, constexprs, launch options) of every launch variant, compiled for sm_90 by ``_compile_check``.
COMPILE_CHECKS = _compile_checks()
