"""JFIF colour conversion: float round trip, constants, libjpeg integer twins."""

import pytest
import torch

from qgac_fast.functional.color import (
    rgb_to_ycbcr, rgb_to_ycbcr_libjpeg, ycbcr_to_rgb, ycbcr_to_rgb_libjpeg,
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


def test_libjpeg_encoder_twin_close_to_float():
    x = _rgb((3, 64, 64), seed=4)
    ref = rgb_to_ycbcr(x, dtype=torch.float64)
    got = rgb_to_ycbcr_libjpeg(x)
    assert got.dtype == torch.uint8
    assert (got.double() - ref).abs().max() <= 0.5 + 1e-3


def test_libjpeg_decoder_twin_close_to_float():
    x = _rgb((3, 64, 64), seed=5)
    ref = ycbcr_to_rgb(x, dtype=torch.float64).clamp(0, 255)
    got = ycbcr_to_rgb_libjpeg(x)
    assert got.dtype == torch.uint8
    assert (got.double() - ref).abs().max() <= 0.5 + 1e-3


def test_batch_equals_items():
    x = _rgb((3, 3, 5, 5), seed=6).float()
    y = rgb_to_ycbcr(x)
    for i in range(3):
        torch.testing.assert_close(y[i], rgb_to_ycbcr(x[i]))


def test_bad_channels_raise():
    with pytest.raises(ValueError, match="3, H, W"):
        rgb_to_ycbcr(torch.ones(4, 2, 2))
