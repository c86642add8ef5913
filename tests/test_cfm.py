"""Reference CFM ops: batched matmul vs an explicit per-block formula, adjointness, table sharing,
folding of dequantization/normalisation, gradients, the table cache and argument errors; the
model's switch of its CFMs' backend (``QGAC.cfm_backend``)."""

import pytest
import torch

from qgac_fast.functional.cfm import (
    TableWeightCache, cfm_conv, cfm_conv_transpose, fold_dequantize_normalize, unique_tables,
)
from qgac_fast.functional.transform import blockify
from qgac_fast.functional.quantization import tile_table
from qgac_fast.model import QGAC, layers


def _randn(*shape, seed, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _conv_by_blocks(x, weight, bias, index, slope):
    """cfm_conv written out: every block times its sample's (Cout, Cin*64) matrix."""
    blocks = blockify(x)  # (N, Cin, bh, bw, 8, 8)
    w = weight[index]
    y = torch.einsum("ncijuv,nocuv->noij", blocks, w) + bias[index][:, :, None, None]
    return torch.where(y >= 0, y, y * slope[None, :, None, None])


def test_conv_equals_per_block_formula():
    x, weight, bias = _randn(3, 2, 56, 72, seed=0), _randn(2, 5, 2, 8, 8, seed=1), _randn(2, 5, seed=2)
    index, slope = torch.tensor([0, 1, 0]), torch.rand(5, dtype=torch.float64)
    y = cfm_conv(x, weight, bias, table_index=index, prelu=slope)
    assert y.shape == (3, 5, 7, 9) and y.dtype == torch.float64
    torch.testing.assert_close(y, _conv_by_blocks(x, weight, bias, index, slope), rtol=1e-12, atol=1e-12)


def test_transpose_equals_per_block_formula():
    x, weight, bias = _randn(2, 4, 3, 5, seed=3), _randn(2, 4, 3, 8, 8, seed=4), _randn(2, 3, seed=5)
    y = cfm_conv_transpose(x, weight, bias, prelu=0.25)
    tiles = torch.einsum("ncij,ncouv->noijuv", x, weight) + bias[:, :, None, None, None, None]
    tiles = torch.where(tiles >= 0, tiles, 0.25 * tiles)
    assert y.shape == (2, 3, 24, 40)
    torch.testing.assert_close(blockify(y), tiles, rtol=1e-12, atol=1e-12)


def test_transpose_is_adjoint_of_conv():
    x, weight = _randn(3, 2, 24, 40, seed=6), _randn(2, 5, 2, 8, 8, seed=7)
    features = _randn(3, 5, 3, 5, seed=8)
    index = torch.tensor([1, 0, 1])
    lhs = (features * cfm_conv(x, weight, table_index=index)).sum()
    rhs = (cfm_conv_transpose(features, weight, table_index=index) * x).sum()
    torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=0)


def test_batch_equals_items_one_by_one():
    x, weight, bias = _randn(3, 1, 16, 24, seed=9), _randn(2, 4, 1, 8, 8, seed=10), _randn(2, 4, seed=11)
    index = torch.tensor([0, 1, 0])
    y = cfm_conv(x, weight, bias, table_index=index, prelu=0.1)
    features = _randn(3, 4, 2, 3, seed=12)
    weight_t = _randn(2, 4, 1, 8, 8, seed=13)
    z = cfm_conv_transpose(features, weight_t, bias[:, :1], table_index=index)
    for n, t in enumerate(index.tolist()):
        one = cfm_conv(x[n:n + 1], weight[t:t + 1], bias[t:t + 1], prelu=0.1)
        torch.testing.assert_close(y[n:n + 1], one, rtol=1e-12, atol=1e-12)
        one_t = cfm_conv_transpose(features[n:n + 1], weight_t[t:t + 1], bias[t:t + 1, :1])
        torch.testing.assert_close(z[n:n + 1], one_t, rtol=1e-12, atol=1e-12)


