"""What a JPEG source is (``qgac_fast.sources.jpeg_source``): bytes, paths, binary files, BytesIO, PIL JPEG images not
yet loaded; decoded pixels are a ``TypeError`` that says what to pass instead when reading coefficients, and go the
blind way (``tests/test_blind.py``) in ``correct`` and the engine."""

from __future__ import annotations

import array
import io

import numpy as np
import pytest
import torch
from PIL import Image

from qgac_fast.codec import read_coefficients, read_coefficients_many
from qgac_fast.compression import compress
from qgac_fast.correct import correct
from qgac_fast.inference import Corrector
from qgac_fast.inference.results import display
from qgac_fast.model import QGAC, QGACConfig
from qgac_fast.sources import jpeg_source

from images import synthetic_image

TINY = QGACConfig(manifold=4, block_channels=8, tile_channels=4, frequency_channels=1, fusion_channels=2,
                  dense_blocks=1, dense_layers=1, color_channels=4, init_scale=1.0, output_init_scale=1.0)
PIXELS_HINT = "decoded pixels no longer carry; pass the JPEG's path, its bytes or the file opened in binary mode"


@pytest.fixture
def jpeg(tmp_path):
    pixels = synthetic_image(24, 40, seed=5)
    data = compress(pixels, 40, subsampling="4:2:2")
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    return pixels, data, path


def _same(a, b) -> bool:
    return (a.width, a.height, a.sampling) == (b.width, b.height, b.sampling) and all(
        torch.equal(x, y) for x, y in zip(a.coefficients + a.quantization, b.coefficients + b.quantization))


def test_every_kind_of_source_reads_the_same_coefficients(jpeg):
    _, data, path = jpeg
    expected = read_coefficients(path)
    moved = io.BytesIO(b"junk" + data)
    moved.seek(4)  # a file object is read from its position
    with open(path, "rb") as file:
        sources = [data, bytearray(data), memoryview(data), str(path), file, io.BytesIO(data), moved,
                   array.array("B", data), np.frombuffer(data, np.uint8),
                   torch.frombuffer(bytearray(data), dtype=torch.uint8), Image.open(path), Image.open(io.BytesIO(data))]
        for source in sources:
            assert _same(read_coefficients(source), expected), type(source).__name__


def test_a_pil_jpeg_is_read_from_its_file_and_still_loads(jpeg):
    _, data, path = jpeg
    image = Image.open(io.BytesIO(data))
    assert bytes(jpeg_source(image)) == data
    assert image.load() is not None and image.size == (40, 24)  # Pillow's own reading is left where it was
    with Image.open(path) as closed:
        pass
    assert jpeg_source(closed) == str(path)  # its file closed: the path it came from


@pytest.mark.parametrize("make, why", [
    (lambda p, d, path: p, "ndarray uint8 (24, 40, 3), which looks like decoded pixels"),
    (lambda p, d, path: torch.from_numpy(p).permute(2, 0, 1), "Tensor torch.uint8 (3, 24, 40), which looks like"),
    (lambda p, d, path: np.frombuffer(d, np.uint8).astype(np.float32), "ndarray float32"),
    (lambda p, d, path: Image.fromarray(p), "a PIL image of decoded or generated pixels"),
    (lambda p, d, path: Image.open(path).convert("RGB"), "a PIL image of decoded or generated pixels"),
    (lambda p, d, path: _loaded(path), "its pixels were already loaded, and may have been changed since"),
    (lambda p, d, path: _drafted(path), "draft() changed its size or mode"),
    (lambda p, d, path: _png(p), "a PIL image of a PNG file"),
    (lambda p, d, path: open(path), "opened in text mode"),
    (lambda p, d, path: 3.5, "cannot read a JPEG from an object of type float"),
], ids=["numpy", "tensor", "float-array", "pil-array", "pil-converted", "pil-loaded", "pil-draft", "pil-png",
        "text-file", "float"])
def test_what_is_not_a_jpeg_source_is_a_type_error_that_says_why(jpeg, make, why):
    pixels, data, path = jpeg
    source = make(pixels, data, path)
    with pytest.raises(TypeError, match=why.replace("(", r"\(").replace(")", r"\)")) as error:
        read_coefficients(source)
    if "text mode" not in why and "object of type" not in why:
        assert PIXELS_HINT in str(error.value)


def _loaded(path):
    image = Image.open(path)
    image.load()
    return image


