"""Twice-compressed JPEGs (``qgac_fast.primary``): the first, coarser table found in the file's coefficients (grids
aligned) or in its pixels (a crop between the two compressions), and ``table="auto" | "file" | "primary"`` in
``correct``, the engine and the command line."""

from __future__ import annotations

import io
from dataclasses import replace
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from qgac_fast import correct
from qgac_fast.codec import read_coefficients
from qgac_fast.compression import compress
from qgac_fast.cli.correct import main
from qgac_fast.inference import Corrector
from qgac_fast.model import QGAC, QGACConfig, save_model
from qgac_fast.primary import choose_table, find_primary, find_shifted_primary, requantize
from qgac_fast.quality import ijg_table

from images import sample_image

TINY = QGACConfig(manifold=4, block_channels=8, tile_channels=4, frequency_channels=1, fusion_channels=2,
                  dense_blocks=1, dense_layers=1, color_channels=4, init_scale=1.0, output_init_scale=1.0)
PHOTO = sample_image("astronaut.png", (192, 192))


def _twice(first: int | None, second: int, image=PHOTO) -> bytes:
    if first is not None:
        image = np.asarray(Image.open(io.BytesIO(compress(image, first))).convert("RGB"))
    return compress(image, second)


def _shifted(first: int, second: int, crop=(3, 5), image=PHOTO) -> bytes:
    """``image`` compressed at ``first``, decoded, cropped by ``crop`` rows and columns, compressed at ``second``."""
    once = np.asarray(Image.open(io.BytesIO(compress(image, first))).convert("RGB" if image.ndim == 3 else "L"))
    return compress(np.ascontiguousarray(once[crop[0]:, crop[1]:]), second)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return QGAC(TINY).eval()


@pytest.mark.parametrize("first, second", [(10, 90), (20, 75), (30, 95)])
def test_the_first_quality_is_found(first, second):
    jc = read_coefficients(_twice(first, second))
    primary = find_primary(jc)
    assert primary is not None and primary.quality == first and primary.file_quality == second
    assert torch.equal(primary.luma, torch.maximum(ijg_table(first), ijg_table(second)))
    assert torch.equal(primary.chroma, torch.maximum(ijg_table(first, chroma=True), ijg_table(second, chroma=True)))


@pytest.mark.parametrize("quality", [10, 30, 50, 75, 90])
def test_a_file_compressed_once_has_no_primary(quality):
    assert find_primary(read_coefficients(_twice(None, quality))) is None


def test_quality_100_and_damaged_tables_keep_the_file_table():
    # quality 100 quantizes nothing: auto keeps what the file holds, though a primary is there
    first = read_coefficients(_twice(None, 20))  # its coefficients written with steps of 1: exactly on q20's lattice
    tables = [first.quantization[i].to(torch.int32) for i in first.table_indices]
    jc = replace(first, coefficients=tuple((c.to(torch.int32) * t).to(torch.int16) for c, t in zip(first.coefficients, tables)),
                 quantization=tuple(torch.ones_like(q) for q in first.quantization))
    assert find_primary(jc) is not None and choose_table(jc, "auto") == (jc, None, None)
    assert choose_table(jc, "primary")[1] is not None
    # a zero step (a damaged table, as strict=False reads) is no lattice: no division by it
    broken = read_coefficients(_twice(10, 90))
    table = broken.quantization[0].clone()
    table[0, 0] = 0
    assert find_primary(replace(broken, quantization=(table, *broken.quantization[1:]))) is None


@pytest.mark.parametrize("damage", ["chroma table", "coefficient"])
def test_damaged_files_have_no_shifted_primary(damage):
    # what strict=False reads from a damaged file (found by tools/fuzz.py's correct target): a zero
    # step in a chroma table, or a coefficient 8-bit JPEG cannot code; libjpeg decodes neither,
    # so the shifted search (which decodes pixels) skips the file and auto keeps its tables
    jc = read_coefficients(_shifted(10, 90))
    assert find_shifted_primary(jc) is not None
    if damage == "chroma table":
        table = jc.quantization[1].clone()
        table[3, 4] = 0
        jc = replace(jc, quantization=(jc.quantization[0], table, *jc.quantization[2:]))
    else:
        luma = jc.coefficients[0].clone()
        luma[-1, -1, 0, 0] = 1311
        jc = replace(jc, coefficients=(luma, *jc.coefficients[1:]))
    assert find_shifted_primary(jc) is None
    assert choose_table(jc, "auto") == (jc, None, None)


