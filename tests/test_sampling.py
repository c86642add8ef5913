"""Chroma resampling (libjpeg's fancy upsampling and biased downsampling) and DCT-domain doubling."""

import pytest
import torch

from qgac_fast.functional.transform import dct, idct
from qgac_fast.functional.sampling import (
    dct_upsample_matrix, dct_upsample_nearest, downsample, pad_edges, upsample,
)


def _samples(shape, seed):
    return torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(seed))


def _h2v1_expected(row):
    """libjpeg's h2v1 fancy formula written out sample by sample (edge samples replicated)."""
    out = []
    n = len(row)
    for j, v in enumerate(row):
        left, right = row[max(j - 1, 0)], row[min(j + 1, n - 1)]
        out += [(3 * v + left + 1) // 4, (3 * v + right + 2) // 4]
    return out


@pytest.mark.parametrize("width", [1, 2, 3, 5], ids=["w1-replicate", "w2-replicate", "w3-fancy", "w5-fancy"])
def test_h2v1_fancy_edges(width):
    x = _samples((2, width), seed=width)
    got = upsample(x, (1, 2), rounding=True)
    if width <= 2:  # libjpeg only filters components wider than 2 samples
        expected = x.repeat_interleave(2, dim=-1)
    else:
        expected = torch.tensor([_h2v1_expected(r.tolist()) for r in x])
    assert torch.equal(got, expected)


def test_h2v1_width3_by_hand():
    got = upsample(torch.tensor([[10, 20, 40]]), (1, 2), rounding=True)
    # first: 10, (30+20+2)>>2=13; middle: (60+10+1)>>2=17, (60+40+2)>>2=25; last: (120+20+1)>>2=35, 40
    assert got.tolist() == [[10, 13, 17, 25, 35, 40]]


@pytest.mark.parametrize("height", [1, 2, 3], ids=["h1", "h2", "h3"])
def test_h1v2_fancy_edges(height):
    x = _samples((height, 4), seed=10 + height)
    got = upsample(x, (2, 1), rounding=True)
    expected = torch.tensor(_h2v1_expected_cols(x))
    assert torch.equal(got, expected)


def _h2v1_expected_cols(x):
    cols = [_h2v1_expected(c.tolist()) for c in x.T]  # same formula vertically (bias 1 above, 2 below)
    return [list(r) for r in zip(*cols)]


def _h2v2_expected(x):
    h, w = x.shape
    out = torch.zeros(2 * h, 2 * w, dtype=torch.int64)
    for i in range(h):
        for v, other in ((0, max(i - 1, 0)), (1, min(i + 1, h - 1))):
            col = [3 * int(x[i, j]) + int(x[other, j]) for j in range(w)]
            for j in range(w):
                left, right = col[max(j - 1, 0)], col[min(j + 1, w - 1)]
                out[2 * i + v, 2 * j] = (3 * col[j] + left + 8) >> 4
                out[2 * i + v, 2 * j + 1] = (3 * col[j] + right + 7) >> 4
    return out


@pytest.mark.parametrize("shape", [(1, 1), (3, 2), (2, 3), (3, 5)], ids=["1x1", "w2-replicate", "w3-fancy", "3x5"])
def test_h2v2_fancy_edges(shape):
    x = _samples(shape, seed=20 + shape[1])
    got = upsample(x, (2, 2), rounding=True)
    expected = x.repeat_interleave(2, 0).repeat_interleave(2, 1) if shape[1] <= 2 else _h2v2_expected(x)
    assert torch.equal(got, expected)


@pytest.mark.parametrize("factor", [(1, 2), (2, 1), (2, 2)], ids=["h2v1", "h1v2", "h2v2"])
def test_float_fancy_close_to_integer(factor):
    x = _samples((2, 5, 7), seed=30)
    f = upsample(x.double(), factor)
    i = upsample(x, factor, rounding=True)
    assert (f - i).abs().max() <= 1.0


def test_float_fancy_reproduces_linear_ramp_inside():
    x = torch.arange(6, dtype=torch.float64).repeat(3, 1) * 4  # 0, 4, 8, ... along width
    y = upsample(x, (1, 2))
    torch.testing.assert_close(y[:, 1:-1], torch.arange(1, 11, dtype=torch.float64).repeat(3, 1) * 2 - 1)


@pytest.mark.parametrize("factor", [(1, 4), (2, 4), (3, 1)], ids=["4:1:1", "h4v2", "v3"])
def test_other_factors_replicate(factor):
    x = _samples((3, 4), seed=40)
    expected = x.repeat_interleave(factor[0], 0).repeat_interleave(factor[1], 1)
    assert torch.equal(upsample(x, factor, rounding=True), expected)


def test_nearest_and_size_crop():
    x = _samples((1, 3, 3), seed=41).double()
    y = upsample(x, (2, 2), method="nearest", size=(5, 5))
    assert y.shape == (1, 5, 5)
    assert torch.equal(y, x.repeat_interleave(2, -2).repeat_interleave(2, -1)[..., :5, :5])


def test_upsample_errors():
    with pytest.raises(TypeError, match="integer"):
        upsample(torch.ones(2, 2), (2, 2), rounding=True)
    with pytest.raises(ValueError, match="method"):
        upsample(torch.ones(2, 2), (2, 2), method="bicubic")


def test_downsample_bias_pattern():
    # every pair sums to an odd number: libjpeg rounds down, up, down, up... along the row
    x = torch.tensor([[0, 1, 0, 1, 2, 3, 2, 3]])
    assert downsample(x, (1, 2), rounding=True).tolist() == [[0, 1, 2, 3]]
    # 2x2 sums of 2 (mod 4): bias 1, 2, 1, 2 -> floor((2+1)/4)=0, floor((2+2)/4)=1
    x = torch.tensor([[1, 1, 1, 1], [0, 0, 0, 0]])
    assert downsample(x, (2, 2), rounding=True).tolist() == [[0, 1]]
    # other ratios: (sum + n/2) / n
    x = torch.tensor([[1], [0]])
    assert downsample(x, (2, 1), rounding=True).tolist() == [[1]]


def test_downsample_float_is_mean_and_differentiable():
    x = _samples((2, 4, 8), seed=50).double().requires_grad_()
    y = downsample(x, (2, 2))
    torch.testing.assert_close(y, x.detach().reshape(2, 2, 2, 4, 2).mean(dim=(2, 4)))
    assert torch.autograd.gradcheck(lambda v: downsample(v, (2, 2)), (x,))


def test_pad_edges():
    x = torch.tensor([[1, 2], [3, 4]])
    assert pad_edges(x, 3, 4).tolist() == [[1, 2, 2, 2], [3, 4, 4, 4], [3, 4, 4, 4]]


def _nn_pixels(plane):
    return plane.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)


@pytest.mark.parametrize("shape", [(8, 8), (2, 16, 24)], ids=["one-block", "batched"])
def test_dct_doubling_exact(shape):
    g = torch.Generator().manual_seed(60)
    coef = dct(torch.randint(-128, 128, shape, generator=g).double())
    expected = dct(_nn_pixels(idct(coef)))
    torch.testing.assert_close(dct_upsample_nearest(coef), expected, atol=1e-10, rtol=0)


def test_dct_doubling_matrix_form():
    coef = torch.randn(8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(61)) * 50
    m = dct_upsample_matrix()
    blocks = (m @ coef.reshape(64)).reshape(2, 2, 8, 8)
    out = dct_upsample_nearest(coef)
    for a in range(2):
        for b in range(2):
            torch.testing.assert_close(out[8 * a:8 * a + 8, 8 * b:8 * b + 8], blocks[a, b], atol=1e-10, rtol=0)


def test_dct_doubling_float32_and_gradient():
    coef = torch.randn(1, 8, 16, generator=torch.Generator().manual_seed(62))
    assert dct_upsample_nearest(coef).dtype == torch.float32
    c64 = coef.double().requires_grad_()
    assert torch.autograd.gradcheck(dct_upsample_nearest, (c64,))
