"""qgac_fast.codec against independent oracles: jpeglib.read_dct (libjpeg 9 via ctypes) for the
coefficients, Pillow for the quantization tables and for pixel-exact decodes of rewritten files,
and Pillow / PyTurboJPEG as the encoders of every test file."""

from __future__ import annotations

import io
import os
import pathlib

import jpeglib
import numpy as np
import pytest
import torch
from PIL import Image

from images import SUBSAMPLINGS, pillow_decode, pillow_jpeg, sample_image, synthetic_image, turbo_jpeg
from qgac_fast.codec import JPEGCoefficients, JPEGError, read_coefficients, read_coefficients_many, write_coefficients

QUALITIES = (1, 5, 10, 50, 75, 90, 95, 100)
LAYOUTS = SUBSAMPLINGS + ("gray",)
LUMA_SAMPLING = {"4:4:4": (1, 1), "4:2:2": (2, 1), "4:2:0": (2, 2), "4:4:0": (1, 2), "4:1:1": (4, 1)}


def encode(layout: str, quality: int = 75, size=(45, 61), progressive: bool = False, seed: int = 0) -> bytes:
    """A TurboJPEG file of a synthetic image; ``layout`` is a subsampling or ``"gray"``."""
    if layout == "gray":
        return turbo_jpeg(synthetic_image(*size, channels=1, seed=seed)[..., 0], quality, progressive=progressive)
    return turbo_jpeg(synthetic_image(*size, seed=seed), quality, layout, progressive=progressive)


def expected_sampling(layout: str):
    return ((1, 1),) if layout == "gray" else (LUMA_SAMPLING[layout], (1, 1), (1, 1))


