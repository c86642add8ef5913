"""Training throughput on the CPU: training megapixels per second of the real trainer, by
precision, torch threads and DataLoader workers, and against an earlier commit.

Usage (from the repository root, inside .venv; on an otherwise quiet machine)::

    QGAC_BENCH_TRAIN_BEFORE=OLD_CHECKOUT QGAC_BENCH_TRAIN_VARIANTS="float32/2/0 bf16/2/0" \\
        python -m bench.run train --name train-cpu

Parameters (``QGAC_BENCH_TRAIN_*``): ``VARIANTS`` (``PRECISION/THREADS/WORKERS[/PROCESSES]``
items; default :data:`DEFAULT_VARIANTS`), ``STEPS`` (40), ``MODEL`` (the weights to start from,
name or path; default), ``BEFORE`` (an earlier checkout, its extension built, whose trainer runs
the variants too).

Each variant is one subprocess (or ``PROCESSES`` data-parallel ranks under
``torch.distributed.run``, gloo, each with ``THREADS``) running ``qgac_fast.train.train`` from the
``MODEL`` weights (joint stage, batch 16 of 64x64 crops of the bundled samples, no validation) for
``STEPS`` steps, logging every 5; the throughput is the median of the logged windows after the
first (warm-up) one: crop pixels trained per second, wall clock. ``BEFORE`` runs the variants again
with the code of another checkout (a ``git worktree`` of an earlier commit), first, so "before" and
"after" come from the same run; options that checkout's trainer lacks are left out, and variants it
cannot run are skipped (a trainer from before bf16 training runs only the float32 ones). The report
(:func:`markdown`): training MP/s, ms per step and the ratio to "before".
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bench.common import ROOT, git_commit, setting
from bench.report import provenance

NO_PRECISION = "trainer has no precision option"
DEFAULT_VARIANTS = ("float32/1/0", "bf16/1/0", "float32/2/0", "bf16/2/0", "bf16/1/1", "bf16/1/0/2")
VARIANTS = setting("TRAIN_VARIANTS", " ".join(DEFAULT_VARIANTS)).split()
STEPS = int(setting("TRAIN_STEPS", "40"))
MODEL = setting("TRAIN_MODEL", "default")
BEFORE = setting("TRAIN_BEFORE", "") or None

# Runs in the subprocess with the checkout under test first on sys.path: the trainer's own loop.
_CHILD = """
import dataclasses, json, sys, torch
from qgac_fast.train import TrainConfig, train
options = json.loads(sys.argv[1])
torch.set_num_threads(options.pop("threads"))
known = {f.name for f in dataclasses.fields(TrainConfig)}
dropped = sorted(set(options) - known)
precision = options.get("precision")
if precision not in (None, "float32") and "precision" in dropped:
    sys.exit(f"this checkout's trainer has no precision option: cannot run {precision}")
train(TrainConfig(**{k: v for k, v in options.items() if k in known}))
print(json.dumps({"dropped": dropped}))
"""


def run_variant(checkout: Path, precision: str, threads: int, workers: int, processes: int, steps: int,
                model: str) -> dict:
    """One variant in a subprocess (``processes`` ranks); returns its row (throughput and step time)."""
    with tempfile.TemporaryDirectory() as out:
        options = {"data": [str(ROOT / "qgac_fast" / "samples")], "out": out, "init": model, "stages": ["joint"],
                   "steps": [steps], "batch_size": 16, "crop": 64, "workers": workers, "val_images": 0,
                   "log_every": 5, "checkpoint_every": 10**6, "progress": False, "device": "cpu",
                   "precision": precision, "threads": threads}
        env = dict(os.environ, PYTHONPATH=str(checkout), OMP_NUM_THREADS=str(threads))
        child = Path(out) / "child.py"
        child.write_text(_CHILD)
        launcher = [] if processes == 1 else ["-m", "torch.distributed.run", "--standalone",
                                               f"--nproc-per-node={processes}"]
        done = subprocess.run([sys.executable, *launcher, str(child), json.dumps(options)], cwd=checkout, env=env,
                              capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"variant {precision}/{threads}/{workers}/{processes} in {checkout} failed:\n"
                               f"{done.stderr[-2000:]}")
        lines = [json.loads(line) for line in (Path(out) / "log.jsonl").read_text().splitlines()]
    rates = [line["mp_per_s"] for line in lines if "mp_per_s" in line][1:]
    rate = statistics.median(rates)
    return {"precision": precision, "threads": threads, "workers": workers, "processes": processes, "steps": steps,
            "windows": len(rates), "train_mp_per_s": rate, "step_ms": processes * 16 * 64 * 64 / 1e6 / rate * 1e3,
            "spread": (min(rates), max(rates))}


#: (code, checkout) pairs: the earlier checkout's trainer first, so both come from the same run.
CHECKOUTS = [("before", BEFORE)] * (BEFORE is not None) + [("after", str(ROOT))]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("code, checkout", CHECKOUTS, ids=[code for code, _ in CHECKOUTS])
def bench_train(benchmark, code, checkout, variant):
    precision, threads, workers, processes = (*variant.split("/"), "1")[:4]
    try:
        row = benchmark.pedantic(run_variant, args=(Path(checkout).resolve(), precision, int(threads), int(workers),
                                                    int(processes), STEPS, MODEL), rounds=1, iterations=1)
    except RuntimeError as error:
        if code == "before" and NO_PRECISION in str(error):
            pytest.skip("the earlier trainer has no bf16: its float32 rows still compare")
        raise
    benchmark.extra_info.update(row, code=code, model=MODEL, commit=git_commit(Path(checkout)))


def markdown(benchmarks: list[dict], run: dict) -> str:
    """The report's table of this module's cases (:mod:`bench.report`), each "after" row against
    the "before" row of the same precision, threads, workers and processes."""
    rows = [bench["extra_info"] for bench in benchmarks]
    key = ("precision", "threads", "workers", "processes")
    base = {tuple(r[k] for k in key): r["train_mp_per_s"] for r in rows if r["code"] == "before"}
    before = next((r["commit"] for r in rows if r["code"] == "before"), None)
    lines = [f"# Training throughput on the CPU ({run['machine']})", "", provenance(run), "",
             (f"Before: commit {before}. " if before else "") + f"Model `{rows[0]['model']}` from its shipped "
             "weights, batch 16 of 64x64 crops, joint stage.", "",
             "Training MP/s: crop pixels per second of wall clock, median of the logged windows after warm-up. "
             "x before: against the earlier commit's trainer with the same precision, threads, workers and "
             "processes. Processes: data-parallel ranks (gloo), each with the given threads; ms / step is per "
             "rank's batch of 16.", "",
             "| code | precision | threads | workers | processes | training MP/s | ms / step | x before |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ref = base.get(tuple(r[k] for k in key))
        ratio = f"{r['train_mp_per_s'] / ref:.2f}" if ref and r["code"] == "after" else ""
        lines.append(f"| {r['code']} | {r['precision']} | {r['threads']} | {r['workers']} | {r['processes']} | "
                     f"{r['train_mp_per_s']:.3f} | {r['step_ms']:.0f} | {ratio} |")
    return "\n".join(lines) + "\n"