def test_gradcheck_conv():
    x = _randn(2, 2, 8, 16, seed=14).requires_grad_()
    weight = _randn(1, 3, 2, 8, 8, seed=15).requires_grad_()
    bias = _randn(1, 3, seed=16).requires_grad_()
    slope = torch.rand(3, dtype=torch.float64).requires_grad_()
    index = torch.tensor([0, 0])
    assert torch.autograd.gradcheck(
        lambda *a: cfm_conv(a[0], a[1], a[2], table_index=index, prelu=a[3]),
        (x, weight, bias, slope))


def test_gradcheck_conv_transpose():
    x = _randn(2, 3, 1, 2, seed=17).requires_grad_()
    weight = _randn(2, 3, 2, 8, 8, seed=18).requires_grad_()
    bias = _randn(2, 2, seed=19).requires_grad_()
    assert torch.autograd.gradcheck(lambda *a: cfm_conv_transpose(*a, prelu=0.2),
                                    (x, weight, bias))


def test_unique_tables_round_trip_in_first_appearance_order():
    base = torch.randint(1, 100, (3, 8, 8), generator=torch.Generator().manual_seed(20))
    tables = base[torch.tensor([2, 0, 2, 1, 0])]
    unique, index = unique_tables(tables)
    assert torch.equal(unique, base[torch.tensor([2, 0, 1])])
    assert index.tolist() == [0, 1, 0, 2, 1] and index.dtype == torch.int64
    assert torch.equal(unique[index], tables)


def test_unique_tables_one_table_for_a_uniform_batch():
    unique, index = unique_tables(torch.full((4, 8, 8), 7.0))
    assert unique.shape == (1, 8, 8) and index.tolist() == [0, 0, 0, 0]


def _fold_case(seed, n=3, cin=2, cout=4, sets=2):
    g = torch.Generator().manual_seed(seed)
    raw = torch.randint(-300, 301, (n, cin, 24, 40), generator=g).to(torch.int16)
    tables = torch.randint(1, 60, (sets, 8, 8), generator=g)
    mean = torch.randn(cin, 8, 8, generator=g, dtype=torch.float64) * 20
    std = torch.rand(cin, 8, 8, generator=g, dtype=torch.float64) * 50 + 1
    weight = torch.randn(sets, cout, cin, 8, 8, generator=g, dtype=torch.float64)
    bias = torch.randn(sets, cout, generator=g, dtype=torch.float64)
    index = torch.randint(0, sets, (n,), generator=g)
    return raw, tables, mean, std, weight, bias, index


def normalized(raw, tables, index, mean, std):
    """((raw * q - mean) / std), tables and statistics tiled over each sample's plane."""
    h, w = raw.shape[-2:]
    q = tile_table(tables[index][:, None], h, w)
    return (raw.double() * q - tile_table(mean, h, w)) / tile_table(std, h, w)


def test_fold_dequantize_normalize_equals_unfolded_path():
    raw, tables, mean, std, weight, bias, index = _fold_case(21)
    folded = fold_dequantize_normalize(weight, bias, tables, mean, std)
    direct = cfm_conv(raw, *folded, table_index=index)
    assert direct.dtype == torch.float64
    expected = cfm_conv(normalized(raw, tables, index, mean, std), weight, bias, table_index=index)
    torch.testing.assert_close(direct, expected, rtol=1e-11, atol=1e-9)


def test_fold_without_bias_and_int16_gives_float32():
    raw, tables, mean, std, weight, _, index = _fold_case(22)
    w, b = fold_dequantize_normalize(weight.float(), None, tables, mean, std)
    assert w.dtype == b.dtype == torch.float32 and b.shape == (2, 4)
    y = cfm_conv(raw, w, b, table_index=index)
    assert y.dtype == torch.float32
    expected = cfm_conv(normalized(raw, tables, index, mean, std), weight.float().double(), table_index=index)
    torch.testing.assert_close(y.double(), expected, rtol=1e-4, atol=1e-3 * expected.abs().max().item())


