"""Triton blockwise DCT kernels against the reference: CPU in Triton's interpreter, CUDA when present.

Float outputs, with the float64 reference on the same (rounded) inputs as ground truth and errors
measured as max |error| / max |truth|:

* the kernel's error is at most twice the error of the reference run in the kernel's dtype, plus
  one rounding of the output (``eps(dtype)``), as flash-attention bounds its kernels;
* and within a fixed bound: float32 1e-6, float16 1e-3 (the kernel rounds once, ~2^-11),
  bfloat16 8e-3 (~2^-8).

Quantized outputs (``dct_quantize`` int16, ``dequantize_idct`` uint8 pixels) equal the rounded
float64 reference except where the float64 value lies within the float32 evaluation's error
bound of a rounding tie; there they may differ by 1. The bound is the standard one for a 64-term
float32 dot product, ``gamma_66 * sum_k |x_k| |M_kj|`` with ``gamma_n = n u / (1 - n u)`` and
``u = 2^-24`` (66 terms covering the level shift and the division), and the tests also assert
that at least 99.99% of the values are equal.

Exact ties: with integer pixels, coefficients and tables, the coefficients whose matrix row is
+-1/8 (DC, and the (0, 4), (4, 0), (4, 4) frequencies) can land exactly on a tie. In float32 those
matrix entries are exactly +-0.125, so the kernel sees the tie and rounds it as libjpeg does; the
float64 matrix carries a last-bit error (0.12499999999999997) that breaks it towards zero. The
float64 oracle therefore takes values within 1e-9 of a tie as exact ties (~0.03% of a photo's
coefficients).
"""

import pytest
import torch

from qgac_fast import ops as F
from qgac_fast.functional.quantization import dequantize, round_half_away_from_zero, tile_table
from qgac_fast.functional.transform import blockify, dct_kron_matrix, deblockify
from qgac_fast.quality import ijg_table
from images import sample_image

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
FLOATS = [torch.float32, torch.float16, torch.bfloat16]
BOUNDS = {torch.float32: 1e-6, torch.float16: 1e-3, torch.bfloat16: 8e-3}
U = 2.0 ** -24

# tiled planes by name: (N, C, H, W) unless noted
SHAPES = {
    "one_block": (1, 1, 8, 8),
    "grid_7x9": (1, 1, 56, 72),
    "batch_3x2": (3, 2, 16, 24),
    "plane_2d": (16, 40),
    "leading_5d": (2, 2, 1, 8, 16),
}


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _pixels(shape, seed):
    """Level-shifted photo-like samples: integers in [-128, 127] plus fractional noise."""
    g = _gen(seed)
    x = torch.randint(-128, 128, shape, generator=g).double() + torch.rand(shape, generator=g) - 0.5
    return x.clamp(-128, 127)


def _coefficients(shape, seed):
    """Realistic DCT coefficients: the transform of level-shifted pixels."""
    return F.dct(_pixels(shape, seed), backend="reference")


def _rel_error(y, truth):
    scale = truth.abs().max().clamp_min(1e-30)
    return ((y.double() - truth).abs().max() / scale).item()


def _assert_float_bound(y, truth, in_dtype_reference):
    err, ref_err = _rel_error(y, truth), _rel_error(in_dtype_reference, truth)
    eps = torch.finfo(y.dtype).eps
    assert err <= 2 * ref_err + eps, f"kernel error {err:.3g} vs reference-in-{y.dtype} error {ref_err:.3g}"
    assert err <= BOUNDS[y.dtype], f"relative error {err:.3g} over {BOUNDS[y.dtype]}"


def _tables(n, c, seed, per_channel=True):
    """Per-sample (and per-channel) IJG tables at mixed qualities, int32 (N, C, 8, 8)."""
    g = _gen(seed)
    qualities = torch.randint(5, 96, (n, c if per_channel else 1), generator=g)
    return torch.stack([torch.stack([ijg_table(int(q), chroma=bool(j)) for j, q in enumerate(row)])
                        for row in qualities]).to(torch.int32)


