"""How well ``estimate_quantization`` recovers JPEG history from pixels, and what blind correction gains.

Usage (from the repository root, inside .venv; datasets as in ``../shared/datasets/MANIFEST.md``)::

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive nice -n 5 python bench/bench_estimate.py \\
        [--recovery-images 8] [--gain-images 3] [--name estimate-cpu]

Sections (every JPEG made by libjpeg-turbo through ``qgac_fast.compress``, 4:2:0, IJG baseline
tables, decoded by Pillow, never by qgac_fast):

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
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from conftest import git_commit  # noqa: E402  (bench/conftest.py)

import qgac_fast  # noqa: E402
from qgac_fast.codec import read_coefficients  # noqa: E402
from qgac_fast.compression import compress  # noqa: E402
from qgac_fast.estimate import MIN_CONFIDENCE, estimate_quantization  # noqa: E402
from qgac_fast.metrics import psnr  # noqa: E402
from qgac_fast.primary import MIN_SHIFTED_FIT, choose_table, find_shifted_primary, shifted_estimate  # noqa: E402
from qgac_fast.quality import ijg_table  # noqa: E402

RESULTS = Path(__file__).parent / "results"
DATASETS = Path(__file__).parent.parent.parent / "shared" / "datasets"  # ../shared/datasets from the repo root


def _images(folder: Path, limit: int) -> list[tuple[str, np.ndarray]]:
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".bmp", ".jpg", ".png"))[:limit]
    return [(p.name, np.asarray(Image.open(p).convert("RGB"))) for p in paths]


SHIFTED_PAIRS = [(10, 90), (20, 75), (30, 95)]
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
    once = [shifted_estimate(read_coefficients(_decoded(image, q)[0])).confidence
            for _, image in images for q in qualities]
    twice = {}
    for first, second in SHIFTED_PAIRS:
        twice[f"{first}-{second}"] = [shifted_estimate(read_coefficients(_shifted_jpeg(image, first, second)))
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


def markdown(doc: dict) -> str:
    lines = [f"# Quantization estimate and blind correction ({doc['date']}, commit {doc['commit']})", "",
             f"Command: `{doc['command']}`", "",
             f"CPU: {doc['cpu']}, {doc['threads']} thread(s); load average before the run "
             f"{doc.get('load_before', float('nan')):.2f} (the machine is shared: compare ratios, not absolute "
             "times).", ""]
    if "recovery" not in doc:
        return "\n".join(lines + _shifted_lines(doc) + _time_lines(doc["time"])) + "\n"
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
    parser.add_argument("--only", choices=["time", "shifted"], help="run one section (or group) alone")
    args = parser.parse_args()

    live1 = _images(args.datasets / "live1", max(args.recovery_images, args.gain_images, args.never_images))
    bsds = _images(args.datasets / "bsds500_test", args.recovery_images)
    doc = {"date": datetime.date.today().isoformat(), "commit": git_commit(), "cpu": platform.processor() or
           platform.machine(), "threads": torch.get_num_threads(),
           "load_before": os.getloadavg()[0],
           "command": f"OMP_NUM_THREADS={torch.get_num_threads()} python bench/bench_estimate.py " + " ".join(sys.argv[1:])}
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
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    (RESULTS / f"{args.name}.md").write_text(markdown(doc))
    print(markdown(doc))


if __name__ == "__main__":
    main()
