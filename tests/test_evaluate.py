"""Dataset evaluation (qgac_fast.evaluate) and `qgac-fast eval`, on small synthetic folders."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from images import synthetic_image
from qgac_fast import metrics
from qgac_fast.cli import main
from qgac_fast.codec import read_coefficients
from qgac_fast.compression import compress
from qgac_fast.evaluate import evaluate, format_table, to_json
from qgac_fast.functional import decode


def smooth_image(height: int, width: int, seed: int) -> np.ndarray:
    """A random but smooth uint8 (H, W, 3) photo stand-in: a blurred noise field plus gradients."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, size=(height // 8 + 2, width // 8 + 2, 3)).astype(np.uint8)
    field = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), dtype=np.float64)
    y, x = np.mgrid[0:height, 0:width]
    return np.clip(0.7 * field + (0.15 * x + 0.1 * y)[..., None], 0, 255).round().astype(np.uint8)


@pytest.fixture
def colour_dir(tmp_path):
    """Two RGB images (PNG and BMP, one size not a multiple of 8) and files that are not images."""
    folder = tmp_path / "colour"
    folder.mkdir()
    Image.fromarray(smooth_image(40, 48, seed=1)).save(folder / "b.png")
    Image.fromarray(smooth_image(37, 29, seed=2)).save(folder / "a.bmp")
    (folder / "SHA256SUMS").write_text("not an image\n")
    (folder / "notes.txt").write_text("not an image either\n")
    return folder


@pytest.fixture
def gray_dir(tmp_path):
    """An 8-bit gray BMP (Classic5's format) and an RGB PNG."""
    folder = tmp_path / "gray"
    folder.mkdir()
    Image.fromarray(synthetic_image(32, 24, channels=1)[..., 0]).save(folder / "gray.bmp")
    Image.fromarray(smooth_image(24, 40, seed=3)).save(folder / "rgb.png")
    return folder


def originals(folder, gray=False):
    """What evaluate should measure against, computed independently, in file-name order."""
    images = []
    for path in sorted(p for p in folder.iterdir() if p.suffix in (".png", ".bmp")):
        with Image.open(path) as image:
            if gray and image.mode == "L":
                images.append(torch.from_numpy(np.array(image))[None])
                continue
            rgb = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)
        images.append(metrics.rgb_to_y(rgb).round().to(torch.uint8) if gray else rgb)
    return images


def jpeg_decode(data: bytes) -> torch.Tensor:
    return decode(read_coefficients(data))


def test_jpeg_row_equals_direct_metrics(colour_dir):
    result = evaluate(colour_dir, [10, 50], progress=False)
    assert (result["dataset"], result["gray"], result["images"]) == ("colour", False, 2)
    assert result["megapixels"] == pytest.approx((37 * 29 + 40 * 48) / 1e6)
    for quality in (10, 50):
        expected = {"psnr": [], "psnr_b": [], "ssim": [], "ssim_gaussian": [], "hf_ratio": []}
        for original in originals(colour_dir):
            jpeg = jpeg_decode(compress(original, quality=quality, subsampling="4:2:0"))
            expected["psnr"].append(metrics.psnr(jpeg, original).item())
            expected["psnr_b"].append(metrics.psnr_b(jpeg, original).item())
            expected["ssim"].append(metrics.ssim(jpeg, original, window="uniform8").item())
            expected["ssim_gaussian"].append(metrics.ssim(jpeg, original, window="gaussian").item())
            expected["hf_ratio"].append(metrics.high_frequency_ratio(jpeg, original).item())
        entry = result["qualities"][quality]
        assert set(entry) == {"jpeg"}
        assert entry["jpeg"] == pytest.approx({name: float(np.mean(v)) for name, v in expected.items()}, rel=1e-12)
        assert entry["jpeg"]["ssim"] != entry["jpeg"]["ssim_gaussian"]


