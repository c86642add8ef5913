"""Figures of GAN fine-tuning: training losses, and side-by-side crops of both models' corrections.

Usage (from the repository root, inside .venv)::

    python tools/gan_figures.py losses runs/default-gan/log.jsonl docs/gan/losses.png
    python tools/gan_figures.py crops ../shared/datasets/live1 docs/gan/live1-q10.png \
        [--images bikes caps parrots womanhat] [--quality 10] [--size 128]
    python tools/gan_figures.py crops qgac_fast/samples docs/samples-q20.png \
        --images astronaut chelsea --quality 20 --size 96      # the README's figure

``losses``: the generator's loss and its parts (texture, adversarial, L1) and the
discriminator's loss and mean logits on real and fake images, per logged step, from a
``qgac-fast train --gan`` log. ``crops``: per image, the ``--size`` square with the most
high-frequency energy (where texture is), as original | JPEG | ``default`` (regression) |
``default-gan``, each titled with its whole image's PSNR against the original.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

from qgac_fast import correct, load_model  # noqa: E402
from qgac_fast.codec import read_coefficients  # noqa: E402
from qgac_fast.compression import compress  # noqa: E402
from qgac_fast.ops import decode  # noqa: E402
from qgac_fast.metrics import psnr  # noqa: E402


def plot_losses(log: Path, out: Path) -> None:
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    steps = [line for line in lines if "d_loss" in line]
    if not steps:
        raise SystemExit(f"{log}: no GAN steps logged (was the run trained with --gan?)")
    x = [line["step"] for line in steps]
    fig, (g, d) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label in (("loss", "total"), ("texture", "texture"), ("l1", "L1")):
        g.plot(x, [line[key] for line in steps], label=label)
    g.set_yscale("log")
    twin = g.twinx()
    twin.plot(x, [line["adversarial"] for line in steps], color="tab:red", alpha=0.6, label="adversarial (right)")
    twin.set_ylabel("L_G^Ra")
    g.set_title("generator")
    g.set_xlabel("step")
    g.legend(loc="upper left")
    twin.legend(loc="upper right")
    d.plot(x, [line["d_loss"] for line in steps], label="L_D^Ra")
    d.plot(x, [line["d_real"] for line in steps], label="mean logit, real")
    d.plot(x, [line["d_fake"] for line in steps], label="mean logit, fake")
    d.axhline(np.log(2), color="gray", lw=0.8, ls="--", label="log 2 (undecided)")
    d.set_title("discriminator")
    d.set_xlabel("step")
    d.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def _textured_square(image: torch.Tensor, size: int) -> tuple[int, int]:
    """Top-left corner of the ``size`` square (on the 8-pixel grid) with the most local variance."""
    luma = image.float().mean(0, keepdim=True)[None]
    detail = (luma - F.avg_pool2d(luma, 3, stride=1, padding=1, count_include_pad=False)).square()
    energy = F.avg_pool2d(detail, size, stride=8)[0, 0]
    row, col = divmod(int(energy.argmax()), energy.shape[1])
    return 8 * row, 8 * col


def plot_crops(dataset: Path, out: Path, names: list[str], quality: int, size: int) -> None:
    models = {"default": load_model("default", device="cpu"), "default-gan": load_model("default-gan", device="cpu")}
    fig, axes = plt.subplots(len(names), 4, figsize=(4 * 2.6, len(names) * 2.8), squeeze=False)
    for row, name in enumerate(names):
        path = next(p for p in dataset.iterdir() if p.stem == name)
        original = torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1)
        data = compress(original, quality=quality, subsampling="4:2:0")
        panels = {"original": original, f"JPEG q{quality}": decode(read_coefficients(data))}
        panels |= {model: correct(data, model=weights) for model, weights in models.items()}
        y, x = _textured_square(original, size)
        for column, (title, image) in enumerate(panels.items()):
            ax = axes[row, column]
            ax.imshow(image[:, y:y + size, x:x + size].permute(1, 2, 0).numpy(), interpolation="nearest")
            label = title if column == 0 else f"{title}\n{psnr(image, original).item():.2f} dB (whole image)"
            ax.set_title(f"{name}: {label}" if column == 0 else label, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    losses = commands.add_parser("losses", help="loss curves of a --gan run")
    losses.add_argument("log", type=Path)
    losses.add_argument("out", type=Path)
    crops = commands.add_parser("crops", help="original | JPEG | default | default-gan crops")
    crops.add_argument("dataset", type=Path)
    crops.add_argument("out", type=Path)
    crops.add_argument("--images", nargs="+", default=["bikes", "caps", "parrots", "womanhat"])
    crops.add_argument("--quality", type=int, default=10)
    crops.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    if args.command == "losses":
        plot_losses(args.log, args.out)
    else:
        plot_crops(args.dataset, args.out, args.images, args.quality, args.size)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
