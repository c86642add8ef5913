"""Triton CFM kernels against the reference (float64 ground truth), on CPU in Triton's interpreter
and on CUDA when present.

Error bound per dtype (max abs error / max |y|, y the float64 reference on the same rounded
inputs): it must be at most twice the error of the reference op run in the kernel's dtype, plus
one output rounding (eps(dtype) * max|y|), and within a fixed bound: float32 1e-5 (2e-3 with TF32
on CUDA), float16 2e-3, bfloat16 1e-2.
"""

import pytest
import torch

from qgac_fast import ops
from qgac_fast.functional.cfm import cfm_conv as ref_conv
from qgac_fast.functional.cfm import cfm_conv_transpose as ref_conv_transpose
from qgac_fast.functional.cfm import fold_dequantize_normalize
from qgac_fast.functional.quantization import tile_table
from qgac_fast.kernels import cfm as kernels

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
DTYPES = [torch.float32, torch.float16, torch.bfloat16]
BOUNDS = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1e-2}

# (N, Cin, H, W, Cout, table_index or None): block-grid sizes by name
CONV_SHAPES = {
    "one_block": (1, 1, 8, 8, 16, None),
    "odd_grid_7x9_shared_tables": (3, 2, 56, 72, 20, [0, 1, 0]),
    "cout_over_one_tile": (2, 1, 8, 16, 260, [1, 1]),
    "per_sample_weights": (2, 3, 16, 24, 7, None),
}
# (N, Cin, h, w, Cout, table_index or None)
TRANSPOSE_SHAPES = {
    "one_block": (1, 1, 1, 1, 1, None),
    "odd_grid_7x9_shared_tables": (3, 20, 7, 9, 3, [0, 1, 0]),
    "cin_over_one_step": (2, 70, 2, 3, 5, [1, 0]),
    "cout_over_one_tile": (1, 4, 2, 1, 9, None),
}


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _relative_bound(dtype, device):
    if dtype == torch.float32 and device == "cuda" and torch.backends.cudnn.allow_tf32:
        return 2e-3
    return BOUNDS[dtype]


def _inputs(shape, transpose, dtype, device, seed, with_bias, with_prelu):
    n, cin, h, w, cout, index = shape
    sets = n if index is None else max(index) + 1
    g = _gen(seed)
    x = torch.randn(n, cin, h, w, generator=g).to(dtype)
    weight_shape = (sets, cin, cout, 8, 8) if transpose else (sets, cout, cin, 8, 8)
    weight = torch.randn(*weight_shape, generator=g) / (8 * cin ** 0.5)
    bias = torch.randn(sets, cout, generator=g) if with_bias else None
    slope = torch.rand(cout, generator=g) * 0.5 if with_prelu else None
    table_index = None if index is None else torch.tensor(index)
    move = lambda t: None if t is None else t.to(device)  # noqa: E731
    return move(x), move(weight), move(bias), move(table_index), move(slope)


def _rel_error(y, truth):
    return ((y.double() - truth).abs().max() / truth.abs().max()).item()


def _check_against_reference(kernel, reference, x, weight, bias, index, slope, out):
    """Poisoned ``out`` is fully written, and the error obeys the module's bound."""
    y = kernel(x, weight, bias, table_index=index, prelu=slope, out=out)
    assert y is out and not torch.isnan(y).any()
    double = lambda t: None if t is None else t.double()  # noqa: E731
    truth = reference(x.double(), weight.double(), double(bias), table_index=index, prelu=double(slope))
    in_dtype = reference(x, weight, bias, table_index=index, prelu=slope)
    err, ref_err = _rel_error(y, truth), _rel_error(in_dtype, truth)
    eps = torch.finfo(y.dtype).eps
    assert err <= 2 * ref_err + eps, f"kernel error {err:.3g} vs reference-in-{y.dtype} error {ref_err:.3g}"
    assert err <= _relative_bound(y.dtype, str(x.device.type)), f"relative error {err:.3g}"


