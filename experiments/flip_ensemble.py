"""Test-time ensembles of flips and transposes, scored on the held-back training crops.

The 8x8 DCT makes the image's flips and its transpose exact operations on coefficient planes: a
horizontal flip reverses the order of the block columns and negates the odd horizontal
frequencies, a vertical flip the same for rows, and transposing the plane transposes the block grid
and every block (the quantization tables are transposed with it). So the model can correct each
of the 8 orientations of a JPEG's own coefficients; each output, turned back, is an estimate of the
same coefficients, and their mean is the ensemble's.

This study measures what that buys, before any of it is built into the engine: the gain over the
JPEG of the plain correction and of ensembles of 2 (identity, horizontal flip), 4 (the flips) and 8
(the flips of the plane and of its transpose), each paired with the plain correction crop by crop,
on the crops ``compare_configs`` scores (the weights' own held-back training images; never the
evaluation sets), with the same correction as the trainer's validation (float32, luma clamped to
the quantization bins, reference decode).

Usage (from the repository root, inside .venv; ``QGAC_FAST_DATASETS`` as for training)::

    python -m experiments.flip_ensemble [--weights default] [--val-images 16] [--threads 2]

Writes ``bench/results/flip-ensemble.{json,md}``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from bench.common import git_commit, save_report
from qgac_fast.codec import read_coefficients
from qgac_fast.compression import compress
from qgac_fast.functional.color import rgb_to_ycbcr_libjpeg
from qgac_fast.functional.jpeg import decode
from qgac_fast.inference.step import CorrectionStep
from qgac_fast.metrics import psnr
from qgac_fast.model import CoefficientPlanes, load_model, planes_from_jpeg
from qgac_fast.model.orientation import ORIENTATIONS, Orientation, orient, oriented
from qgac_fast.train.validation import VALIDATION_LAYOUTS, VALIDATION_QUALITIES

ENSEMBLES = {"x2": ORIENTATIONS[:2], "x4": ORIENTATIONS[:4], "x8": ORIENTATIONS}


def ensemble_outputs(step: CorrectionStep, planes: CoefficientPlanes) -> dict[Orientation, tuple]:
    """The de-normalised restored Y and chroma of every orientation, turned back to ``planes``'."""
    model, outputs = step.model, {}
    for orientation in ORIENTATIONS:
        y, chroma = step.restore(oriented(planes, orientation))
        outputs[orientation] = (orient(model.denormalize(y, 0), orientation, inverse=True),
                                None if chroma is None else
                                orient(model.denormalize(chroma, slice(1, 3)), orientation, inverse=True))
    return outputs


def decode_mean(step: CorrectionStep, planes: CoefficientPlanes, outputs: dict, members: list) -> torch.Tensor:
    """uint8 ``(C, H, W)``: the decode (with the clamp) of the mean of ``members``' outputs."""
    model = step.model
    y = sum(outputs[m][0] for m in members) / len(members)
    chroma = None if outputs[members[0]][1] is None else sum(outputs[m][1] for m in members) / len(members)
    return step.decode(planes, model.normalize(y, 0),
                       None if chroma is None else model.normalize(chroma, slice(1, 3)))[0]


def measure(weights: str, val_images: int) -> dict:
    """Per crop, layout and quality: the JPEG's PSNR and each ensemble's gain over it."""
    from qgac_fast.train.data import validation_crops
    from experiments.compare_configs import held_back, weights_of

    held = held_back(weights, val_images)
    step = CorrectionStep(load_model(weights_of(weights), device="cpu"), precision="float32",
                          decode_backend="reference")
    rows = []
    with torch.no_grad():
        for layout in VALIDATION_LAYOUTS:
            for quality in VALIDATION_QUALITIES:
                for index, crop in enumerate(validation_crops(held)):
                    image, options = ((rgb_to_ycbcr_libjpeg(crop)[:1], {}) if layout == "gray"
                                      else (crop, {"subsampling": layout}))
                    jc = read_coefficients(compress(image, quality=quality, **options))
                    planes = planes_from_jpeg(jc)
                    outputs = ensemble_outputs(step, planes)
                    jpeg = psnr(decode(jc), image).item()
                    row = {"crop": index, "layout": layout, "quality": quality, "jpeg_psnr": jpeg,
                           "plain": psnr(decode_mean(step, planes, outputs, ORIENTATIONS[:1]), image).item() - jpeg}
                    for name, members in ENSEMBLES.items():
                        row[name] = psnr(decode_mean(step, planes, outputs, members), image).item() - jpeg
                    rows.append(row)
    return {"weights": weights, "validation_images": len(held), "rows": rows}


def summary(rows: list[dict]) -> dict:
    """Mean gains, and each ensemble's paired difference from the plain correction (mean, standard
    error, smallest) overall and per layout and quality."""
    out = {"plain": statistics.mean(r["plain"] for r in rows)}
    for name in ENSEMBLES:
        differences = [r[name] - r["plain"] for r in rows]
        groups = {}
        for r in rows:
            groups.setdefault(f"{r['layout']} q{r['quality']}", []).append(r[name] - r["plain"])
        out[name] = {"gain": statistics.mean(r[name] for r in rows), "paired": statistics.mean(differences),
                     "se": statistics.stdev(differences) / len(differences) ** 0.5, "least": min(differences),
                     "by": {key: statistics.mean(values) for key, values in groups.items()}}
    return out


def markdown(report: dict) -> str:
    s = report["summary"]
    lines = ["# Test-time flip ensembles on the held-back crops", "",
             f"Command: `{report['command']}`  ", f"Commit: {report['commit']}; {report['date']}; "
             f"{report['seconds']:.0f} s", "",
             f"Weights `{report['weights']}`, its {report['validation_images']} held-back training images (256x256 "
             f"crops at q{'/'.join(map(str, VALIDATION_QUALITIES))} in {', '.join(VALIDATION_LAYOUTS)}: "
             f"{len(report['rows'])} corrections), float32, the trainer's validation correction. Gains over the "
             "JPEG's PSNR; each ensemble paired with the plain correction crop by crop.", "",
             "| correction | forwards | gain | over plain (± s.e.) | least over plain |", "|---|---:|---:|---:|---:|",
             f"| plain | 1 | {s['plain']:+.4f} dB | | |"]
    for name, members in ENSEMBLES.items():
        e = s[name]
        lines.append(f"| {name} | {len(members)} | {e['gain']:+.4f} dB | {e['paired']:+.4f} ± {e['se']:.4f} dB | "
                     f"{e['least']:+.3f} dB |")
    keys = list(s["x8"]["by"])
    lines += ["", "Over plain, by layout and quality (dB):", "", "| ensemble | " + " | ".join(keys) + " |",
              "|---|" + "---:|" * len(keys)]
    for name in ENSEMBLES:
        lines.append(f"| {name} | " + " | ".join(f"{s[name]['by'][k]:+.3f}" for k in keys) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.flip_ensemble", description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="default", help="shipped name or training run folder")
    parser.add_argument("--val-images", type=int, default=16, help="held-back images to score (of the weights' own)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="flip-ensemble", help="result name under bench/results/")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    report = measure(args.weights, args.val_images)
    report |= {"seconds": time.perf_counter() - start, "commit": git_commit(),
               "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "command": " ".join(["python -m experiments.flip_ensemble", *(argv if argv is not None else sys.argv[1:])])}
    report["summary"] = summary(report["rows"])
    save_report(args.name, report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
