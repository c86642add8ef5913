"""The public decode (qgac_fast.decode = qgac_fast.ops.decode) on the CPU: its libjpeg backend
against the reference decode and Pillow, bit for bit, and what "auto" picks."""

import dataclasses

import numpy as np
import pytest
import torch

import qgac_fast
from images import SUBSAMPLINGS, hwc, layout_jpeg, pillow_decode, sample_image, synthetic_image, turbo_jpeg
from qgac_fast.codec import decode_pixels, read_coefficients
from qgac_fast.functional.jpeg import decode as reference_decode
from qgac_fast.functional.jpeg import encode

MODES = ("gray",) + SUBSAMPLINGS
SIZES = ((1, 1), (7, 9), (17, 33), (33, 17), (45, 77))


def _jpeg(mode, size, quality=75, progressive=False, seed=0):
    return layout_jpeg(mode, quality, size, progressive=progressive, seed=seed)


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
@pytest.mark.parametrize("size", SIZES, ids=[f"{h}x{w}" for h, w in SIZES])
@pytest.mark.parametrize("mode", MODES)
def test_libjpeg_backend_is_the_reference_and_pillow(mode, size, progressive):
    data = _jpeg(mode, size, progressive=progressive)
    jc = read_coefficients(data)
    for upsampling in ("fancy", "nearest"):
        got = qgac_fast.decode(jc, upsampling=upsampling, backend="libjpeg")
        want = reference_decode(jc, upsampling=upsampling)
        assert got.dtype == torch.uint8 and got.is_contiguous() and got.shape == want.shape
        assert torch.equal(got, want), upsampling
    np.testing.assert_array_equal(hwc(qgac_fast.decode(jc, backend="libjpeg")), pillow_decode(data))


@pytest.mark.parametrize("quality", [5, 50, 100])
def test_photo_and_extreme_qualities(quality):
    data = turbo_jpeg(sample_image("astronaut.png", (131, 97)), quality, "4:2:0")
    jc = read_coefficients(data)
    assert torch.equal(qgac_fast.decode(jc, backend="libjpeg"), reference_decode(jc))


def test_rgb_colour_space_and_encoded_coefficients():
    jc = read_coefficients(_jpeg("4:4:4", (17, 33)))
    rgb = dataclasses.replace(jc, color_space="rgb")  # the same numbers read as an Adobe RGB file
    assert torch.equal(qgac_fast.decode(rgb, backend="libjpeg"), reference_decode(rgb))
    image = torch.from_numpy(synthetic_image(21, 30)).permute(2, 0, 1)
    made = encode(image, qgac_fast.ijg_table(60), "4:2:2")  # the reference encoder's output
    assert torch.equal(qgac_fast.decode(made, backend="libjpeg"), reference_decode(made))


def test_auto_uses_libjpeg_on_the_cpu(monkeypatch):
    jc = read_coefficients(_jpeg("4:2:0", (17, 33)))
    calls = []
    original = qgac_fast.codec.decode_pixels
    monkeypatch.setattr(qgac_fast.codec, "decode_pixels", lambda *a, **k: calls.append(1) or original(*a, **k))
    assert torch.equal(qgac_fast.decode(jc), reference_decode(jc))
    assert calls == [1]
    # what libjpeg does not compute goes to the reference
    qgac_fast.decode(jc, idct="float")
    qgac_fast.decode(jc, dtype=torch.float32)
    floats = dataclasses.replace(jc, coefficients=tuple(c.float() for c in jc.coefficients))
    torch.testing.assert_close(qgac_fast.decode(floats, dtype=torch.float64),
                               reference_decode(floats, dtype=torch.float64))
    big = dataclasses.replace(jc, coefficients=(jc.coefficients[0] * 40,) + jc.coefficients[1:])  # not codable
    assert torch.equal(qgac_fast.decode(big), reference_decode(big))
    zero = jc.quantization[0].clone()
    zero[7, 7] = 0  # a damaged table that strict=False lets through (found by tools/fuzz.py)
    damaged = dataclasses.replace(jc, quantization=(zero,) + jc.quantization[1:])
    assert torch.equal(qgac_fast.decode(damaged), reference_decode(damaged))
    assert calls == [1]


def test_gradients_use_the_reference():
    jc = read_coefficients(_jpeg("4:4:4", (16, 16)))
    leaf = jc.coefficients[0].double().requires_grad_()
    floats = dataclasses.replace(jc, coefficients=(leaf,) + tuple(c.double() for c in jc.coefficients[1:]))
    qgac_fast.decode(floats, dtype=torch.float64).sum().backward()
    assert leaf.grad is not None
    with pytest.raises(ValueError, match="forward only"):
        qgac_fast.decode(floats, dtype=torch.float64, backend="libjpeg")


def test_libjpeg_refuses_what_it_does_not_compute():
    jc = read_coefficients(_jpeg("4:2:0", (8, 8)))
    with pytest.raises(ValueError, match="idct='islow'"):
        qgac_fast.decode(jc, idct="float", backend="libjpeg")
    with pytest.raises(ValueError, match="upsampling"):
        decode_pixels(jc, upsampling="bilinear")
    big = dataclasses.replace(jc, coefficients=(jc.coefficients[0] * 40,) + jc.coefficients[1:])
    with pytest.raises(ValueError, match="8-bit JPEG"):
        qgac_fast.decode(big, backend="libjpeg")
    with pytest.raises(RuntimeError, match="on the CPU"):
        qgac_fast.decode(jc, device="meta", backend="libjpeg")
