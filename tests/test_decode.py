"""Decode pipeline against libjpeg (Pillow's decode of the same bytes), and the batched float decode.

The uint8 reference decode mirrors libjpeg's integer steps, so it is compared exactly; the float
IDCT variant and the float decode are held to the project's 1-level bounds.
"""

import numpy as np
import pytest
import torch

from images import SUBSAMPLINGS, hwc, layout_jpeg, pillow_decode, sample_image, turbo_jpeg
from qgac_fast.codec import read_coefficients
from qgac_fast.functional.transform import deblockify
from qgac_fast.functional.jpeg import coefficient_planes, decode, decode_planes

MODES = ("gray",) + SUBSAMPLINGS
QUALITIES = (10, 50, 90, 100)
SIZES = ((1, 1), (7, 9), (17, 33), (33, 17))




def _errors(got, ref):
    d = np.abs(got.astype(np.int64) - ref.astype(np.int64))
    return (d <= 1).mean(), int(d.max())


@pytest.mark.parametrize("size", SIZES, ids=[f"{h}x{w}" for h, w in SIZES])
@pytest.mark.parametrize("quality", QUALITIES, ids=[f"q{q}" for q in QUALITIES])
@pytest.mark.parametrize("mode", MODES)
def test_matches_libjpeg_exactly(mode, quality, size):
    data = layout_jpeg(mode, quality, size)
    got = decode(read_coefficients(data))
    assert got.dtype == torch.uint8 and got.shape == ((1,) if mode == "gray" else (3,)) + size
    np.testing.assert_array_equal(hwc(got), pillow_decode(data))


@pytest.mark.parametrize("mode", MODES)
def test_progressive_photo_matches_libjpeg(mode):
    img = sample_image("chelsea.png", (45, 77))
    if mode == "gray":
        img = np.ascontiguousarray(img[..., 0])
    data = turbo_jpeg(img, 75, "4:2:0" if mode == "gray" else mode, progressive=True)
    jc = read_coefficients(data)
    assert jc.progressive
    np.testing.assert_array_equal(hwc(decode(jc)), pillow_decode(data))


@pytest.mark.parametrize("mode", MODES)
def test_float_idct_variant_within_bounds(mode):
    """Measured: >= 99.6 % within 1 level; max error 1 (gray), 3 (colour, 4:4:4 included)."""
    within = total = worst = 0
    for quality in QUALITIES:
        for size in SIZES + ((48, 64),):
            data = layout_jpeg(mode, quality, size, seed=1)
            got = hwc(decode(read_coefficients(data), idct="float")).astype(np.int64)
            d = np.abs(got - pillow_decode(data).astype(np.int64))
            within += int((d <= 1).sum())
            total += d.size
            worst = max(worst, int(d.max()))
    assert within / total >= 0.99
    assert worst <= (1 if mode == "gray" else 3)


@pytest.mark.parametrize("mode", MODES)
def test_float_decode_close_to_libjpeg(mode):
    data = layout_jpeg(mode, 75, (40, 56), seed=2)
    f = decode(read_coefficients(data), dtype=torch.float64)
    assert f.dtype == torch.float64
    rounded = np.clip(np.floor(hwc(f) + 0.5), 0, 255)
    frac, mx = _errors(rounded, pillow_decode(data))
    assert frac >= 0.97 and mx <= 3  # libjpeg rounds after IDCT, upsampling and colour conversion


def test_nearest_upsampling_matches_turbojpeg_fast_upsample():
    turbojpeg = pytest.importorskip("turbojpeg")
    data = layout_jpeg("4:2:0", 50, (17, 33), seed=3)
    fast = turbojpeg.TurboJPEG().decode(data, pixel_format=turbojpeg.TJPF_RGB, flags=turbojpeg.TJFLAG_FASTUPSAMPLE)
    np.testing.assert_array_equal(hwc(decode(read_coefficients(data), upsampling="nearest")), fast)


