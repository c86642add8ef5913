"""EXIF and ICC metadata: read with the coefficients, kept by transcodes and outputs, Orientation applied."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from qgac_fast import metadata
from qgac_fast.codec import read_coefficients, write_coefficients
from qgac_fast.inference.encoding import encode_image

from images import (MAKE, ORIENTATION, big_profile, exif_block, parsed, pillow_jpeg, srgb_profile, synthetic_image,
                    tagged_jpeg)


@pytest.mark.parametrize("icc", [srgb_profile(), big_profile()], ids=["srgb", "four-chunks"])
def test_read_exposes_exif_and_icc(icc):
    jc = read_coefficients(tagged_jpeg(6, icc))
    assert jc.icc_profile == icc
    assert metadata.orientation(jc.exif) == 6
    assert parsed(jc.exif)[MAKE] == "TestCam"
    codes = [code for code, _ in jc.markers]
    assert codes == [metadata.APP1] + [metadata.APP2] * -(-len(icc) // 65519)


def test_no_metadata_is_none():
    jc = read_coefficients(pillow_jpeg(synthetic_image(16, 16)))
    assert jc.markers == () and jc.exif is None and jc.icc_profile is None


def test_inconsistent_icc_chunks_give_none():
    markers = metadata.metadata_markers(None, big_profile())
    assert metadata.icc_from_markers(markers[:-1]) is None  # a chunk missing
    assert metadata.icc_from_markers(markers + markers[:1]) is None  # a chunk twice
    assert metadata.icc_from_markers(markers[::-1]) == big_profile()  # order of the markers does not matter


def test_corpus_icc_file(corpus):
    # tools/jpeg_corpus.py embeds 70,000 random bytes with cjpeg -icc: two APP2 chunks
    path = next(p for p in corpus if p.stem == "icc")
    expected = np.random.default_rng(1).integers(0, 256, 70_000, dtype=np.uint8).tobytes()
    assert read_coefficients(path).icc_profile == expected


def test_transcode_keeps_metadata():
    icc = big_profile()
    data = tagged_jpeg(6, icc)
    jc = read_coefficients(data)
    out = write_coefficients(jc)
    with Image.open(io.BytesIO(out)) as image:
        assert image.info["icc_profile"] == icc
        assert image.getexif()[ORIENTATION] == 6 and image.getexif()[MAKE] == "TestCam"
    again = read_coefficients(out)
    assert again.markers == jc.markers
    assert all(torch.equal(a, b) for a, b in zip(again.coefficients, jc.coefficients))


def test_transcode_drops_mpf_and_refuses_bad_markers():
    jc = read_coefficients(tagged_jpeg(1))
    mpf = (metadata.APP2, b"MPF\x00" + bytes(20))
    with_mpf = dataclasses.replace(jc, markers=jc.markers + (mpf,))
    assert read_coefficients(write_coefficients(with_mpf)).markers == jc.markers
    for bad in [(0xFE, b"comment"), (metadata.APP1, bytes(65534))]:
        with pytest.raises(ValueError, match="APP0..APP15"):
            write_coefficients(dataclasses.replace(jc, markers=(bad,)))


def test_insert_markers_after_jfif():
    jpeg = pillow_jpeg(synthetic_image(16, 16))
    assert jpeg[2:4] == b"\xff\xe0"
    out = metadata.insert_markers(jpeg, metadata.metadata_markers(exif_block(3), srgb_profile()))
    jfif_end = 4 + int.from_bytes(jpeg[4:6], "big")
    assert out[:jfif_end] == jpeg[:jfif_end] and out[jfif_end:jfif_end + 2] == b"\xff\xe1"
    jc = read_coefficients(out)
    assert jc.icc_profile == srgb_profile() and metadata.orientation(jc.exif) == 3
    with pytest.raises(ValueError, match="SOI"):
        metadata.insert_markers(b"\x89PNG", [])
    with pytest.raises(ValueError, match="255"):
        metadata.metadata_markers(None, bytes(65519 * 255 + 1))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_apply_orientation_matches_pillow(orientation):
    pixels = synthetic_image(12, 20)
    exif = exif_block(orientation)
    image = Image.fromarray(pixels)
    image.info["exif"] = metadata.EXIF_HEADER + exif
    expected = np.asarray(ImageOps.exif_transpose(image))
    turned, new_exif = metadata.apply_orientation(pixels, exif)
    assert np.array_equal(turned, expected)
    assert metadata.orientation(new_exif) == 1 and len(new_exif) == len(exif)
    assert parsed(new_exif)[ORIENTATION] == 1 and parsed(new_exif)[MAKE] == "TestCam"


def test_orientation_of_malformed_exif_is_1():
    for exif in (None, b"", b"II*\x00", b"MM\x00*\xff\xff\xff\xff", b"junk" * 10):
        assert metadata.orientation(exif) == 1
        assert metadata.apply_orientation(np.zeros((2, 3)), exif)[0].shape == (2, 3)


@pytest.mark.parametrize("format", ["png", "jpeg", "webp"])
def test_encode_image_carries_metadata(format):
    image = torch.from_numpy(synthetic_image(16, 24)).permute(2, 0, 1)
    icc = big_profile()
    data = encode_image(image, format, exif=exif_block(6), icc_profile=icc)
    with Image.open(io.BytesIO(data)) as out:
        assert out.info["icc_profile"] == icc
        assert out.getexif()[ORIENTATION] == 6 and out.getexif()[MAKE] == "TestCam"
        assert out.size == (24, 16)
    upright = encode_image(image, format, exif=exif_block(6), icc_profile=icc, apply_orientation=True)
    with Image.open(io.BytesIO(upright)) as out:
        assert out.getexif()[ORIENTATION] == 1 and out.size == (16, 24)


def _result(orientation: int = 6):
    """A CorrectionResult as the engine returns it for a tagged 40x56 4:2:2 JPEG."""
    from qgac_fast.inference import CorrectionResult

    image = torch.from_numpy(synthetic_image(40, 56)).permute(2, 0, 1).contiguous()
    return CorrectionResult(0, "photo.jpg", image=image, size=(40, 56), subsampling="4:2:2",
                            exif=exif_block(orientation), icc_profile=big_profile())


def test_pil_image_carries_exif_and_icc():
    picture = _result().pil()
    assert picture.info["icc_profile"] == big_profile()
    assert picture.getexif()[ORIENTATION] == 6 and picture.getexif()[MAKE] == "TestCam"
    assert ImageOps.exif_transpose(picture).size == (40, 56)  # turned upright: 56 high


@pytest.mark.parametrize("name, format", [("out.png", "PNG"), ("out.JPG", "JPEG"), ("out.jpeg", "JPEG"),
                                          ("out.webp", "WEBP")])
def test_save_writes_the_metadata_in_the_suffix_s_format(tmp_path, name, format):
    result = _result()
    result.save(tmp_path / name)
    with Image.open(tmp_path / name) as image:
        assert image.format == format and image.size == (56, 40)
        assert image.info["icc_profile"] == big_profile()
        assert image.getexif()[ORIENTATION] == 6 and image.getexif()[MAKE] == "TestCam"
    if format == "JPEG":  # the input's chroma subsampling is kept
        assert read_coefficients(tmp_path / name).subsampling == "4:2:2"
    assert [p.name for p in tmp_path.iterdir()] == [name]  # atomic: no temporary file left


def test_save_options_and_refusals(tmp_path):
    result = _result()
    result.save(tmp_path / "upright.png", apply_orientation=True)
    with Image.open(tmp_path / "upright.png") as image:
        assert image.size == (40, 56) and image.getexif()[ORIENTATION] == 1
    result.save(tmp_path / "photo.out", format="jpeg", jpeg_quality=50, subsampling="4:4:4")
    assert read_coefficients(tmp_path / "photo.out").subsampling == "4:4:4"
    with pytest.raises(ValueError, match="cannot tell the format of .*photo.tif"):
        result.save(tmp_path / "photo.tif")
    with pytest.raises(FileNotFoundError):
        result.save(tmp_path / "missing" / "photo.png")
    assert not (tmp_path / "photo.tif").exists()
    failed = dataclasses.replace(result, image=None, error=ValueError("bad input"))
    with pytest.raises(ValueError, match="bad input"):
        failed.save(tmp_path / "failed.png")