def _exact_round(v64, half_up=False):
    """Round float64 values half away from zero (or half up), values within 1e-9 of a tie taken as
    exact ties (see the module docstring)."""
    tie = ((v64.abs() - v64.abs().floor()) - 0.5).abs() <= 1e-9
    if half_up:
        return torch.where(((v64 - v64.floor()) - 0.5).abs() <= 1e-9, v64.floor() + 1, torch.floor(v64 + 0.5))
    return torch.where(tie, torch.sign(v64) * (v64.abs().floor() + 1), round_half_away_from_zero(v64))


def _near_tie(v64, magnitude_bound):
    """Values whose float32 evaluation may round the other way: within the error bound of a tie."""
    frac = v64.abs() - v64.abs().floor()
    return (frac - 0.5).abs() <= magnitude_bound


def _dot_error_bound(x64, inverse, scale):
    """gamma_66 * (|x| @ |M|) per output, blockwise on tiled planes, divided by ``scale``."""
    gamma = 66 * U / (1 - 66 * U)
    k = dct_kron_matrix(torch.float64).abs()
    blocks = blockify(x64.abs())
    flat = blocks.reshape(*blocks.shape[:-2], 64) @ (k if inverse else k.T)
    return gamma * deblockify(flat.reshape(blocks.shape)) / scale


def _assert_mostly_equal(y, expected, allowed):
    diff = (y.long() - expected.long()).abs()
    assert diff.max().item() <= 1, f"max difference {diff.max().item()}"
    outside = (diff > 0) & ~allowed
    assert not outside.any(), f"{int(outside.sum())} differences away from rounding ties, first at " \
                              f"{[i.tolist() for i in outside.nonzero()[:3]]}"
    equal = (diff == 0).double().mean().item()
    assert equal >= 0.9999, f"only {equal:.6%} equal"


# --------------------------------------------------------------------------------------------
# Plain transforms


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: str(d).removeprefix("torch."))
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("op", ["dct", "idct"])
def test_transform_matches_float64_reference(op, shape, dtype):
    x = (_pixels(shape, 1) if op == "dct" else _coefficients(shape, 2)).to(dtype)
    fn = getattr(F, op)
    y = fn(x.to(DEVICE), backend="triton")
    assert y.dtype == dtype and y.shape == x.shape and y.is_contiguous()
    truth = fn(x.double(), backend="reference")
    _assert_float_bound(y.cpu(), truth, fn(x, backend="reference"))


@pytest.mark.parametrize("op", ["dct", "idct"])
def test_inverse_undoes_forward(op):
    x = _pixels((2, 3, 32, 48), 3).float().to(DEVICE)
    forward, inverse = (F.dct, F.idct) if op == "dct" else (F.idct, F.dct)
    back = inverse(forward(x, backend="triton"), backend="triton")
    assert (back - x).abs().max().item() < 1e-4


@pytest.mark.parametrize("view", ["transposed", "sliced", "channels_permuted", "channel_slice"])
def test_strided_views_equal_contiguous(view):
    base = _pixels((3, 4, 48, 64), 4).float().to(DEVICE)
    x = {
        "transposed": lambda: base.transpose(-1, -2),                # (3, 4, 64, 48), unit stride on H
        "sliced": lambda: base[:, :, 8:40, 16:56],                    # offset rows and columns
        "channels_permuted": lambda: base.permute(1, 0, 2, 3),        # N and C strides swapped
        "channel_slice": lambda: base[:, 1:3],
    }[view]()
    assert not x.is_contiguous()
    for fn in (F.dct, F.idct):
        y = fn(x, backend="triton")
        assert torch.equal(y, fn(x.contiguous(), backend="triton"))
        _assert_float_bound(y.cpu(), fn(x.cpu().double(), backend="reference"), fn(x.cpu(), backend="reference"))