@pytest.mark.parametrize("mode", ["4:2:0", "4:4:4"])
def test_decode_planes_equals_decode(mode):
    jcs = [read_coefficients(layout_jpeg(mode, q, (24, 40), seed=4)) for q in (20, 60, 95)]
    planes = [coefficient_planes(jc) for jc in jcs]
    luma = torch.stack([p[0] for p in planes]).unsqueeze(1)
    chroma = torch.stack([torch.stack(p[1:]) for p in planes])
    lt = torch.stack([jc.quantization[0] for jc in jcs])  # (N, 8, 8)
    ct = torch.stack([torch.stack(jc.quantization[1:]) for jc in jcs])  # (N, 2, 8, 8)
    out = decode_planes(luma, chroma, lt, ct, size=(24, 40), dtype=torch.float64)
    assert out.shape == (3, 3, 24, 40) and out.dtype == torch.float64
    for i, jc in enumerate(jcs):  # batch equals items one by one
        torch.testing.assert_close(out[i], decode(jc, dtype=torch.float64), atol=1e-9, rtol=0)
    exact = decode_planes(luma, chroma, lt, ct, size=(24, 40), dtype=torch.uint8)
    for i, jc in enumerate(jcs):
        assert torch.equal(exact[i], decode(jc))


def test_decode_planes_dequantized_input_and_gray():
    jc = read_coefficients(layout_jpeg("gray", 50, (16, 16), seed=5))
    luma = coefficient_planes(jc)[0][None, None]
    deq = luma.double() * jc.quantization[0].double().repeat(2, 2)
    out = decode_planes(deq)
    assert out.shape == (1, 1, 16, 16)
    torch.testing.assert_close(out, decode_planes(luma, luma_table=jc.quantization[0], dtype=torch.float64))


@pytest.mark.parametrize("upsampling", ["fancy", "nearest"])
def test_float_decode_gradcheck(upsampling):
    g = torch.Generator().manual_seed(6)
    luma = (torch.randn(1, 1, 16, 16, generator=g, dtype=torch.float64) * 30).requires_grad_()
    chroma = (torch.randn(1, 2, 8, 8, generator=g, dtype=torch.float64) * 30).requires_grad_()
    table = torch.randint(1, 20, (1, 8, 8), generator=g)
    assert torch.autograd.gradcheck(
        lambda y, c: decode_planes(y, c, table, table, size=(15, 13), upsampling=upsampling), (luma, chroma))


def test_float32_default_and_clamp():
    jc = read_coefficients(layout_jpeg("4:2:0", 10, (16, 16), seed=7))
    out = decode(jc, dtype=torch.float32, clamp=True)
    assert out.dtype == torch.float32 and out.min() >= 0 and out.max() <= 255
    planes = coefficient_planes(jc)
    y = decode_planes(planes[0][None, None], torch.stack(planes[1:])[None], jc.quantization[0], jc.quantization[1])
    assert y.dtype == torch.float32


def test_errors():
    jc = read_coefficients(layout_jpeg("4:2:0", 50, (8, 8)))
    with pytest.raises(ValueError, match="upsampling"):
        decode(jc, upsampling="bilinear")
    with pytest.raises(ValueError, match="dtype"):
        decode(jc, dtype=torch.int32)
    with pytest.raises(ValueError, match="luma"):
        decode_planes(torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match="divide"):
        decode_planes(torch.zeros(1, 1, 16, 16), torch.zeros(1, 2, 24, 8))


def test_blocks_layout_round_trip():
    jc = read_coefficients(layout_jpeg("4:2:0", 50, (17, 33)))
    planes = coefficient_planes(jc)
    # luma: 3 x 5 blocks padded to whole 2x2 MCUs; chroma: ceil(17/2) x ceil(33/2) = 9 x 17 -> 2 x 3 blocks
    assert planes[0].shape == (32, 48) and planes[1].shape == (16, 24)
    assert torch.equal(planes[1], deblockify(jc.coefficients[1]))
