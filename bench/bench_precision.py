"""bf16 autocast against float32 on the CPU: speed of the default model, and (from ``qgac-fast
eval`` results) accuracy.

Usage (from the repository root, inside .venv; on an otherwise quiet machine)::

    QGAC_BENCH_PRECISION_EVAL="float32=FILE.json bf16=FILE.json" python -m bench.run precision --name precision-cpu

Parameters (``QGAC_BENCH_PRECISION_*``): ``THREADS`` (2), ``SIZE`` (512), ``REPEATS`` (7),
``EVAL`` (``PRECISION=FILE`` items: ``qgac-fast eval DATASET --quality ... --precision P --json FILE``
results to put side by side).

Speed: a 4:2:0 JPEG (quality 30) of the bundled photos' mosaic, ``SIZE`` square, through
``CorrectionStep.restore`` (the model's forward) and ``CorrectionStep.__call__`` (forward, clamp and
decode: what ``qgac_fast.correct`` runs after reading) in each precision; the median of ``REPEATS``
rounds after a warm-up round, each case's rounds back to back. Accuracy: the PSNR and SSIM of each
``EVAL`` file, read when the cases run and kept with them. The report (:func:`markdown`): MP/s and
the speed-up over float32, and the accuracy side by side.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import pytest

from bench.common import mosaic_jpegs, setting
from bench.report import provenance

THREADS = int(setting("PRECISION_THREADS", "2"))
SIZE = int(setting("PRECISION_SIZE", "512"))
REPEATS = int(setting("PRECISION_REPEATS", "7"))
EVAL = dict(item.split("=", 1) for item in setting("PRECISION_EVAL", "").split())
PRECISIONS = ("float32", "bf16")
CASES = ("forward", "forward + clamp + decode")


def accuracy(files: dict[str, str]) -> list[dict]:
    """One row per (precision, dataset, quality) of ``qgac-fast eval`` JSON files, ``{precision: path}``."""
    rows = []
    for precision, path in files.items():
        for result in json.loads(Path(path).read_text()):
            for quality, q in result["qualities"].items():
                rows.append({"precision": precision, "recorded_precision": result.get("precision"),
                             "dataset": result["dataset"], "quality": int(quality),
                             "jpeg_psnr": q["jpeg"]["psnr"], "psnr": q["corrected"]["psnr"],
                             "ssim": q["corrected"]["ssim"]})
    return rows


@pytest.fixture(scope="module")
def steps():
    """(the correction step of each precision, the JPEG's planes, the accuracy rows)."""
    import torch

    import qgac_fast
    from qgac_fast.inference import CorrectionStep
    from qgac_fast.model import planes_from_jpeg

    torch.set_num_threads(THREADS)
    model = qgac_fast.load_model("default", device="cpu")
    planes = planes_from_jpeg(qgac_fast.read_coefficients(mosaic_jpegs(SIZE, 1, 30)[0]))
    return {p: CorrectionStep(model, precision=p) for p in PRECISIONS}, planes, accuracy(EVAL)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("case", CASES)
def bench_precision(benchmark, steps, precision, case):
    import torch

    from qgac_fast.cpu import has_fast_bf16

    step, planes, rows = steps[0][precision], steps[1], steps[2]
    run = step.restore if case == "forward" else step
    benchmark.pedantic(run, args=(planes,), rounds=REPEATS, warmup_rounds=1, iterations=1)
    benchmark.extra_info.update(
        precision=precision, case=case, size=SIZE, threads=THREADS, repeats=REPEATS, torch=torch.__version__,
        machine=f"{platform.machine()}, {os.cpu_count()} logical CPUs, native bf16: {has_fast_bf16()}",
        eval=EVAL, accuracy=rows)


def markdown(benchmarks: list[dict], run: dict) -> str:
    """The report's tables of this module's cases (:mod:`bench.report`): speed against float32's
    in the same case, and the accuracy of the eval files."""
    first = benchmarks[0]["extra_info"]
    median = {(b["extra_info"]["precision"], b["extra_info"]["case"]): b["stats"]["median"] for b in benchmarks}
    lines = [f"# bf16 autocast vs float32 on the CPU ({first['machine']})", "", provenance(run), "",
             f"Speed: default model, one {first['size']}x{first['size']} 4:2:0 JPEG (q30), {first['threads']} torch "
             f"threads, torch {first['torch']}, median of {first['repeats']} rounds after a warm-up.", "",
             "| case | precision | median s | min..max s | MP/s | x float32 |", "|---|---|---|---|---|---|"]
    for bench in benchmarks:
        info, stats = bench["extra_info"], bench["stats"]
        base = median.get(("float32", info["case"]))
        ratio = f"{base / stats['median']:.2f}" if base else "n/a"
        lines.append(f"| {info['case']} | {info['precision']} | {stats['median']:.3f} | {stats['min']:.3f}.."
                     f"{stats['max']:.3f} | {info['size'] ** 2 / 1e6 / stats['median']:.2f} | {ratio} |")
    acc, files = first["accuracy"], first["eval"]
    if acc:
        lines += ["", "Accuracy: `qgac-fast eval` PSNR (dB, RGB) and SSIM (8x8 uniform window) of the files "
                  f"given in `QGAC_BENCH_PRECISION_EVAL` ({', '.join(files.values())}).", "",
                  "| dataset | q | JPEG | " + " | ".join(f"{p} PSNR / SSIM" for p in files) + " | difference dB |",
                  "|---|---|---|" + "---|" * len(files) + "---|"]
        for dataset, quality in sorted({(a["dataset"], a["quality"]) for a in acc}):
            cells = {a["precision"]: a for a in acc if a["dataset"] == dataset and a["quality"] == quality}
            values = [cells[p] for p in files if p in cells]
            diff = values[-1]["psnr"] - values[0]["psnr"] if len(values) > 1 else float("nan")
            lines.append(f"| {dataset} | {quality} | {values[0]['jpeg_psnr']:.4f} | " +
                         " | ".join(f"{v['psnr']:.4f} / {v['ssim']:.5f}" for v in values) + f" | {diff:+.4f} |")
    return "\n".join(lines) + "\n"