def _poisoned(shape, dtype, device):
    return torch.full(shape, float("nan"), dtype=dtype, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", CONV_SHAPES.values(), ids=CONV_SHAPES.keys())
def test_conv_matches_reference(shape, dtype, device):
    x, weight, bias, index, slope = _inputs(shape, False, dtype, device, seed=1, with_bias=True, with_prelu=True)
    out = _poisoned((x.shape[0], weight.shape[1], x.shape[2] // 8, x.shape[3] // 8), dtype, device)
    _check_against_reference(kernels.cfm_conv, ref_conv, x, weight, bias, index, slope, out)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", TRANSPOSE_SHAPES.values(), ids=TRANSPOSE_SHAPES.keys())
def test_conv_transpose_matches_reference(shape, dtype, device):
    x, weight, bias, index, slope = _inputs(shape, True, dtype, device, seed=2, with_bias=True, with_prelu=True)
    out = _poisoned((x.shape[0], weight.shape[2], x.shape[2] * 8, x.shape[3] * 8), dtype, device)
    _check_against_reference(kernels.cfm_conv_transpose, ref_conv_transpose, x, weight, bias, index, slope, out)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("with_bias, with_prelu", [(False, False), (True, False), (False, True)],
                         ids=["plain", "bias_only", "prelu_only"])
@pytest.mark.parametrize("transpose", [False, True], ids=["conv", "transpose"])
def test_epilogue_variants(transpose, with_bias, with_prelu, device):
    shape = (3, 2, 24, 16, 5, [0, 1, 0]) if not transpose else (3, 5, 3, 2, 2, [0, 1, 0])
    x, weight, bias, index, slope = _inputs(shape, transpose, torch.float32, device, seed=3,
                                            with_bias=with_bias, with_prelu=with_prelu)
    kernel, reference = ((kernels.cfm_conv_transpose, ref_conv_transpose) if transpose
                         else (kernels.cfm_conv, ref_conv))
    out = _poisoned(reference(x, weight, bias, table_index=index).shape, torch.float32, device)
    _check_against_reference(kernel, reference, x, weight, bias, index, slope, out)


@pytest.mark.parametrize("device", DEVICES)
def test_scalar_prelu_and_functional_dispatch(device):
    x, weight, bias, index, _ = _inputs((2, 1, 16, 8, 4, [0, 0]), False, torch.float32, device, seed=4,
                                        with_bias=True, with_prelu=False)
    y = ops.cfm_conv(x, weight, bias, table_index=index, prelu=0.2, backend="triton")
    expected = ref_conv(x.double(), weight.double(), bias.double(), table_index=index, prelu=0.2)
    assert _rel_error(y, expected) <= _relative_bound(torch.float32, device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("layout", ["channels_last", "cropped_view"])
@pytest.mark.parametrize("transpose", [False, True], ids=["conv", "transpose"])
def test_non_contiguous_inputs(transpose, layout, device):
    g = _gen(5)
    n, cin, cout = 2, 3, 6
    spatial = (2, 3) if transpose else (16, 24)
    if layout == "channels_last":
        x = torch.randn(n, *spatial, cin, generator=g).permute(0, 3, 1, 2)
    else:  # a crop of a bigger tensor: offset and row strides that are not the plane's width
        x = torch.randn(n + 1, cin + 1, spatial[0] + 8, spatial[1] + 16, generator=g)[1:, 1:, 8:, 8:-8]
    x = x.to(device)
    weight = torch.randn(n, *((cin, cout) if transpose else (cout, cin)), 8, 8, generator=g).to(device)
    weight = weight.transpose(-1, -2)  # a non-contiguous weight as well
    slope = torch.rand(cout, generator=g).to(device)
    kernel, reference = ((kernels.cfm_conv_transpose, ref_conv_transpose) if transpose
                         else (kernels.cfm_conv, ref_conv))
    assert not x.is_contiguous()
    out = _poisoned(reference(x, weight).shape, torch.float32, device)
    _check_against_reference(kernel, reference, x, weight, None, None, slope, out)


@pytest.mark.parametrize("device", DEVICES)
def test_int16_with_folded_first_layer_equals_float_path(device):
    """CFM 1 -> 16 on raw int16 coefficients with dequantization and normalisation folded in."""
    g = _gen(6)
    n, cin, cout = 3, 1, 16
    raw = torch.randint(-300, 301, (n, cin, 56, 72), generator=g).to(torch.int16)
    tables = torch.randint(1, 60, (2, 8, 8), generator=g)
    index = torch.tensor([0, 1, 0])
    mean = torch.randn(cin, 8, 8, generator=g, dtype=torch.float64) * 20
    std = torch.rand(cin, 8, 8, generator=g, dtype=torch.float64) * 50 + 1
    weight = torch.randn(2, cout, cin, 8, 8, generator=g, dtype=torch.float64) / 8
    bias = torch.randn(2, cout, generator=g, dtype=torch.float64)
    folded_w, folded_b = (t.float().to(device) for t in fold_dequantize_normalize(weight, bias, tables, mean, std))
    out = _poisoned((n, cout, 7, 9), torch.float32, device)
    y = kernels.cfm_conv(raw.to(device), folded_w, folded_b, table_index=index.to(device), prelu=0.1, out=out)
    q = tile_table(tables[index][:, None], 56, 72)
    normalized = (raw.double() * q - tile_table(mean, 56, 72)) / tile_table(std, 56, 72)
    truth = ref_conv(normalized, weight, bias, table_index=index, prelu=0.1)
    # float32 weights W*q/std and bias carry one rounding each; cancellation against the bias is
    # what the bound covers (sum |terms| / max |y| ~ 10 here)
    assert y.dtype == torch.float32
    assert _rel_error(y.cpu(), truth) <= 10 * _relative_bound(torch.float32, device)


def test_custom_ops_registered_with_fake_impls():
    x = torch.randn(2, 1, 8, 16)
    weight = torch.randn(2, 16, 1, 8, 8)
    torch.library.opcheck(torch.ops.qgac_fast.cfm_conv.default, (x, weight, None, None, None),
                          test_utils=("test_schema", "test_faketensor"))
    features = torch.randn(2, 16, 1, 2)
    weight_t = torch.randn(1, 16, 2, 8, 8)
    torch.library.opcheck(torch.ops.qgac_fast.cfm_conv_transpose.default,
                          (features, weight_t, torch.randn(1, 2), torch.zeros(2, dtype=torch.int64), None),
                          test_utils=("test_schema", "test_faketensor"))


@pytest.mark.parametrize("call, error, message", [
    (lambda: kernels.cfm_conv(torch.zeros(1, 1, 8, 8, dtype=torch.float64), torch.zeros(1, 16, 1, 8, 8)),
     TypeError, r"x must be one of .*got torch.float64"),
    (lambda: kernels.cfm_conv(torch.zeros(1, 1, 8, 8), torch.zeros(1, 16, 1, 8, 8, dtype=torch.float64)),
     TypeError, "weight must be float32, float16 or bfloat16, got torch.float64"),
    (lambda: kernels.cfm_conv_transpose(torch.zeros(1, 1, 1, 1, dtype=torch.int16), torch.zeros(1, 1, 1, 8, 8)),
     TypeError, r"cfm_conv_transpose: x must be one of"),
    (lambda: kernels.cfm_conv(torch.zeros(1, 1, 8, 8), torch.zeros(1, 16, 1, 8, 8), out=torch.empty(1, 16, 1, 2)),
     ValueError, r"out must be a contiguous torch.float32 tensor of shape \(1, 16, 1, 1\) .* got .*\(1, 16, 1, 2\)"),
    (lambda: kernels.cfm_conv(torch.zeros(1, 1, 8, 8, dtype=torch.float16), torch.zeros(1, 16, 1, 8, 8),
                              out=torch.empty(1, 16, 1, 1)),
     ValueError, r"out must be a contiguous torch.float16 tensor"),
    (lambda: kernels.cfm_conv(torch.zeros(1, 1, 9, 8), torch.zeros(1, 16, 1, 8, 8)),
     ValueError, "multiples of 8"),
], ids=["float64_x", "float64_weight", "int16_transpose", "out_shape", "out_dtype", "bad_plane"])
def test_kernel_argument_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_device_mismatch_is_reported():
    with pytest.raises(ValueError, match="weight is on cpu but x is on cuda"):
        kernels.cfm_conv(torch.zeros(1, 1, 8, 8, device="cuda"), torch.zeros(1, 16, 1, 8, 8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layer", ["cfm_1_256", "cfm_64_256", "cfm_t_256_64"])
def test_paper_widths_on_cuda(layer, dtype):
    if layer == "cfm_t_256_64":
        shape, transpose = (3, 256, 17, 33, 64, [0, 1, 0]), True
    else:
        shape, transpose = (3, 1 if layer == "cfm_1_256" else 64, 136, 264, 256, [0, 1, 0]), False
    x, weight, bias, index, slope = _inputs(shape, transpose, dtype, "cuda", seed=7, with_bias=True, with_prelu=True)
    kernel, reference = ((kernels.cfm_conv_transpose, ref_conv_transpose) if transpose
                         else (kernels.cfm_conv, ref_conv))
    out = _poisoned(reference(x, weight, bias, table_index=index).shape, dtype, "cuda")
    _check_against_reference(kernel, reference, x, weight, bias, index, slope, out)


@pytest.mark.parametrize("device", DEVICES)
def test_model_cfm_backend_triton_runs_every_cfm_within_the_bound(device):
    """``QGAC.cfm_backend = "triton"`` puts every CFM of a model on the kernel: each agrees with
    its reference run (float32) within the float32 bound."""
    from qgac_fast.model import QGAC
    from qgac_fast.model.layers import CFM, make_tables
    from test_engine import TINY

    torch.manual_seed(0)
    model = QGAC(TINY).to(device).eval()
    g = _gen(3)
    tables = make_tables(torch.randint(1, 60, (2, 8, 8), generator=g).to(device))
    for cfm in (m for m in model.modules() if isinstance(m, CFM)):
        grid = (2, 3) if cfm.transposed else (16, 24)
        x = torch.randn(2, cfm.in_channels, *grid, generator=g).to(device)
        with torch.no_grad():  # the kernel is forward only
            model.cfm_backend = "reference"
            want = cfm(x, tables)
            model.cfm_backend = "triton"
            got = cfm(x, tables)
        assert got.shape == want.shape
        assert _rel_error(got, want.double()) <= _relative_bound(torch.float32, device)
