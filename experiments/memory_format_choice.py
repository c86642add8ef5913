"""Whether channels-last memory speeds up the model on the CPU: a training step and an inference
forward of the shipped ``default`` in contiguous (NCHW) and channels-last layouts.

Usage (from the repository root, inside .venv; on an otherwise quiet machine)::

    python -m experiments.memory_format_choice [--threads 1 2] [--steps 24] [--repeats 7] [--name memory-format-cpu]

Layouts:

* ``contiguous``: what the trainer and ``CorrectionStep`` use;
* ``channels_last``: the model's parameters converted with ``model.to(memory_format=torch.channels_last)``
  (convolutions then return channels-last outputs for channels-last inputs, but the CFMs and the
  tile/frequency reshapes between the networks hand on contiguous tensors);
* ``channels_last_everywhere``: as above, and every convolution's input converted to channels last
  by a forward pre-hook, so each convolution runs in that layout whatever produced its input.

Each (precision, threads, layout) runs in its own subprocess with ``OMP_NUM_THREADS`` set:

* training: the trainer's own step (:class:`qgac_fast.train.objective.Objective`, ``regression_loss``,
  backward, AdamW) on three fixed batches of 16 64x64 4:2:0 crops of the bundled samples,
  compressed before timing; median step time over ``--steps`` steps after 4 warm-up steps;
* inference: ``CorrectionStep.restore`` of one 512x512 4:2:0 JPEG (quality 30); median of
  ``--repeats`` after one warm-up.

Writes ``bench/results/<name>.{json,md}`` with the ratio of each layout's time to contiguous.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

from bench.common import git_commit, save_report

ROOT = Path(__file__).resolve().parent.parent
LAYOUTS = ("contiguous", "channels_last", "channels_last_everywhere")
PRECISIONS = ("float32", "bf16")

# Runs in the subprocess: one (precision, threads, layout) case, prints its times as JSON.
_CHILD = """
import json, statistics, sys, time
import torch
from qgac_fast.codec import read_coefficients
from qgac_fast.compression import compress
from qgac_fast.inference import CorrectionStep
from qgac_fast.model import load_model, planes_from_jpeg
from qgac_fast.train.data import TrainingImages, TrainingSampler, collate, find_images, load_rgb
from qgac_fast.train.objective import Objective, regression_loss

precision, threads, layout, steps, repeats, samples = sys.argv[1:]
torch.set_num_threads(int(threads))
torch.manual_seed(0)
bf16 = precision == "bf16"


def arrange(model):
    if layout == "contiguous":
        return model
    model = model.to(memory_format=torch.channels_last)
    if layout == "channels_last_everywhere":
        def to_channels_last(module, args):
            return (args[0].contiguous(memory_format=torch.channels_last), *args[1:])
        for module in model.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                module.register_forward_pre_hook(to_channels_last)
    return model


files = find_images([samples])
dataset = TrainingImages(files, 64)
stream = iter(TrainingSampler(len(dataset), 16, {"4:2:0": 1.0}, seed=0))
batches = [collate([dataset[item] for item in next(stream)]).compress("cpu") for _ in range(3)]
model = arrange(load_model("default", device="cpu").float()).train()
for p in model.parameters():
    p.requires_grad_(True)
objective = Objective(model, "joint", bf16)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
train_s = []
for i in range(4 + int(steps)):
    planes, target = batches[i % 3]
    start = time.perf_counter()
    output, target = objective(planes.luma, planes.luma_table, planes.chroma, planes.chroma_table, target)
    loss = regression_loss(output, target, 0.05)[0]
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if i >= 4:
        train_s.append(time.perf_counter() - start)

image = load_rgb(files[0])[:512, :512]
planes = planes_from_jpeg(read_coefficients(compress(image, 30, subsampling="4:2:0")))
step = CorrectionStep(arrange(load_model("default", device="cpu")), precision=precision)
forward_s = []
for i in range(1 + int(repeats)):
    start = time.perf_counter()
    step.restore(planes)
    if i:
        forward_s.append(time.perf_counter() - start)
print(json.dumps({"train_step_ms": 1e3 * statistics.median(train_s), "forward_ms": 1e3 * statistics.median(forward_s),
                  "forward_mp_per_s": 512 * 512 / 1e6 / statistics.median(forward_s)}))
"""


def run_case(precision: str, threads: int, layout: str, steps: int, repeats: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    done = subprocess.run([sys.executable, "-c", _CHILD, precision, str(threads), layout, str(steps), str(repeats),
                           str(ROOT / "qgac_fast" / "samples")], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"case {precision}/{threads}/{layout} failed:\n{done.stderr[-2000:]}")
    return {"precision": precision, "threads": threads, "layout": layout,
            **json.loads(done.stdout.strip().splitlines()[-1])}


def markdown(report: dict) -> str:
    lines = ["# Channels-last memory on the CPU: training step and inference forward of `default`", "",
             f"Command: `{report['command']}`  ",
             f"Commit: {report['commit']}; date {report['date']}; torch {report['torch']}; {report['machine']}; "
             f"load average before the run {report['load_average']}.", "",
             "Training: one step of the trainer on a batch of 16 64x64 4:2:0 crops (median ms). Inference: "
             "`CorrectionStep.restore` of a 512x512 4:2:0 JPEG. x: the layout's time over contiguous's "
             "(below 1: faster).", "",
             "| precision | threads | layout | train step ms | x | forward ms | x | forward MP/s |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    base = {(r["precision"], r["threads"]): r for r in report["rows"] if r["layout"] == "contiguous"}
    for r in report["rows"]:
        b = base[(r["precision"], r["threads"])]
        lines.append(f"| {r['precision']} | {r['threads']} | {r['layout']} | {r['train_step_ms']:.0f} | "
                     f"{r['train_step_ms'] / b['train_step_ms']:.2f} | {r['forward_ms']:.0f} | "
                     f"{r['forward_ms'] / b['forward_ms']:.2f} | {r['forward_mp_per_s']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS))
    parser.add_argument("--steps", type=int, default=24, help="timed training steps per case")
    parser.add_argument("--repeats", type=int, default=7, help="timed inference forwards per case")
    parser.add_argument("--name", default="memory-format-cpu")
    args = parser.parse_args(argv)
    import torch

    command = ["python", "-m", "experiments.memory_format_choice", *(sys.argv[1:] if argv is None else argv)]
    report = {"command": shlex.join(command),
              "commit": git_commit(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "torch": torch.__version__, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
              "load_average": " ".join(f"{v:.2f}" for v in os.getloadavg()), "rows": []}
    for precision in args.precisions:
        for threads in args.threads:
            for layout in LAYOUTS:
                row = run_case(precision, threads, layout, args.steps, args.repeats)
                print(json.dumps(row), file=sys.stderr)
                report["rows"].append(row)
    save_report(args.name, report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
