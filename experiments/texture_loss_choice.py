"""Which texture loss to ship as the default of GAN fine-tuning (no pretrained network available).

Usage (from the repository root, inside .venv)::

    OMP_NUM_THREADS=1 python -m experiments.texture_loss_choice [--data DIR ...] [--crops 48] [--quality 10]

A texture loss for GAN fine-tuning should find a smooth, blurred restoration far from the
original, and the original's own texture at another phase (the same crop shifted by a few
pixels: what a generator that synthesises plausible texture produces) close to it; a loss that
prefers the blur pulls the generator back to the regression solution. For each candidate
(statistic x layers of a seeded random-weight VGG-16, :class:`qgac_fast.train.texture.TextureLoss`)
and ``--crops`` random 64x64 crops of training images, this measures

* ``loss(shifted)``: the crop 3 pixels along both axes (same texture, other phase);
* ``loss(regression)``: the shipped regression model's correction of the crop's JPEG at
  ``--quality`` (the smooth output GAN fine-tuning starts from);
* ``loss(jpeg)``: the JPEG itself;

and reports ``separation = mean loss(regression) / mean loss(shifted)`` (above 1: the loss
prefers the shifted texture to the regression output), the fraction of crops where it does,
and the seconds of one forward and backward pass on a batch of 16 (the training cost). Writes
``bench/results/texture-loss-choice.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time

import numpy as np
import torch

from bench.common import RESULTS, git_commit
from qgac_fast import correct, load_model
from qgac_fast.codec import read_coefficients
from qgac_fast.compression import compress
from qgac_fast.ops import decode
from qgac_fast.cli.train import default_data
from qgac_fast.train.data import find_images, load_rgb
from qgac_fast.train.texture import TextureLoss

CANDIDATES = {
    "gram relu1_2+relu2_2+relu3_3": ("gram", ("relu1_2", "relu2_2", "relu3_3")),
    "gram relu1_2": ("gram", ("relu1_2",)),
    "gram relu3_3": ("gram", ("relu3_3",)),
    "gram relu4_3": ("gram", ("relu4_3",)),
    "features relu1_2+relu2_2+relu3_3": ("features", ("relu1_2", "relu2_2", "relu3_3")),
    "features conv5_3 (the paper's layer)": ("features", ("conv5_3",)),
}
SIZE, SHIFT = 64, 3


def crops(data: list[str], count: int, seed: int = 0) -> list[torch.Tensor]:
    """``count`` uint8 ``(3, 67, 67)`` crops (a 64x64 crop plus room for the shift) of random images."""
    files = find_images(data)
    generator = np.random.default_rng(seed)
    out = []
    for index in generator.choice(len(files), size=count, replace=count > len(files)):
        image = load_rgb(files[index])
        h, w = image.shape[:2]
        y, x = generator.integers(0, h - SIZE - SHIFT), generator.integers(0, w - SIZE - SHIFT)
        out.append(torch.from_numpy(image[y:y + SIZE + SHIFT, x:x + SIZE + SHIFT].copy()).permute(2, 0, 1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=None, help="training image folders (default: the training sets)")
    parser.add_argument("--crops", type=int, default=48)
    parser.add_argument("--quality", type=int, default=10)
    parser.add_argument("--name", default="texture-loss-choice")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    model = load_model("default", device="cpu")
    images = {"target": [], "shifted": [], "regression": [], "jpeg": []}
    for crop in crops(args.data or default_data(), args.crops):
        target = crop[:, :SIZE, :SIZE].contiguous()
        data = compress(target, quality=args.quality, subsampling="4:2:0")
        images["target"].append(target)
        images["shifted"].append(crop[:, SHIFT:, SHIFT:].contiguous())
        images["regression"].append(correct(data, model=model, precision="float32"))
        images["jpeg"].append(decode(read_coefficients(data)))
    batch = {name: torch.stack(items).float() / 255 for name, items in images.items()}

    rows = []
    for name, (statistic, layers) in CANDIDATES.items():
        loss = TextureLoss(statistic, layers)
        per_crop = {kind: torch.stack([loss(batch[kind][i:i + 1], batch["target"][i:i + 1])
                                       for i in range(args.crops)]).detach()
                    for kind in ("shifted", "regression", "jpeg")}
        probe = batch["regression"][:16].clone().requires_grad_()
        loss(probe, batch["target"][:16]).backward()  # warm-up
        start = time.perf_counter()
        for _ in range(3):
            loss(probe, batch["target"][:16]).backward()
        seconds = (time.perf_counter() - start) / 3
        means = {kind: values.mean().item() for kind, values in per_crop.items()}
        rows.append({"candidate": name, "statistic": statistic, "layers": list(layers),
                     "mean_loss": means, "separation": means["regression"] / means["shifted"],
                     "shifted_closer_fraction": (per_crop["shifted"] < per_crop["regression"]).float().mean().item(),
                     "seconds_fwd_bwd_batch16": seconds})

    result = {"command": "python " + shlex.join(sys.argv), "env": {k: v for k, v in os.environ.items()
                                                               if k in ("OMP_NUM_THREADS",)},
              "machine": f"{platform.machine()}, {os.cpu_count()} logical CPUs, {torch.get_num_threads()} torch threads",
              "torch": torch.__version__, "commit": git_commit(), "crops": args.crops, "crop_size": SIZE,
              "shift": SHIFT, "quality": args.quality, "rows": rows}
    out = RESULTS
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Texture loss choice (seeded random VGG-16)", "",
             f"Command: `{result['command']}` (env {result['env']})", "",
             f"{result['machine']}; torch {result['torch']}; commit {result['commit']}.", "",
             f"{args.crops} random {SIZE}x{SIZE} crops of the training images; shifted = the crop {SHIFT} px along "
             f"both axes; regression = the shipped `default` model's correction of the crop's JPEG at q{args.quality}; "
             "separation = mean loss(regression) / mean loss(shifted) (above 1: the loss prefers the original's "
             "texture at another phase over the smooth restoration).", "",
             "| candidate | loss(shifted) | loss(regression) | loss(jpeg) | separation | crops where shifted is closer "
             "| s per fwd+bwd (16x64²) |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        m = row["mean_loss"]
        lines.append(f"| {row['candidate']} | {m['shifted']:.4g} | {m['regression']:.4g} | {m['jpeg']:.4g} | "
                     f"{row['separation']:.2f} | {100 * row['shifted_closer_fraction']:.0f}% | "
                     f"{row['seconds_fwd_bwd_batch16']:.3f} |")
    (out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
