"""The blind path (``qgac_fast.blind``): decoded images through ``correct``, the engine and ``qgac-fast correct``."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

import qgac_fast
from qgac_fast import correct
from qgac_fast.blind import decoded_pixels, prepare
from qgac_fast.codec import read_coefficients
from qgac_fast.compression import compress
from qgac_fast.cli.correct import main
from qgac_fast.estimate import image_tensor
from qgac_fast.inference import Corrector
from qgac_fast.metrics import psnr
from qgac_fast.model import QGAC, QGACConfig, save_model

from images import sample_image

TINY = QGACConfig(manifold=4, block_channels=8, tile_channels=4, frequency_channels=1, fusion_channels=2,
                  dense_blocks=1, dense_layers=1, color_channels=4, init_scale=1.0, output_init_scale=1.0)
PHOTO = sample_image("chelsea.png", (160, 208))


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return QGAC(TINY).eval()


def _jpeg_and_pixels(image=PHOTO, quality=30, subsampling="4:2:0"):
    data = compress(image, quality, subsampling=subsampling)
    return data, np.asarray(Image.open(io.BytesIO(data)).convert("RGB" if image.ndim == 3 else "L"))


def _png(pixels) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("subsampling", ["4:2:0", "4:4:4", "4:2:2", "4:4:0"])
def test_the_coefficients_of_a_decoded_jpeg_come_back(subsampling):
    data, pixels = _jpeg_and_pixels(subsampling=subsampling)
    jc = read_coefficients(data)
    blind = prepare(image_tensor(pixels)).coefficients
    assert blind.subsampling == subsampling and all(torch.equal(a, b) for a, b in zip(blind.quantization,
                                                                                      jc.quantization))
    for a, b in zip(jc.coefficients, blind.coefficients):
        assert (a == b).float().mean() > 0.99  # what differs: blocks clipped to 0 or 255 when decoded


def test_an_aligned_decoded_jpeg_is_corrected_like_the_jpeg(tiny):
    data, pixels = _jpeg_and_pixels()
    from_file = correct(data, model=tiny)
    blind = correct(pixels, model=tiny)
    assert blind.shape == from_file.shape and float(psnr(blind[None].float(), from_file[None].float())) > 45


def test_every_kind_of_decoded_image_gives_the_same_result(tiny, tmp_path):
    _, pixels = _jpeg_and_pixels()
    pixels = np.ascontiguousarray(pixels[5:, 3:])  # cropped after decoding
    path = tmp_path / "screenshot.png"
    path.write_bytes(_png(pixels))
    expected = correct(pixels, model=tiny)
    assert expected.shape == (3, *pixels.shape[:2])
    sources = [torch.from_numpy(pixels).permute(2, 0, 1), Image.fromarray(pixels), Image.open(path), str(path), path,
               path.read_bytes()]
    for source in sources:
        assert torch.equal(correct(source, model=tiny), expected), type(source).__name__
    results = list(Corrector(tiny, workers=0).correct_many([pixels, str(path)]))
    assert all(torch.equal(r.image, expected) for r in results)
    assert results[0].estimate.found and results[0].estimate.offset == (3, 5)


def test_a_cropped_image_is_corrected_in_place(tiny):
    """The output of a crop is the crop of the aligned image's output, away from the new edges."""
    _, pixels = _jpeg_and_pixels()
    aligned = correct(pixels, model=tiny)
    cropped = correct(np.ascontiguousarray(pixels[11:, 6:]), model=tiny)
    inner = (slice(None), slice(24, -8), slice(24, -8))
    assert float(psnr(cropped[inner][None].float(), aligned[:, 11:, 6:][inner][None].float())) > 40