def test_requantized_coefficients_sit_on_the_primary_lattice():
    jc = read_coefficients(_twice(20, 90))
    moved = requantize(jc, find_primary(jc))
    pairs = zip(jc.coefficients, moved.coefficients, jc.quantization, moved.quantization)
    for before, after, q_file, q_primary in pairs:
        # the dequantized values move by less than half a primary step
        assert ((after.double() * q_primary.double() - before.double() * q_file.double()).abs()
                <= q_primary.double() / 2 + 1e-9).all()
    assert moved.sampling == jc.sampling and moved.table_indices == jc.table_indices


def test_table_choices_in_correct_and_the_engine(tiny):
    twice, once = _twice(10, 90), _twice(None, 50)
    auto, file = correct(twice, model=tiny), correct(twice, model=tiny, table="file")
    assert not torch.equal(auto, file)
    assert torch.equal(correct(twice, model=tiny, table="primary"), auto)
    assert torch.equal(correct(once, model=tiny), correct(once, model=tiny, table="file"))
    with pytest.raises(ValueError, match="no primary quantization coarser than the file's"):
        correct(once, model=tiny, table="primary")
    with pytest.raises(ValueError, match="table must be one of"):
        Corrector(tiny, table="best")
    results = list(Corrector(tiny, workers=0).correct_many([twice, once]))
    assert results[0].primary.quality == 10 and results[1].primary is None


def test_default_model_gains_more_with_the_primary_table():
    reference = torch.from_numpy(PHOTO).permute(2, 0, 1)[None].float()
    data = _twice(10, 90)
    from qgac_fast.metrics import psnr

    decoded = torch.from_numpy(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).copy()).permute(2, 0, 1)
    jpeg = float(psnr(decoded[None].float(), reference))
    gains = {t: float(psnr(correct(data, device="cpu", table=t)[None].float(), reference)) - jpeg
             for t in ("auto", "file")}
    assert gains["auto"] > gains["file"] + 0.3


def test_cli_reports_the_table_used(tiny, tmp_path):
    weights = tmp_path / "tiny.safetensors"
    save_model(tiny, weights, training={"hardware": "test"})
    (tmp_path / "twice.jpg").write_bytes(_twice(10, 90))
    (tmp_path / "once.jpg").write_bytes(_twice(None, 50))
    report = tmp_path / "r.json"
    args = [str(tmp_path / "twice.jpg"), str(tmp_path / "once.jpg"), "-o", str(tmp_path / "out"), "--model",
            str(weights), "--device", "cpu", "--quiet", "--json", str(report)]
    assert main(args) == 0
    files = {f["input"].rsplit("/", 1)[-1]: f for f in json.loads(report.read_text())["files"]}
    assert files["twice.jpg"]["table"]["used"] == "primary" and files["twice.jpg"]["table"]["quality"] == 10
    assert files["once.jpg"]["table"] == {"used": "file"}
    assert main(args[:-2] + ["--table", "primary"]) == 1  # once.jpg has no primary table: it fails
    assert main(args[:-2] + ["--table", "file", "--json", str(report)]) == 0
    assert json.loads(report.read_text())["files"][0]["table"] == {"used": "file"}


def test_info_reports_a_first_compression(tmp_path, capsys):
    from qgac_fast.cli import main as qgac_main

    (tmp_path / "twice.jpg").write_bytes(_twice(20, 75))
    assert qgac_main(["info", str(tmp_path / "twice.jpg")]) == 0
    assert "  compressed twice: first at IJG quality 20 (fit " in capsys.readouterr().out


@pytest.mark.parametrize("first, second, crop", [(10, 90, (3, 5)), (20, 75, (3, 5)), (30, 95, (5, 2))])
def test_a_first_compression_on_a_shifted_grid_is_found_in_the_pixels(first, second, crop):
    jc = read_coefficients(_shifted(first, second, crop))
    assert find_primary(jc) is None  # its lattice does not show in the file's coefficients
    primary, blind = find_shifted_primary(jc)
    assert primary.quality == first and primary.file_quality == second
    assert primary.offset == ((8 - crop[0]) % 8, (8 - crop[1]) % 8)
    assert torch.equal(primary.luma, ijg_table(first)) and primary.to_json()["shifted"]
    assert tuple(blind.pixels.shape[1:]) == (jc.height, jc.width)