def test_table_shows_the_published_protocol():
    """The cell is PSNR | PSNR-B / SSIM with the uniform-window SSIM; the Gaussian one stays out."""
    row = {"psnr": 25.6925, "psnr_b": 24.2006, "ssim": 0.75934, "ssim_gaussian": 0.74334}
    result = {"dataset": "live1", "gray": False, "images": 29, "megapixels": 10.4, "qualities": {10: {"jpeg": row}}}
    assert format_table(result).splitlines()[2] == "| live1 | 10 | 25.69 \\| 24.20 / 0.759 |"


def test_identity_corrector_matches_jpeg_row(colour_dir):
    result = evaluate(colour_dir, [20], jpeg_decode, progress=False)
    entry = result["qualities"][20]
    assert entry["corrected"] == entry["jpeg"]
    assert entry["images_per_second"] > 0
    assert "| colour | 20 | " in format_table(result) and "| +0.00 |" in format_table(result)


def test_perfect_corrector_gives_infinite_psnr(colour_dir):
    """A corrector that returns the original: PSNR inf for every image, so the mean is inf."""
    truth = {compress(o, quality=30, subsampling="4:2:0"): o for o in originals(colour_dir)}
    result = evaluate(colour_dir, [30], lambda data: truth[data].clone(), progress=False)
    corrected = result["qualities"][30]["corrected"]
    assert corrected["psnr"] == math.inf and corrected["ssim"] == pytest.approx(1.0)
    assert corrected["ssim_gaussian"] == pytest.approx(1.0)
    assert json.loads(to_json(result))["qualities"]["30"]["corrected"]["psnr"] == "inf"
    assert "| inf \\| " in format_table(result)


def test_gray_mode(gray_dir):
    seen = []

    def corrector(data):
        jc = read_coefficients(data)
        seen.append((jc.color_space, jc.num_components))
        return jpeg_decode(data)

    result = evaluate(gray_dir, [10], corrector, gray=True, progress=False)
    assert seen == [("gray", 1)] * 3  # one warm-up call, then one per image
    expected = [metrics.psnr(jpeg_decode(compress(o, quality=10)), o).item() for o in originals(gray_dir, gray=True)]
    assert [o.shape for o in originals(gray_dir, gray=True)] == [(1, 32, 24), (1, 24, 40)]
    assert result["gray"] and result["qualities"][10]["jpeg"]["psnr"] == pytest.approx(np.mean(expected), rel=1e-12)
    assert format_table(result).splitlines()[2].startswith("| gray (gray) | 10 | ")


def test_gray_file_is_its_own_ground_truth(tmp_path):
    """An 8-bit gray file is measured as is, not through a luma formula (which would alter it)."""
    image = synthetic_image(24, 24, channels=1)[..., 0]
    Image.fromarray(image).save(tmp_path / "x.bmp")
    original = torch.from_numpy(image)[None]
    result = evaluate(tmp_path, [40], lambda data: original.clone(), gray=True, progress=False)
    assert result["qualities"][40]["corrected"]["psnr"] == math.inf


def test_limit_takes_the_first_images_by_name(colour_dir):
    result = evaluate(colour_dir, [10], limit=1, progress=False)
    a = originals(colour_dir)[0]  # a.bmp
    expected = metrics.psnr(jpeg_decode(compress(a, quality=10)), a).item()
    assert result["images"] == 1 and result["qualities"][10]["jpeg"]["psnr"] == pytest.approx(expected, rel=1e-12)


def test_corrector_output_of_wrong_shape(colour_dir):
    with pytest.raises(ValueError, match=r"corrector must return a uint8 tensor of shape \(3, 37, 29\)"):
        evaluate(colour_dir, [10], lambda data: torch.zeros(3, 8, 8, dtype=torch.uint8), progress=False)


