"""JFIF colour conversion: float round trip, constants, libjpeg integer twins."""

import math

import pytest
import torch

from qgac_fast.functional.color import (
    RGB_TO_YCBCR, YCBCR_TO_RGB, rgb_to_ycbcr, rgb_to_ycbcr_libjpeg, ycbcr_to_rgb, ycbcr_to_rgb_libjpeg,
)


def _rgb(shape, seed):
    return torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def test_round_trip_float64():
    x = _rgb((2, 3, 9, 7), seed=1).double()
    # The JFIF constants are given to 6 decimals, so the two matrices are inverse to ~1e-6 per
    # entry: 3 x 255 x 1e-6 bounds the round-trip error.
    torch.testing.assert_close(ycbcr_to_rgb(rgb_to_ycbcr(x)), x, atol=1e-3, rtol=0)


@pytest.mark.parametrize("rgb,ycc", [
    ((255, 255, 255), (255.0, 128.0, 128.0)),
    ((0, 0, 0), (0.0, 128.0, 128.0)),
    ((255, 0, 0), (76.245, 84.972320, 255.5)),
    ((0, 0, 255), (29.07, 255.5, 107.265440)),
], ids=["white", "black", "red", "blue"])
def test_known_values(rgb, ycc):
    x = torch.tensor(rgb, dtype=torch.float64).view(3, 1, 1)
    torch.testing.assert_close(rgb_to_ycbcr(x).flatten(), torch.tensor(ycc, dtype=torch.float64), atol=1e-6, rtol=0)


def test_dtype_default_and_float64():
    x = _rgb((3, 4, 4), seed=2)
    assert rgb_to_ycbcr(x).dtype == torch.float32
    assert ycbcr_to_rgb(x, dtype=torch.float64).dtype == torch.float64


def test_gradient_flows():
    x = _rgb((3, 2, 2), seed=3).double().requires_grad_()
    assert torch.autograd.gradcheck(lambda v: ycbcr_to_rgb(rgb_to_ycbcr(v)), (x,))


# libjpeg's constants (jccolor.c, jdcolor.c) as its 16-bit fixed point stores them,
# FIX(x) = round(x * 2**16); the rows match RGB_TO_YCBCR and YCBCR_TO_RGB.
LIBJPEG_FORWARD = ((0.29900, 0.58700, 0.11400), (-0.16874, -0.33126, 0.5), (0.5, -0.41869, -0.08131))
LIBJPEG_INVERSE = ((1.0, 0.0, 1.40200), (1.0, -0.34414, -0.71414), (1.0, 1.77200, 0.0))
# The float64 references' own rounding: 3 products and 3 sums of numbers below 2**9, plus the
# offset and the difference taken here, each off by at most 2**-53 of 2**9: below 1e-12.
FLOAT64_SLACK = 1e-12


def _fixed(x: float) -> float:
    return math.floor(x * 2**16 + 0.5) / 2**16


def _constants_error(libjpeg, jfif, largest: float) -> list[float]:
    """Per output channel, how far libjpeg's fixed-point mix can be from the JFIF one for inputs
    of magnitude up to ``largest``: ``largest * sum_j |FIX(l_j) - c_j|``."""
    return [largest * sum(abs(_fixed(abs(l)) * math.copysign(1, l) - c) for l, c in zip(lrow, crow))
            for lrow, crow in zip(libjpeg, jfif)]


def test_libjpeg_encoder_twin_close_to_float():
    x = _rgb((3, 64, 64), seed=4)
    ref = rgb_to_ycbcr(x, dtype=torch.float64)
    got = rgb_to_ycbcr_libjpeg(x)
    assert got.dtype == torch.uint8
    # got = floor(F . rgb + bias) with the bias 1/2 (Y) or 1/2 - 2**-16 (Cb, Cr): within
    # 1/2 + 2**-16 of the fixed-point mix F . rgb, itself within 255 * sum |F - c| of the JFIF
    # value (rgb <= 255). The clamp to 0..255 moves no value further from the JFIF one, which lies
    # in [0, 255.5]. Reached: Y of (201, 4, 211) is 86, the JFIF value 86.501.
    bound = [0.5 + bias + err for bias, err in zip((0.0, 2**-16, 2**-16), _constants_error(
        LIBJPEG_FORWARD, RGB_TO_YCBCR, 255.0))]
    error = (got.double() - ref).abs().amax(dim=(-2, -1))
    assert (error <= torch.tensor(bound, dtype=torch.float64) + FLOAT64_SLACK).all(), (error, bound)
    assert error.max() > 0.5  # the constants' error shows: a bound of 1/2 alone would not hold


def test_libjpeg_decoder_twin_close_to_float():
    x = _rgb((3, 64, 64), seed=5)
    ref = ycbcr_to_rgb(x, dtype=torch.float64).clamp(0, 255)
    got = ycbcr_to_rgb_libjpeg(x)
    assert got.dtype == torch.uint8
    # got = Y + floor(F . (Cb - 128, Cr - 128) + 1/2): within 1/2 of Y + F . (...), itself within
    # 128 * sum |F - c| of the JFIF value (|Cb - 128|, |Cr - 128| <= 128); both sides are
    # clamped to 0..255, which moves no two values further apart.
    bound = [0.5 + err for err in _constants_error(LIBJPEG_INVERSE, YCBCR_TO_RGB, 128.0)]
    error = (got.double() - ref).abs().amax(dim=(-2, -1))
    assert (error <= torch.tensor(bound, dtype=torch.float64) + FLOAT64_SLACK).all(), (error, bound)


def test_batch_equals_items():
    x = _rgb((3, 3, 5, 5), seed=6).float()
    y = rgb_to_ycbcr(x)
    for i in range(3):
        torch.testing.assert_close(y[i], rgb_to_ycbcr(x[i]))


def test_bad_channels_raise():
    with pytest.raises(ValueError, match="3, H, W"):
        rgb_to_ycbcr(torch.ones(4, 2, 2))