def test_table_cache_generates_each_table_once():
    calls = []

    def generate(tables):
        calls.append(tables.shape[0])
        return tables.double().reshape(-1, 64).sum(1), tables.double() * 2

    cache = TableWeightCache(maxsize=2)
    a, b, c = (torch.full((8, 8), v) for v in (1, 2, 3))
    (sums, doubled), index = cache.lookup(torch.stack([a, b, a]), generate)
    assert calls == [2] and index.tolist() == [0, 1, 0] and sums.tolist() == [64.0, 128.0]
    assert torch.equal(doubled[index[2]], a.double() * 2)
    (sums, _), index = cache.lookup(torch.stack([b.float(), b.float()]), generate)  # same values, other dtype: hit
    assert calls == [2] and sums.tolist() == [128.0] and index.tolist() == [0, 0]
    (sums, _), _ = cache.lookup(torch.stack([c]), generate)  # evicts a, the least recently used
    assert calls == [2, 1] and len(cache) == 2
    cache.lookup(torch.stack([a]), generate)
    assert calls == [2, 1, 1]
    cache.clear()
    assert len(cache) == 0


@pytest.mark.parametrize("kwargs, message", [
    (dict(x=torch.zeros(1, 1, 12, 8)), "multiples of 8"),
    (dict(weight=torch.zeros(1, 4, 2, 8, 8)), r"\(T, Cout, Cin, 8, 8\) with Cin = 1"),
    (dict(weight=torch.zeros(2, 4, 1, 8, 8)), "one set per sample"),
    (dict(bias=torch.zeros(4)), r"bias must have shape \(T, Cout\) = \(1, 4\)"),
    (dict(table_index=torch.zeros(2, dtype=torch.int64)), r"table_index must be .* shape \(1,\)"),
    (dict(prelu=torch.zeros(3)), "one per output channel"),
], ids=["height_not_multiple_of_8", "cin_mismatch", "sets_without_index", "bias_1d", "index_length",
        "prelu_length"])
def test_conv_argument_errors(kwargs, message):
    args = dict(x=torch.zeros(1, 1, 8, 8), weight=torch.zeros(1, 4, 1, 8, 8), bias=None, table_index=None, prelu=None)
    args.update(kwargs)
    x, weight, bias = args.pop("x"), args.pop("weight"), args.pop("bias")
    with pytest.raises(ValueError, match=message):
        cfm_conv(x, weight, bias, **args)


def test_errors_transpose_and_fold():
    with pytest.raises(ValueError, match=r"\(T, Cin, Cout, 8, 8\) with Cin = 3"):
        cfm_conv_transpose(torch.zeros(1, 3, 2, 2), torch.zeros(1, 4, 1, 8, 8))
    with pytest.raises(ValueError, match="one per weight set"):
        fold_dequantize_normalize(torch.zeros(2, 4, 1, 8, 8), None, torch.ones(1, 8, 8), torch.zeros(1, 8, 8),
                                  torch.ones(1, 8, 8))
    with pytest.raises(ValueError, match=r"std must have shape \(Cin, 8, 8\)"):
        fold_dequantize_normalize(torch.zeros(1, 4, 1, 8, 8), None, torch.ones(1, 8, 8), torch.zeros(1, 8, 8),
                                  torch.ones(8, 8))
    with pytest.raises(ValueError, match="maxsize"):
        TableWeightCache(0)


