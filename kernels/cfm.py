"""Triton kernels of the CFM dynamic convolution and its transpose (see ``qgac_fast.functional.cfm``).

``cfm_conv`` is a batched GEMM over the block grid: for sample ``n`` the ``(P, Cin*64)`` matrix of
its ``P = H/8 * W/8`` blocks is read straight from the tiled plane by address arithmetic (no
im2col copy) and multiplied by ``weight[table_index[n]]`` seen as ``(Cin*64, Cout)``; bias and
PReLU are applied to the float32 accumulator and the result is stored in ``(N, Cout, H/8, W/8)``.
``cfm_conv_transpose`` multiplies ``(P, Cin)`` block features by ``(Cin, Cout*64)`` and scatters
each output row to its 8x8 tiles. Both accumulate in float32; float16/bfloat16 operands go to the
tensor cores, float32 ones use TF32 exactly when ``torch.backends.cudnn.allow_tf32`` says the
reference convolution would (IEEE float32 otherwise).

Dtypes: activations float32/float16/bfloat16 or (``cfm_conv`` only) int16; weights, bias and
PReLU slope float32/float16/bfloat16. The result dtype follows the reference's rule (the
activation's dtype; float32 for int16), and weight and bias are rounded to it before use, as the
reference does.
"""

from __future__ import annotations

import torch

from qgac_fast.functional.checks import cfm_result_dtype, check_conv_args, check_conv_transpose_args

from ._triton import interpreting, tl, triton, unavailable_reason

__all__ = ["cfm_conv", "cfm_conv_transpose"]

_BLOCK = 8
_TILE = _BLOCK * _BLOCK
_FLOATS = (torch.float32, torch.float16, torch.bfloat16)
_MAX_GRID_Z = 65535  # CUDA's limit on the third grid dimension (the batch here)


@triton.jit
def _round(v, dtype: tl.constexpr, INTERPRETED: tl.constexpr):
    """``v`` rounded to ``dtype`` to nearest even, as a GPU does; the interpreter truncates
    float32 -> bfloat16, so there the bits are rounded first (exact for finite values)."""
    v = v.to(tl.float32)
    if INTERPRETED:
        if dtype == tl.bfloat16:
            bits = v.to(tl.uint32, bitcast=True)
            bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
            v = bits.to(tl.float32, bitcast=True)
    return v.to(dtype)