def test_block_grids_match_tiled_planes():
    x = _pixels((2, 3, 24, 40), 5).float().to(DEVICE)
    blocks = blockify(x)  # a non-contiguous (2, 3, 3, 5, 8, 8) view
    y = F.block_dct(blocks, backend="triton")
    assert y.shape == blocks.shape and y.is_contiguous()
    assert torch.equal(y, blockify(F.dct(x, backend="triton")))
    assert torch.equal(F.block_idct(y, backend="triton"), blockify(F.idct(deblockify(y), backend="triton")))
    one = F.block_dct(blocks[0, 0, 0, 0], backend="triton")  # a single (8, 8) block
    assert torch.equal(one, y[0, 0, 0, 0])
    listed = F.block_dct(blocks[1, 2].reshape(-1, 8, 8), backend="triton")  # a (B, 8, 8) list
    assert torch.equal(listed, y[1, 2].reshape(-1, 8, 8))


def test_64_bit_offsets_give_the_same_result(monkeypatch):
    from qgac_fast.kernels import transform as kernels

    x = _pixels((2, 3, 16, 24), 31).float().to(DEVICE)
    table = _tables(2, 3, 32).to(DEVICE)
    expected = (F.dct(x, backend="triton"), F.dct_quantize(x, table, backend="triton"))
    monkeypatch.setattr(kernels, "_INT32_MAX", 64)  # every plane now "needs" 64-bit offsets
    assert torch.equal(F.dct(x, backend="triton"), expected[0])
    assert torch.equal(F.dct_quantize(x, table, backend="triton"), expected[1])


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32])
def test_integer_input_is_converted_exactly(dtype):
    pixels = torch.randint(0, 256, (2, 1, 16, 24), generator=_gen(6))
    x = (pixels - (0 if dtype == torch.uint8 else 128)).to(dtype).to(DEVICE)
    y = F.dct(x, backend="triton")
    assert y.dtype == torch.float32
    assert torch.equal(y, F.dct(x.float(), backend="triton"))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
def test_dtype_argument_rounds_the_input_first_like_the_reference(dtype):
    x = _pixels((1, 2, 16, 16), 7).float().to(DEVICE)
    y = F.dct(x, dtype=dtype, backend="triton")
    assert y.dtype == dtype
    assert torch.equal(y, F.dct(x.to(dtype), backend="triton"))


def test_empty_batch():
    x = torch.empty(0, 3, 16, 16, device=DEVICE)
    assert F.dct(x, backend="triton").shape == x.shape
    table = torch.ones(0, 8, 8, dtype=torch.int32, device=DEVICE)
    assert F.dct_quantize(x, table, backend="triton").shape == x.shape


@pytest.mark.parametrize("op", ["dct", "idct", "block_dct"])
def test_gradient_equals_reference(op):
    shape = (2, 1, 16, 24)
    x = _pixels(shape, 8).float()
    if op == "block_dct":
        x = blockify(x).contiguous()
    w = torch.randn(x.shape, generator=_gen(9))
    grads = []
    for backend, device in (("triton", DEVICE), ("reference", "cpu")):
        leaf = x.clone().to(device).requires_grad_()
        (getattr(F, op)(leaf, backend=backend) * w.to(device)).sum().backward()
        grads.append(leaf.grad.cpu())
    torch.testing.assert_close(grads[0], grads[1], atol=1e-4, rtol=0)


def test_custom_ops_pass_opcheck():
    from qgac_fast.kernels import transform as kernels  # noqa: F401  (registers the ops)

    x = _pixels((2, 2, 16, 8), 10).float().to(DEVICE)
    q = torch.randint(-20, 20, (2, 2, 16, 8), generator=_gen(11), dtype=torch.int16).to(DEVICE)
    table = _tables(2, 2, 12).to(DEVICE)
    cases = [
        (torch.ops.qgac_fast.block_dct.default, (x.requires_grad_(), torch.float32, True)),
        (torch.ops.qgac_fast.block_idct.default, (x, torch.float32, True)),
        (torch.ops.qgac_fast.block_dct.default, (blockify(x), torch.float32, False)),
        (torch.ops.qgac_fast.dequantize_idct.default, (q, table, torch.float32, False)),
        (torch.ops.qgac_fast.dequantize_idct.default, (q, table[:, 0], torch.float32, True)),
        (torch.ops.qgac_fast.dct_quantize.default, (x.detach(), table, True)),
    ]
    for op, args in cases:
        torch.library.opcheck(op, args, test_utils=("test_schema", "test_autograd_registration", "test_faketensor"))