def _drafted(path):
    image = Image.open(path)
    image.draft("RGB", (10, 6))
    return image


def _png(pixels):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return Image.open(io.BytesIO(buffer.getvalue()))


def test_a_spent_file_object_says_seek(jpeg):
    buffer = io.BytesIO()
    buffer.write(jpeg[1])
    with pytest.raises(ValueError, match=r"at its end \(position \d+\).*seek\(0\)"):
        read_coefficients(buffer)


def test_read_many_returns_the_type_error_of_a_bad_item(jpeg):
    pixels, data, path = jpeg
    results = read_coefficients_many([data, pixels, open(path, "rb")], workers=2, return_exceptions=True)
    assert isinstance(results[1], TypeError) and _same(results[0], results[2])
    with pytest.raises(TypeError, match="decoded pixels"):
        read_coefficients_many([data, pixels], workers=1)


def test_correct_and_the_engine_take_the_same_sources(jpeg):
    pixels, data, path = jpeg
    torch.manual_seed(0)
    corrector = Corrector(QGAC(TINY), workers=0)
    expected = correct(data, model=corrector.model)
    assert torch.equal(correct(Image.open(path), model=corrector.model), expected)
    with open(path, "rb") as file:
        results = list(corrector.correct_many([io.BytesIO(data), pixels, file, Image.open(path), "missing.jpg",
                                               pixels.astype(np.float32)]))
    assert [r.ok for r in results] == [True, True, True, True, False, False]  # a bad item is its own result
    assert torch.equal(results[0].image, expected) and torch.equal(results[3].image, expected)
    # decoded pixels go the blind way: these were never compressed, so they come back as they are
    assert torch.equal(results[1].image, torch.from_numpy(pixels).permute(2, 0, 1)) and not results[1].estimate.found
    assert isinstance(results[5].error, TypeError) and "must be uint8" in results[5].reason
    assert display(file) == display(Image.open(path)) == str(path) and display(io.BytesIO(data)) == "<BytesIO>"
    assert torch.equal(correct(pixels, model=corrector.model), results[1].image)


@pytest.mark.parametrize("make, why", [
    (lambda d: memoryview(d)[::2], "non-contiguous buffer"),
    (lambda d: torch.empty(len(d), dtype=torch.uint8, device="meta"), "layout torch.strided on meta"),
    (lambda d: torch.frombuffer(bytearray(d), dtype=torch.uint8).to_sparse(), "layout torch.sparse_coo on cpu"),
    (lambda d: torch.empty(3, 24, 40, dtype=torch.uint8, device="meta"), "a meta tensor holds no pixels"),
    (lambda d: torch.zeros(3, 24, 40, dtype=torch.uint8).to_sparse(), "got layout torch.sparse_coo"),
], ids=["strided-memoryview", "meta-bytes", "sparse-bytes", "meta-pixels", "sparse-pixels"])
def test_buffers_and_tensors_without_readable_data_are_type_errors(jpeg, make, why):
    """Each is a TypeError that says why, from correct and the engine alike (not BufferError,
    NotImplementedError or RuntimeError from deep inside)."""
    source = make(jpeg[1])
    with pytest.raises(TypeError, match=why):
        correct(source, model=QGAC(TINY))
    (result,) = Corrector(QGAC(TINY), workers=0).correct_many([source])
    assert isinstance(result.error, TypeError) and why in str(result.error)
    if source.ndim == 1:  # the file's bytes: read_coefficients says the same
        with pytest.raises(TypeError, match=why):
            read_coefficients(source)


MOVED_TO_SOURCES = ("MAX_BYTES_PER_PIXEL", "METADATA_BYTES", "Source", "check_pixel_limits", "input_byte_limit",
                    "jpeg_source", "read_input", "read_source")


@pytest.mark.parametrize("name", MOVED_TO_SOURCES)
def test_names_moved_from_the_codec_still_work_and_warn(name):
    """Until the next release, the codec serves what moved to qgac_fast.sources, with a warning."""
    import qgac_fast.codec as codec
    import qgac_fast.sources as sources

    with pytest.warns(DeprecationWarning, match=rf"^qgac_fast\.codec\.{name} is deprecated .*; "
                                                rf"use qgac_fast\.sources\.{name}$"):
        assert getattr(codec, name) is getattr(sources, name)
    with pytest.warns(DeprecationWarning):
        exec(f"from qgac_fast.codec import {name}", {})
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        codec.no_such_name  # noqa: B018
