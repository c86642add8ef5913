"""Quantization: libjpeg's rounding, per-sample tables, integer quantizer."""

import pytest
import torch

from qgac_fast.functional.transform import blockify
from qgac_fast.functional.quantization import (
    clamp_to_bins, dequantize, quantize, quantize_scaled, round_half_away_from_zero, tile_table,
)


def _tables(shape, seed):
    return torch.randint(1, 100, shape, generator=torch.Generator().manual_seed(seed), dtype=torch.int32)


def test_round_half_away_from_zero():
    x = torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49, -0.51, 3.0])
    expected = torch.tensor([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0, 0.0, -1.0, 3.0])
    assert torch.equal(round_half_away_from_zero(x), expected)


def test_quantize_ties_round_away():
    table = torch.full((8, 8), 4)
    coef = torch.tensor([2.0, -2.0, 6.0, -6.0, 1.9, -1.9, 10.0, -14.0]).repeat(8, 1)
    expected = torch.tensor([1.0, -1.0, 2.0, -2.0, 0.0, 0.0, 3.0, -4.0]).repeat(8, 1)
    assert torch.equal(quantize(coef, table), expected)


def test_per_sample_tables_match_blockwise_loop():
    g = torch.Generator().manual_seed(1)
    coef = torch.randn(3, 2, 16, 24, generator=g, dtype=torch.float64) * 200
    tables = _tables((3, 2, 8, 8), seed=2)
    q = quantize(coef, tables)
    assert q.shape == coef.shape and q.dtype == torch.float64
    for n in range(3):
        for c in range(2):
            blocks = blockify(coef[n, c]) / tables[n, c].double()
            expected = torch.sign(blocks) * torch.floor(blocks.abs() + 0.5)
            assert torch.equal(blockify(q[n, c]), expected)


def test_single_table_broadcasts():
    coef = torch.randint(-50, 50, (2, 8, 16), generator=torch.Generator().manual_seed(3)).to(torch.int16)
    table = _tables((8, 8), seed=4)
    d = dequantize(coef, table)
    assert d.dtype == torch.float32
    assert torch.equal(d[1, :, 8:], coef[1, :, 8:].float() * table.float())


def test_quantize_inverts_dequantize():
    q = torch.randint(-300, 300, (2, 1, 16, 16), generator=torch.Generator().manual_seed(5)).to(torch.int16)
    tables = _tables((2, 1, 8, 8), seed=6)
    assert torch.equal(quantize(dequantize(q, tables), tables), q.float())


def test_dequantize_float64_and_gradient():
    x = torch.randn(1, 8, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(7)).requires_grad_()
    table = _tables((1, 8, 8), seed=8)
    assert dequantize(x, table).dtype == torch.float64
    assert torch.autograd.gradcheck(lambda v: dequantize(v, table), (x,))
    assert dequantize(x.detach().int(), table, dtype=torch.float64).dtype == torch.float64


def test_tile_table_layout():
    t = _tables((8, 8), seed=9)
    tiled = tile_table(t, 16, 24)
    assert torch.equal(tiled[8:16, 16:24], t)


def test_quantize_scaled_matches_division():
    g = torch.Generator().manual_seed(10)
    table = _tables((8, 8), seed=11)
    v = torch.randint(-8000, 8000, (50, 8, 8), generator=g)
    v[0] = 4 * table  # exact ties: +0.5 -> 1
    v[1] = -4 * table  # -0.5 -> -1
    q = quantize_scaled(v, table, scale=8)
    expected = round_half_away_from_zero(v.double() / (8 * table.double()))
    assert torch.equal(q.double(), expected)
    assert torch.equal(q[0], torch.ones(8, 8, dtype=torch.int64))


def test_bad_table_shape_raises():
    with pytest.raises(ValueError, match=r"\(\.\.\., 8, 8\)"):
        quantize(torch.ones(8, 8), torch.ones(4, 4))


def test_quantization_clamp_keeps_bins_and_never_moves_away_from_the_truth():
    g = torch.Generator().manual_seed(6)
    table = torch.randint(1, 60, (2, 8, 8), generator=g).double()
    steps = tile_table(table, 16, 24).unsqueeze(1)
    truth = torch.randn(2, 1, 16, 24, generator=g, dtype=torch.float64) * 80
    dequantized = torch.round(truth / steps) * steps
    restored = truth + torch.randn(2, 1, 16, 24, generator=g, dtype=torch.float64) * 40  # an imperfect model
    constrained = clamp_to_bins(restored, dequantized, table)
    assert ((constrained - dequantized).abs() <= steps / 2 + 1e-9).all()
    assert ((constrained - truth).abs() <= (restored - truth).abs() + 1e-9).all()
    assert ((constrained - truth).abs() < (restored - truth).abs() - 1e-9).any()
