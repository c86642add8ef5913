"""The architecture table: training runs of several configurations scored side by side.

Usage (from the repository root, inside .venv; speed columns want an otherwise quiet machine)::

    python -m experiments.compare_configs runs/compare/default runs/compare/wide default ... [--threads 2]
        [--size 512] [--repeats 5] [--val-images N] [--name config-comparison]

For each run folder (``qgac-fast train --out RUN``; its ``weights.safetensors``), weights file or
shipped name: the configuration,
parameters, forward GFLOP per megapixel, the steps and training megapixels it saw and its training
wall time, the validation gain on the run's own held-back images (or, with ``--val-images N``,
the N images the trainer holds back for ``--val-images N``, when every run held them back; recomputed with
:func:`qgac_fast.train.validation.validate`, so every run is scored the same way: 256x256 crops at
q10/30/50 in 4:2:0, 4:4:4 and gray), the difference from the first run paired image by image with
its standard error, and CPU inference speed: ``CorrectionStep.restore`` (the
forward) on a ``--size`` square 4:2:0 JPEG at ``--threads`` threads, float32 and bf16, median of
``--repeats`` round-robin runs. Writes ``bench/results/<name>.{json,md}``.
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

from bench.common import git_commit, mosaic_jpegs, save_report


def weights_of(run: str) -> Path:
    """The weights behind a run folder, a weights file or a shipped name."""
    from qgac_fast.model.weights import weights_path

    return Path(run) / "weights.safetensors" if Path(run).is_dir() else weights_path(run)


def _config_name(config) -> str:
    """A configuration as ``name:overrides`` against the shipped configuration it differs least from."""
    import dataclasses

    from qgac_fast.model.config import CONFIGS

    def changes(base):
        return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
                if getattr(config, f.name) != getattr(base, f.name)}

    name = min(CONFIGS, key=lambda n: len(changes(CONFIGS[n])))
    diff = changes(CONFIGS[name])
    return name + (":" + ",".join(f"{k}={v}" for k, v in diff.items()) if diff else "")


def held_back(run: str, val_images: int | None) -> list[str]:
    """The first ``val_images`` (default: all) of the images the training behind ``run`` (a run
    folder, weights file or shipped name) held back from its data.

    Raises:
        SystemExit: the run trained on some of them (``val_images`` above its own ``--val-images``).
    """
    from qgac_fast.model import read_metadata
    from qgac_fast.train.data import find_images, split_validation
    from qgac_fast.train.provenance import data_folders

    config = read_metadata(weights_of(run))["training"]["config"]
    files = find_images(data_folders(config["data"]))
    _, held = split_validation(files, config["val_images"] if val_images is None else val_images)
    if not set(held) <= set(split_validation(files, config["val_images"])[1]):
        raise SystemExit(f"{run} trained on some of the {len(held)} validation images (it held back "
                         f"{config['val_images']}); choose --val-images among the ones it held back")
    return held


def score(run: str, val_images: int | None) -> dict:
    """Size, training record and validation of one run's final weights."""
    from qgac_fast.model import load_model, read_metadata
    from qgac_fast.model.networks import flops_per_megapixel, parameter_count
    from qgac_fast.train.data import validation_crops
    from qgac_fast.train.provenance import training_pixels
    from qgac_fast.train.validation import validate

    weights = weights_of(run)
    training = read_metadata(weights)["training"]
    config = training["config"]
    model = load_model(weights, device="cpu")
    held = held_back(run, val_images)
    result = validate(model, validation_crops(held))
    return {"run": Path(run).name, "model": _config_name(model.config),
            "parameters": parameter_count(model.requires_grad_(True)),
            "gflop_per_mp": flops_per_megapixel(model) / 1e9, "steps": training.get("steps_done") or config["steps"],
            "training_mp": training_pixels(str(weights)) / 1e6, "wall_time_s": training["wall_time_s"],
            "precision": training.get("precision"), "validation_images": [Path(f).name for f in held], **result}


