"""The QGAC model's reference path: shapes, the paper's size, equivariances, the skip paths."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
import torch.nn as nn

from qgac_fast.functional.sampling import dct_upsample_nearest, dct_upsample_operator
from qgac_fast.functional.transform import blockify
from qgac_fast.model import CONFIGS, QGAC, QGACConfig, flops_per_megapixel, parameter_count
from qgac_fast.model.inputs import CoefficientPlanes
from qgac_fast.model.layers import CFM, RRDB, DenseBlock, frequencies_to_tiles, make_tables, tiles_to_frequencies
from qgac_fast.model.networks import BlockNet, ColorNet, FrequencyNet, Fusion, YNet

TINY = QGACConfig(manifold=4, block_channels=6, tile_channels=3, frequency_channels=2, fusion_channels=2,
                  dense_blocks=1, dense_layers=2, color_channels=3)


def _tables(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(1, 120, (n, 8, 8), generator=torch.Generator().manual_seed(seed)).double()


def _model(config=TINY, init_scale: float = 1.0) -> QGAC:
    """A float64 model with weights large enough that every path matters."""
    torch.manual_seed(0)
    return QGAC(dataclasses.replace(config, init_scale=init_scale)).double()


def test_paper_configuration_has_the_published_parameter_count():
    with torch.device("meta"):
        model = QGAC("paper")
    assert parameter_count(model) == 259_408_742  # 259.4M as published
    assert parameter_count(model.color_net) == 2_645_097  # about 2.6M


def test_default_configuration_size_and_cost():
    model = QGAC("default")
    assert parameter_count(model) < 16 * 2**20 / 2  # ships as bfloat16 within 16 MiB (one file the device tool returns)
    assert 1e9 < flops_per_megapixel(model, size=64) < 1e11


def test_large_configuration_fits_one_returned_file_in_bfloat16(tmp_path):
    from qgac_fast.model import save_model

    model = QGAC("large")
    assert parameter_count(model) == 7_790_947 and flops_per_megapixel(model, size=64) > 6 * 21e9
    save_model(model, tmp_path / "large.safetensors", dtype=torch.bfloat16)
    assert (tmp_path / "large.safetensors").stat().st_size <= 16 * 2**20  # the device tool's limit a file


def test_config_json_round_trip_and_validation():
    assert QGACConfig.from_json(CONFIGS["default"].to_json()) == CONFIGS["default"]
    with pytest.raises(ValueError, match=r"block_channels must be an int in 1\.\.512"):
        QGACConfig(block_channels=0)
    with pytest.raises(ValueError, match=r"block_channels must be an int in 1\.\.512, got 1000000000"):
        QGACConfig(block_channels=10**9)
    with pytest.raises(ValueError, match="init_scale must be a finite positive number"):
        QGACConfig(init_scale=float("inf"))
    with pytest.raises(ValueError, match="unknown QGACConfig fields"):
        QGACConfig.from_json('{"widths": 3}')
    with pytest.raises(ValueError, match="unknown model configuration"):
        QGAC("huge")


@pytest.mark.parametrize("size", [(8, 8), (5, 7), (3, 12)])
def test_multi_scale_blocks_reach_further_for_the_same_flops(size):
    from qgac_fast.model.networks import MultiScale, _rrdbs

    torch.manual_seed(0)
    single = _rrdbs(6, 1, TINY).double()  # 2 dense 3x3 layers: 2 blocks each way
    multi = MultiScale(6, dataclasses.replace(TINY, block_scales=2)).double()
    x = torch.randn(1, 6, *size, dtype=torch.float64)
    assert single(x).shape == multi(x).shape == x.shape  # odd grids are cropped back
    far = x.clone()
    far[..., 0, 0] += 1.0
    # 3 blocks away: beyond the single grid's reach, within the U's
    assert torch.equal(single(far)[..., 0, 3], single(x)[..., 0, 3])
    assert not torch.equal(multi(far)[..., 0, 3], multi(x)[..., 0, 3])


def test_multi_scale_default_costs_about_what_default_costs():
    base = flops_per_megapixel(QGAC("default"), size=64)
    assert abs(flops_per_megapixel(QGAC("default:block_scales=2"), size=64) / base - 1) < 0.1
    with pytest.raises(ValueError, match=r"block_scales must be an int in 1\.\.3"):
        QGACConfig(block_scales=4)
    # the paper's model and the shipped weights' names stay those of the single grid
    assert QGACConfig().block_scales == CONFIGS["default"].block_scales == 1
    assert "y_net.encode.enhance.0.blocks.0.convs.0.weight" in dict(QGAC("default").named_parameters())


def test_frequency_layout_round_trip_and_order():
    x = torch.randn(2, 3, 16, 24, dtype=torch.float64)
    f = tiles_to_frequencies(x)
    assert f.shape == (2, 64 * 3, 2, 3)
    # channel f * C + c holds frequency (u, v) = divmod(f, 8) of channel c
    assert torch.equal(f[:, 9 * 3 + 2], x[:, 2, 1::8, 1::8])
    assert torch.equal(frequencies_to_tiles(f), x)


def _absolute(module: nn.Module) -> nn.Module:
    """A float64 copy of ``module`` with every parameter replaced by its absolute value and every
    PReLU slope by 1. For a module made of linear maps and PReLUs with ``|slope| <= 1``, the copy
    applied to ``|input|`` bounds from above the magnitude of each value the module computes, and
    of each matrix product's ``|W| |x| + |b|``: what rounding errors are proportional to."""
    absolute = copy.deepcopy(module).double()
    with torch.no_grad():
        for prelu in (m for m in absolute.modules() if isinstance(m, nn.PReLU)):
            assert prelu.weight.abs().max() <= 1
            prelu.weight.fill_(1.0)
        for parameter in absolute.parameters():
            parameter.abs_()
    return absolute