def test_traced_by_torch_compile_without_graph_breaks():
    x = _pixels((1, 3, 16, 16), 13).float().to(DEVICE)
    table = _tables(1, 3, 14).to(DEVICE)

    def roundtrip(v):
        q = F.dct_quantize(v, table, backend="triton")
        return F.idct(F.dct(v, backend="triton"), backend="triton") + F.dequantize_idct(q, table, backend="triton")

    compiled = torch.compile(roundtrip, fullgraph=True, backend="aot_eager" if DEVICE == "cpu" else "inductor")
    assert torch.equal(compiled(x), roundtrip(x))


# --------------------------------------------------------------------------------------------
# Dequantize + IDCT


TABLE_LAYOUTS = {
    "one_table": lambda t: t[0, 0],
    "per_sample": lambda t: t[:, 0],
    "per_sample_keepdim": lambda t: t[:, :1],
    "per_sample_and_channel": lambda t: t,
}


def _quantized(shape, seed, tables):
    """int16 quantized coefficients of photo-like pixels under ``tables`` (N, C, 8, 8)."""
    return F.dct_quantize(_pixels(shape, seed), tables, dtype=torch.float64, backend="reference")


@pytest.mark.parametrize("layout", TABLE_LAYOUTS.keys())
@pytest.mark.parametrize("shape", [SHAPES["one_block"], SHAPES["grid_7x9"], SHAPES["batch_3x2"]],
                         ids=["one_block", "grid_7x9", "batch_3x2"])
def test_dequantize_idct_float32_matches_reference(shape, layout):
    tables = _tables(shape[0], shape[1], 15)
    q = _quantized(shape, 16, tables)
    table = TABLE_LAYOUTS[layout](tables)
    y = F.dequantize_idct(q.to(DEVICE), table.to(DEVICE), backend="triton")
    assert y.dtype == torch.float32 and y.shape == q.shape
    truth = F.dequantize_idct(q, table, dtype=torch.float64, backend="reference")
    _assert_float_bound(y.cpu(), truth, F.dequantize_idct(q, table, backend="reference"))


def test_dequantize_idct_is_the_composition():
    tables = _tables(3, 2, 17)
    q = _quantized((3, 2, 16, 24), 18, tables)
    ref = F.dequantize_idct(q, tables[:, 0], backend="reference")  # (N, 8, 8): one table per sample
    assert torch.equal(ref, F.idct(dequantize(q, tables[:, :1]), backend="reference"))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
def test_dequantize_idct_low_precision_output_is_rounded_once(dtype):
    tables = _tables(2, 3, 19)
    q = _quantized((2, 3, 24, 32), 20, tables)
    y = F.dequantize_idct(q.to(DEVICE), tables.to(DEVICE), dtype=dtype, backend="triton")
    assert y.dtype == dtype
    truth = F.dequantize_idct(q, tables, dtype=torch.float64, backend="reference")
    # float32 arithmetic, then one rounding to dtype: half an ulp of the largest value, and better
    # than the bound for the reference run in dtype
    assert _rel_error(y.cpu(), truth) <= torch.finfo(dtype).eps / 2 + 1e-6
    assert torch.equal(y, F.dequantize_idct(q.to(DEVICE), tables.to(DEVICE), backend="triton").to(dtype))