@pytest.mark.parametrize("subsampling", ["4:2:0", "4:4:4"])
def test_a_large_file_is_searched_in_a_window_of_whole_mcus(subsampling):
    from qgac_fast.primary import _window

    large = sample_image("astronaut.png")  # 512 x 512: more than the search's window
    jc = read_coefficients(compress(large, 90, subsampling=subsampling))
    window = _window(jc, 2**16)
    assert window.width * window.height <= 2**16 and window.width % 16 == 0 and window.height % 16 == 0
    once = np.asarray(Image.open(io.BytesIO(compress(large, 20, subsampling=subsampling))).convert("RGB"))
    jc = read_coefficients(compress(np.ascontiguousarray(once[3:, 5:]), 75, subsampling=subsampling))
    primary, blind = find_shifted_primary(jc)
    assert (primary.quality, primary.offset) == (20, (5, 3)) and tuple(blind.pixels.shape[1:]) == (509, 507)


@pytest.mark.parametrize("quality", [10, 30, 50, 75, 90, 95])
def test_a_file_compressed_once_has_no_shifted_primary(quality):
    assert find_shifted_primary(read_coefficients(_twice(None, quality))) is None
    assert find_shifted_primary(read_coefficients(_twice(None, quality, sample_image("chelsea.png")))) is None


def test_no_shifted_primary_in_flat_tiny_or_grid_drawn_images():
    flat = np.full((64, 64, 3), 120, np.uint8)
    tiny_image = PHOTO[:12, :10]
    drawn = PHOTO.copy()
    drawn[3::8] = 255  # a grid of lines every 8 pixels, off the JPEG grid by (3, 5)
    drawn[:, 5::8] = 0
    for image, quality in ((flat, 90), (tiny_image, 90), (tiny_image, 30), (drawn, 90), (drawn, 50)):
        data = compress(np.ascontiguousarray(image), quality)
        assert find_shifted_primary(read_coefficients(data)) is None
        assert choose_table(read_coefficients(data), "auto")[1:] == (None, None)
    # a tiny twice-compressed file: no crash, whatever is found
    choose_table(read_coefficients(_shifted(10, 90, image=PHOTO[:15, :14])), "auto")


def test_shifted_table_choices_in_correct_and_the_engine(tiny):
    data = _shifted(10, 90)
    jc = read_coefficients(data)
    auto, file = correct(data, model=tiny), correct(data, model=tiny, table="file")
    assert auto.shape == file.shape == (3, jc.height, jc.width) and not torch.equal(auto, file)
    assert torch.equal(correct(data, model=tiny, table="primary"), auto)
    assert choose_table(jc, "file") == (jc, None, None)
    results = list(Corrector(tiny, workers=0).correct_many([data, _twice(None, 90)]))
    assert results[0].primary.offset == (5, 3) and results[0].estimate is None and results[1].primary is None
    assert results[0].size == (jc.height, jc.width)


def test_default_model_gains_more_with_a_shifted_primary():
    from qgac_fast.metrics import psnr

    data = _shifted(10, 90)
    reference = torch.from_numpy(PHOTO[3:, 5:].copy()).permute(2, 0, 1)[None].float()
    decoded = torch.from_numpy(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).copy()).permute(2, 0, 1)
    jpeg = float(psnr(decoded[None].float(), reference))
    gains = {t: float(psnr(correct(data, device="cpu", table=t)[None].float(), reference)) - jpeg
             for t in ("auto", "file")}
    assert gains["auto"] > gains["file"] + 0.3


def test_cli_and_info_report_a_shifted_primary(tiny, tmp_path, capsys):
    from qgac_fast.cli import main as qgac_main

    weights = tmp_path / "tiny.safetensors"
    save_model(tiny, weights, training={"hardware": "test"})
    (tmp_path / "shifted.jpg").write_bytes(_shifted(20, 75))
    report = tmp_path / "r.json"
    assert main([str(tmp_path / "shifted.jpg"), "-o", str(tmp_path / "out"), "--model", str(weights), "--device",
                 "cpu", "--quiet", "--json", str(report)]) == 0
    table = json.loads(report.read_text())["files"][0]["table"]
    assert table["used"] == "primary" and table["quality"] == 20 and table["shifted"] and table["offset"] == [5, 3]
    assert qgac_main(["info", str(tmp_path / "shifted.jpg")]) == 0
    assert "first at IJG quality 20, on a grid shifted to (5, 3) (fit " in capsys.readouterr().out


