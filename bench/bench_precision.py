"""bf16 autocast against float32 on the CPU: speed of the default model, and (from ``qgac-fast
eval`` results) accuracy.

Usage (from the repository root, inside .venv; on an otherwise quiet machine)::

    python bench/bench_precision.py [--threads 2] [--size 512] [--repeats 7]
        [--eval float32=FILE.json bf16=FILE.json] [--name precision-cpu]

Speed: a 4:2:0 JPEG (quality 30) of the bundled photos' mosaic, ``--size`` square, through
``CorrectionStep.restore`` (the model's forward) and ``CorrectionStep.__call__`` (forward, clamp and
decode: what ``qgac_fast.correct`` runs after reading) in each precision; the cases run round robin
(a drift in the machine's load hits all alike) after a warm-up round; the median of ``--repeats``.
Accuracy: the PSNR of each ``--eval`` file (``qgac-fast eval DATASET --quality ... --precision P
--json FILE``) side by side. Writes ``bench/results/<name>.{json,md}``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from conftest import git_commit, mosaic_jpegs  # noqa: E402  (bench/conftest.py)

RESULTS = Path(__file__).parent / "results"
PRECISIONS = ("float32", "bf16")


def speed(threads: int, size: int, repeats: int) -> list[dict]:
    import torch

    import qgac_fast
    from qgac_fast.inference import CorrectionStep
    from qgac_fast.model import planes_from_jpeg

    torch.set_num_threads(threads)
    model = qgac_fast.load_model("default", device="cpu")
    planes = planes_from_jpeg(qgac_fast.read_coefficients(mosaic_jpegs(size, 1, 30)[0]))
    steps = {p: CorrectionStep(model, precision=p) for p in PRECISIONS}
    cases = {(p, "forward"): (lambda s=steps[p]: s.restore(planes)) for p in PRECISIONS}
    cases.update({(p, "forward + clamp + decode"): (lambda s=steps[p]: s(planes)) for p in PRECISIONS})
    times = {key: [] for key in cases}
    for repeat in range(repeats + 1):
        for key, fn in cases.items():
            start = time.perf_counter()
            fn()
            if repeat:
                times[key].append(time.perf_counter() - start)
    rows = []
    for (precision, case), runs in times.items():
        median = statistics.median(runs)
        rows.append({"precision": precision, "case": case, "median_s": median, "min_s": min(runs),
                     "max_s": max(runs), "mp_per_s": size * size / 1e6 / median})
    for row in rows:
        row["x_float32"] = next(r["median_s"] for r in rows if r["case"] == row["case"]
                                and r["precision"] == "float32") / row["median_s"]
    return rows


def accuracy(files: dict[str, str]) -> list[dict]:
    rows = []
    for precision, path in files.items():
        for result in json.loads(Path(path).read_text()):
            for quality, q in result["qualities"].items():
                rows.append({"precision": precision, "recorded_precision": result.get("precision"),
                             "dataset": result["dataset"], "quality": int(quality),
                             "jpeg_psnr": q["jpeg"]["psnr"], "psnr": q["corrected"]["psnr"],
                             "ssim": q["corrected"]["ssim"]})
    return rows


def markdown(meta: dict, rows: list[dict], acc: list[dict]) -> str:
    lines = [f"# bf16 autocast vs float32 on the CPU ({meta['machine']})", "",
             f"Command: `{meta['command']}`; commit {meta['commit']}; torch {meta['torch']}; {meta['datetime']}.", "",
             f"Speed: default model, one {meta['size']}x{meta['size']} 4:2:0 JPEG (q30), {meta['threads']} torch "
             f"threads, median of {meta['repeats']} rounds after a warm-up, cases round robin.", "",
             "| case | precision | median s | min..max s | MP/s | x float32 |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['precision']} | {r['median_s']:.3f} | {r['min_s']:.3f}..{r['max_s']:.3f} | "
                     f"{r['mp_per_s']:.2f} | {r['x_float32']:.2f} |")
    if acc:
        lines += ["", "Accuracy: `qgac-fast eval` PSNR (dB, RGB) and SSIM (8x8 uniform window), the files given "
                  f"with `--eval` ({', '.join(meta['eval'].values())}).", "",
                  "| dataset | q | JPEG | " + " | ".join(f"{p} PSNR / SSIM" for p in meta["eval"])
                  + " | difference dB |",
                  "|---|---|---|" + "---|" * len(meta["eval"]) + "---|"]
        for dataset, quality in sorted({(a["dataset"], a["quality"]) for a in acc}):
            cells = {a["precision"]: a for a in acc if a["dataset"] == dataset and a["quality"] == quality}
            values = [cells[p] for p in meta["eval"] if p in cells]
            diff = values[-1]["psnr"] - values[0]["psnr"] if len(values) > 1 else float("nan")
            lines.append(f"| {dataset} | {quality} | {values[0]['jpeg_psnr']:.4f} | " +
                         " | ".join(f"{v['psnr']:.4f} / {v['ssim']:.5f}" for v in values) + f" | {diff:+.4f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--eval", nargs="*", default=[], metavar="PRECISION=FILE")
    parser.add_argument("--name", default="precision-cpu")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    import torch

    from qgac_fast.cpu import has_fast_bf16

    files = dict(item.split("=", 1) for item in args.eval)
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} logical CPUs, native bf16: {has_fast_bf16()}",
            "threads": args.threads, "size": args.size, "repeats": args.repeats, "torch": torch.__version__,
            "commit": git_commit(), "eval": files,
            "datetime": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "command": shlex.join(["python", "bench/bench_precision.py", *(sys.argv[1:] if argv is None else argv)])}
    rows, acc = speed(args.threads, args.size, args.repeats), accuracy(files)
    table = markdown(meta, rows, acc)
    print(table)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{args.name}.json").write_text(json.dumps({"meta": meta, "speed": rows, "accuracy": acc},
                                                              indent=1) + "\n")
        (RESULTS / f"{args.name}.md").write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