def test_blocks_edited_after_decoding_come_back_unchanged(tiny):
    _, pixels = _jpeg_and_pixels()
    assert prepare(image_tensor(pixels)).keep is None  # a decoded JPEG as it is: every block corrected
    assert prepare(image_tensor(np.ascontiguousarray(pixels[5:, 11:]))).keep is None  # cropped: padded edges
    edited = pixels.copy()
    edited[37] = 128  # a grey line drawn after decoding, through one row of blocks
    blind = prepare(image_tensor(edited))
    rows = blind.keep.any(1).nonzero().flatten().tolist()
    assert rows == list(range(32, 40)) and blind.keep[36].float().mean() > 0.5
    out = correct(edited, model=tiny).permute(1, 2, 0).numpy()
    kept = blind.keep.numpy()
    assert np.array_equal(out[kept], edited[kept])  # the edited blocks as they were
    assert not np.array_equal(out[:32], edited[:32])  # the rest corrected


def test_never_compressed_images_come_back_unchanged(tiny):
    noise = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    results = list(Corrector(tiny, workers=0).correct_many([noise, PHOTO[::2, ::2].copy(), noise[:5, :6]]))
    for result, image in zip(results, (noise, PHOTO[::2, ::2], noise[:5, :6])):
        assert result.ok and not result.estimate.found and result.tiles == 0
        assert torch.equal(result.image, torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1))


def test_gray_and_equal_channel_images(tiny):
    _, gray = _jpeg_and_pixels(PHOTO[..., 0].copy(), 40)
    out = correct(gray, model=tiny)
    assert out.shape == (1, *gray.shape)
    rgb = correct(np.repeat(gray[..., None], 3, axis=2), model=tiny)
    assert rgb.shape == (3, *gray.shape) and torch.equal(rgb[0], out[0]) and torch.equal(rgb[2], out[0])


def test_the_default_model_gains_on_a_cropped_decoded_jpeg():
    original = sample_image("astronaut.png", (200, 200))
    _, pixels = _jpeg_and_pixels(original, 20)
    crop = (slice(3, None), slice(5, None))
    reference = torch.from_numpy(np.ascontiguousarray(original[crop])).permute(2, 0, 1)[None].float()
    before = float(psnr(torch.from_numpy(np.ascontiguousarray(pixels[crop])).permute(2, 0, 1)[None].float(),
                        reference))
    after = float(psnr(correct(np.ascontiguousarray(pixels[crop]), device="cpu")[None].float(), reference))
    assert after > before + 0.4


def test_decoded_pixels_tells_jpeg_sources_from_images(tmp_path):
    data, pixels = _jpeg_and_pixels()
    (tmp_path / "a.jpg").write_bytes(data)
    (tmp_path / "a.png").write_bytes(_png(pixels))
    (tmp_path / "junk.jpg").write_bytes(b"not an image")
    assert decoded_pixels(data) is None
    assert decoded_pixels(np.frombuffer(data, np.uint8)) is None  # a file's bytes as an array
    assert decoded_pixels(Image.open(tmp_path / "a.jpg")) is None  # a JPEG not yet loaded: its file is read
    assert decoded_pixels(b"not an image") is None  # libjpeg will say what it is not
    assert torch.equal(decoded_pixels((tmp_path / "a.png").read_bytes()).pixels,
                       torch.from_numpy(pixels).permute(2, 0, 1))
    for path in (tmp_path / "a.png", str(tmp_path / "a.png"), io.BytesIO((tmp_path / "a.png").read_bytes())):
        with pytest.raises(TypeError, match="read it once"):  # the caller reads it, once: read_source
            decoded_pixels(path)


def _bmp(pixels) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="BMP")
    return buffer.getvalue()