def test_dequantize_idct_float_table_and_coefficients():
    tables = _tables(2, 1, 21)
    q = _quantized((2, 1, 16, 16), 22, tables)
    y = F.dequantize_idct(q.float().to(DEVICE), tables.float().to(DEVICE), backend="triton")
    assert torch.equal(y, F.dequantize_idct(q.to(DEVICE), tables.to(DEVICE), backend="triton"))


def test_dequantize_idct_uint8_pixels_match_libjpeg_rounding():
    image = torch.from_numpy(sample_image("astronaut.png", (256, 256))).permute(2, 0, 1)[None]
    tables = _tables(1, 3, 23)
    q = F.dct_quantize(image, tables, level_shift=True, backend="reference")
    pixels = F.dequantize_idct(q.to(DEVICE), tables.to(DEVICE), pixels=True, backend="triton").cpu()
    assert pixels.dtype == torch.uint8
    y64 = F.dequantize_idct(q, tables, dtype=torch.float64, backend="reference") + 128.0
    expected = _exact_round(y64, half_up=True).clamp(0, 255)
    bound = _dot_error_bound(dequantize(q, tables, dtype=torch.float64), True, 1.0) + 2 * U * y64.abs()
    _assert_mostly_equal(pixels, expected, _near_tie(y64, bound) & (y64 > -0.5) & (y64 < 255.5))
    twin = F.dequantize_idct(q, tables, pixels=True, backend="reference")
    _assert_mostly_equal(pixels, twin, _near_tie(y64, 2 * bound))
    # far outside 0..255 saturates
    extreme = torch.zeros(1, 1, 8, 8, dtype=torch.int16)
    extreme[..., 0, 0] = 2000
    out = F.dequantize_idct(extreme.to(DEVICE), torch.ones(8, 8, device=DEVICE), pixels=True, backend="triton")
    assert out.min().item() == 255


# --------------------------------------------------------------------------------------------
# DCT + quantize


def _photo_planes():
    """(2, 3, 256, 296) uint8: two different photos."""
    a = sample_image("astronaut.png", (256, 296))
    b = sample_image("chelsea.png", (256, 296))
    return torch.stack([torch.from_numpy(a), torch.from_numpy(b)]).permute(0, 3, 1, 2)


@pytest.mark.parametrize("source", ["uint8_with_shift", "float_level_shifted", "float16_level_shifted"])
def test_dct_quantize_equals_rounded_float64_except_at_ties(source):
    image = _photo_planes()
    tables = _tables(2, 3, 24)
    if source == "uint8_with_shift":
        x, shift = image, True
    elif source == "float_level_shifted":
        x, shift = image.float() - 128 + torch.rand(image.shape, generator=_gen(25)) - 0.5, False
    else:
        x, shift = (image.float() - 128 + torch.rand(image.shape, generator=_gen(26)) - 0.5).half(), False
    q = F.dct_quantize(x.to(DEVICE), tables.to(DEVICE), level_shift=shift, backend="triton").cpu()
    assert q.dtype == torch.int16 and q.shape == x.shape
    x64 = x.double() - (128.0 if shift else 0.0)
    t64 = tile_table(tables, *x.shape[-2:]).double()
    v64 = F.dct(x64, backend="reference") / t64
    bound = _dot_error_bound(x64, False, t64) + 2 * U * v64.abs()
    near = _near_tie(v64, bound)
    _assert_mostly_equal(q, _exact_round(v64), near)
    twin = F.dct_quantize(x, tables, level_shift=shift, backend="reference")
    _assert_mostly_equal(q, twin, _near_tie(v64, 2 * bound))


