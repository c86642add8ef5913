"""Model inputs from real JPEGs, ``qgac_fast.correct`` and the normalisation statistics."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import qgac_fast
from qgac_fast.codec import read_coefficients
from qgac_fast.errors import JPEGError, UnsupportedJPEGError
from qgac_fast.functional.transform import blockify, dct
from qgac_fast.functional.jpeg import coefficient_planes, decode
from qgac_fast.functional.quantization import dequantize
from qgac_fast.model import QGAC, coefficient_statistics, planes_from_jpeg
from qgac_fast.model.config import CONFIGS

from images import cjpeg, pillow_jpeg, synthetic_image, turbo_jpeg

SIZES = [(48, 64), (33, 17), (17, 33), (8, 8)]
SAMPLINGS = ["4:2:0", "4:4:4", "4:2:2", "4:4:0", "4:1:1"]


@pytest.fixture(scope="module")
def identity_model():
    """A model whose residuals are ~0 (tiny initialisation): it returns its input, so its output
    must decode to the JPEG's own decode (4:2:0 chroma upsampled by its fancy skip path, the
    other samplings by nearest neighbour on the way to the luma grid)."""
    torch.manual_seed(0)
    model = QGAC(dataclasses.replace(CONFIGS["default"], init_scale=1e-9))
    return model.eval()


@pytest.mark.parametrize("sampling", SAMPLINGS)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_planes_from_jpeg_layouts(sampling, size):
    jc = read_coefficients(turbo_jpeg(synthetic_image(*size), quality=30, subsampling=sampling))
    planes = planes_from_jpeg(jc)
    h, w = planes.luma.shape[-2:]
    assert planes.luma.shape[:2] == (1, 1) and planes.luma.dtype == torch.float32
    assert planes.chroma.shape[-2:] == ((h // 2, w // 2) if sampling == "4:2:0" else (h, w))
    assert planes.luma_table.shape == (1, 8, 8) and planes.chroma_table.shape == (1, 2, 8, 8)
    assert planes.size == size and h >= size[0] and w >= size[1]
    if sampling == "4:2:0":
        assert h % 16 == 0 and w % 16 == 0
    # the reference: the dequantized tiled planes (the chroma of one grid as stored), bit for bit
    dequantized = [dequantize(plane, table.float(), dtype=torch.float32)
                   for plane, table in zip(coefficient_planes(jc), jc.quantization)]
    assert torch.equal(planes.luma[0, 0], dequantized[0])
    if sampling in ("4:2:0", "4:4:4"):
        assert torch.equal(planes.chroma[0], torch.stack(dequantized[1:]))


def test_planes_from_gray_and_rgb_jpegs():
    gray = planes_from_jpeg(read_coefficients(pillow_jpeg(synthetic_image(20, 30, 1)[..., 0], quality=50)))
    assert gray.chroma is None and gray.chroma_table is None and gray.luma.shape == (1, 1, 24, 32)
    rgb = turbo_jpeg(synthetic_image(16, 16), quality=50, subsampling="4:4:4")
    jc = read_coefficients(rgb)
    with pytest.raises(UnsupportedJPEGError, match="RGB"):
        planes_from_jpeg(dataclasses.replace(jc, color_space="rgb"))


@pytest.mark.parametrize("sampling", SAMPLINGS)
def test_identity_model_reproduces_the_jpeg(identity_model, sampling):
    image = synthetic_image(33, 47)
    jpeg = turbo_jpeg(image, quality=40, subsampling=sampling)
    out = qgac_fast.correct(jpeg, model=identity_model, decode_backend="reference")
    assert out.shape == (3, 33, 47) and out.dtype == torch.uint8 and out.device.type == "cpu"
    reference = decode(read_coefficients(jpeg), upsampling="fancy" if sampling == "4:2:0" else "nearest")
    # same coefficients and filters; float vs integer rounding and edge padding differ
    assert (out.int() - reference.int()).abs().float().mean() < 1.0


@pytest.mark.parametrize("sampling", ["2x2,2x1,1x1", "2x2,1x2,2x1", "4x1,2x1,1x1"])
def test_cb_and_cr_sampled_differently_are_brought_to_the_luma_grid_each(identity_model, sampling):
    image = synthetic_image(33, 47)
    jpeg = cjpeg(image, "-quality", "40", "-sample", sampling)
    planes = planes_from_jpeg(read_coefficients(jpeg))
    assert planes.chroma.shape[-2:] == planes.luma.shape[-2:]
    out = qgac_fast.correct(jpeg, model=identity_model, decode_backend="reference")
    assert out.shape == (3, 33, 47) and out.dtype == torch.uint8
    reference = decode(read_coefficients(jpeg), upsampling="nearest")
    assert (out.int() - reference.int()).abs().float().mean() < 1.0


def test_chroma_sampled_finer_than_luma_is_unsupported(identity_model):
    jpeg = cjpeg(synthetic_image(33, 47), "-quality", "40", "-sample", "1x1,2x2,1x1")
    with pytest.raises(UnsupportedJPEGError, match="chroma grid to divide the luma grid"):
        qgac_fast.correct(jpeg, model=identity_model)


def test_correct_accepts_bytes_path_and_coefficients(identity_model, tmp_path):
    jpeg = pillow_jpeg(synthetic_image(24, 40), quality=20)
    path = tmp_path / "x.jpg"
    path.write_bytes(jpeg)
    outs = [qgac_fast.correct(src, model=identity_model) for src in (jpeg, path, str(path), read_coefficients(jpeg))]
    assert all(torch.equal(outs[0], o) for o in outs[1:])


def test_correct_gray(identity_model):
    gray = synthetic_image(21, 19, 1)[..., 0]
    out = qgac_fast.correct(pillow_jpeg(gray, quality=30), model=identity_model)
    assert out.shape == (1, 21, 19) and out.dtype == torch.uint8


def test_correct_bad_input_raises_jpeg_error(identity_model):
    with pytest.raises(JPEGError):
        qgac_fast.correct(b"not a jpeg", model=identity_model)
    with pytest.raises(JPEGError):
        qgac_fast.correct(pillow_jpeg(synthetic_image(32, 32), quality=50)[:300], model=identity_model)


def test_correct_of_a_truncated_jpeg_names_strict_false_which_it_takes(identity_model):
    data = pillow_jpeg(synthetic_image(64, 64), quality=90)
    cut = data[: len(data) * 2 // 3]  # inside the scan data: viewers show the top part
    with pytest.raises(JPEGError, match=r"Premature end of JPEG file \(strict=False reads what libjpeg can recover\)"):
        qgac_fast.correct(cut, model=identity_model)
    assert qgac_fast.correct(cut, model=identity_model, strict=False).shape == (3, 64, 64)


def test_coefficient_statistics_match_a_direct_computation():
    images = [torch.from_numpy(synthetic_image(32, 48, seed=s)).permute(2, 0, 1).contiguous() for s in (1, 2)]
    mean, std = coefficient_statistics(images)
    assert mean.shape == std.shape == (3, 8, 8) and mean.dtype == torch.float32
    y = torch.cat([blockify(dct(qgac_fast.functional.rgb_to_ycbcr(im, dtype=torch.float64)[0] - 128)).reshape(-1, 8, 8)
                   for im in images])
    torch.testing.assert_close(mean[0], y.mean(0).float(), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(std[0], y.std(0, unbiased=False).float(), rtol=1e-5, atol=1e-4)


def test_coefficient_statistics_of_a_flat_image():
    flat = torch.full((3, 16, 16), 200, dtype=torch.uint8)
    mean, std = coefficient_statistics([flat])
    assert mean[0, 0, 0] == pytest.approx(8 * 72, rel=1e-5)
    assert float(std.min()) > 0  # floored, never a division by zero
    with pytest.raises(ValueError, match="at least one image"):
        coefficient_statistics([])
    with pytest.raises(ValueError, match="16x16"):
        coefficient_statistics([torch.zeros(3, 8, 40, dtype=torch.uint8)])


def test_shipped_default_weights_improve_the_bundled_sample():
    from images import sample_image

    original = sample_image("chelsea.png", (128, 160))
    jpeg = turbo_jpeg(original, quality=15)
    target = torch.from_numpy(np.ascontiguousarray(original)).permute(2, 0, 1)
    corrected = qgac_fast.correct(jpeg, device="cpu")
    jpeg_db = qgac_fast.metrics.psnr(decode(read_coefficients(jpeg)), target).item()
    assert qgac_fast.metrics.psnr(corrected, target).item() > jpeg_db + 0.3


def test_demo_corrects_the_bundled_sample(tmp_path, capsys):
    from qgac_fast import demo
    from qgac_fast.model import save_model

    torch.manual_seed(0)
    weights = tmp_path / "tiny.safetensors"
    save_model(QGAC(dataclasses.replace(CONFIGS["default"], block_channels=8, tile_channels=4, color_channels=4)),
               weights, training={"wall_time_s": 1.0, "hardware": "test"})
    assert demo.main(["--sample", "chelsea.png", "--model", str(weights), "--device", "cpu",
                      "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "JPEG       PSNR" in printed and "corrected  PSNR" in printed and "gain" in printed
    assert (tmp_path / "out" / "chelsea_q20_corrected.png").is_file()
