"""How well ``estimate_quantization`` recovers JPEG history from pixels, and what blind correction gains.

Usage (from the repository root, inside .venv; datasets as in ``../shared/datasets/MANIFEST.md``)::

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive nice -n 5 python -m experiments.estimate \\
        [--recovery-images 8] [--gain-images 3] [--name estimate-cpu]
    OMP_NUM_THREADS=1 nice -n 5 python -m experiments.estimate --only auto --auto-images 6 \\
        --auto-graphics 24 --name auto-table

Sections (every JPEG made by libjpeg-turbo through ``qgac_fast.compress``, 4:2:0, IJG baseline
tables, decoded by Pillow, never by qgac_fast; but ``auto``, which uses several encoders):

* ``recovery``: per set (LIVE1, BSDS500 test; the first ``--recovery-images`` of each, sorted by
  name) and quality, aligned and cropped at a random offset (0..15 rows and columns): the share of
  images whose luma and chroma tables are recovered exactly, the grid offset found, the mean
  absolute luma step error, the share found at all.
* ``tuning``: confidences of BSDS500 *train* images, decoded JPEGs and never-compressed stand-ins
  (downscaled 3x with Lanczos, which destroys the grid): where ``MIN_CONFIDENCE`` was chosen.
* ``gain``: on the first ``--gain-images`` LIVE1 images, PSNR gain over the JPEG of the default
  model (``qgac_fast.correct``) with the file's table and blind from the decoded pixels, aligned and
  cropped (3, 5): the blind gain is measured on the crop against the true-table output's crop.
* ``double``: JPEGs compressed twice (q1 then q2, the second grid aligned with the first), corrected
  with ``table="auto"`` and ``table="file"``.
* ``layouts``: per set and quality, 4:2:2 and 4:4:0 JPEGs (made with ``compress``), aligned and
  cropped at a random offset: the layout found, tables and grid offsets recovered; and on
  ``--gain-images`` LIVE1 images at qualities 10 and 30, cropped (3, 5), the blind gain against the
  gain with the file's table.
* ``shifted_tuning``: BSDS500 *train* images compressed once (qualities 30..95) and twice with a
  crop between (the pairs below): the confidence of ``qgac_fast.primary.shifted_estimate`` (an
  estimate on a grid other than the file's), where ``MIN_SHIFTED_FIT`` was chosen.
* ``shifted``: JPEGs compressed twice with a crop of (3, 5) pixels between the two compressions
  (their grids shifted), on ``--gain-images`` images of each report set: corrected with
  ``table="auto"`` and ``table="file"``; the primary found (quality, grid offset).
* ``never``: LIVE1 originals (never compressed as far as known): found or not, PSNR of the blind
  output against the input.
* ``auto`` (``--only auto``, alone): what ``table="auto"`` takes, without the model. Files compressed
  once, with no coarser earlier compression (false positives): crops of ``--auto-images`` photos of
  each training set (``--auto-tuning-sets``, where the primary thresholds are tuned) and of each
  evaluation set (``--auto-report-sets``, reported only), and ``--auto-graphics`` graphics drawn
  with PIL (flat shapes, UI-like rectangles with text, lines, gradients, a blue square on white),
  through Pillow (4:2:0, 4:4:4), ``compress``, and cjpeg (float DCT; 4:4:4 progressive) when
  installed, at ``--auto-qualities``, and with non-IJG tables (``NON_IJG``); and training crops
  compressed twice (q10..40 then q70..95, grids aligned, libjpeg and Pillow; and with a crop of
  ``CROP`` between, ``SHIFTED_PAIRS``): the primary found, and the aligned search's evidence
  (``qgac_fast.primary.lattice_evidence``).
* ``layout_costs`` (``--only layout_costs``, alone): what each chroma layout mistake costs blind
  correction, on ``--layout-cost-images`` BSDS500 *train* images (from the 21st on), qualities 10
  and 30: each layout compressed, decoded and cropped, corrected with each layout forced.
* ``time``: seconds per megapixel of the estimate and of the model, same process, same images
  (LIVE1 and BSDS500 test, quality 50), and of what ``table="auto"`` adds to a once-compressed JPEG
  (``choose_table``: the aligned and the shifted primary searches). ``--only time`` runs this section
  alone (e.g. at 2 threads); ``--only shifted`` runs ``layouts``, ``shifted_tuning``, ``shifted``
  and ``time``.

Writes ``bench/results/<name>.{json,md}``. Times are on a CPU shared with other work: compare the
ratio, not the absolute values.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import qgac_fast
from bench.common import RESULTS, git_commit
from qgac_fast.codec import read_coefficients
from qgac_fast.compression import compress
from qgac_fast.estimate import MIN_CONFIDENCE, estimate_quantization
from qgac_fast.metrics import psnr
from qgac_fast.primary import (MIN_PRIMARY_FIT, MIN_PRIMARY_ON, MIN_PRIMARY_Z, MIN_SHIFTED_FIT, choose_table,
                               find_shifted_primary, lattice_evidence, shifted_estimate)
from qgac_fast.quality import ijg_table

DATASETS = Path(__file__).parent.parent.parent / "shared" / "datasets"  # ../shared/datasets from the repo root


def _images(folder: Path, limit: int) -> list[tuple[str, np.ndarray]]:
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".bmp", ".jpg", ".png", ".tif"))[:limit]
    return [(p.name, np.asarray(Image.open(p).convert("RGB"))) for p in paths]


SHIFTED_PAIRS = [(10, 90), (20, 75), (30, 95)]
LAYOUT_CROP = (5, 3)  # rows, columns cropped from a decoded JPEG in layout_costs
# chroma grid offset of each layout in an image cropped by LAYOUT_CROP (16 pixels along a halved axis)
LAYOUT_MCU = {"4:2:0": (11, 13), "4:4:4": (3, 5), "4:2:2": (3, 13), "4:4:0": (11, 5)}
CROP = (3, 5)  # rows, columns cropped between the two compressions


def _decoded(image: np.ndarray, quality: int, subsampling: str = "4:2:0") -> tuple[bytes, np.ndarray]:
    data = compress(np.ascontiguousarray(image), quality, subsampling=subsampling)
    return data, np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(psnr(a[None].float(), b[None].float()))


def recovery(sets: dict, qualities: list[int]) -> list[dict]:
    rows = []
    for name, images in sets.items():
        for quality in qualities:
            for mode in ("aligned", "cropped"):
                exact = chroma_exact = offset_ok = found = 0
                errors = []
                for i, (_, image) in enumerate(images):
                    _, decoded = _decoded(image, quality)
                    rng = random.Random(1000 * quality + i)
                    dy, dx = (rng.randrange(16), rng.randrange(16)) if mode == "cropped" else (0, 0)
                    estimate = estimate_quantization(np.ascontiguousarray(decoded[dy:, dx:]))
                    truth = ijg_table(quality)
                    found += estimate.found
                    if estimate.found:
                        exact += torch.equal(estimate.luma, truth)
                        chroma_exact += torch.equal(estimate.chroma, ijg_table(quality, chroma=True))
                        offset_ok += estimate.offset == ((8 - dy) % 8, (8 - dx) % 8)
                        errors.append(float((estimate.luma - truth).abs().float().mean()))
                n = len(images)
                rows.append({"set": name, "quality": quality, "mode": mode, "images": n, "found": found / n,
                             "luma_exact": exact / n, "chroma_exact": chroma_exact / n, "offset_ok": offset_ok / n,
                             "luma_step_error": float(np.mean(errors)) if errors else None})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def tuning(images: list, qualities: list[int]) -> dict:
    jpeg = [estimate_quantization(_decoded(image, q)[1]).confidence for _, image in images for q in qualities]
    never = []
    for _, image in images:
        pil = Image.fromarray(image)
        never.append(estimate_quantization(pil.resize((pil.width // 3, pil.height // 3), Image.LANCZOS)).confidence)
    result = {"images": len(images), "qualities": qualities, "jpeg_min": min(jpeg),
              "jpeg_median": float(np.median(jpeg)),
              "never_max": max(never), "never_median": float(np.median(never)), "min_confidence": MIN_CONFIDENCE}
    print(json.dumps(result), flush=True)
    return result


def timing(images: list) -> list[dict]:
    """Seconds of the model (on the JPEG) and of the estimate (on its decoded pixels), quality 50,
    and of ``choose_table(jc, "auto")`` on the (once-compressed) JPEG's coefficients, after one
    warm-up of each (weights loaded, the estimate's kernels built)."""
    rows = []
    for i, (name, image) in enumerate(images):
        data, decoded = _decoded(image, 50)
        jc = read_coefficients(data)
        if i == 0:
            qgac_fast.correct(data, device="cpu")
            estimate_quantization(decoded)
            choose_table(jc, "auto")
        start = time.perf_counter()
        qgac_fast.correct(data, device="cpu")
        model_seconds = time.perf_counter() - start
        start = time.perf_counter()
        estimate_quantization(decoded)
        estimate_seconds = time.perf_counter() - start
        start = time.perf_counter()
        primary = choose_table(jc, "auto")[1]
        auto_seconds = time.perf_counter() - start
        start = time.perf_counter()
        find_shifted_primary(jc)
        rows.append({"image": name, "megapixels": image.shape[0] * image.shape[1] / 1e6, "model_s": model_seconds,
                     "estimate_s": estimate_seconds, "auto_s": auto_seconds, "shifted_s": time.perf_counter() - start,
                     "auto_primary": primary is not None})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def gain(images: list, qualities: list[int]) -> list[dict]:
    rows = []
    for name, image in images:
        reference = _tensor(image)
        for quality in qualities:
            data, decoded = _decoded(image, quality)
            true = qgac_fast.correct(data, device="cpu")
            blind = qgac_fast.correct(decoded, device="cpu")
            crop = (slice(None), slice(3, None), slice(5, None))
            blind_crop = qgac_fast.correct(np.ascontiguousarray(decoded[3:, 5:]), device="cpu")
            jpeg_psnr = _psnr(_tensor(decoded), reference)
            jpeg_crop = _psnr(_tensor(decoded)[crop], reference[crop])
            rows.append({"image": name, "quality": quality, "jpeg_psnr": jpeg_psnr,
                         "gain_true": _psnr(true, reference) - jpeg_psnr,
                         "gain_blind": _psnr(blind, reference) - jpeg_psnr,
                         "gain_true_crop": _psnr(true[crop], reference[crop]) - jpeg_crop,
                         "gain_blind_crop": _psnr(blind_crop, reference[crop]) - jpeg_crop})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def double(images: list, pairs: list[tuple[int, int]]) -> list[dict]:
    rows = []
    for name, image in images:
        reference = _tensor(image)
        for first, second in pairs:
            _, once = _decoded(image, first)
            data, twice = _decoded(once, second)
            jpeg_psnr = _psnr(_tensor(twice), reference)
            row = {"image": name, "first": first, "second": second, "jpeg_psnr": jpeg_psnr}
            for table in ("file", "auto"):
                row[f"gain_{table}"] = _psnr(qgac_fast.correct(data, device="cpu", table=table), reference) - jpeg_psnr
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def layouts(sets: dict, qualities: list[int]) -> list[dict]:
    rows = []
    for name, images in sets.items():
        for subsampling in ("4:2:2", "4:4:0"):
            period = (8, 16) if subsampling == "4:2:2" else (16, 8)
            for quality in qualities:
                for mode in ("aligned", "cropped"):
                    layout = exact = chroma_exact = offset_ok = 0
                    for i, (_, image) in enumerate(images):
                        _, decoded = _decoded(image, quality, subsampling)
                        rng = random.Random(1000 * quality + i)
                        dy, dx = (rng.randrange(16), rng.randrange(16)) if mode == "cropped" else (0, 0)
                        estimate = estimate_quantization(np.ascontiguousarray(decoded[dy:, dx:]))
                        layout += estimate.subsampling == subsampling
                        exact += estimate.luma is not None and torch.equal(estimate.luma, ijg_table(quality))
                        chroma_exact += estimate.chroma is not None and torch.equal(
                            estimate.chroma, ijg_table(quality, chroma=True))
                        offset_ok += estimate.mcu_offset == ((period[0] - dy) % period[0], (period[1] - dx) % period[1])
                    n = len(images)
                    rows.append({"set": name, "subsampling": subsampling, "quality": quality, "mode": mode,
                                 "images": n, "layout_ok": layout / n, "luma_exact": exact / n,
                                 "chroma_exact": chroma_exact / n, "mcu_offset_ok": offset_ok / n})
                    print(json.dumps(rows[-1]), flush=True)
    return rows


def layout_gain(images: list, qualities: list[int]) -> list[dict]:
    rows = []
    crop = (slice(None), slice(CROP[0], None), slice(CROP[1], None))
    for (name, image), quality in ((item, q) for q in qualities for item in images):
        reference = _tensor(image)[crop]
        for subsampling in ("4:2:2", "4:4:0"):
            data, decoded = _decoded(image, quality, subsampling)
            true = qgac_fast.correct(data, device="cpu")[crop]
            pixels = np.ascontiguousarray(decoded[CROP[0]:, CROP[1]:])
            blind = qgac_fast.correct(pixels, device="cpu")
            jpeg_psnr = _psnr(_tensor(pixels), reference)
            rows.append({"image": name, "subsampling": subsampling, "quality": quality, "jpeg_psnr": jpeg_psnr,
                         "found": estimate_quantization(pixels).subsampling,
                         "gain_true": _psnr(true, reference) - jpeg_psnr, "gain_blind": _psnr(blind, reference) - jpeg_psnr})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def _shifted_jpeg(image: np.ndarray, first: int, second: int) -> bytes:
    _, once = _decoded(image, first)
    return compress(np.ascontiguousarray(once[CROP[0]:, CROP[1]:]), second, subsampling="4:2:0")


def shifted_tuning(images: list, qualities: list[int]) -> dict:
    once = [shifted_estimate(read_coefficients(_decoded(image, q)[0]))[0].confidence
            for _, image in images for q in qualities]
    twice = {}
    for first, second in SHIFTED_PAIRS:
        twice[f"{first}-{second}"] = [shifted_estimate(read_coefficients(_shifted_jpeg(image, first, second)))[0]
                                      .confidence for _, image in images]
    result = {"images": len(images), "qualities": qualities, "once_max": max(once),
              "once_median": float(np.median(once)),
              "twice_min": {k: min(v) for k, v in twice.items()},
              "twice_median": {k: float(np.median(v)) for k, v in twice.items()}, "min_shifted_fit": MIN_SHIFTED_FIT}
    print(json.dumps(result), flush=True)
    return result


def shifted(sets: dict) -> list[dict]:
    rows = []
    crop = (slice(None), slice(CROP[0], None), slice(CROP[1], None))
    for set_name, images in sets.items():
        for name, image in images:
            reference = _tensor(image)[crop]
            for first, second in SHIFTED_PAIRS:
                data = _shifted_jpeg(image, first, second)
                twice = _tensor(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
                jpeg_psnr = _psnr(twice, reference)
                primary = choose_table(read_coefficients(data), "auto")[1]
                row = {"set": set_name, "image": name, "first": first, "second": second, "jpeg_psnr": jpeg_psnr,
                       "primary_quality": None if primary is None else primary.quality,
                       "primary_offset": None if primary is None else primary.offset}
                for table in ("file", "auto"):
                    out = qgac_fast.correct(data, device="cpu", table=table)
                    row[f"gain_{table}"] = _psnr(out, reference) - jpeg_psnr
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def never(images: list) -> list[dict]:
    rows = []
    for name, image in images:
        estimate = estimate_quantization(image)
        out = qgac_fast.correct(image, device="cpu")
        same = torch.equal(out, _tensor(image))
        rows.append({"image": name, "found": estimate.found, "confidence": estimate.confidence, "identical": same,
                     "psnr_vs_input": None if same else _psnr(out, _tensor(image))})
        print(json.dumps(rows[-1]), flush=True)
    return rows


# --------------------------------------------------------------------------------------------
# table="auto" on files with no coarser earlier compression (false positives) and on doubles


NON_IJG = {  # luma tables unlike any IJG quality (chroma: the same), as graphics tools and cameras write
    "flat2": [2] * 64,
    "flat5": [5] * 64,
    "ramp": [1 + (i // 8 + i % 8) // 2 for i in range(64)],
    "steep": [min(255, 3 + 4 * (i // 8 + i % 8)) for i in range(64)],
    "camera": [max(1, round(v * 0.14)) for v in ijg_table(50).flatten().tolist()],  # a scaled standard table
    "odd": [3 + (7 * i) % 11 for i in range(64)],
}


def _pillow(image: np.ndarray, quality: int | None = None, table: list[int] | None = None,
            subsampling: int = 2) -> bytes:
    buffer = io.BytesIO()
    options = {"qtables": [table, table]} if table is not None else {"quality": quality}
    Image.fromarray(image).save(buffer, "JPEG", subsampling=subsampling, **options)
    return buffer.getvalue()


def _cjpeg(image: np.ndarray, quality: int, *options: str) -> bytes:
    header = f"P6 {image.shape[1]} {image.shape[0]} 255\n".encode()
    return subprocess.run(["cjpeg", "-quality", str(quality), *options], input=header + image.tobytes(),
                          capture_output=True, check=True).stdout


def _encoders() -> dict:
    """name -> (image, quality) -> JPEG bytes, of the encoders on this machine."""
    encoders = {"pillow": lambda image, q: _pillow(image, q),
                "pillow-444": lambda image, q: _pillow(image, q, subsampling=0),
                "libjpeg": lambda image, q: compress(image, q)}
    if shutil.which("cjpeg"):
        encoders["cjpeg-float"] = lambda image, q: _cjpeg(image, q, "-dct", "float")
        encoders["cjpeg-444-progressive"] = lambda image, q: _cjpeg(image, q, "-sample", "1x1", "-progressive")
    return encoders


def _photo_crops(folder: Path, limit: int, size: int = 256) -> list[tuple[str, np.ndarray]]:
    """The first ``limit`` images of ``folder`` (sorted by name) scaled by 2/3 (Lanczos: any grid of
    an earlier compression of the file is gone) and cut to at most ``size`` x ``size`` at the centre."""
    crops = []
    for name, image in _images(folder, limit):
        pil = Image.fromarray(image)
        pil = pil.resize((pil.width * 2 // 3, pil.height * 2 // 3), Image.LANCZOS)
        left, top = max(0, (pil.width - size) // 2), max(0, (pil.height - size) // 2)
        crops.append((name, np.asarray(pil.crop((left, top, left + min(size, pil.width), top + min(size, pil.height))))))
    return crops


def _graphics(count: int) -> list[tuple[str, np.ndarray]]:
    """Synthetic graphics with flat areas, drawn with PIL (seeded): the blue square on white, UI-like
    rectangles with text, shapes, lines, gradients behind shapes, text on flat colour."""
    from PIL import ImageDraw, ImageFont

    font = ImageFont.load_default()
    square = Image.new("RGB", (256, 256), "white")
    ImageDraw.Draw(square).rectangle([60, 50, 190, 200], fill=(0, 0, 255))
    drawn = [("blue-square", np.asarray(square))]
    kinds = ("ui", "shapes", "lines", "gradient", "text")
    for i in range(count - 1):
        rng = random.Random(i)
        kind = kinds[i % len(kinds)]
        size = rng.choice([(256, 256), (240, 180), (200, 256), (256, 160)])
        color = lambda: tuple(rng.randrange(256) for _ in range(3))  # noqa: E731
        background = rng.choice([(255, 255, 255), (240, 240, 240), (30, 30, 30), color()])
        image = Image.new("RGB", size, background)
        if kind == "gradient":
            x = np.linspace(0, 1, size[0])[None, :, None]
            y = np.linspace(0, 1, size[1])[:, None, None]
            a, b = np.array(color()), np.array(color())
            image = Image.fromarray((a + (b - a) * (rng.random() * x + (1 - rng.random()) * y) / 2).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(rng.randrange(2, 12)):
            x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
            x1, y1 = x0 + rng.randrange(4, 120), y0 + rng.randrange(4, 90)
            if kind in ("ui", "gradient"):
                draw.rectangle([x0, y0, x1, y1], fill=color(), outline=rng.choice([None, color()]))
                draw.text((x0 + 3, y0 + 3), rng.choice(["OK", "Cancel", "File  Edit  View", "Settings", "42 %"]),
                          fill=color(), font=font)
            elif kind == "shapes":
                (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x1, y1], fill=color())
            elif kind == "lines":
                draw.line([x0, y0, x1, y1], fill=color(), width=rng.randrange(1, 6))
            else:
                draw.text((x0 % (size[0] - 60), y0), "The quick brown fox 0123", fill=color(), font=font)
        drawn.append((f"{kind}-{i}", np.asarray(image)))
    return drawn


def _auto_row(kind: str, name: str, encoder: str, quality, data: bytes) -> dict:
    """What ``table="auto"`` does with one file: the primary it takes (aligned or shifted), and the
    aligned search's evidence: the best candidate by fit (what the fit alone, before the counts of
    distinct values, took), and the highest ``z`` among candidates that pass the fit."""
    jc = read_coefficients(data)
    evidence = lattice_evidence(jc)
    primary = choose_table(jc, "auto")[1]
    row = {"kind": kind, "image": name, "encoder": encoder, "quality": quality,
           "primary": None if primary is None else primary.quality,
           "shifted": primary is not None and primary.offset is not None}
    if evidence is not None:
        best = int(evidence.fit.argmax())
        passing = evidence.fit >= MIN_PRIMARY_FIT
        strongest = int(evidence.z.where(passing, torch.full((), -1e9)).argmax())
        row.update({"fit_max": float(evidence.fit[best]), "fit_max_quality": best + 1,
                    "fit_only_flag": bool(passing.any()),
                    "z": float(evidence.z[strongest]) if bool(passing.any()) else None,
                    "on": float(evidence.on[strongest]) if bool(passing.any()) else None})
    return row


def auto_false_positives(photos: dict, graphics: list, qualities: list[int]) -> list[dict]:
    """Files compressed once (no coarser earlier compression): photos from each encoder at each
    quality and with each table of ``NON_IJG``; graphics (``_graphics``) the same."""
    rows = []
    encoders = _encoders()
    for kind, images in list(photos.items()) + [("graphics", graphics)]:
        for name, image in images:
            for encoder, encode in encoders.items():
                for quality in qualities:
                    rows.append(_auto_row(kind, name, encoder, quality, encode(image, quality)))
            for table_name, table in NON_IJG.items():
                rows.append(_auto_row(kind, name, "pillow-table", table_name, _pillow(image, table=table)))
        flagged = [r for r in rows if r["kind"] == kind and r["primary"] is not None]
        print(json.dumps({"kind": kind, "files": sum(r["kind"] == kind for r in rows), "flagged": len(flagged),
                          "examples": flagged[:5]}), flush=True)
    return rows


def auto_doubles(images: list, firsts: list[int], seconds: list[int]) -> list[dict]:
    """Compressed twice, grids aligned (libjpeg then libjpeg, and Pillow then Pillow), and with a
    crop of ``CROP`` between (``SHIFTED_PAIRS``, libjpeg): the primary ``table="auto"`` takes."""
    rows = []
    for name, image in images:
        for first in firsts:
            for second in seconds:
                for encoder, encode in (("libjpeg", compress), ("pillow", _pillow)):
                    once = np.asarray(Image.open(io.BytesIO(encode(image, first))).convert("RGB"))
                    row = _auto_row("aligned", name, encoder, second, encode(once, second))
                    rows.append({**row, "first": first})
        for first, second in SHIFTED_PAIRS:
            row = _auto_row("shifted", name, "libjpeg", second, _shifted_jpeg(image, first, second))
            rows.append({**row, "first": first})
    for kind in ("aligned", "shifted"):
        found = [r for r in rows if r["kind"] == kind]
        print(json.dumps({"kind": kind, "files": len(found), "right": sum(r["primary"] == r["first"] for r in found)}),
              flush=True)
    return rows


def layout_costs(images: list, qualities: list[int]) -> list[dict]:
    """What each chroma layout mistake costs blind correction: training images compressed at each
    layout (``compress``), decoded, cropped by ``LAYOUT_CROP``, corrected by the default model as
    the estimate has them but with each of the four layouts forced (its chroma grid where the crop
    puts it, the true IJG tables): PSNR gain over the decoded crop per forced layout."""
    from dataclasses import replace

    from qgac_fast.blind import prepare

    rows = []
    dy, dx = LAYOUT_CROP
    for (name, image), quality in ((item, q) for q in qualities for item in images):
        crop = (slice(None), slice(dy, dy + 240), slice(dx, dx + 320))
        reference = _tensor(image)[crop]
        for truth in LAYOUT_MCU:
            pixels = _tensor(_decoded(image, quality, truth)[1])[crop].contiguous()
            jpeg_psnr = _psnr(pixels, reference)
            estimate = estimate_quantization(pixels)
            row = {"image": name, "quality": quality, "truth": truth, "found": estimate.subsampling}
            for pick in LAYOUT_MCU:
                forced = replace(estimate, found=True, subsampling=pick, mcu_offset=LAYOUT_MCU[pick],
                                 luma=ijg_table(quality), chroma=ijg_table(quality, chroma=True))
                blind = prepare(pixels, None, forced)
                out = blind.finish(qgac_fast.correct(blind.coefficients, device="cpu"))
                row[pick] = _psnr(out, reference) - jpeg_psnr
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def _layout_cost_lines(rows: list) -> list[str]:
    lines = ["## What a chroma layout mistake costs blind correction (training images)", "",
             f"Crops of 320 x 240 at {LAYOUT_CROP}, default model; mean PSNR gain over the decoded crop with each "
             "layout forced, minus the gain with the true layout (0 on the diagonal; negative: the mistake costs).", "",
             "| quality | true layout | images | found as | " + " | ".join(f"as {p}" for p in LAYOUT_MCU) + " |",
             "|---|---|---|---|" + "---|" * len(LAYOUT_MCU)]
    for quality, truth in dict.fromkeys((r["quality"], r["truth"]) for r in rows):
        group = [r for r in rows if (r["quality"], r["truth"]) == (quality, truth)]
        cells = [f"{float(np.mean([r[p] - r[truth] for r in group])):+.3f}" for p in LAYOUT_MCU]
        lines.append(f"| {quality} | {truth} | {len(group)} | {', '.join(r['found'] for r in group)} | "
                     + " | ".join(cells) + " |")
    return lines + [""]


def _mean(rows, key):
    values = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(values)) if values else float("nan")


def _time_lines(rows: list) -> list[str]:
    mp = sum(r["megapixels"] for r in rows)
    model = sum(r["model_s"] for r in rows) / mp
    est = sum(r["estimate_s"] for r in rows) / mp
    lines = ["## Time (same process, same images)", "",
             f"{len(rows)} images, {mp:.2f} MP: estimate {est * 1000:.0f} ms/MP, model {model * 1000:.0f} ms/MP: the "
             f"estimate costs {est / model:.1%} of the model's time."]
    if all("auto_s" in r for r in rows):
        auto = sum(r["auto_s"] for r in rows) / mp
        shifted = sum(r["shifted_s"] for r in rows) / mp
        lines += ["", f"`table=\"auto\"` on the same once-compressed JPEGs (quality 50): {auto * 1000:.0f} ms/MP "
                      f"(aligned and shifted primary searches), {auto / model:.1%} of the model's time, of which the "
                      f"shifted search (decode, estimate on another grid) {shifted * 1000:.0f} ms/MP, "
                      f"{shifted / model:.1%}; a primary found in {sum(r['auto_primary'] for r in rows)} of {len(rows)}."]
    return lines


def _shifted_lines(doc: dict) -> list[str]:
    lines = []
    if doc.get("layouts"):
        lines += ["## 4:2:2 and 4:4:0 layouts: recovery", "",
                  "| set | layout | quality | mode | images | layout found | luma exact | chroma exact "
                  "| chroma grid offset right |", "|---|---|---|---|---|---|---|---|---|"]
        for r in doc["layouts"]:
            lines.append(f"| {r['set']} | {r['subsampling']} | {r['quality']} | {r['mode']} | {r['images']} | "
                         f"{r['layout_ok']:.0%} | {r['luma_exact']:.0%} | {r['chroma_exact']:.0%} | "
                         f"{r['mcu_offset_ok']:.0%} |")
    if doc.get("layout_gain"):
        lines += ["", f"Blind gain, cropped {CROP} (default model, LIVE1), against the gain with the file's table:", "",
                  "| layout | quality | images | layouts found | gain, file's table | gain, blind | worst blind - file |",
                  "|---|---|---|---|---|---|---|"]
        for sub, quality in sorted({(r["subsampling"], r["quality"]) for r in doc["layout_gain"]}):
            rows = [r for r in doc["layout_gain"] if (r["subsampling"], r["quality"]) == (sub, quality)]
            lines.append(f"| {sub} | {quality} | {len(rows)} | {', '.join(r['found'] for r in rows)} | "
                         f"{_mean(rows, 'gain_true'):+.3f} dB | {_mean(rows, 'gain_blind'):+.3f} dB | "
                         f"{min(r['gain_blind'] - r['gain_true'] for r in rows):+.3f} |")
    if doc.get("shifted_tuning"):
        t = doc["shifted_tuning"]
        lines += ["", "## Shifted primary: threshold (tuned on BSDS500 train only)", "",
                  f"{t['images']} train images; confidence of the estimate on a grid other than the file's "
                  f"(`shifted_estimate`): compressed once (q {t['qualities']}) max {t['once_max']:.3f}, median "
                  f"{t['once_median']:.3f}; compressed twice with a crop of {CROP} between: "
                  + ", ".join(f"{k} min {t['twice_min'][k]:.3f} (median {t['twice_median'][k]:.3f})"
                              for k in t["twice_min"]) + f". `MIN_SHIFTED_FIT` = {t['min_shifted_fit']}."]
    if doc.get("shifted"):
        lines += ["", f"## Twice-compressed JPEGs, grids shifted (crop {CROP} between): `table=auto` vs the file's "
                      "table", "",
                  "| set | first | second | images | primary found (right quality, right offset) | gain, file's table "
                  "| gain, auto | worst auto - file |", "|---|---|---|---|---|---|---|---|"]
        offset = ((8 - CROP[0]) % 8, (8 - CROP[1]) % 8)
        keys = sorted({(r["set"], r["first"], r["second"]) for r in doc["shifted"]})
        for set_name, first, second in keys:
            rows = [r for r in doc["shifted"] if (r["set"], r["first"], r["second"]) == (set_name, first, second)]
            right = sum(r["primary_quality"] == first and tuple(r["primary_offset"] or ()) == offset for r in rows)
            found = sum(r["primary_quality"] is not None for r in rows)
            worst = min(r["gain_auto"] - r["gain_file"] for r in rows)
            lines.append(f"| {set_name} | {first} | {second} | {len(rows)} | {found} ({right}) | "
                         f"{_mean(rows, 'gain_file'):+.3f} dB | {_mean(rows, 'gain_auto'):+.3f} dB | {worst:+.3f} |")
    return lines + [""] if lines else lines


def _auto_lines(doc: dict) -> list[str]:
    lines = []
    if doc.get("auto_false_positives"):
        rows = doc["auto_false_positives"]
        tuned = doc.get("auto_tuning_kinds", [])
        lines += ["## `table=\"auto\"` on files compressed once (no coarser earlier compression)", "",
                  f"Tuned on: {', '.join(tuned)} (and the graphics); the other sets are reported, never tuned on. "
                  "Photos scaled by 2/3 and cut to 256 x 256 at most; `pillow-table` rows use the non-IJG tables "
                  f"{', '.join(NON_IJG)}. `flagged`: files `table=\"auto\"` takes a primary for (aligned or "
                  f"shifted); `fit passes`: files where some candidate passes `MIN_PRIMARY_FIT` = {MIN_PRIMARY_FIT} "
                  f"alone, before `MIN_PRIMARY_ON` = {MIN_PRIMARY_ON} and `MIN_PRIMARY_Z` = {MIN_PRIMARY_Z}; "
                  "highest z among those candidates.", "",
                  "| images | encoder | files | flagged | of them shifted | fit passes | highest z "
                  "(fit passing) |", "|---|---|---|---|---|---|---|"]
        for kind in dict.fromkeys(r["kind"] for r in rows):
            for encoder in dict.fromkeys(r["encoder"] for r in rows):
                group = [r for r in rows if (r["kind"], r["encoder"]) == (kind, encoder)]
                if not group:
                    continue
                zs = [r["z"] for r in group if r.get("z") is not None]
                lines.append(f"| {kind} | {encoder} | {len(group)} | {sum(r['primary'] is not None for r in group)} | "
                             f"{sum(r['shifted'] for r in group)} | {sum(bool(r.get('fit_only_flag')) for r in group)} | "
                             + (f"{max(zs):.1f}" if zs else "-") + " |")
        lines += ["", f"In all: {len(rows)} files, {sum(r['primary'] is not None for r in rows)} flagged "
                      f"(fit passes: {sum(bool(r.get('fit_only_flag')) for r in rows)}).", ""]
    if doc.get("auto_doubles"):
        rows = doc["auto_doubles"]
        lines += ["## `table=\"auto\"` on files compressed twice (training images)", "",
                  "| grids | encoder | first | second | files | first quality found | z, lowest (aligned) |",
                  "|---|---|---|---|---|---|---|"]
        for key in dict.fromkeys((r["kind"], r["encoder"], r["first"], r["quality"]) for r in rows):
            group = [r for r in rows if (r["kind"], r["encoder"], r["first"], r["quality"]) == key]
            zs = [r["z"] for r in group if r.get("z") is not None]
            lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {len(group)} | "
                         f"{sum(r['primary'] == r['first'] for r in group)} | "
                         + (f"{min(zs):.1f}" if zs and key[0] == "aligned" else "-") + " |")
        lines.append("")
    return lines


def markdown(doc: dict) -> str:
    lines = [f"# Quantization estimate and blind correction ({doc['date']}, commit {doc['commit']})", "",
             f"Command: `{doc['command']}`", "",
             f"CPU: {doc['cpu']}, {doc['threads']} thread(s); load average before the run "
             f"{doc.get('load_before', float('nan')):.2f} (the machine is shared: compare ratios, not absolute "
             "times).", ""]
    if "recovery" not in doc:
        return "\n".join(lines + _auto_lines(doc) + (_layout_cost_lines(doc["layout_costs"]) if doc.get("layout_costs")
                                                      else []) + _shifted_lines(doc)
                         + (_time_lines(doc["time"]) if "time" in doc else [])) + "\n"
    lines += ["## Table recovery", "",
              "| set | quality | mode | images | found | luma exact | chroma exact | grid offset right "
              "| mean abs luma step error |", "|---|---|---|---|---|---|---|---|---|"]
    for r in doc["recovery"]:
        err = "-" if r["luma_step_error"] is None else f"{r['luma_step_error']:.2f}"
        lines.append(f"| {r['set']} | {r['quality']} | {r['mode']} | {r['images']} | {r['found']:.0%} | "
                     f"{r['luma_exact']:.0%} | {r['chroma_exact']:.0%} | {r['offset_ok']:.0%} | {err} |")
    t = doc["tuning"]
    lines += ["", "## Threshold (tuned on BSDS500 train only)", "",
              f"{t['images']} train images: decoded JPEGs (q {t['qualities']}) confidence min {t['jpeg_min']:.3f}, "
              f"median {t['jpeg_median']:.3f}; never compressed (downscaled 3x) max {t['never_max']:.3f}, median "
              f"{t['never_median']:.3f}. `MIN_CONFIDENCE` = {t['min_confidence']}.", "",
              "## Blind gain vs the gain with the file's table (default model, LIVE1)", "",
              "| quality | images | gain, file's table | gain, blind | blind - true | gain, table, crop (3,5) "
              "| gain, blind, crop | blind - true, crop |", "|---|---|---|---|---|---|---|---|"]
    for q in sorted({r["quality"] for r in doc["gain"]}):
        rows = [r for r in doc["gain"] if r["quality"] == q]
        t, b, tc, bc = (_mean(rows, k) for k in ("gain_true", "gain_blind", "gain_true_crop", "gain_blind_crop"))
        worst = min(min(r["gain_blind"] for r in rows), min(r["gain_blind_crop"] for r in rows))
        lines.append(f"| {q} | {len(rows)} | {t:+.3f} dB | {b:+.3f} dB | {b - t:+.3f} | {tc:+.3f} dB | {bc:+.3f} dB "
                     f"| {bc - tc:+.3f} (worst blind gain of any image {worst:+.3f}) |")
    if doc.get("double"):
        lines += ["", "## Twice-compressed JPEGs (grids aligned): gain with `table=auto` vs the file's table", "",
                  "| first | second | images | gain, file's table | gain, auto |", "|---|---|---|---|---|"]
        for first, second in sorted({(r["first"], r["second"]) for r in doc["double"]}):
            rows = [r for r in doc["double"] if (r["first"], r["second"]) == (first, second)]
            lines.append(f"| {first} | {second} | {len(rows)} | {_mean(rows, 'gain_file'):+.3f} dB | "
                         f"{_mean(rows, 'gain_auto'):+.3f} dB |")
    rows = doc["never"]
    identical = sum(r["identical"] for r in rows)
    worst = min((r["psnr_vs_input"] for r in rows if r["psnr_vs_input"] is not None), default=None)
    lines += ["", "## Never-compressed images (LIVE1 originals, BMP)", "",
              f"{len(rows)} images: {sum(r['found'] for r in rows)} with a JPEG history found; {identical} returned "
              "identical" + ("" if worst is None else f"; the others at least {worst:.1f} dB PSNR from the input") +
              ". Highest confidence " + f"{max(r['confidence'] for r in rows):.3f}.", ""]
    return "\n".join(lines + _shifted_lines(doc) + _time_lines(doc["time"])) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--recovery-images", type=int, default=8)
    parser.add_argument("--tuning-images", type=int, default=12)
    parser.add_argument("--gain-images", type=int, default=3)
    parser.add_argument("--never-images", type=int, default=29)
    parser.add_argument("--qualities", type=int, nargs="+", default=[10, 20, 30, 50, 75, 95])
    parser.add_argument("--gain-qualities", type=int, nargs="+", default=[10, 30, 50])
    parser.add_argument("--time-images", type=int, default=4, help="images of each set timed")
    parser.add_argument("--name", default="estimate-cpu")
    parser.add_argument("--no-double", action="store_true", help="skip the twice-compressed section")
    parser.add_argument("--only", choices=["time", "shifted", "auto", "layout_costs"],
                        help="run one section (or group) alone")
    parser.add_argument("--layout-cost-images", type=int, default=4, help="training images of --only layout_costs")
    parser.add_argument("--auto-images", type=int, default=6,
                        help="photos of each set in the table='auto' sections (--only auto)")
    parser.add_argument("--auto-graphics", type=int, default=24, help="synthetic graphics in --only auto")
    parser.add_argument("--auto-qualities", type=int, nargs="+", default=[50, 60, 70, 75, 80, 85, 90, 95, 100])
    parser.add_argument("--auto-tuning-sets", nargs="+", default=["bsds500_trainval/train", "urban100"],
                        help="training sets (under --datasets) of the table='auto' sections")
    parser.add_argument("--auto-report-sets", nargs="*", default=["live1", "bsds500_test", "classic5", "mcmaster"],
                        help="evaluation sets (under --datasets) whose table='auto' rates are reported, not tuned on")
    args = parser.parse_args()

    doc = {"date": datetime.date.today().isoformat(), "commit": git_commit(), "cpu": platform.processor() or
           platform.machine(), "threads": torch.get_num_threads(),
           "load_before": os.getloadavg()[0],
           "command": f"OMP_NUM_THREADS={torch.get_num_threads()} python -m experiments.estimate " + " ".join(sys.argv[1:])}
    if args.only == "auto":
        tuning_sets = {name: _photo_crops(args.datasets / name, args.auto_images) for name in args.auto_tuning_sets}
        report_sets = {name: _photo_crops(args.datasets / name, args.auto_images) for name in args.auto_report_sets}
        doc["auto_tuning_kinds"] = list(tuning_sets)
        doc["auto_false_positives"] = auto_false_positives({**tuning_sets, **report_sets},
                                                           _graphics(args.auto_graphics), args.auto_qualities)
        doc["auto_doubles"] = auto_doubles([i for images in tuning_sets.values() for i in images],
                                           [10, 20, 30, 40], [70, 80, 90, 95])
        _write(args.name, doc)
        return
    if args.only == "layout_costs":
        train = _images(args.datasets / "bsds500_trainval" / "train", 20 + args.layout_cost_images)[20:]
        doc["layout_costs"] = layout_costs(train, [10, 30])
        _write(args.name, doc)
        return
    live1 = _images(args.datasets / "live1", max(args.recovery_images, args.gain_images, args.never_images))
    bsds = _images(args.datasets / "bsds500_test", args.recovery_images)
    train = _images(args.datasets / "bsds500_trainval" / "train", args.tuning_images)
    if args.only is None:
        doc["tuning"] = tuning(train, [10, 30, 50, 75, 95])
        doc["recovery"] = recovery({"LIVE1": live1[:args.recovery_images], "BSDS500 test": bsds}, args.qualities)
        doc["gain"] = gain(live1[:args.gain_images], args.gain_qualities)
        doc["double"] = [] if args.no_double else double(live1[:args.gain_images], [(10, 90), (20, 75), (30, 95)])
        doc["never"] = never(live1[:args.never_images])
    if args.only != "time":
        doc["shifted_tuning"] = shifted_tuning(train, [30, 50, 75, 90, 95])
        doc["layouts"] = layouts({"LIVE1": live1[:args.recovery_images], "BSDS500 test": bsds}, [10, 30, 50, 75, 95])
        doc["layout_gain"] = layout_gain(live1[:args.gain_images], [10, 30])
        doc["shifted"] = shifted({"LIVE1": live1[:args.gain_images], "BSDS500 test": bsds[:args.gain_images]})
    doc["time"] = timing(live1[:args.time_images] + bsds[:args.time_images])
    _write(args.name, doc)


def _write(name: str, doc: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown(doc))
    print(markdown(doc))


if __name__ == "__main__":
    main()
