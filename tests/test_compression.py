"""compress() against Pillow's encoder (bytes), read back with the codec (layout and tables)."""

import numpy as np
import pytest
import torch

import qgac_fast.compression as compression_module
from images import SUBSAMPLINGS, pillow_decode, pillow_jpeg, sample_image, synthetic_image
from qgac_fast.codec import read_coefficients
from qgac_fast.compression import compress
from qgac_fast.quality import ijg_table

RGB = sample_image("chelsea.png", (37, 53))  # odd size: partial MCUs at every subsampling
GRAY = synthetic_image(29, 43, channels=1, seed=3)[..., 0]
PILLOW_LAYOUTS = ("4:4:4", "4:2:2", "4:2:0")
LUMA_SAMPLING = {"4:4:4": (1, 1), "4:2:2": (2, 1), "4:2:0": (2, 2), "4:4:0": (1, 2), "4:1:1": (4, 1)}
QUALITIES = (1, 10, 25, 50, 75, 90, 95, 100)


def _random_table(seed: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(1, 256, size=(8, 8), dtype=np.int32))


@pytest.mark.parametrize("subsampling", PILLOW_LAYOUTS)
@pytest.mark.parametrize("quality", QUALITIES, ids=[f"q{q}" for q in QUALITIES])
def test_quality_bytes_equal_pillow(quality, subsampling):
    assert compress(RGB, quality, subsampling=subsampling) == pillow_jpeg(RGB, quality, subsampling)


@pytest.mark.parametrize("quality", QUALITIES, ids=[f"q{q}" for q in QUALITIES])
def test_gray_quality_bytes_equal_pillow(quality):
    assert compress(GRAY, quality) == pillow_jpeg(GRAY, quality)


@pytest.mark.parametrize("subsampling", PILLOW_LAYOUTS)
def test_progressive_bytes_equal_pillow(subsampling):
    data = compress(RGB, 60, subsampling=subsampling, progressive=True)
    assert data == pillow_jpeg(RGB, 60, subsampling, progressive=True)
    assert read_coefficients(data).progressive


@pytest.mark.parametrize("subsampling", SUBSAMPLINGS)
def test_every_subsampling_reads_back(subsampling):
    jc = read_coefficients(compress(RGB, 42, subsampling=subsampling))
    assert (jc.width, jc.height, jc.color_space, jc.progressive) == (53, 37, "ycbcr", False)
    assert jc.subsampling == subsampling
    assert jc.sampling == (LUMA_SAMPLING[subsampling], (1, 1), (1, 1))
    assert jc.table_indices == (0, 1, 1)
    assert torch.equal(jc.quantization[0], ijg_table(42))
    assert torch.equal(jc.quantization[1], ijg_table(42, chroma=True))


def test_gray_reads_back():
    jc = read_coefficients(compress(GRAY, 42))
    assert (jc.width, jc.height, jc.color_space, jc.subsampling) == (43, 29, "gray", "gray")
    assert torch.equal(jc.quantization[0], ijg_table(42))


def test_channels_are_rgb_not_bgr():
    image = np.zeros((16, 16, 3), dtype=np.uint8)
    image[..., 0] = 220  # red
    decoded = pillow_decode(compress(image, 95, subsampling="4:4:4")).astype(int)
    np.testing.assert_allclose(decoded[8, 8], [220, 0, 0], atol=3)


INPUTS = {
    "torch-chw": (torch.from_numpy(RGB.transpose(2, 0, 1).copy()), RGB),
    "torch-chw-noncontiguous": (torch.from_numpy(RGB).permute(2, 0, 1), RGB),
    "torch-1hw": (torch.from_numpy(GRAY)[None], GRAY),
    "torch-hw": (torch.from_numpy(GRAY), GRAY),
    "numpy-hw1": (GRAY[..., None], GRAY),
    "numpy-hwc-view": (np.flip(np.flip(RGB, 0), 0), RGB),
}


@pytest.mark.parametrize("image, same_as", INPUTS.values(), ids=INPUTS.keys())
def test_input_layouts_give_same_bytes(image, same_as):
    assert compress(image, 70) == compress(same_as, 70)


T = [_random_table(seed) for seed in range(7)]
EXPLICIT = {  # subsampling, tables as passed, (luma, chroma) expected in the file
    "444-tuple-of-tensors": ("4:4:4", (T[0], T[1]), (T[0], T[1])),
    "422-list-of-array-and-list": ("4:2:2", [T[2].numpy(), T[3].tolist()], (T[2], T[3])),
    "420-stacked-tensor": ("4:2:0", torch.stack([T[4], T[5]]), (T[4], T[5])),
    "420-one-table-for-all": ("4:2:0", T[6], (T[6], T[6])),
    "444-one-table-as-rows": ("4:4:4", T[6].tolist(), (T[6], T[6])),
}