def _gamma(n: int, dtype: torch.dtype) -> float:
    """Higham's gamma_n = n u / (1 - n u): a sum of n products, in any order, is off by at most
    gamma_n times the sum of the products' magnitudes (u: the dtype's unit roundoff)."""
    u = torch.finfo(dtype).eps / 2
    return n * u / (1 - n * u)


def _rounding_budget(model: nn.Module, dtype: torch.dtype) -> float:
    """The sum of every stage's relative rounding error bound in ``model``, to first order: the
    result computed in ``dtype``, in any summation order, is within this times the absolute
    network's output (:func:`_absolute`) of the exact one. Each convolution is a sum of
    ``Cin / groups * kh * kw`` products and a bias (counted in full for the transposed ones,
    which sum fewer), each CFM's per-block product ``Cin * 64`` and a bias, each PReLU one
    multiplication, each residual block a scale and an add; a stage's error reaches the output
    scaled by at most the absolute network's gain from there."""
    total = 0.0
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            in_channels = module.weight.shape[1] * module.groups if isinstance(module, nn.Conv2d) else module.weight.shape[0]
            total += _gamma(in_channels // module.groups * module.weight.shape[2] * module.weight.shape[3] + 1, dtype)
        elif isinstance(module, CFM):
            total += _gamma(module.in_channels * 64 + 1, dtype)
        elif isinstance(module, nn.PReLU):
            total += _gamma(1, dtype)
        elif isinstance(module, (RRDB, DenseBlock)):
            total += _gamma(2, dtype)
    return total


def test_static_tables_have_one_row_per_sample_and_the_same_result():
    tables = _tables(3).index_select(0, torch.tensor([2, 0, 2, 2])).float()
    shared, static = make_tables(tables), make_tables(tables, static=True)
    assert shared.values.shape == (2, 1, 8, 8) and static.values.shape == (4, 1, 8, 8)
    assert torch.equal(static.index, shared.index) and torch.equal(static.values[:2], shared.values)
    torch.manual_seed(0)
    cin, cout, m = 2, 3, 4
    layer = CFM(cin, cout, m)
    x = torch.randn(4, cin, 16, 24)
    # The hypernetworks run on 2 rows for one and 4 for the other, and a matrix product may sum
    # in another order for another row count (MKL on AMD Zen 4 does): the same result up to
    # rounding, bounded against the float64 evaluation. First-order error analysis: every float32
    # stage adds at most gamma_K times the magnitude of its terms (the 8x8 conv, K = 64 + bias; the
    # 1x1 conv and the two heads, K = m + bias; the CFM product, K = cin * 64 + bias), each PReLU
    # and the tables' float32 rounding u, and each error reaches the output scaled by at most the
    # absolute network's gain; the float64 reference adds the same with its own gamma.
    exact_tables = make_tables(tables, torch.float64)
    exact = copy.deepcopy(layer).double()(x.double(), exact_tables)
    magnitude = _absolute(layer)(x.double().abs(), exact_tables)
    stages = [64 + 1, m + 1, m + 1, m + 1, cin * 64 + 1, 1, 1, 1, 1]
    budget = sum(_gamma(k, torch.float32) + _gamma(k, torch.float64) for k in stages)
    with torch.no_grad():
        for got in (layer(x, static), layer(x, shared)):
            assert ((got.double() - exact).abs() <= budget * magnitude).all()


def test_restore_through_other_networks_gets_static_tables():
    """``restore(planes, networks=...)`` hands the stand-in tables with N rows (what the compiled
    networks need); dynamo tracing of the networks gives the eager result exactly, and the padded
    tables the distinct tables' result up to float64 rounding (the hypernetworks' matrix products
    may sum in another order for another row count): within 2 * budget * magnitude
    (:func:`_rounding_budget`; the chroma skip is the same computation in both)."""
    model = _model().eval()
    assert not model.mean.any() and bool((model.std == 1).all())  # normalisation is exact
    planes = CoefficientPlanes(torch.randn(2, 1, 32, 48) * 30, torch.randn(2, 2, 16, 24) * 10,
                               torch.full((2, 8, 8), 12.0), torch.full((2, 2, 8, 8), 20.0), (32, 48))
    seen = []

    def networks(y, luma_tables, chroma, chroma_tables):
        seen.append((luma_tables.values.shape[0], chroma_tables.values.shape[0]))
        return model.networks(y, luma_tables, chroma, chroma_tables)

    with torch.inference_mode():
        expected = model.restore(planes)
        got = model.restore(planes, networks=networks)
        traced = model.restore(planes, networks=torch.compile(model.networks, backend="eager", fullgraph=True))
    assert seen == [(2, 4)]
    absolute, residual = _absolute(model), []
    absolute.color_net.register_forward_hook(lambda module, args, out: residual.append(out))
    with torch.inference_mode():
        magnitude_y, _ = absolute.restore(planes.map(torch.abs))
    magnitude_c = residual[0].reshape(2, 2, 32, 48).transpose(0, 1)
    budget = _rounding_budget(model, torch.float64)
    for a, b, c, magnitude in zip(expected, got, traced, (magnitude_y, magnitude_c)):
        assert ((b - a).abs() <= 2 * budget * magnitude).all()
        assert torch.equal(b, c)


@pytest.mark.parametrize("transposed", [False, True], ids=["cfm", "cfm_transpose"])
def test_cfm_shapes_and_shared_weights(transposed):
    torch.manual_seed(0)
    layer = CFM(2, 5, 4, transposed=transposed).double()
    tables = make_tables(_tables(3).index_select(0, torch.tensor([0, 1, 0])), torch.float64)
    assert tables.values.shape == (2, 1, 8, 8) and tables.index.tolist() == [0, 1, 0]
    x = torch.randn(3, 2, *((4, 5) if transposed else (32, 40)), dtype=torch.float64)
    y = layer(x, tables)
    assert y.shape == ((3, 5, 32, 40) if transposed else (3, 5, 4, 5)) and y.dtype == torch.float64
    weight, bias = layer.generate(tables.values)
    assert weight.shape == ((2, 2, 5, 8, 8) if transposed else (2, 5, 2, 8, 8)) and bias.shape == (2, 5)
    # samples 0 and 2 share a table: the same input gives the same output
    same = layer(torch.stack([x[0], x[1], x[0]]), tables)
    assert torch.equal(same[0], same[2])


def test_per_frequency_blocks_keep_frequencies_apart():
    torch.manual_seed(0)
    net = FrequencyNet(TINY).double()
    x = torch.randn(1, TINY.tile_channels, 24, 24, dtype=torch.float64)
    bumped = x.clone()
    bumped[:, :, 3::8, 5::8] += 1.0  # only frequency (3, 5) changes
    changed = (net(bumped) - net(x)).abs().amax(dim=(0, 1))
    mask = torch.zeros(24, 24, dtype=torch.bool)
    mask[3::8, 5::8] = True
    assert changed[mask].min() > 0 and changed[~mask].max() == 0


@pytest.mark.parametrize("module, args, shape", [
    (lambda: RRDB(4, dense_blocks=2, layers=3), lambda: (torch.randn(2, 4, 5, 7),), (2, 4, 5, 7)),
    (lambda: RRDB(2, dense_blocks=1, layers=2, groups=64), lambda: (torch.randn(2, 128, 3, 3),), (2, 128, 3, 3)),
    (lambda: BlockNet(1, 3, TINY), lambda: (torch.randn(2, 1, 16, 24), make_tables(_tables(2).float())),
     (2, 3, 16, 24)),
    (lambda: FrequencyNet(TINY), lambda: (torch.randn(2, 3, 16, 24),), (2, 3, 16, 24)),
    (lambda: Fusion(9, TINY), lambda: tuple(torch.randn(2, 3, 16, 24) for _ in range(3)), (2, 1, 16, 24)),
    (lambda: YNet(TINY), lambda: (torch.randn(2, 1, 16, 24), make_tables(_tables(2).float())), (2, 1, 16, 24)),
    (lambda: ColorNet(TINY), lambda: (torch.randn(2, 1, 8, 16), torch.randn(2, 1, 16, 32),
                                      make_tables(_tables(2).float()), make_tables(_tables(2, 1).float())),
     (2, 1, 16, 32)),
], ids=["rrdb", "rrdb_per_frequency", "blocknet", "frequencynet", "fusion", "ynet", "colornet"])
def test_module_shapes(module, args, shape):
    out = module()(*args())
    assert out.shape == shape and out.dtype == torch.float32 and torch.isfinite(out).all()


@pytest.mark.parametrize("chroma_size", [(8, 16), (16, 32)], ids=["420", "444"])
def test_qgac_output_shapes(chroma_size):
    model = _model()
    y, chroma = model(torch.randn(2, 1, 16, 32, dtype=torch.float64), _tables(2),
                      torch.randn(2, 2, *chroma_size, dtype=torch.float64), _tables(2, 1))
    assert y.shape == (2, 1, 16, 32) and chroma.shape == (2, 2, 16, 32)
    gray_y, none = model(torch.randn(2, 1, 16, 24, dtype=torch.float64), _tables(2))
    assert gray_y.shape == (2, 1, 16, 24) and none is None


def test_batch_equals_items_one_by_one():
    model = _model()
    g = torch.Generator().manual_seed(1)
    y = torch.randn(3, 1, 32, 16, generator=g, dtype=torch.float64)
    c = torch.randn(3, 2, 16, 8, generator=g, dtype=torch.float64)
    qy, qc = _tables(3), _tables(3, 1)
    qy[2] = qy[0]  # a shared table inside the batch
    assert not model.mean.any() and bool((model.std == 1).all())  # normalisation is exact
    with torch.no_grad():
        by, bc = model(y, qy, c, qc)
        # A batch of 3 runs other shapes than one sample (2 distinct tables instead of 1, a
        # batch of 3 or 6 planes instead of 1 or 2), so kernels may sum in other orders: each
        # result is within budget * magnitude of the exact one (_rounding_budget), the networks'
        # magnitudes from the absolute network (its colour network's output: the residual), the
        # chroma skip's two products of 8 terms within 2 gamma_8 |A| |X| |A|^T (mean 0, std 1).
        absolute, residual = _absolute(model), []
        absolute.color_net.register_forward_hook(lambda module, args, out: residual.append(out))
        magnitude_y, _ = absolute(y.abs(), qy, c.abs(), qc)
        magnitude_c = residual[0].reshape(2, 3, 1, 32, 16).transpose(0, 1).reshape(3, 2, 32, 16)
        operator = dct_upsample_operator(torch.float64).abs()
        blocks = torch.einsum("aik,...kl,bjl->...aibj", operator, blockify(c.abs()), operator)
        skip = 2 * _gamma(8, torch.float64) * blocks.permute(0, 1, 2, 4, 5, 3, 6, 7).reshape(3, 2, 32, 16)
        budget = _rounding_budget(model, torch.float64)
        for i in range(3):
            iy, ic = model(y[i:i + 1], qy[i:i + 1], c[i:i + 1], qc[i:i + 1])
            assert ((by[i:i + 1] - iy).abs() <= 2 * budget * magnitude_y[i:i + 1]).all()
            assert ((bc[i:i + 1] - ic).abs() <= 2 * (budget * magnitude_c[i:i + 1] + skip[i:i + 1])).all()


@pytest.mark.parametrize("skip", ["nearest", "fancy"])
def test_cb_and_cr_share_the_colour_network(skip):
    """Equal Cb and Cr planes come out bit-identical: they go through the colour network as items
    of one batch, and through the skip path as items of one batched product
    (:func:`qgac_fast.functional.transform.plane_matmul`), so through the same arithmetic on any CPU."""
    model = _model(dataclasses.replace(TINY, chroma_skip=skip))
    y = torch.randn(2, 1, 16, 16, dtype=torch.float64)
    c = torch.randn(2, 1, 8, 8, dtype=torch.float64)
    _, out = model(y, _tables(2), torch.cat([c, c], dim=1), _tables(2, 1))
    assert torch.equal(out[:, 0], out[:, 1])


def test_chroma_skip_path_doubles_denormalised_coefficients():
    model = _model(init_scale=1e-12)  # residuals ~0: the output is the skip path
    model.mean.normal_(generator=torch.Generator().manual_seed(2))
    model.std.uniform_(0.5, 4.0)
    y = torch.randn(1, 1, 16, 16, dtype=torch.float64)
    c = torch.randn(1, 2, 8, 8, dtype=torch.float64)
    ry, rc = model(y, _tables(1), c, _tables(1, 1))
    expected = model.normalize(dct_upsample_nearest(model.denormalize(c, slice(1, 3))), slice(1, 3))
    torch.testing.assert_close(rc, expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(ry, y, rtol=1e-6, atol=1e-6)


def test_normalize_denormalize_round_trip():
    model = _model()
    model.mean.normal_()
    model.std.uniform_(0.5, 2.0)
    x = torch.randn(2, 2, 16, 8, dtype=torch.float64)
    torch.testing.assert_close(model.denormalize(model.normalize(x, slice(1, 3)), slice(1, 3)), x)
    assert not torch.equal(model.normalize(x, slice(1, 3)), x)


def test_reference_model_is_differentiable_end_to_end():
    model = _model()
    y = torch.randn(1, 1, 16, 16, dtype=torch.float64, requires_grad=True)
    c = torch.randn(1, 2, 8, 8, dtype=torch.float64)
    ry, rc = model(y, _tables(1), c, _tables(1, 1))
    pixels = model.to_pixels(ry, rc, (13, 11))
    assert pixels.shape == (1, 3, 13, 11)
    pixels.sum().backward()
    assert y.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.y_net.parameters())


def test_fancy_chroma_skip_is_libjpeg_upsampling_through_pixels():
    from qgac_fast.functional.transform import dct, idct
    from qgac_fast.functional.sampling import upsample

    model = _model(dataclasses.replace(TINY, chroma_skip="fancy"))
    model.mean.normal_(generator=torch.Generator().manual_seed(4))
    model.std.uniform_(0.5, 4.0)
    c = torch.randn(1, 2, 8, 16, dtype=torch.float64)
    coefficients = model.denormalize(c, slice(1, 3))
    expected = dct(upsample(idct(coefficients) + 128, (2, 2), method="fancy") - 128)
    torch.testing.assert_close(model.denormalize(model.chroma_skip(c, (16, 32)), slice(1, 3)), expected)
    with pytest.raises(ValueError, match="chroma_skip"):
        QGACConfig(chroma_skip="bilinear")