def padded_grid(height: int, width: int, sampling, index: int):
    """The padded block grid libjpeg keeps, derived here from the JPEG spec arithmetic."""
    max_h = max(h for h, _ in sampling)
    max_v = max(v for _, v in sampling)
    h, v = sampling[index]
    blocks_w = -(-width * h // (max_h * 8))
    blocks_h = -(-height * v // (max_v * 8))
    return -(-blocks_h // v) * v, -(-blocks_w // h) * h


def jpeglib_reference(data: bytes, tmp_path: pathlib.Path, version: str = "6b"):
    """(per-component coefficient arrays, qt, quant_tbl_no) from jpeglib, which reads files only."""
    path = tmp_path / "reference.jpg"
    path.write_bytes(data)
    with jpeglib.version(version):  # jpeglib loads lazily: touch everything inside the block
        dct = jpeglib.read_dct(str(path))
        planes = [dct.Y] if dct.Cb is None else [dct.Y, dct.Cb, dct.Cr]
        return planes, dct.qt, list(dct.quant_tbl_no)


def assert_same_coefficients(a: JPEGCoefficients, b: JPEGCoefficients) -> None:
    assert (a.width, a.height, a.color_space) == (b.width, b.height, b.color_space)
    assert a.sampling == b.sampling and a.table_indices == b.table_indices
    for ci, (x, y) in enumerate(zip(a.coefficients, b.coefficients)):
        assert x.shape == y.shape, f"component {ci}: {tuple(x.shape)} vs {tuple(y.shape)}"
        mismatch = (x != y).nonzero()
        assert mismatch.numel() == 0, f"component {ci}: {len(mismatch)} coefficients differ, first at {mismatch[0].tolist()}"
    for ci, (x, y) in enumerate(zip(a.quantization, b.quantization)):
        assert torch.equal(x, y), f"component {ci}: quantization tables differ"


def unpadded(jc: JPEGCoefficients, ci: int) -> torch.Tensor:
    """Component ``ci`` without the MCU padding blocks (height_in_blocks x width_in_blocks)."""
    max_h = max(h for h, _ in jc.sampling)
    max_v = max(v for _, v in jc.sampling)
    h, v = jc.sampling[ci]
    return jc.coefficients[ci][: -(-jc.height * v // (max_v * 8)), : -(-jc.width * h // (max_h * 8))]


# --- reading: layout, tables and coefficients against the oracles ------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("quality", QUALITIES, ids=lambda q: f"q{q}")
def test_read_matches_jpeglib_and_pillow(layout, quality, tmp_path):
    data = encode(layout, quality)
    jc = read_coefficients(data)
    n = 1 if layout == "gray" else 3
    assert (jc.width, jc.height, jc.num_components) == (61, 45, n)
    assert jc.color_space == ("gray" if layout == "gray" else "ycbcr")
    assert jc.subsampling == layout and not jc.progressive
    assert jc.sampling == expected_sampling(layout)
    assert jc.table_indices == ((0,) if n == 1 else (0, 1, 1))
    for ci, coefficients in enumerate(jc.coefficients):
        assert coefficients.dtype == torch.int16 and coefficients.is_contiguous()
        assert coefficients.shape == (*padded_grid(45, 61, jc.sampling, ci), 8, 8)
        assert jc.quantization[ci].dtype == torch.int32 and jc.quantization[ci].shape == (8, 8)

    pillow_tables = Image.open(io.BytesIO(data)).quantization  # natural order, keyed by slot
    planes, qt, slots = jpeglib_reference(data, tmp_path)
    for ci in range(n):
        slot = jc.table_indices[ci]
        assert jc.quantization[ci].flatten().tolist() == list(pillow_tables[slot])
        assert np.array_equal(jc.quantization[ci].numpy(), qt[slots[ci]])
        expected = planes[ci]  # jpeglib returns the unpadded grid, same block layout as ours
        assert np.array_equal(unpadded(jc, ci).numpy(), expected)


def test_block_rows_are_vertical_frequencies():
    image = np.zeros((16, 16), np.uint8)
    image[::2] = 255  # horizontal stripes: energy at the highest vertical frequency only
    block = read_coefficients(pillow_jpeg(image, 95)).coefficients[0][0, 0]
    assert block[7, 0] != 0 and block[0, 7] == 0 and block[:, 1:].abs().sum() == 0


def test_chroma_shares_one_table_tensor():
    jc = read_coefficients(encode("4:2:0"))
    assert jc.quantization[1] is jc.quantization[2]
    assert jc.quantization[0] is not jc.quantization[1]


def test_rgb_coded_jpeg_keeps_its_color_space():
    data = pillow_jpeg(synthetic_image(20, 28), 80, "4:4:4", keep_rgb=True)
    jc = read_coefficients(data)
    assert jc.color_space == "rgb" and jc.subsampling == "4:4:4"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_progressive_equals_baseline(layout):
    baseline = read_coefficients(encode(layout, 85))
    progressive = read_coefficients(encode(layout, 85, progressive=True))
    assert progressive.progressive and not baseline.progressive
    # Progressive AC scans are non-interleaved and skip the MCU padding blocks, so only the image
    # blocks must agree.
    for ci in range(baseline.num_components):
        assert torch.equal(unpadded(progressive, ci), unpadded(baseline, ci)), f"component {ci}"
    assert all(torch.equal(a, b) for a, b in zip(progressive.quantization, baseline.quantization))


@pytest.mark.parametrize("subsampling", ["4:4:4", "4:2:0"])
def test_pillow_progressive_equals_baseline(subsampling):
    image = sample_image(size=(100, 140))
    baseline = read_coefficients(pillow_jpeg(image, 80, subsampling))
    progressive = read_coefficients(pillow_jpeg(image, 80, subsampling, progressive=True))
    assert progressive.progressive
    for ci in range(3):
        assert torch.equal(unpadded(progressive, ci), unpadded(baseline, ci)), f"component {ci}"


@pytest.mark.parametrize("options", [{"restart_marker_blocks": 1}, {"restart_marker_blocks": 5},
                                     {"restart_marker_rows": 1}, {"restart_marker_rows": 3}],
                         ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("subsampling", ["4:4:4", "4:2:0"])
def test_restart_markers_do_not_change_coefficients(options, subsampling):
    image = sample_image(size=(90, 130))
    plain = read_coefficients(pillow_jpeg(image, 75, subsampling))
    with_restarts = pillow_jpeg(image, 75, subsampling, **options)
    assert b"\xff\xdd" in with_restarts  # a DRI marker really is there
    assert_same_coefficients(read_coefficients(with_restarts), plain)


@pytest.mark.parametrize("progressive", [False, True], ids=["sequential", "progressive"])
def test_arithmetic_coded_file(progressive, tmp_path):
    # jpeglib's bundled libjpeg-turbo 2.1 writes arithmetic-coded files (SOF9 / SOF10).
    path = tmp_path / "arith.jpg"
    flags = ["+ARITH_CODE"] + (["+PROGRESSIVE_MODE"] if progressive else [])
    with jpeglib.version("turbo210"):
        jpeglib.from_spatial(synthetic_image(40, 56)).write_spatial(str(path), qt=75, flags=flags)
    data = path.read_bytes()
    assert (b"\xff\xca" if progressive else b"\xff\xc9") in data
    jc = read_coefficients(data)
    assert jc.progressive == progressive
    planes, _, _ = jpeglib_reference(data, tmp_path, "turbo210")
    for ci, plane in enumerate(planes):
        assert np.array_equal(unpadded(jc, ci).numpy(), plane)
    assert_same_coefficients(read_coefficients(write_coefficients(jc)), jc)


@pytest.mark.parametrize("size", [(1, 1), (7, 9), (17, 33), (1, 64), (64, 1), (8, 8), (16, 16)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("layout", LAYOUTS)
def test_odd_sizes(size, layout, tmp_path):
    data = encode(layout, 90, size=size)
    jc = read_coefficients(data)
    assert (jc.height, jc.width) == size
    planes, _, _ = jpeglib_reference(data, tmp_path)
    for ci, plane in enumerate(planes):
        assert jc.coefficients[ci].shape == (*padded_grid(*size, jc.sampling, ci), 8, 8)
        assert np.array_equal(unpadded(jc, ci).numpy(), plane)


# --- sources -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["str", "pathlib", "bytearray", "memoryview", "numpy"])
def test_every_source_kind_reads_the_same(kind, tmp_path):
    data = encode("4:2:0", 80)
    path = tmp_path / "image.jpg"
    path.write_bytes(data)
    src = {"str": str(path), "pathlib": path, "bytearray": bytearray(data), "memoryview": memoryview(data),
           "numpy": np.frombuffer(data, np.uint8)}[kind]
    assert_same_coefficients(read_coefficients(src), read_coefficients(data))


def test_memoryview_slice_reads_the_embedded_file():
    data = encode("4:4:4")
    wrapped = b"junk" + data + b"tail"
    assert_same_coefficients(read_coefficients(memoryview(wrapped)[4:-4]), read_coefficients(data))


def test_non_contiguous_buffer_is_refused():
    strided = memoryview(bytearray(encode("gray") * 2))[::2]
    with pytest.raises(TypeError, match="non-contiguous buffer"):
        read_coefficients(strided)


@pytest.mark.parametrize("max_pixels", [0, -1, 1.5, True], ids=repr)
def test_bad_max_pixels_is_refused(max_pixels):
    with pytest.raises(ValueError, match="max_pixels must be a positive int or None"):
        read_coefficients(encode("gray"), max_pixels=max_pixels)


def test_max_pixels_boundary():
    data = encode("gray", size=(10, 20))
    assert read_coefficients(data, max_pixels=200).width == 20
    assert read_coefficients(data, max_pixels=None).width == 20
    with pytest.raises(JPEGError, match="200 pixels exceeds the pixel limit of 199"):
        read_coefficients(data, max_pixels=199)


def test_tensors_are_writable_and_own_their_memory():
    jc = read_coefficients(encode("4:2:0"))
    first = jc.coefficients[0]
    first[0, 0, 0, 0] = 123  # a private buffer, not the caller's bytes
    assert first[0, 0, 0, 0] == 123
    del jc
    assert first.sum() != 0  # the capsule keeps the buffer alive after the dataclass is gone


# --- writing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("optimize", [False, True], ids=["standard-huffman", "optimized-huffman"])
@pytest.mark.parametrize("progressive", [False, True], ids=["baseline-in", "progressive-in"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_write_round_trip(layout, progressive, optimize):
    original = encode(layout, 70, size=(37, 53), progressive=progressive)
    first = read_coefficients(original)
    written = write_coefficients(first, optimize=optimize)
    second = read_coefficients(written)
    assert not second.progressive
    assert_same_coefficients(second, first)
    # Same coefficients and tables must decode to the same pixels in an independent decoder.
    assert np.array_equal(pillow_decode(written), pillow_decode(original))


@pytest.mark.parametrize("quality", [1, 100], ids=["q1", "q100"])
def test_write_round_trip_extreme_qualities(quality):
    first = read_coefficients(encode("4:2:0", quality))
    assert_same_coefficients(read_coefficients(write_coefficients(first)), first)


def test_write_round_trip_rgb():
    original = pillow_jpeg(synthetic_image(30, 42), 85, "4:4:4", keep_rgb=True)
    first = read_coefficients(original)
    written = write_coefficients(first)
    assert_same_coefficients(read_coefficients(written), first)
    assert np.array_equal(pillow_decode(written), pillow_decode(original))


def test_optimize_makes_smaller_files():
    jc = read_coefficients(pillow_jpeg(sample_image(size=(128, 128)), 90))
    assert len(write_coefficients(jc, optimize=True)) < len(write_coefficients(jc))


def test_write_tables_above_255_round_trip():
    jc = read_coefficients(encode("4:4:4"))
    big = torch.full((8, 8), 1000, dtype=torch.int32)
    edited = JPEGCoefficients(jc.width, jc.height, jc.color_space, jc.progressive, jc.coefficients,
                              (big, big, big), (0, 0, 0), jc.sampling)
    again = read_coefficients(write_coefficients(edited))
    assert all(torch.equal(q, big) for q in again.quantization)


def test_write_accepts_edited_coefficients():
    jc = read_coefficients(encode("4:2:0"))
    zeroed = tuple(torch.zeros_like(c) for c in jc.coefficients)
    edited = JPEGCoefficients(jc.width, jc.height, jc.color_space, False, zeroed, jc.quantization,
                              jc.table_indices, jc.sampling)
    again = read_coefficients(write_coefficients(edited))
    assert all(int(c.abs().sum()) == 0 for c in again.coefficients)


def replace(jc: JPEGCoefficients, **changes) -> JPEGCoefficients:
    fields = dict(width=jc.width, height=jc.height, color_space=jc.color_space, progressive=jc.progressive,
                  coefficients=jc.coefficients, quantization=jc.quantization, table_indices=jc.table_indices,
                  sampling=jc.sampling)
    fields.update(changes)
    return JPEGCoefficients(**fields)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda jc: dict(coefficients=(jc.coefficients[0][:-1],) + jc.coefficients[1:]),
         r"component 0: coefficient array has 5x8 blocks, but a 37x53 image .* needs 6x8 blocks"),
        (lambda jc: dict(coefficients=(jc.coefficients[0].float(),) + jc.coefficients[1:]),
         r"coefficients\[0\] must be int16 of shape \(blocks_h, blocks_w, 8, 8\), got torch.float32"),
        (lambda jc: dict(coefficients=(jc.coefficients[0].reshape(-1, 64),) + jc.coefficients[1:]),
         r"coefficients\[0\] must be int16"),
        (lambda jc: dict(quantization=(jc.quantization[0] * 0,) + jc.quantization[1:]),
         r"quantization\[0\] values must lie in 1..65535, got 0..0"),
        (lambda jc: dict(quantization=(jc.quantization[0].double(),) + jc.quantization[1:]),
         r"quantization\[0\] must be an integer \(8, 8\) table"),
        (lambda jc: dict(quantization=jc.quantization[:2] + (jc.quantization[1] + 1,)),
         r"components 1 and 2 share table slot 1 but have different quantization tables"),
        (lambda jc: dict(table_indices=(0, 1, 4)), r"component 2: table slot 4 outside 0..3"),
        (lambda jc: dict(sampling=((5, 1), (1, 1), (1, 1))), r"component 0: sampling factors \(5, 1\) outside 1..4"),
        (lambda jc: dict(sampling=((4, 2), (2, 1), (1, 1))), r"sampling factors give 11 blocks per MCU; JPEG allows at most 10"),
        (lambda jc: dict(color_space="cmyk"), r"color_space must be 'gray', 'ycbcr' or 'rgb', got 'cmyk'"),
        (lambda jc: dict(color_space="gray"), r"colour space needs 1 components, got 3"),
        (lambda jc: dict(width=0), r"image size 0x37 outside 1..65500"),
        (lambda jc: dict(sampling=jc.sampling[:2]), r"need one entry per component"),
    ],
    ids=["short-grid", "float-coefficients", "flat-coefficients", "zero-table", "float-table", "slot-conflict",
         "bad-slot", "bad-sampling", "mcu-too-big", "bad-colour-space", "component-count", "zero-width",
         "missing-sampling"],
)
def test_write_rejects_inconsistent_input(change, message):
    jc = read_coefficients(encode("4:2:0", size=(37, 53)))
    with pytest.raises(ValueError, match=message):
        write_coefficients(replace(jc, **change(jc)))


@pytest.mark.parametrize("position, value", [((0, 1), 1024), ((7, 7), -1024), ((0, 0), 1024), ((0, 0), -1025)],
                         ids=["ac-1024", "ac-minus-1024", "dc-1024", "dc-minus-1025"])
@pytest.mark.parametrize("optimize", [False, True], ids=["standard-huffman", "optimized-huffman"])
def test_write_rejects_uncodable_coefficient(position, value, optimize):
    jc = read_coefficients(encode("gray"))
    coefficients = jc.coefficients[0].clone()
    coefficients[2, 3][position] = value
    with pytest.raises(ValueError, match=rf"component 0: coefficient {value} in block \(2, 3\) at \({position[0]}, "
                                         rf"{position[1]}\) is outside what 8-bit JPEG can code"):
        write_coefficients(replace(jc, coefficients=(coefficients,)), optimize=optimize)


def test_write_accepts_extreme_codable_coefficients():
    jc = read_coefficients(encode("gray"))
    coefficients = torch.zeros_like(jc.coefficients[0])
    coefficients[:, :, 0, 0] = torch.tensor([-1024, 1023], dtype=torch.int16).repeat(coefficients[..., 0, 0].numel() // 2 + 1)[: coefficients[..., 0, 0].numel()].reshape(coefficients.shape[:2])
    coefficients[:, :, 1:, :] = 1023
    coefficients[:, :, 0, 1:] = -1023
    edited = replace(jc, coefficients=(coefficients,))
    assert_same_coefficients(read_coefficients(write_coefficients(edited)), edited)


def test_write_rejects_other_types():
    with pytest.raises(TypeError, match="needs a JPEGCoefficients, got bytes"):
        write_coefficients(b"not coefficients")


def test_write_to_path_is_atomic_and_returns_bytes(tmp_path):
    jc = read_coefficients(encode("4:2:0"))
    target = tmp_path / "out.jpg"
    target.write_bytes(b"old contents")
    data = write_coefficients(jc, target)
    assert target.read_bytes() == data
    assert os.listdir(tmp_path) == ["out.jpg"]  # no temporary file left behind
    assert_same_coefficients(read_coefficients(str(target)), jc)


def test_failed_write_leaves_destination_untouched(tmp_path, monkeypatch):
    jc = read_coefficients(encode("gray"))
    target = tmp_path / "out.jpg"
    target.write_bytes(b"old contents")

    def failing_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk on fire"):
        write_coefficients(jc, target)
    assert target.read_bytes() == b"old contents"
    assert os.listdir(tmp_path) == ["out.jpg"]


def test_write_into_missing_folder_fails_cleanly(tmp_path):
    jc = read_coefficients(encode("gray"))
    with pytest.raises(FileNotFoundError):
        write_coefficients(jc, tmp_path / "missing" / "out.jpg")
    assert os.listdir(tmp_path) == []


# --- batches -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def batch():
    """Files of different sizes so that the order of results is visible."""
    return [encode(LAYOUTS[i % len(LAYOUTS)], 60 + i, size=(24 + 8 * i, 40 + i), seed=i) for i in range(12)]


@pytest.mark.parametrize("workers", [None, 1, 2, 5], ids=lambda w: f"workers={w}")
def test_many_keeps_order_and_matches_single_reads(batch, workers):
    results = read_coefficients_many(batch, workers=workers)
    assert [r.width for r in results] == [40 + i for i in range(12)]
    for result, data in zip(results, batch):
        assert_same_coefficients(result, read_coefficients(data))


def test_many_mixes_paths_and_bytes(batch, tmp_path):
    path = tmp_path / "first.jpg"
    path.write_bytes(batch[0])
    results = read_coefficients_many([path, batch[1], str(path)], workers=2)
    assert_same_coefficients(results[0], results[2])
    assert results[1].width == 41


def test_many_returns_exceptions_in_place(batch, tmp_path):
    srcs = [batch[0], b"not a jpeg", batch[1], tmp_path / "missing.jpg"]
    results = read_coefficients_many(srcs, workers=2, return_exceptions=True)
    assert isinstance(results[0], JPEGCoefficients) and isinstance(results[2], JPEGCoefficients)
    assert isinstance(results[1], JPEGError) and "Not a JPEG file" in str(results[1])
    assert isinstance(results[3], FileNotFoundError)


def test_many_raises_the_first_failure(batch):
    with pytest.raises(JPEGError, match="Not a JPEG file"):
        read_coefficients_many([batch[0], b"not a jpeg", batch[1]], workers=2)


def test_many_empty_and_bad_workers():
    assert read_coefficients_many([]) == []
    with pytest.raises(ValueError, match="workers must be a positive int"):
        read_coefficients_many([b""], workers=0)


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_decode_pixels_is_libjpegs_decode_of_the_file(layout, progressive):
    """decode_pixels (transcode + libjpeg's decompressor in one call) gives Pillow's pixels, planar;
    nearest upsampling gives TurboJPEG's fast upsampling."""
    from qgac_fast.codec import decode_pixels

    data = encode(layout, 60, size=(37, 29), progressive=progressive, seed=3)
    jc = read_coefficients(data)
    got = decode_pixels(jc)
    assert got.dtype == torch.uint8 and got.is_contiguous()
    expected = pillow_decode(data)
    np.testing.assert_array_equal(got[0].numpy() if layout == "gray" else got.permute(1, 2, 0).numpy(), expected)
    if layout in ("4:2:0", "4:2:2"):
        turbojpeg = pytest.importorskip("turbojpeg")
        fast = turbojpeg.TurboJPEG().decode(data, pixel_format=turbojpeg.TJPF_RGB, flags=turbojpeg.TJFLAG_FASTUPSAMPLE)
        np.testing.assert_array_equal(decode_pixels(jc, upsampling="nearest").permute(1, 2, 0).numpy(), fast)


def test_decode_pixels_errors():
    from qgac_fast.codec import decode_pixels

    jc = read_coefficients(encode("4:2:0"))
    wrong = JPEGCoefficients(jc.width + 16, jc.height, jc.color_space, False, jc.coefficients, jc.quantization,
                             jc.table_indices, jc.sampling)
    with pytest.raises(ValueError, match="blocks"):
        decode_pixels(wrong)
    with pytest.raises(ValueError, match="uint8"):
        decode_pixels(jc, dtype=torch.float32)