def test_hypernetwork_backward_under_bf16_autocast_survives_awkward_table_counts():
    """A wide CFM with 12 distinct tables under CPU bf16 autocast: oneDNN's bf16 transposed
    convolution backward used to kill the process here (SIGFPE), so it runs in a subprocess."""
    import subprocess
    import sys

    code = """
import torch
from qgac_fast.model.layers import CFM, make_tables
torch.manual_seed(0)
layer = CFM(32, 64, 32)
tables = make_tables(torch.arange(1, 13, dtype=torch.float32).view(12, 1, 1) * torch.ones(12, 8, 8))
x = torch.randn(12, 32, 16, 16)
with torch.autocast("cpu", torch.bfloat16):
    y = layer(x, tables)
y.float().square().mean().backward()
grad = layer.weight_head.weight.grad
assert grad.dtype == torch.float32 and torch.isfinite(grad).all() and grad.abs().sum() > 0
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", (done.returncode, done.stderr[-2000:])


@pytest.mark.parametrize("height, width", [(40, 8), (8, 40), (40, 16)])
def test_cfm_conv_under_bf16_autocast_one_block_wide(height, width):
    """oneDNN's bf16 grouped convolution (the reference's earlier form) returned garbage for
    outputs one column wide (a 3-pixel wide JPEG's chroma): the result must match float32 to bf16's
    precision, for every shape."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, height, width) + 0.5
    weight = torch.randn(2, 4, 3, 8, 8)
    bias = torch.randn(2, 4)
    want = cfm_conv(x, weight, bias)
    for _ in range(5):
        with torch.autocast("cpu", torch.bfloat16):
            got = cfm_conv(x, weight, bias).float()
        assert got.shape == want.shape
        assert float((got - want).abs().max() / want.abs().max()) < 0.02


# ------------------------------------------------------------------------------------------
# the model's switch: QGAC.cfm_backend


def _tiny_model():
    from test_engine import TINY

    torch.manual_seed(0)
    return QGAC(TINY).eval()


def _model_inputs(n=2, size=16):
    g = torch.Generator().manual_seed(1)
    tables = torch.randint(1, 60, (n, 8, 8), generator=g)
    return (torch.randn(n, 1, size, size, generator=g), tables,
            torch.randn(n, 2, size // 2, size // 2, generator=g), tables)


def test_cfm_backend_reaches_every_cfm(monkeypatch):
    model = _tiny_model()
    cfms = [m for m in model.modules() if isinstance(m, layers.CFM)]
    assert model.cfm_backend == "auto" and len(cfms) > 1
    model.cfm_backend = "reference"
    assert model.cfm_backend == "reference" and all(m.backend == "reference" for m in cfms)
    ran, asked = set(), []
    for m in cfms:
        m.register_forward_pre_hook(lambda module, args: ran.add(module))

    def recording(op):
        def run(*args, backend, **kwargs):
            asked.append(backend)
            return op(*args, backend=backend, **kwargs)
        return run

    for name in ("cfm_conv", "cfm_conv_transpose"):
        monkeypatch.setattr(layers, name, recording(getattr(layers, name)))
    with torch.no_grad():
        model(*_model_inputs())
    assert ran == set(cfms) and asked and set(asked) == {"reference"}


def test_a_bad_cfm_backend_is_refused_and_changes_nothing():
    model = _tiny_model()
    with pytest.raises(ValueError, match=r"^cfm_backend must be one of \('auto', 'reference', 'triton'\), "
                                         r"got 'libjpeg'$"):
        model.cfm_backend = "libjpeg"
    assert model.cfm_backend == "auto"
    with pytest.raises(ValueError, match=r"^backend must be one of"):
        layers.CFM(1, 2, 4, backend="cuda")
    next(m for m in model.modules() if isinstance(m, layers.CFM)).backend = "reference"
    assert model.cfm_backend is None  # CFMs set one by one to different backends


def test_reference_cfms_equal_the_default_on_the_cpu():
    """On the CPU "auto" runs the reference: switching changes no bit."""
    model, inputs = _tiny_model(), _model_inputs()
    with torch.no_grad():
        want = model(*inputs)
        model.cfm_backend = "reference"
        got = model(*inputs)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
