"""Training throughput on the CPU: training megapixels per second of the real trainer, by
precision, torch threads and DataLoader workers, and against an earlier commit.

Usage (from the repository root, inside .venv; on an otherwise quiet machine)::

    python bench/bench_train.py [--variants float32/2/0 bf16/2/0 ...] [--steps 40] [--model default]
        [--before OLD_CHECKOUT] [--name train-cpu]

Each variant ``PRECISION/THREADS/WORKERS[/PROCESSES]`` is one subprocess (or ``PROCESSES``
data-parallel ranks under ``torch.distributed.run``, gloo, each with ``THREADS``) running ``qgac_fast.train.train``
from the shipped ``default`` weights (joint stage, batch 16 of 64x64 crops of the bundled samples,
no validation) for ``--steps`` steps, logging every 5; the throughput is the median of the logged
windows after the first (warm-up) one: crop pixels trained per second, wall clock. ``--before``
runs the float32 variants again with the code of another checkout (a ``git worktree`` of an
earlier commit, its extension built), so "before" and "after" come from the same run of this
script; options that checkout's trainer lacks are left out, and variants it cannot run are skipped
(a trainer from before bf16 training runs only the float32 ones). Writes ``bench/results/<name>.{json,md}``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from conftest import git_commit, save_report  # noqa: E402  (bench/conftest.py)

ROOT = Path(__file__).resolve().parent.parent
NO_PRECISION = "trainer has no precision option"
DEFAULT_VARIANTS = ("float32/1/0", "bf16/1/0", "float32/2/0", "bf16/2/0", "bf16/1/1", "bf16/1/0/2")

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


def markdown(report: dict) -> str:
    rows = report["rows"]
    key = ("precision", "threads", "workers", "processes")
    base = {tuple(r[k] for k in key): r["train_mp_per_s"] for r in rows if r["code"] == "before"}
    lines = [f"# Training throughput on the CPU ({report['cpu']})", "",
             f"Command: `{report['command']}`  ", f"Commit: {report['commit']} (before: {report.get('before_commit')})  ",
             f"Date: {report['date']}; torch {report['torch']}; model `{report['model']}` from its shipped weights, "
             "batch 16 of 64x64 crops, joint stage; load average before the run "
             f"{report.get('load_average', 'not recorded')}.", "",
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, metavar="PRECISION/THREADS/WORKERS[/PROCESSES]")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--model", default="default", help="weights to start from (name or path)")
    parser.add_argument("--before", type=Path, default=None, metavar="CHECKOUT",
                        help="an earlier checkout (extension built) whose trainer runs the variants too")
    parser.add_argument("--name", default="train-cpu")
    args = parser.parse_args(argv)
    import torch

    variants = [(*v.split("/"), "1")[:4] for v in args.variants]
    # a busy machine slows every variant: the load before the first one says whether it was quiet
    load_average = " ".join(f"{v:.2f}" for v in os.getloadavg())
    rows = []
    for code, checkout in (("before", args.before), ("after", ROOT)):
        if checkout is None:
            continue
        for precision, threads, workers, processes in variants:
            try:
                row = run_variant(checkout.resolve(), precision, int(threads), int(workers), int(processes),
                                  args.steps, args.model)
            except RuntimeError as error:
                if code == "before" and NO_PRECISION in str(error):
                    continue  # an earlier trainer without bf16: its float32 rows still compare
                raise
            rows.append({"code": code, **row})
            print(json.dumps(rows[-1]), flush=True)
    report = {"command": "python " + shlex.join(["bench/bench_train.py", *(argv or sys.argv[1:])]),
              "commit": git_commit(), "before_commit": git_commit(args.before) if args.before else None,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "cpu": f"{platform.machine()}, {os.cpu_count()} cores", "torch": torch.__version__, "model": args.model,
              "load_average": load_average, "rows": rows}
    save_report(args.name, report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