def test_dct_quantize_exact_ties_round_away_from_zero():
    # constant blocks: DC = 8 * (v - 128), table 16 -> (v - 128) / 2, a tie for odd v - 128. In
    # float32 the DC row of the matrix is exactly 1/8, so the DC is exact and the tie is seen as one
    values = torch.tensor([129, 127, 131, 125, 128, 255, 0, 1], dtype=torch.uint8)
    x = values.repeat_interleave(8).reshape(1, 1, 1, 64).expand(1, 1, 8, 64).contiguous()
    table = torch.full((8, 8), 16, dtype=torch.int32)
    q = F.dct_quantize(x.to(DEVICE), table.to(DEVICE), level_shift=True, backend="triton").cpu()
    ref = F.dct_quantize(x, table, level_shift=True, backend="reference")
    assert torch.equal(q, ref)
    blocks = blockify(q)[0, 0, 0]
    exact = round_half_away_from_zero((values.double() - 128) / 2)
    assert torch.equal(blocks[:, 0, 0].double(), exact)
    assert blocks.flatten(1)[:, 1:].abs().max().item() == 0


def test_dct_quantize_saturates_to_int16():
    x = torch.full((2, 1, 8, 8), 1e6)
    x[1] = -1e6
    q = F.dct_quantize(x.to(DEVICE), torch.ones(8, 8, device=DEVICE), backend="triton").cpu()
    ref = F.dct_quantize(x, torch.ones(8, 8), backend="reference")
    assert q[:, 0, 0, 0].tolist() == ref[:, 0, 0, 0].tolist() == [32767, -32768]


def test_quantize_then_dequantize_roundtrip_is_close_to_the_image():
    image = _photo_planes()[:, :, :64, :64].contiguous()
    tables = torch.ones(2, 3, 8, 8, dtype=torch.int32)  # q = 1: only rounding to integers
    q = F.dct_quantize(image.to(DEVICE), tables.to(DEVICE), level_shift=True, backend="triton")
    back = F.dequantize_idct(q, tables.to(DEVICE), pixels=True, backend="triton").cpu()
    assert (back.int() - image.int()).abs().max().item() <= 2


# --------------------------------------------------------------------------------------------
# Backend choice