@pytest.mark.parametrize("qualities, message", [
    ([], "at least one JPEG quality"),
    ([0], "1..100, got 0"),
    ([101], "1..100, got 101"),
    ([10.5], "1..100, got 10.5"),
    ([10, 10], "distinct"),
], ids=["none", "zero", "above-100", "float", "repeated"])
def test_bad_qualities(colour_dir, qualities, message):
    with pytest.raises(ValueError, match=message):
        evaluate(colour_dir, qualities, progress=False)


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(ValueError, match="does not exist or is not a folder"):
        evaluate(tmp_path / "missing", [10], progress=False)
    (tmp_path / "SHA256SUMS").write_text("")
    with pytest.raises(ValueError, match="holds no image"):
        evaluate(tmp_path, [10], progress=False)


def test_cli_eval_jpeg_only_writes_json(colour_dir, gray_dir, tmp_path, capsys):
    out = tmp_path / "results.json"
    status = main(["eval", str(colour_dir), str(gray_dir), "--quality", "10", "30", "--jpeg-only", "--quiet",
                   "--json", str(out)])
    printed = capsys.readouterr().out
    assert status == 0
    results = json.loads(out.read_text())
    assert [r["dataset"] for r in results] == ["colour", "gray"]
    assert list(results[0]["qualities"]) == ["10", "30"]
    assert results[0]["qualities"]["10"]["jpeg"] == pytest.approx(
        evaluate(colour_dir, [10], progress=False)["qualities"][10]["jpeg"], rel=1e-12)
    assert printed.count("| set | q | JPEG |") == 2 and "| colour | 30 | " in printed


def test_cli_eval_reports_bad_folders(colour_dir, tmp_path, capsys):
    missing = str(tmp_path / "missing")
    assert main(["eval", missing, str(colour_dir), "--quality", "10", "--jpeg-only", "--quiet"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith(f"{missing}: dataset folder")
    assert "| colour | 10 | " in captured.out


@pytest.mark.parametrize("model, reason", [
    ("no-such-weights", "no weights file 'no-such-weights'"),
    ("missing.safetensors", "no weights file"),
    ("not-weights.safetensors", ""),
], ids=["bad-name", "missing-file", "not-a-weights-file"])
def test_cli_eval_model_that_cannot_load(colour_dir, tmp_path, capsys, model, reason):
    (tmp_path / "not-weights.safetensors").write_text("not a safetensors file\n")
    model = model if model == "no-such-weights" else str(tmp_path / model)
    status = main(["eval", str(colour_dir), "--quality", "10", "--model", model, "--quiet"])
    captured = capsys.readouterr()
    assert status == 1 and captured.out == ""
    assert captured.err.startswith(f"qgac-fast eval: cannot load model {model!r}: {reason}")
    assert "Traceback" not in captured.err and len(captured.err.splitlines()) == 1


def test_cli_eval_rejects_bad_quality(colour_dir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", str(colour_dir), "--quality", "0", "--jpeg-only"])
    assert exit_info.value.code == 2
    assert "JPEG quality must be an int in 1..100, got '0'" in capsys.readouterr().err


def test_cli_eval_threads_are_set_and_recorded(colour_dir, tmp_path, capsys):
    before = torch.get_num_threads()
    out = tmp_path / "results.json"
    try:
        status = main(["eval", str(colour_dir), "--quality", "10", "--limit", "1", "--device", "cpu",
                       "--precision", "float32", "--threads", "1", "--quiet", "--json", str(out)])
        assert status == 0 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    result = json.loads(out.read_text())[0]
    assert (result["precision"], result["threads"]) == ("float32", 1)


def test_cli_eval_flips_reach_the_correction_and_are_recorded(colour_dir, tmp_path):
    scores = {}
    for flips in (1, 2):
        out = tmp_path / f"flips{flips}.json"
        assert main(["eval", str(colour_dir), "--quality", "10", "--limit", "1", "--device", "cpu", "--flips",
                     str(flips), "--quiet", "--json", str(out)]) == 0
        result = json.loads(out.read_text())[0]
        assert result["flips"] == flips
        scores[flips] = result["qualities"]["10"]["corrected"]["psnr"]
    assert scores[1] != scores[2]