def _blue_square(quality) -> bytes:
    """A blue square on white, saved once by Pillow (at an IJG ``quality``, or with ``quality`` as
    its luma and chroma table): flat colour, straight edges, nothing earlier."""
    from PIL import ImageDraw

    image = Image.new("RGB", (256, 256), "white")
    ImageDraw.Draw(image).rectangle([60, 50, 190, 200], fill=(0, 0, 255))
    buffer = io.BytesIO()
    options = {"quality": quality} if isinstance(quality, int) else {"qtables": [quality, quality]}
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


RAMP = [1 + (i // 8 + i % 8) // 2 for i in range(64)]  # a non-IJG table, steps 1..8


@pytest.mark.parametrize("quality", [50, 60, 75, 85, 94, RAMP])
def test_a_flat_graphic_compressed_once_has_no_primary(quality):
    # its edge blocks repeat a few values along each side, and its flat blocks are all zeros: they
    # fit some coarse lattice by their numbers alone (an aligned q23 / q21 was taken at 50 / 60, q94
    # with the ramp table, a shifted q18 at 85 and 94)
    jc = read_coefficients(_blue_square(quality))
    assert find_primary(jc) is None and find_shifted_primary(jc) is None
    assert choose_table(jc, "auto") == (jc, None, None)


def test_files_the_search_cannot_read_keep_their_own_table(tiny):
    # a chroma step of 0 (libjpeg and Pillow decode the file): the shifted search cannot decode it
    data = (Path(__file__).parent / "data" / "dqt-chroma-step-zero.jpg").read_bytes()
    jc = read_coefficients(data)
    assert int(jc.quantization[1].min()) == 0
    assert choose_table(jc, "auto") == (jc, None, None)
    assert torch.equal(correct(data, model=tiny), correct(data, model=tiny, table="file"))
    # a coefficient beyond 8-bit JPEG's range (read with strict=False): no decode, no requantization
    jc = read_coefficients(_twice(None, 50))
    luma = jc.coefficients[0].clone()
    luma[0, 0, 0, 1] = -1151
    wide = replace(jc, coefficients=(luma, *jc.coefficients[1:]))
    assert find_shifted_primary(wide) is None and choose_table(wide, "auto") == (wide, None, None)


def test_info_and_cli_on_a_file_the_search_cannot_read(tiny, tmp_path, capsys):
    from qgac_fast.cli import main as qgac_main

    source = Path(__file__).parent / "data" / "dqt-chroma-step-zero.jpg"
    assert qgac_main(["info", str(source)]) == 0
    assert "compressed twice" not in capsys.readouterr().out
    weights = tmp_path / "tiny.safetensors"
    save_model(tiny, weights, training={"hardware": "test"})
    assert main([str(source), "-o", str(tmp_path / "out"), "--model", str(weights), "--device", "cpu"]) == 0
    summary = capsys.readouterr().err
    assert "1 corrected" in summary and "0 failed" in summary and "earlier table" not in summary


def test_the_summary_line_counts_files_corrected_with_an_earlier_table(tiny, tmp_path, capsys):
    weights = tmp_path / "tiny.safetensors"
    save_model(tiny, weights, training={"hardware": "test"})
    (tmp_path / "twice.jpg").write_bytes(_twice(10, 90))
    (tmp_path / "once.jpg").write_bytes(_twice(None, 50))
    args = [str(tmp_path / "twice.jpg"), str(tmp_path / "once.jpg"), "-o", str(tmp_path / "out"), "--model",
            str(weights), "--device", "cpu", "--json", str(tmp_path / "r.json")]
    assert main(args) == 0
    summary = capsys.readouterr().err
    assert "2 corrected" in summary and "; 1 corrected with an earlier table found by --table auto" in summary
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["earlier_table"] == 1
    assert main(args[:-2] + ["--table", "file"]) == 0
    assert "earlier table" not in capsys.readouterr().err