@pytest.mark.parametrize("subsampling, tables, expected", EXPLICIT.values(), ids=EXPLICIT.keys())
@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
def test_explicit_tables_round_trip(subsampling, tables, expected, progressive):
    jc = read_coefficients(compress(RGB, quantization=tables, subsampling=subsampling, progressive=progressive))
    assert (jc.subsampling, jc.progressive) == (subsampling, progressive)
    luma, chroma = expected
    assert torch.equal(jc.quantization[0], luma)
    assert torch.equal(jc.quantization[1], chroma)
    assert torch.equal(jc.quantization[2], chroma)


def test_explicit_gray_table_round_trips():
    table = _random_table(8)
    jc = read_coefficients(compress(GRAY, quantization=[table]))
    assert jc.subsampling == "gray"
    assert torch.equal(jc.quantization[0], table)


@pytest.mark.parametrize("subsampling", PILLOW_LAYOUTS)
def test_ijg_tables_given_explicitly_give_quality_bytes(subsampling):
    tables = (ijg_table(33), ijg_table(33, chroma=True))
    assert compress(RGB, quantization=tables, subsampling=subsampling) == compress(RGB, 33, subsampling=subsampling)


BAD = {
    "neither": (dict(image=RGB), ValueError, r"exactly one of quality .* got quality=None and quantization=None"),
    "both": (dict(image=RGB, quality=50, quantization=ijg_table(50)), ValueError, r"exactly one of quality"),
    "quality-0": (dict(image=RGB, quality=0), ValueError, r"quality must be an int in 1\.\.100, got 0"),
    "quality-101": (dict(image=RGB, quality=101), ValueError, r"quality must be an int in 1\.\.100, got 101"),
    "quality-float": (dict(image=RGB, quality=75.0), ValueError, r"quality must be an int in 1\.\.100, got 75\.0"),
    "float-image": (dict(image=RGB.astype(np.float32), quality=50), TypeError, r"uint8 \(values 0\.\.255\), got float32"),
    "torch-hwc": (dict(image=torch.from_numpy(RGB), quality=50), ValueError, r"\(3, H, W\) RGB.*got shape \(37, 53, 3\)"),
    "numpy-chw": (dict(image=np.ascontiguousarray(RGB.transpose(2, 0, 1)), quality=50), ValueError, r"\(H, W, 3\) RGB.*got shape \(3, 37, 53\)"),
    "list-image": (dict(image=RGB.tolist(), quality=50), TypeError, r"torch.Tensor or numpy.ndarray, got list"),
    "empty": (dict(image=np.zeros((0, 8), np.uint8), quality=50), ValueError, r"1\.\.65500 .* got 0x8"),
    "subsampling": (dict(image=RGB, quality=50, subsampling="4:2:1"), ValueError, r"subsampling must be one of .* got '4:2:1'"),
    "tables-411": (dict(image=RGB, quantization=ijg_table(50), subsampling="4:1:1"), ValueError, r"Pillow, which supports subsampling 4:4:4, 4:2:2, 4:2:0 only, got '4:1:1'"),
    "table-zero": (dict(image=RGB, quantization=ijg_table(50) - 16), ValueError, r"steps must be 1\.\.255 .* got values -\d+\.\.\d+"),
    "table-256": (dict(image=RGB, quantization=ijg_table(50) * 3), ValueError, r"steps must be 1\.\.255 .* got values 30\.\.363"),
    "table-fraction": (dict(image=RGB, quantization=ijg_table(50) / 3), ValueError, r"must hold integers, got non-integer float32"),
    "table-shape": (dict(image=RGB, quantization=torch.ones(3, 8, 8)), ValueError, r"sequence of 1 or 2 \(8, 8\) tables.*got shape \(3, 8, 8\)"),
    "table-ragged": (dict(image=RGB, quantization=[ijg_table(50), torch.ones(4, 4)]), ValueError, r"sequence of 1 or 2 \(8, 8\) tables"),
    "gray-two-tables": (dict(image=GRAY, quantization=[ijg_table(50), ijg_table(50)]), ValueError, r"gray image takes one quantization table, got 2"),
    "progressive-str": (dict(image=RGB, quality=50, progressive="yes"), TypeError, r"progressive must be a bool, got str"),
}


@pytest.mark.parametrize("kwargs, error, message", BAD.values(), ids=BAD.keys())
def test_bad_arguments_raise(kwargs, error, message):
    with pytest.raises(error, match=message):
        compress(**kwargs)


def test_missing_turbojpeg_library_names_the_package(monkeypatch):
    import turbojpeg

    def missing(*args, **kwargs):
        raise RuntimeError("Unable to locate turbojpeg library automatically.")

    monkeypatch.setattr(turbojpeg, "TurboJPEG", missing)
    compression_module.turbojpeg_library.cache_clear()
    try:
        with pytest.raises(RuntimeError, match=r"libturbojpeg0.*Unable to locate"):
            compress(RGB, 50)
    finally:
        compression_module.turbojpeg_library.cache_clear()  # the next caller loads the real library
