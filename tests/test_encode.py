"""Reference encode against the coefficients libjpeg writes (turbojpeg, accurate DCT)."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from images import SUBSAMPLINGS, sample_image, synthetic_image, turbo_jpeg
from qgac_fast.codec import read_coefficients
from qgac_fast.functional.color import rgb_to_ycbcr_libjpeg
from qgac_fast.functional.jpeg import decode, encode

MODES = ("gray",) + SUBSAMPLINGS
QUALITIES = (1, 5, 10, 50, 75, 90, 95, 100)
SIZES = ((1, 1), (7, 9), (17, 33), (33, 17))


def _image(mode, size, seed=0):
    h, w = size
    img = synthetic_image(h, w, 3, seed=seed + h * 131 + w)
    return np.ascontiguousarray(img[..., 0]) if mode == "gray" else img


def _tensor(img):
    return torch.from_numpy(img) if img.ndim == 2 else torch.from_numpy(img).permute(2, 0, 1)


def _libjpeg(img, mode, quality, progressive=False):
    return read_coefficients(turbo_jpeg(img, quality, "4:2:0" if mode == "gray" else mode, progressive=progressive))


def _tables(jc):
    return [jc.quantization[0], jc.quantization[-1]]


def _compare(ours, theirs):
    assert (ours.width, ours.height, ours.sampling) == (theirs.width, theirs.height, theirs.sampling)
    for a, b in zip(ours.coefficients, theirs.coefficients):
        assert a.dtype == torch.int16 and a.shape == b.shape
        d = (a.int() - b.int()).abs()
        if d.any():
            idx = d.nonzero()[0].tolist()
            pytest.fail(f"{int((d > 0).sum())}/{d.numel()} coefficients differ (max {int(d.max())}), "
                        f"first at block/freq {idx}: ours {int(a[tuple(idx)])}, libjpeg {int(b[tuple(idx)])}")


@pytest.mark.parametrize("size", SIZES, ids=[f"{h}x{w}" for h, w in SIZES])
@pytest.mark.parametrize("quality", QUALITIES, ids=[f"q{q}" for q in QUALITIES])
@pytest.mark.parametrize("mode", MODES)
def test_matches_libjpeg_exactly(mode, quality, size):
    img = _image(mode, size)
    theirs = _libjpeg(img, mode, quality)
    ours = encode(_tensor(img), _tables(theirs), "gray" if mode == "gray" else mode)
    assert ours.color_space == theirs.color_space
    _compare(ours, theirs)


@pytest.mark.parametrize("quality", (10, 90, 100), ids=["q10", "q90", "q100"])
@pytest.mark.parametrize("mode", MODES)
def test_photo_matches_libjpeg_exactly(mode, quality):
    img = sample_image("astronaut.png", (61, 83))
    if mode == "gray":
        img = np.ascontiguousarray(img[..., 0])
    theirs = _libjpeg(img, mode, quality, progressive=quality == 90)
    _compare(encode(_tensor(img), _tables(theirs), mode), theirs)


@pytest.mark.parametrize("mode", ["gray", "4:2:0", "4:4:4"])
def test_float_dct_variant_close(mode):
    equal = total = worst = 0
    for quality in QUALITIES:
        img = _image(mode, (40, 48), seed=quality)
        theirs = _libjpeg(img, mode, quality)
        ours = encode(_tensor(img), _tables(theirs), mode, dct="float")
        for a, b in zip(ours.coefficients, theirs.coefficients):
            d = (a.int() - b.int()).abs()
            equal += int((d == 0).sum())
            total += d.numel()
            worst = max(worst, int(d.max()))
    assert equal / total >= 0.97 and worst <= 1


def test_rgb_to_gray_uses_libjpeg_luma():
    img = _image("4:4:4", (9, 10), seed=1)
    y = rgb_to_ycbcr_libjpeg(_tensor(img))[0].numpy()
    theirs = _libjpeg(np.ascontiguousarray(y), "gray", 50)
    ours = encode(_tensor(img), theirs.quantization[0], "gray")
    assert ours.num_components == 1 and ours.color_space == "gray"
    _compare(ours, theirs)


@pytest.mark.parametrize("form", ["one", "pair", "three", "list"])
def test_table_forms(form):
    img = _tensor(_image("4:2:0", (16, 16), seed=2))
    g = torch.Generator().manual_seed(3)
    t = torch.randint(1, 60, (3, 8, 8), generator=g, dtype=torch.int32)
    q = {"one": t[0], "pair": t[:2], "three": t, "list": [t[0], t[1]]}[form]
    jc = encode(img, q, "4:2:0")
    expected = {"one": (0, 0, 0), "pair": (0, 1, 1), "three": (0, 1, 2), "list": (0, 1, 1)}[form]
    assert jc.table_indices == expected
    assert all(x.dtype == torch.int32 and x.shape == (8, 8) for x in jc.quantization)


def test_round_trip_at_quality_100_is_close():
    img = sample_image("astronaut.png", (32, 48))
    theirs = _libjpeg(img, "4:4:4", 100)
    out = decode(encode(_tensor(img), _tables(theirs), "4:4:4")).permute(1, 2, 0).numpy().astype(int)
    assert np.abs(out - img.astype(int)).max() <= 4


def test_errors():
    with pytest.raises(TypeError, match="uint8"):
        encode(torch.zeros(3, 8, 8), torch.ones(8, 8))
    with pytest.raises(ValueError, match="subsampling"):
        encode(torch.zeros(3, 8, 8, dtype=torch.uint8), torch.ones(8, 8), "4:2:1")
    with pytest.raises(ValueError, match="quantization"):
        encode(torch.zeros(3, 8, 8, dtype=torch.uint8), torch.zeros(8, 8))
    with pytest.raises(ValueError, match="tables"):
        encode(torch.zeros(3, 8, 8, dtype=torch.uint8), torch.ones(4, 8, 8))


def test_the_reference_encodes_without_the_codec():
    """``encode`` builds its :class:`~qgac_fast.coefficients.JPEGCoefficients` from the container's
    own module: the reference loads neither the codec nor the libjpeg extension."""
    code = """
import sys
import torch
from qgac_fast.functional.jpeg import encode
jc = encode(torch.zeros(3, 8, 8, dtype=torch.uint8), torch.ones(8, 8, dtype=torch.int32))
assert type(jc).__module__ == "qgac_fast.coefficients", type(jc).__module__
loaded = sorted(m for m in ("qgac_fast.codec", "qgac_fast._jpeg") if m in sys.modules)
print(loaded or "ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", (done.stdout, done.stderr[-2000:])
