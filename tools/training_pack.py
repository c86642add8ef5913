#!/usr/bin/env python3
"""Cut a training pack: a folder of PNG crops of the training sets, within a size budget, for
``qgac-fast train --data PACK`` on a machine that has no datasets (the GPU session's ``train``
stage reads ``.carry/train-pack``, which ``tools/prepare_gpu_carry.sh`` fills with this tool).

Crops are cut round-robin: every image gives one crop per round (in a seeded order that changes
each round) until the next crop would pass ``--max-mib``, so the pack spans all the training
images before any image gives a second crop. PNG keeps the pixels exact (the sources are q95
JPEGs and PNGs; a lossy pack would add artifacts of its own). The images that
``qgac-fast train --val-images N`` holds back from the same folders are left out (``--hold-out
N``), so that scoring the pack-trained weights on that validation stays fair.

Usage (from the repository root)::

    .venv/bin/python tools/training_pack.py --out .carry/train-pack --max-mib 30

Output: ``OUT/<set>-<image>-<top>-<left>.png`` (uint8 RGB, ``--crop`` pixels square) and
``OUT/pack.json`` (settings, counts, bytes, the crops' names); the last line printed is a
one-line summary.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from qgac_fast.cli.train import default_data
from qgac_fast.train.data import find_images, load_rgb, split_validation

#: Images held back by the project's CPU runs (``qgac-fast train --val-images 16``).
HOLD_OUT = 16


def _source_name(path: Path, roots: list[Path]) -> tuple[str, str]:
    """``(set, name)``: the ``--data`` folder that holds ``path`` and a flat name of the image in it."""
    for root in roots:
        try:
            relative = path.relative_to(root)
        except ValueError:
            continue
        return root.name, "_".join(relative.with_suffix("").parts) or path.stem
    return path.parent.name, path.stem


def make_pack(data: list[str], out: Path, crop: int = 192, max_mib: float = 30.0, hold_out: int = HOLD_OUT,
              seed: int = 0, max_per_image: int = 16) -> dict:
    """Write the pack (see the module docstring) and return its ``pack.json`` contents.

    Args:
        data: training folders (the evaluation sets are refused).
        out: pack folder; replaced when it holds an earlier pack, refused when it holds anything else.
        crop: side of the square crops in pixels, a multiple of 16; smaller images are skipped.
        max_mib: budget of the PNG files together, in MiB (2**20 bytes).
        hold_out: images left out as ``qgac-fast train --val-images hold_out`` holds them back.
        seed: seed of the crop positions and of each round's image order.
        max_per_image: rounds at most (crops per image), which ends a pack of few images.

    Raises:
        FileNotFoundError: a folder of ``data`` does not exist.
        ValueError: an evaluation set, no usable image, a bad setting, or ``out`` holds other files.
    """
    if crop < 16 or crop % 16:
        raise ValueError(f"--crop must be a positive multiple of 16, got {crop}")
    if not max_mib > 0 or max_per_image < 1:
        raise ValueError(f"--max-mib must be positive and --max-per-image >= 1, got {max_mib} and {max_per_image}")
    roots = [Path(d) for d in data]
    files, held = split_validation(find_images(roots), hold_out)
    if out.exists():
        if any(out.iterdir()) and not (out / "pack.json").is_file():
            raise ValueError(f"{str(out)!r} holds files but no pack.json: not replacing it")
        shutil.rmtree(out)
    out.mkdir(parents=True)

    images, skipped = [], 0
    for path in files:
        rgb = load_rgb(path)
        if min(rgb.shape[:2]) < crop:
            skipped += 1
            continue
        images.append((*_source_name(path, roots), rgb))
    if not images:
        raise ValueError(f"no training image is at least {crop}x{crop}")

    rng = np.random.default_rng(seed)
    budget, used, names, full = int(max_mib * 2**20), 0, [], False
    for _ in range(max_per_image):
        for index in rng.permutation(len(images)):
            source, name, rgb = images[index]
            top = int(rng.integers(rgb.shape[0] - crop + 1))
            left = int(rng.integers(rgb.shape[1] - crop + 1))
            buffer = io.BytesIO()
            Image.fromarray(rgb[top:top + crop, left:left + crop]).save(buffer, format="PNG")
            if used + buffer.tell() > budget:
                full = True
                break
            file = f"{source}-{name}-{top}-{left}.png"
            (out / file).write_bytes(buffer.getvalue())
            used += buffer.tell()
            names.append(file)
        if full:
            break
    per_set = {root.name: sum(1 for n in names if n.startswith(root.name + "-")) for root in roots}
    pack = {"crops": len(names), "crop": crop, "bytes": used, "max_mib": max_mib, "seed": seed,
            "sources": [str(r) for r in roots], "crops_per_set": per_set, "images": len(images),
            "images_too_small": skipped, "held_out": [str(p) for p in held], "files": sorted(names)}
    (out / "pack.json").write_text(json.dumps(pack, indent=1) + "\n")
    return pack


def summary(pack: dict) -> str:
    """One line naming a pack's contents (for ``.carry/MANIFEST``)."""
    sets = ", ".join(f"{name} {count}" for name, count in pack["crops_per_set"].items())
    return (f"train-pack: {pack['crops']} PNG crops of {pack['crop']}x{pack['crop']} ({sets}) from "
            f"{pack['images']} images, {pack['bytes'] / 2**20:.1f} MiB (budget {pack['max_mib']:g} MiB), "
            f"seed {pack['seed']}, {len(pack['held_out'])} validation images left out")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", nargs="+", default=None, metavar="DIR",
                        help="training folders (default: bsds500_trainval and urban100 under $QGAC_FAST_DATASETS); "
                             "evaluation sets are refused")
    parser.add_argument("--out", required=True, type=Path, help="pack folder (an earlier pack there is replaced)")
    parser.add_argument("--crop", type=int, default=192, help="crop side in pixels, a multiple of 16")
    parser.add_argument("--max-mib", type=float, default=30.0, help="size budget of the crops together, MiB")
    parser.add_argument("--hold-out", type=int, default=HOLD_OUT,
                        help="leave out the images `qgac-fast train --val-images N` holds back from these folders")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-per-image", type=int, default=16, help="crops per image at most")
    args = parser.parse_args(argv)
    try:
        pack = make_pack(args.data or default_data(), args.out, args.crop, args.max_mib, args.hold_out, args.seed,
                         args.max_per_image)
    except (OSError, ValueError) as error:
        print(f"training_pack.py: {error}", file=sys.stderr)
        return 1
    print(summary(pack))
    return 0


if __name__ == "__main__":
    sys.exit(main())