@triton.jit
def _cfm_conv_kernel(x_ptr, w_ptr, b_ptr, slope_ptr, index_ptr, out_ptr,
                     CIN, BLOCKS_W, P, COUT,
                     stride_xn, stride_xc, stride_xh, stride_xw,
                     HAS_BIAS: tl.constexpr, HAS_PRELU: tl.constexpr, HAS_INDEX: tl.constexpr,
                     INTERPRETED: tl.constexpr, DOT_PRECISION: tl.constexpr,
                     BLOCK_P: tl.constexpr, BLOCK_CO: tl.constexpr, BLOCK_K: tl.constexpr):
    """One (BLOCK_P blocks) x (BLOCK_CO outputs) tile of sample program_id(2).

    x: (N, CIN, 8*BH, 8*BW) strided; w: (T, COUT, CIN*64) contiguous; out: (N, COUT, P)
    contiguous with P = BH*BW. K = CIN*64 is a multiple of 64, so K tiles need no mask.
    """
    tl.static_assert(64 % BLOCK_K == 0)
    pid_p = tl.program_id(0)
    pid_o = tl.program_id(1)
    n = tl.program_id(2).to(tl.int64)
    if HAS_INDEX:
        t = tl.load(index_ptr + n).to(tl.int64)
    else:
        t = n
    dtype = out_ptr.dtype.element_ty
    k_total = CIN * 64
    p = pid_p * BLOCK_P + tl.arange(0, BLOCK_P)
    o = pid_o * BLOCK_CO + tl.arange(0, BLOCK_CO)
    p_ok = p < P
    o_ok = o < COUT
    bi = p // BLOCKS_W
    bj = p - bi * BLOCKS_W
    # top-left element of each block: the A rows; a K index k = (c, u, v) adds c*sc + u*sh + v*sw
    row = n * stride_xn + (bi * 8).to(tl.int64) * stride_xh + (bj * 8).to(tl.int64) * stride_xw
    w_rows = w_ptr + t * COUT * k_total + o.to(tl.int64) * k_total
    acc = tl.zeros((BLOCK_P, BLOCK_CO), dtype=tl.float32)
    for k0 in range(0, k_total, BLOCK_K):
        k = k0 + tl.arange(0, BLOCK_K)
        c = k // 64
        u = (k // 8) % 8
        v = k % 8
        col = c.to(tl.int64) * stride_xc + u * stride_xh + v * stride_xw
        a = _round(tl.load(x_ptr + row[:, None] + col[None, :], mask=p_ok[:, None], other=0), dtype, INTERPRETED)
        b = _round(tl.load(w_rows[None, :] + k[:, None], mask=o_ok[None, :], other=0), dtype, INTERPRETED)
        if INTERPRETED:  # the interpreter's dot is wrong on bfloat16: multiply the rounded values in float32
            a = a.to(tl.float32)
            b = b.to(tl.float32)
        acc = tl.dot(a, b, acc, input_precision=DOT_PRECISION)
    if HAS_BIAS:
        bias = _round(tl.load(b_ptr + t * COUT + o, mask=o_ok, other=0), dtype, INTERPRETED).to(tl.float32)
        acc += bias[None, :]
    if HAS_PRELU:
        slope = _round(tl.load(slope_ptr + o, mask=o_ok, other=0), dtype, INTERPRETED).to(tl.float32)
        acc = tl.where(acc >= 0, acc, acc * slope[None, :])
    out = out_ptr + (n * COUT + o[None, :].to(tl.int64)) * P + p[:, None]
    tl.store(out, _round(acc, dtype, INTERPRETED), mask=p_ok[:, None] & o_ok[None, :])


@triton.jit
def _cfm_conv_transpose_kernel(x_ptr, w_ptr, b_ptr, slope_ptr, index_ptr, out_ptr,
                               CIN, WIDTH, P, COUT,
                               stride_xn, stride_xc, stride_xh, stride_xw,
                               HAS_BIAS: tl.constexpr, HAS_PRELU: tl.constexpr, HAS_INDEX: tl.constexpr,
                               INTERPRETED: tl.constexpr, DOT_PRECISION: tl.constexpr,
                               BLOCK_P: tl.constexpr, BLOCK_J: tl.constexpr, BLOCK_C: tl.constexpr):
    """One (BLOCK_P blocks) x (BLOCK_J = channels*64 tile entries) tile of sample program_id(2).

    x: (N, CIN, H, WIDTH) strided block features, P = H*WIDTH; w: (T, CIN, COUT*64) contiguous;
    out: (N, COUT, 8H, 8*WIDTH) contiguous. Output column j = (o, u, v) lands at row 8i+u,
    column 8j'+v of channel o.
    """
    pid_p = tl.program_id(0)
    pid_j = tl.program_id(1)
    n = tl.program_id(2).to(tl.int64)
    if HAS_INDEX:
        t = tl.load(index_ptr + n).to(tl.int64)
    else:
        t = n
    dtype = out_ptr.dtype.element_ty
    j_total = COUT * 64
    p = pid_p * BLOCK_P + tl.arange(0, BLOCK_P)
    j = pid_j * BLOCK_J + tl.arange(0, BLOCK_J)
    p_ok = p < P
    j_ok = j < j_total
    bi = p // WIDTH
    bj = p - bi * WIDTH
    row = n * stride_xn + bi.to(tl.int64) * stride_xh + bj.to(tl.int64) * stride_xw
    w_base = w_ptr + t * CIN * j_total
    acc = tl.zeros((BLOCK_P, BLOCK_J), dtype=tl.float32)
    for c0 in range(0, CIN, BLOCK_C):
        c = c0 + tl.arange(0, BLOCK_C)
        c_ok = c < CIN
        a = _round(tl.load(x_ptr + row[:, None] + c[None, :].to(tl.int64) * stride_xc,
                           mask=p_ok[:, None] & c_ok[None, :], other=0), dtype, INTERPRETED)
        b = _round(tl.load(w_base + c[:, None].to(tl.int64) * j_total + j[None, :],
                           mask=c_ok[:, None] & j_ok[None, :], other=0), dtype, INTERPRETED)
        if INTERPRETED:
            a = a.to(tl.float32)
            b = b.to(tl.float32)
        acc = tl.dot(a, b, acc, input_precision=DOT_PRECISION)
    o = j // 64
    if HAS_BIAS:
        bias = _round(tl.load(b_ptr + t * COUT + o, mask=j_ok, other=0), dtype, INTERPRETED).to(tl.float32)
        acc += bias[None, :]
    if HAS_PRELU:
        slope = _round(tl.load(slope_ptr + o, mask=j_ok, other=0), dtype, INTERPRETED).to(tl.float32)
        acc = tl.where(acc >= 0, acc, acc * slope[None, :])
    u = (j // 8) % 8
    v = j % 8
    out_w = WIDTH * 8
    # channel o of sample n starts at (n*COUT + o) * 64P; block (bi, bj) at row 8bi, column 8bj
    chan = (n * COUT + o.to(tl.int64)) * (P * 64) + u * out_w + v
    pos = (bi * 8).to(tl.int64) * out_w + bj * 8
    tl.store(out_ptr + pos[:, None] + chan[None, :], _round(acc, dtype, INTERPRETED), mask=p_ok[:, None] & j_ok[None, :])


def _next_pow2(n: int, low: int, high: int) -> int:
    return max(low, min(high, triton.next_power_of_2(n)))


def _dot_precision(dtype: torch.dtype) -> str:
    """float32 on a GPU uses TF32 when cuDNN's convolutions (the reference path) are allowed to."""
    if dtype == torch.float32 and torch.backends.cudnn.allow_tf32 and not interpreting():
        return "tf32"
    return "ieee"


def _launch_config(dtype: torch.dtype) -> dict:
    """K step and launch options: 32-wide K for float32 keeps 3 pipeline stages in shared memory."""
    return {"k_step": 32 if dtype == torch.float32 else 64, "num_warps": 8, "num_stages": 3}


def _check_kernel_inputs(name: str, x: torch.Tensor, weight: torch.Tensor, bias, table_index, slope,
                         integer_ok: bool) -> None:
    """Dtype and device checks the reference does not need."""
    reason = unavailable_reason(x.device)
    if reason:
        raise RuntimeError(f"{name}: {reason}")
    allowed = _FLOATS + ((torch.int16,) if integer_ok else ())
    if x.dtype not in allowed:
        raise TypeError(f"{name}: x must be one of {[str(d) for d in allowed]}, got {x.dtype}")
    for label, tensor in (("weight", weight), ("bias", bias), ("prelu", slope)):
        if tensor is not None and tensor.dtype not in _FLOATS:
            raise TypeError(f"{name}: {label} must be float32, float16 or bfloat16, got {tensor.dtype}")
    for label, tensor in (("weight", weight), ("bias", bias), ("table_index", table_index), ("prelu", slope)):
        if tensor is not None and tensor.device != x.device:
            raise ValueError(f"{name}: {label} is on {tensor.device} but x is on {x.device}")
    if x.shape[0] > _MAX_GRID_Z:
        raise ValueError(f"{name}: batch of {x.shape[0]} exceeds the kernel's limit of {_MAX_GRID_Z}; split it")


def _check_out(name: str, out: torch.Tensor, shape: tuple, dtype: torch.dtype, device: torch.device) -> None:
    if out.shape != shape or out.dtype != dtype or out.device != device or not out.is_contiguous():
        raise ValueError(f"{name}: out must be a contiguous {dtype} tensor of shape {shape} on {device}, got "
                         f"{'a contiguous' if out.is_contiguous() else 'a non-contiguous'} {out.dtype} tensor "
                         f"of shape {tuple(out.shape)} on {out.device}")


def _slope_tensor(prelu, cout: int, device: torch.device) -> torch.Tensor | None:
    """The PReLU slope as a contiguous (Cout,) tensor (a scalar is broadcast), or None."""
    if prelu is None:
        return None
    if not isinstance(prelu, torch.Tensor):
        return torch.full((cout,), float(prelu), dtype=torch.float32, device=device)
    return prelu.reshape(-1).expand(cout).contiguous()


def _launch_conv(x, weight, bias, table_index, slope, out) -> None:
    n, cin, _, blocks_w = x.shape[0], x.shape[1], x.shape[2] // _BLOCK, x.shape[3] // _BLOCK
    cout, blocks = weight.shape[1], out.shape[2] * out.shape[3]
    config = _launch_config(out.dtype)
    block_p, block_co = 128, _next_pow2(cout, 16, 256)
    weight = weight.contiguous()
    grid = (triton.cdiv(blocks, block_p), triton.cdiv(cout, block_co), n)
    _cfm_conv_kernel[grid](
        x, weight, weight if bias is None else bias.contiguous(), weight if slope is None else slope,
        weight if table_index is None else table_index.contiguous(), out,
        cin, blocks_w, blocks, cout, *x.stride(),
        HAS_BIAS=bias is not None, HAS_PRELU=slope is not None, HAS_INDEX=table_index is not None,
        INTERPRETED=interpreting(), DOT_PRECISION=_dot_precision(out.dtype), BLOCK_P=block_p, BLOCK_CO=block_co,
        BLOCK_K=config["k_step"], num_warps=config["num_warps"], num_stages=config["num_stages"])


def _launch_conv_transpose(x, weight, bias, table_index, slope, out) -> None:
    n, cin, height, width = x.shape
    cout = weight.shape[2]
    config = _launch_config(out.dtype)
    block_p, block_j = 64, _next_pow2(cout * _TILE, 64, 256)
    weight = weight.contiguous()
    grid = (triton.cdiv(height * width, block_p), triton.cdiv(cout * _TILE, block_j), n)
    _cfm_conv_transpose_kernel[grid](
        x, weight, weight if bias is None else bias.contiguous(), weight if slope is None else slope,
        weight if table_index is None else table_index.contiguous(), out,
        cin, width, height * width, cout, *x.stride(),
        HAS_BIAS=bias is not None, HAS_PRELU=slope is not None, HAS_INDEX=table_index is not None,
        INTERPRETED=interpreting(), DOT_PRECISION=_dot_precision(out.dtype), BLOCK_P=block_p, BLOCK_J=block_j,
        BLOCK_C=config["k_step"], num_warps=config["num_warps"], num_stages=config["num_stages"])


@torch.library.custom_op("qgac_fast::cfm_conv", mutates_args=())
def _cfm_conv_op(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                 table_index: torch.Tensor | None, slope: torch.Tensor | None) -> torch.Tensor:
    n, _, h, w = x.shape
    out = torch.empty((n, weight.shape[1], h // _BLOCK, w // _BLOCK), dtype=cfm_result_dtype(x, weight),
                      device=x.device)
    _launch_conv(x, weight, bias, table_index, slope, out)
    return out


@_cfm_conv_op.register_fake
def _(x, weight, bias, table_index, slope):
    n, _, h, w = x.shape
    return x.new_empty((n, weight.shape[1], h // _BLOCK, w // _BLOCK), dtype=cfm_result_dtype(x, weight))


@torch.library.custom_op("qgac_fast::cfm_conv_transpose", mutates_args=())
def _cfm_conv_transpose_op(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                           table_index: torch.Tensor | None, slope: torch.Tensor | None) -> torch.Tensor:
    n, _, h, w = x.shape
    out = torch.empty((n, weight.shape[2], h * _BLOCK, w * _BLOCK), dtype=cfm_result_dtype(x, weight), device=x.device)
    _launch_conv_transpose(x, weight, bias, table_index, slope, out)
    return out


@_cfm_conv_transpose_op.register_fake
def _(x, weight, bias, table_index, slope):
    n, _, h, w = x.shape
    return x.new_empty((n, weight.shape[2], h * _BLOCK, w * _BLOCK), dtype=cfm_result_dtype(x, weight))


def cfm_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *,
             table_index: torch.Tensor | None = None, prelu: torch.Tensor | float | None = None,
             out: torch.Tensor | None = None) -> torch.Tensor:
    """Triton twin of :func:`qgac_fast.functional.cfm.cfm_conv` (same arguments and result).

    Args:
        x: ``(N, Cin, H, W)`` float32/float16/bfloat16 or int16 tiled planes, any strides.
        weight: ``(T, Cout, Cin, 8, 8)``; bias ``(T, Cout)`` or None; table_index ``(N,)``
            int32/int64 or None (``T == N``); prelu: scalar or ``(Cout,)`` slope, or None.
        out: optional contiguous ``(N, Cout, H/8, W/8)`` tensor of the result dtype to write into.

    Returns:
        ``(N, Cout, H/8, W/8)`` in x's dtype (float32 for int16), contiguous.
    """
    n, _, bh, bw, cout = check_conv_args(x, weight, bias, table_index, prelu)
    slope = _slope_tensor(prelu, cout, x.device)
    _check_kernel_inputs("cfm_conv", x, weight, bias, table_index, slope, integer_ok=True)
    if out is None:
        return torch.ops.qgac_fast.cfm_conv(x, weight, bias, table_index, slope)
    _check_out("cfm_conv", out, (n, cout, bh, bw), cfm_result_dtype(x, weight), x.device)
    _launch_conv(x, weight, bias, table_index, slope, out)
    return out


def cfm_conv_transpose(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *,
                       table_index: torch.Tensor | None = None, prelu: torch.Tensor | float | None = None,
                       out: torch.Tensor | None = None) -> torch.Tensor:
    """Triton twin of :func:`qgac_fast.functional.cfm.cfm_conv_transpose` (same arguments and result).

    Args:
        x: ``(N, Cin, h, w)`` float32/float16/bfloat16 block features, any strides.
        weight: ``(T, Cin, Cout, 8, 8)``; bias, table_index, prelu as in :func:`cfm_conv`.
        out: optional contiguous ``(N, Cout, 8h, 8w)`` tensor of x's dtype to write into.

    Returns:
        ``(N, Cout, 8h, 8w)`` in x's dtype, contiguous.
    """
    n, _, h, w, cout = check_conv_transpose_args(x, weight, bias, table_index, prelu)
    slope = _slope_tensor(prelu, cout, x.device)
    _check_kernel_inputs("cfm_conv_transpose", x, weight, bias, table_index, slope, integer_ok=False)
    if out is None:
        return torch.ops.qgac_fast.cfm_conv_transpose(x, weight, bias, table_index, slope)
    _check_out("cfm_conv_transpose", out, (n, cout, h * _BLOCK, w * _BLOCK), cfm_result_dtype(x, weight), x.device)
    _launch_conv_transpose(x, weight, bias, table_index, slope, out)
    return out


def _compile_checks() -> list:
    """Launch variants: each activation dtype with bias, PReLU and index at the paper's tiles, and
    float32 without them at the smallest tiles with IEEE dots (``allow_tf32`` off)."""
    pointers = {"float32": "*fp32", "float16": "*fp16", "bfloat16": "*bf16", "int16": "*i16"}
    ints = {name: "i32" for name in ("CIN", "P", "COUT", "stride_xn", "stride_xc", "stride_xh", "stride_xw")}
    variants = [(x_dtype, True, 256, None) for x_dtype in ("float32", "float16", "bfloat16", "int16")]
    variants.append(("float32", False, 16, "ieee"))
    entries = []
    for kernel, names, block_p, small in ((_cfm_conv_kernel, ("BLOCKS_W", "BLOCK_CO", "BLOCK_K"), 128, 16),
                                          (_cfm_conv_transpose_kernel, ("WIDTH", "BLOCK_J", "BLOCK_C"), 64, 64)):
        width_arg, tile_arg, k_arg = names
        for x_dtype, flags, tile, precision in variants:
            if x_dtype == "int16" and kernel is _cfm_conv_transpose_kernel:
                continue  # the transpose takes float features only
            out_dtype = "float32" if x_dtype == "int16" else x_dtype
            signature = {"x_ptr": pointers[x_dtype], "w_ptr": pointers[out_dtype], "b_ptr": "*fp32",
                         "slope_ptr": "*fp32", "index_ptr": "*i64", "out_ptr": pointers[out_dtype],
                         width_arg: "i32", **ints}
            constexprs = {"HAS_BIAS": flags, "HAS_PRELU": flags, "HAS_INDEX": flags, "INTERPRETED": False,
                          "DOT_PRECISION": precision or ("tf32" if out_dtype == "float32" else "ieee"),
                          "BLOCK_P": block_p, tile_arg: max(tile, small),
                          k_arg: _launch_config(getattr(torch, out_dtype))["k_step"]}
            config = _launch_config(getattr(torch, out_dtype))
            options = {"num_warps": config["num_warps"], "num_stages": config["num_stages"]}
            entries.append((kernel, signature, constexprs, options))
    return entries


#: (kernel, signature, constexprs, launch options) of every launch variant, compiled for sm_90 by ``_compile_check``.
COMPILE_CHECKS = _compile_checks()