def test_an_image_file_pillow_cannot_decode_is_an_image_error(tiny, tmp_path, monkeypatch):
    # Pillow's own errors (OSError, DecompressionBombError...) came out of correct() raw, with
    # messages such as "could not create decoder object" that name neither the file nor its format
    assert issubclass(qgac_fast.ImageError, ValueError)
    _, pixels = _jpeg_and_pixels()
    png = _png(pixels)
    (tmp_path / "cut.png").write_bytes(png[: len(png) // 2])
    for src in (png[: len(png) // 2], tmp_path / "cut.png"):
        with pytest.raises(qgac_fast.ImageError, match="^cannot decode this PNG file: image file is truncated"):
            correct(src, model=tiny)
    bmp = bytearray(_bmp(pixels))
    bmp[28:30] = (7).to_bytes(2, "little")  # bits per pixel
    with pytest.raises(qgac_fast.ImageError, match=r"^cannot decode this image file: Unsupported BMP pixel depth \(7\)$"):
        correct(bytes(bmp), model=tiny)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow's bomb guard refuses above twice this
    with pytest.raises(qgac_fast.ImageError, match="^refusing a possible decompression bomb: Image size .* decompression bomb"):
        correct(png, model=tiny)


# --------------------------------------------------------------------------------------------
# command line


@pytest.fixture(scope="module")
def weights(tmp_path_factory, tiny):
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model(tiny, path, training={"hardware": "test"})
    return str(path)


def test_cli_takes_named_images_and_folder_images_only_with_blind(weights, tmp_path, capsys):
    data, pixels = _jpeg_and_pixels()
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(data)
    (photos / "b.png").write_bytes(_png(pixels))
    (photos / "noise.png").write_bytes(_png(np.random.default_rng(1).integers(0, 256, (32, 48, 3), dtype=np.uint8)))

    def run(*args):
        return main([*map(str, args), "--model", weights, "--device", "cpu", "--quiet"])

    assert run(photos, "-o", tmp_path / "plain") == 0
    assert sorted(p.name for p in (tmp_path / "plain").iterdir()) == ["a.png"]
    report = tmp_path / "blind.json"
    assert run(photos, "-o", tmp_path / "blind", "--blind", "--json", report) == 0
    assert sorted(p.name for p in (tmp_path / "blind").iterdir()) == ["a.png", "b.png", "noise.png"]
    assert "noise.png: no JPEG history found" in capsys.readouterr().err
    document = json.loads(report.read_text())
    files = {f["input"].rsplit("/", 1)[-1]: f for f in document["files"]}
    assert "estimate" not in files["a.jpg"]
    assert files["b.png"]["estimate"]["quality"] == 30 and files["b.png"]["estimate"]["subsampling"] == "4:2:0"
    assert not files["noise.png"]["estimate"]["found"]
    assert document["summary"]["corrected"] == 2 and document["summary"]["unchanged"] == 1
    unchanged = np.asarray(Image.open(tmp_path / "blind" / "noise.png"))
    assert np.array_equal(unchanged, np.asarray(Image.open(photos / "noise.png")))
    # a named PNG is taken without --blind
    assert run(photos / "b.png", "-o", tmp_path / "named") == 0
    assert (tmp_path / "named" / "b.png").exists()


def test_info_estimates_a_decoded_image(tmp_path, capsys):
    from qgac_fast.cli import main as qgac_main

    _, pixels = _jpeg_and_pixels(quality=40)
    (tmp_path / "shot.png").write_bytes(_png(np.ascontiguousarray(pixels[2:, 7:])))
    (tmp_path / "noise.png").write_bytes(_png(np.random.default_rng(4).integers(0, 256, (24, 24), dtype=np.uint8)))
    assert qgac_main(["info", str(tmp_path / "shot.png"), str(tmp_path / "noise.png")]) == 0
    out = capsys.readouterr().out
    assert (f"{tmp_path / 'shot.png'}: 201x158, not a JPEG file: decoded JPEG, IJG quality 40, 4:2:0, "
            "grid offset (6, 1)") in out
    assert f"{tmp_path / 'noise.png'}: 24x24, not a JPEG file: no JPEG history found" in out
    assert qgac_main(["info", "--json", str(tmp_path / "shot.png")]) == 0
    assert json.loads(capsys.readouterr().out)[0]["estimate"]["quality"] == 40


# --------------------------------------------------------------------------------------------
# decoded image files: limits from the header, metadata, alpha, deep samples


def _png_declaring(width, height, bit_depth=8, color_type=2, rows=b"") -> bytes:
    """A PNG whose header declares ``width`` x ``height`` and whose IDAT holds ``rows`` (raw
    scanlines, each with its filter byte): few bytes for a frame of any size."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def test_decoded_image_limits_are_checked_from_the_header_before_decoding(tiny, monkeypatch):
    import warnings

    from PIL import ImageFile

    huge = _png_declaring(12000, 12000, rows=bytes(1 + 3 * 12000) * 4)

    def decode(self):
        raise AssertionError("decoded before its limits were checked")

    monkeypatch.setattr(ImageFile.ImageFile, "load", decode)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        [limited] = Corrector(tiny, workers=0, max_pixels=1_000_000).correct_many([huge])
        [dense] = Corrector(tiny, workers=0).correct_many([huge])
        [lifted] = Corrector(tiny, workers=0, max_pixels=None).correct_many([_png_declaring(20000, 20000)])
    assert str(limited.error) == "image of 12000x12000 = 144000000 pixels exceeds the pixel limit of 1000000 (max_pixels)"
    assert str(dense.error) == (f"image of 12000x12000 = 144000000 pixels in {len(huge)} bytes exceeds the limit of "
                                "2048 pixels per byte of input (max_pixels_per_byte): a likely decompression bomb")
    # Pillow's own refusal, at twice PIL.Image.MAX_IMAGE_PIXELS, stays an error, with its cause named
    assert isinstance(lifted.error, ValueError) and str(lifted.error).endswith("(PIL.Image.MAX_IMAGE_PIXELS)")
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]  # nothing printed


def test_decoded_images_keep_their_metadata_and_turn_by_their_orientation(weights, tmp_path):
    from images import EXIF_HEADER, exif_block, srgb_profile

    _, pixels = _jpeg_and_pixels()
    noise = np.random.default_rng(2).integers(0, 256, (24, 40, 3), dtype=np.uint8)  # written unchanged
    icc = srgb_profile()
    folder = tmp_path / "in"
    (folder / "webp").mkdir(parents=True)
    (folder / "tiff").mkdir()  # a TIFF's Orientation is a tag of its own IFD
    for name, image in (("photo", pixels), ("noise", noise)):
        Image.fromarray(image).save(folder / f"{name}.png", exif=EXIF_HEADER + exif_block(6), icc_profile=icc)
        Image.fromarray(image).save(folder / "webp" / f"{name}.webp", lossless=True,
                                    exif=EXIF_HEADER + exif_block(6), icc_profile=icc)
        Image.fromarray(image).save(folder / "tiff" / f"{name}.tif", tiffinfo={0x0112: 6}, icc_profile=icc)
    common = ["--model", weights, "--device", "cpu", "--quiet", "--blind"]
    assert main([str(folder), "-o", str(tmp_path / "kept"), *common]) == 0
    assert main([str(folder), "-o", str(tmp_path / "upright"), "--apply-orientation", *common]) == 0
    for name in ("photo.png", "noise.png", "webp/photo.png", "webp/noise.png"):
        with Image.open(tmp_path / "kept" / name) as kept, Image.open(tmp_path / "upright" / name) as upright:
            assert kept.info["icc_profile"] == upright.info["icc_profile"] == icc
            assert kept.getexif()[0x0112] == 6 and upright.getexif()[0x0112] == 1
            assert kept.getexif()[0x010F] == upright.getexif()[0x010F] == "TestCam"
            assert np.array_equal(np.asarray(upright), np.rot90(np.asarray(kept), -1)), name
    for name, image in (("tiff/photo.png", pixels), ("tiff/noise.png", noise)):  # decoded upright by Pillow
        with Image.open(tmp_path / "kept" / name) as kept, Image.open(tmp_path / "upright" / name) as upright:
            assert kept.info["icc_profile"] == icc and kept.getexif().get(0x0112, 1) == 1
            assert kept.size == image.shape[:2] and np.array_equal(np.asarray(kept), np.asarray(upright))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "kept" / "tiff" / "noise.png")), np.rot90(noise, -1))


def test_alpha_is_carried_and_the_colour_corrected(weights, tmp_path, capsys):
    from qgac_fast.model import load_model

    _, rgb = _jpeg_and_pixels()
    _, gray = _jpeg_and_pixels(PHOTO[..., 0].copy(), 40)
    height, width = rgb.shape[:2]
    alpha = (np.arange(height * width).reshape(height, width) % 256).astype(np.uint8)
    noise = np.random.default_rng(3).integers(0, 256, (24, 40, 4), dtype=np.uint8)  # no history: unchanged
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(np.dstack([rgb, alpha])).save(folder / "rgba.png")
    Image.fromarray(np.dstack([gray, alpha])).save(folder / "la.png")
    Image.fromarray(noise).save(folder / "noise.png")
    Image.fromarray(np.dstack([rgb, np.full_like(alpha, 255)])).save(folder / "opaque.png")  # nothing to carry
    engine = Corrector(load_model(weights), device="cpu")
    common = ["--model", weights, "--device", "cpu", "--quiet", "--blind"]
    for format, suffix in (("png", ".png"), ("webp", ".webp")):
        assert main([str(folder), "-o", str(tmp_path / format), "--format", format, *common]) == 0
        out = tmp_path / format
        rgba = np.asarray(Image.open(out / f"rgba{suffix}"))
        assert rgba.shape == (height, width, 4) and np.array_equal(rgba[..., 3], alpha)
        assert np.array_equal(rgba[..., :3], engine.correct(rgb).permute(1, 2, 0).numpy())
        la = np.asarray(Image.open(out / f"la{suffix}").convert("LA"))
        assert np.array_equal(la[..., 1], alpha)
        assert np.array_equal(la[..., 0], engine.correct(gray)[0].numpy())
        assert np.array_equal(np.asarray(Image.open(out / f"noise{suffix}")), noise)
        assert Image.open(out / f"opaque{suffix}").mode == "RGB"
    capsys.readouterr()
    assert main([str(folder), "-o", str(tmp_path / "jpeg"), "--format", "jpeg", *common]) == 1
    err = capsys.readouterr().err
    for name in ("rgba", "la", "noise"):
        assert (f"{folder / name}.png: cannot encode jpeg: the image has transparency (an alpha channel), which JPEG "
                "cannot hold: write png or webp to keep it") in err
    assert sorted(p.name for p in (tmp_path / "jpeg").iterdir()) == ["opaque.jpg"]


def test_images_of_more_than_8_bits_per_sample_are_refused_alike(weights, tmp_path, capsys):
    for name, color_type, channels in (("rgb16", 2, 3), ("gray16", 0, 1)):
        samples = np.random.default_rng(channels).integers(0, 65536, (16, 16 * channels)).astype(">u2")
        rows = b"".join(b"\0" + row.tobytes() for row in samples)  # filter 0, big-endian samples
        (tmp_path / f"{name}.png").write_bytes(_png_declaring(16, 16, 16, color_type, rows))
    assert main([str(tmp_path / "rgb16.png"), str(tmp_path / "gray16.png"), "-o", str(tmp_path / "out"),
                 "--model", weights, "--device", "cpu", "--quiet"]) == 1
    err = capsys.readouterr().err
    for name, samples in (("rgb16", "RGB;16B"), ("gray16", "I;16B")):
        assert (f"{tmp_path / name}.png: a PNG image of {samples} samples has more than 8 bits per sample: JPEG "
                "history lives in 8-bit pixels; pass the 8-bit image the JPEG was decoded to") in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