def paired(rows: list[dict]) -> None:
    """Each row's gain minus the first row's, paired image by image, as ``vs_first_db`` and its
    standard error over the images ``vs_first_se_db`` (rows scored on other images get none): the
    models' gains differ far less between them than between images, so pairing is what makes a few
    hundredths of a dB readable on a few images."""
    first = rows[0]
    for row in rows[1:]:
        if row["validation_images"] != first["validation_images"]:
            continue
        differences = [b - a for a, b in zip(first["gain_by_crop"], row["gain_by_crop"])]
        row["vs_first_db"] = statistics.fmean(differences)
        row["vs_first_se_db"] = (statistics.stdev(differences) / len(differences) ** 0.5 if len(differences) > 1
                                 else float("nan"))  # one image: no spread to estimate


def speed(runs: list[str], threads: int, size: int, repeats: int) -> dict[str, dict[str, float]]:
    """Forward MP/s of each run's model in float32 and bf16 at ``threads`` threads."""
    import torch

    import qgac_fast
    from qgac_fast.inference import CorrectionStep
    from qgac_fast.model import load_model, planes_from_jpeg

    torch.set_num_threads(threads)
    planes = planes_from_jpeg(qgac_fast.read_coefficients(mosaic_jpegs(size, 1, 30)[0]))
    cases = {}
    for run in runs:
        model = load_model(weights_of(run), device="cpu")
        for precision in ("float32", "bf16"):
            cases[(Path(run).name, precision)] = CorrectionStep(model, precision=precision)
    times = {key: [] for key in cases}
    for repeat in range(repeats + 1):  # round robin, after a warm-up round
        for key, step in cases.items():
            start = time.perf_counter()
            step.restore(planes)
            if repeat:
                times[key].append(time.perf_counter() - start)
    out: dict[str, dict[str, float]] = {}
    for (name, precision), runs_s in times.items():
        out.setdefault(name, {})[f"mp_per_s_{precision}"] = size * size / 1e6 / statistics.median(runs_s)
    return out


def markdown(report: dict) -> str:
    lines = [f"# Architecture comparison ({report['cpu']})", "",
             f"Command: `{report['command']}`  ", f"Commit: {report['commit']}; date {report['date']}; "
             f"torch {report['torch']}", "",
             "Validation: mean PSNR gain over the JPEG on each run's held-back training images (256x256 "
             "crops, q10/30/50, 4:2:0, 4:4:4 and gray), through the same correction step as `correct()`. "
             f"CPU inference: the forward on a {report['size']}x{report['size']} 4:2:0 JPEG at "
             f"{report['threads']} threads, median of {report['repeats']}.", "",
             "| run | model | parameters | GFLOP/MP | steps | training MP | wall time | validation gain | "
             f"4:2:0 q10 gain | vs {report['rows'][0]['run']} (paired, ± s.e.) | MP/s fp32 | MP/s bf16 |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        versus = f"{r['vs_first_db']:+.3f} ± {r['vs_first_se_db']:.3f} dB" if "vs_first_db" in r else ""
        lines.append(
            f"| {r['run']} | `{r['model']}` | {r['parameters'] / 1e6:.2f}M | {r['gflop_per_mp']:.1f} | "
            f"{r['steps'][0]} | {r['training_mp']:.0f} | {r['wall_time_s'] / 60:.0f} min | {r['gain_db']:+.3f} dB | "
            f"{r['gain_by']['4:2:0 q10']:+.3f} dB | {versus} | {r.get('mp_per_s_float32', float('nan')):.2f} | "
            f"{r.get('mp_per_s_bf16', float('nan')):.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="training run folders (with weights.safetensors), weights files or "
                                                "shipped names")
    parser.add_argument("--val-images", type=int, default=None,
                        help="score on the images --val-images N holds back (every run must have held them back)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-speed", action="store_true", help="skip the inference speed columns")
    parser.add_argument("--name", default="config-comparison")
    args = parser.parse_args(argv)
    import torch

    rows = []
    for run in args.runs:
        rows.append(score(run, args.val_images))
        print(json.dumps(rows[-1]), flush=True)
    paired(rows)
    if not args.no_speed:
        speeds = speed(args.runs, args.threads, args.size, args.repeats)
        for row in rows:
            row.update(speeds[row["run"]])
    report = {"command": shlex.join(["python", "-m", "experiments.compare_configs", *(argv or sys.argv[1:])]),
              "commit": git_commit(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "cpu": f"{platform.machine()}, {os.cpu_count()} cores", "torch": torch.__version__,
              "threads": args.threads, "size": args.size, "repeats": args.repeats, "rows": rows}
    save_report(args.name, report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