def test_auto_uses_the_reference_on_cpu(monkeypatch):
    if DEVICE == "cuda":
        pytest.skip("CPU inputs on a CUDA machine: nothing to dispatch")
    from qgac_fast.kernels import transform as kernels

    def boom(*args, **kwargs):
        raise AssertionError("kernel called")

    for name in ("dct", "idct", "dequantize_idct", "dct_quantize"):
        monkeypatch.setattr(kernels, name, boom)
    x = _pixels((1, 1, 8, 8), 27).float()
    F.idct(F.dct(x))
    F.dequantize_idct(torch.zeros(1, 1, 8, 8, dtype=torch.int16), torch.ones(8, 8))
    F.dct_quantize(x, torch.ones(8, 8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_auto_uses_the_kernels_on_cuda_and_the_reference_for_float64(monkeypatch):
    from qgac_fast.kernels import transform as kernels

    calls = []
    original = kernels.dct
    monkeypatch.setattr(kernels, "dct", lambda *a, **k: calls.append(1) or original(*a, **k))
    x = _pixels((1, 1, 16, 16), 28).cuda()
    F.dct(x.float())
    assert calls == [1]
    assert F.dct(x).dtype == torch.float64 and calls == [1]  # float64: reference


def test_auto_uses_the_reference_when_fused_gradients_are_needed():
    q = torch.randn(1, 1, 8, 8, dtype=torch.float32, device=DEVICE, requires_grad=True)
    y = F.dequantize_idct(q, torch.full((8, 8), 2.0, device=DEVICE))
    y.sum().backward()
    assert q.grad is not None and q.grad.abs().sum() > 0


# --------------------------------------------------------------------------------------------
# Bad inputs


def _q(shape=(2, 3, 16, 16), dtype=torch.int16):
    return torch.zeros(shape, dtype=dtype, device=DEVICE)


@pytest.mark.parametrize("backend", ["triton", "reference"])
@pytest.mark.parametrize("op", ["dct", "idct", "dequantize_idct", "dct_quantize"])
@pytest.mark.parametrize("shape", [(1, 1, 12, 8), (1, 1, 8, 20)], ids=["height_12", "width_20"])
def test_plane_not_multiple_of_8_raises(op, shape, backend):
    x = torch.zeros(shape, device=DEVICE)
    with pytest.raises(ValueError, match="multiples of 8"):
        if op in ("dct", "idct"):
            getattr(F, op)(x, backend=backend)
        else:
            getattr(F, op)(x, torch.ones(8, 8, device=DEVICE), backend=backend)


@pytest.mark.parametrize("backend", ["triton", "reference"])
@pytest.mark.parametrize("table_shape", [(3, 8, 8), (2, 4, 8, 8), (2, 3, 4, 4), (8,), (1, 2, 3, 8, 8)],
                         ids=["wrong_batch", "wrong_channels", "not_8x8", "one_dim", "five_dims"])
@pytest.mark.parametrize("op", ["dequantize_idct", "dct_quantize"])
def test_table_shape_mismatch_raises(op, table_shape, backend):
    with pytest.raises(ValueError, match=r"table must be \(8, 8\), \(N, 8, 8\) or \(N, C, 8, 8\) with N = 2, C = 3"):
        getattr(F, op)(_q(), torch.ones(table_shape, device=DEVICE), backend=backend)


@pytest.mark.parametrize("op", ["dequantize_idct", "dct_quantize"])
def test_coefficients_must_be_4d(op):
    with pytest.raises(ValueError, match=r"must have shape \(N, C, H, W\)"):
        getattr(F, op)(torch.zeros(16, 16, device=DEVICE), torch.ones(8, 8, device=DEVICE), backend="triton")


@pytest.mark.parametrize("case", ["dct_float64", "dct_int64", "dct_dtype_float64", "dequantize_int64",
                                  "dequantize_bool_table", "dequantize_dtype_float64", "quantize_float64_compute",
                                  "quantize_complex"])
def test_wrong_dtype_raises(case):
    x = torch.zeros(1, 2, 8, 8, device=DEVICE)
    table = torch.ones(8, 8, device=DEVICE)
    calls = {
        "dct_float64": (TypeError, "float64", lambda: F.dct(x.double(), backend="triton")),
        "dct_int64": (TypeError, "int64", lambda: F.idct(x.long(), backend="triton")),
        "dct_dtype_float64": (TypeError, "float64", lambda: F.dct(x, dtype=torch.float64, backend="triton")),
        "dequantize_int64": (TypeError, "int64", lambda: F.dequantize_idct(x.long(), table, backend="triton")),
        "dequantize_bool_table": (TypeError, "real number",
                                  lambda: F.dequantize_idct(x, table.bool(), backend="triton")),
        "dequantize_dtype_float64": (TypeError, "float64", lambda: F.dequantize_idct(x, table, dtype=torch.float64,
                                                                                      backend="triton")),
        "quantize_float64_compute": (TypeError, "float32", lambda: F.dct_quantize(x, table, dtype=torch.float64,
                                                                                   backend="triton")),
        "quantize_complex": (TypeError, "real number", lambda: F.dct_quantize(x.to(torch.complex64), table,
                                                                                backend="triton")),
    }
    error, message, call = calls[case]
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("backend", ["triton", "reference", "auto"])
@pytest.mark.parametrize("op", ["dequantize_idct", "dct_quantize"])
def test_device_mismatch_raises(op, backend):
    table = torch.ones(8, 8, device="meta")
    with pytest.raises(ValueError, match="different devices"):
        getattr(F, op)(_q((1, 1, 8, 8)), table, backend=backend)


def test_triton_refuses_fused_gradients():
    q = torch.randn(1, 1, 8, 8, device=DEVICE, requires_grad=True)
    with pytest.raises(ValueError, match="forward only"):
        F.dequantize_idct(q, torch.ones(8, 8, device=DEVICE), backend="triton")


def test_unknown_backend_raises():
    with pytest.raises(ValueError, match="backend must be one of"):
        F.dct_quantize(_q(), torch.ones(8, 8, device=DEVICE), backend="cuda")
