"""``qgac-fast train``: its arguments and run; the training itself is :mod:`qgac_fast.train`
(registered by :mod:`qgac_fast.cli.parser`)."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

from ..options import WEIGHT_DTYPES
from ..train.config import LAYERS, PIXEL_LOSSES, PRECISIONS, STAGES, TEXTURE_STATISTICS, TrainConfig
from . import CommandError
from .argtypes import MAX_THREADS, probabilities, threads

__all__ = ["DEFAULT_TRAINING_SETS", "add_parser", "default_data", "run"]

#: The training sets :func:`default_data` finds under ``$QGAC_FAST_DATASETS``.
DEFAULT_TRAINING_SETS = ("bsds500_trainval", "urban100")


def default_data() -> list[str]:
    """The training sets' folders: ``$QGAC_FAST_DATASETS`` / each of :data:`DEFAULT_TRAINING_SETS`.

    Raises:
        ValueError: ``QGAC_FAST_DATASETS`` is not set (the message says what to pass instead).
    """
    root = os.environ.get("QGAC_FAST_DATASETS")
    if not root:
        raise ValueError("no training data: pass --data DIR [DIR ...], or set QGAC_FAST_DATASETS to the folder that "
                         f"holds {' and '.join(DEFAULT_TRAINING_SETS)}")
    return [str(Path(root) / name) for name in DEFAULT_TRAINING_SETS]


def _defaults() -> argparse.Namespace:
    """:class:`TrainConfig`'s default settings (without building one, which loads torch to check them)."""
    return argparse.Namespace(**{f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
                                 for f in dataclasses.fields(TrainConfig)
                                 if (f.default, f.default_factory) != (dataclasses.MISSING,) * 2})


def add_parser(subparsers) -> None:
    """Declare ``train`` and its arguments on an argparse ``subparsers`` object."""
    defaults = _defaults()
    parser = subparsers.add_parser(
        "train", help="train QGAC weights (regression: L1 - lambda SSIM; or GAN fine-tuning with --gan)",
        description="Train a QGAC model on random crops of clean images compressed on the fly with libjpeg at "
                    "random qualities. Stages run in order: 'y' (Y network on luma), 'color' (colour network, "
                    "Y frozen), or 'joint' (end to end). Resumes from OUT/checkpoint.pt when it exists. "
                    "Multi-GPU / multi-node: torchrun --nproc-per-node N -m qgac_fast train ...",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", nargs="+", default=None, metavar="DIR",
                        help="folders of training images (default: bsds500_trainval and urban100 under "
                             "$QGAC_FAST_DATASETS); evaluation sets are refused")
    parser.add_argument("--out", required=True, help="run folder (checkpoint, log, final weights)")
    parser.add_argument("--model", default=defaults.model,
                        help="configuration of a fresh model: default or paper, optionally with field overrides, "
                             "e.g. default:block_channels=64,manifold=32 (fields: QGACConfig)")
    parser.add_argument("--init", default=None, help="start from these weights (name or .safetensors path)")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=defaults.stages)
    parser.add_argument("--steps", nargs="+", type=int, default=defaults.steps, help="steps per stage")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="per process")
    parser.add_argument("--crop", type=int, default=defaults.crop, help="crop side, multiple of 16")
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--min-lr", type=float, default=defaults.min_lr)
    parser.add_argument("--warmup", type=int, default=defaults.warmup)
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--clip", type=float, default=defaults.clip, help="gradient-norm clipping")
    parser.add_argument("--ssim-weight", type=float, default=defaults.ssim_weight,
                        help="lambda in L - lambda * SSIM")
    parser.add_argument("--pixel-loss", choices=PIXEL_LOSSES, default=defaults.pixel_loss,
                        help="L: l1 (the paper's) or l2 (mean squared error, PSNR's measure)")
    parser.add_argument("--layouts", type=probabilities("4:2:0=0.8,4:4:4=0.1,gray=0.1"), default=defaults.layouts,
                        help="batch layout probabilities, e.g. 4:2:0=0.8,4:4:4=0.1,gray=0.1")
    parser.add_argument("--tables", type=probabilities("ijg=0.75,non-baseline=0.1,perturbed=0.15"),
                        default=defaults.tables,
                        help="quantization table kinds and their probabilities: ijg (IJG quality in --qualities), "
                             "non-baseline (cjpeg's tables below quality 25, steps above 255), perturbed (IJG "
                             "tables with per-frequency noise: non-IJG tables)")
    parser.add_argument("--qualities", nargs=2, type=int, default=defaults.qualities, metavar=("LOW", "HIGH"))
    _add_run_options(parser, defaults)
    _add_gan_options(parser, defaults)
    parser.set_defaults(run=run)


def _add_run_options(parser: argparse.ArgumentParser, defaults: argparse.Namespace) -> None:
    """Where and how the run goes: data loading, precision, what it writes and when, the device."""
    parser.add_argument("--workers", type=int, default=defaults.workers,
                        help="DataLoader workers per process (they only crop; compression runs on the device)")
    parser.add_argument("--precision", choices=PRECISIONS, default=defaults.precision,
                        help="auto: bf16 autocast on CUDA and on CPUs with AMX-BF16 or AVX512-BF16, else float32")
    parser.add_argument("--weights-dtype", choices=WEIGHT_DTYPES, default=defaults.weights_dtype,
                        help="storage type of the parameters in OUT/weights.safetensors (bfloat16: half the size)")
    parser.add_argument("--val-images", type=int, default=defaults.val_images)
    parser.add_argument("--log-every", type=int, default=defaults.log_every, help="steps between log.jsonl lines")
    parser.add_argument("--val-every", type=int, default=defaults.val_every)
    parser.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every)
    parser.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                        help="end a one-stage run after this much training time (wall time summed over resumes, "
                             "leaving out time stopped with kill -STOP or Ctrl-Z) as if its steps were done; the learning rate then decays over the time or "
                             "the steps, whichever runs out first")
    parser.add_argument("--ema", nargs="+", type=float, default=list(defaults.ema), metavar="DECAY",
                        help="also keep exponential moving averages of the weights with these decays (each "
                             "validated and written as OUT/weights-ema<DECAY>.safetensors)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--threads", type=threads, default=None, metavar="N",
                        help=f"torch CPU threads per process (1..{MAX_THREADS})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_gan_options(parser: argparse.ArgumentParser, defaults: argparse.Namespace) -> None:
    """GAN fine-tuning (``--gan``) and its losses."""
    gan = parser.add_argument_group(
        "GAN fine-tuning", "--gan trains on texture_weight * L_texture + gan_weight * L_G^Ra + l1_weight * L1 against "
                           "a patch discriminator (start from regression weights: --init default --stages joint)")
    gan.add_argument("--gan", action="store_true", help="GAN fine-tuning instead of regression")
    gan.add_argument("--texture-weight", type=float, default=defaults.texture_weight)
    gan.add_argument("--gan-weight", type=float, default=defaults.gan_weight, help="gamma")
    gan.add_argument("--l1-weight", type=float, default=defaults.l1_weight, help="nu")
    gan.add_argument("--texture-statistic", choices=TEXTURE_STATISTICS, default=defaults.texture_statistic,
                     help="compare Gram matrices (random VGG) or the features themselves (trained VGG, as the paper)")
    gan.add_argument("--texture-layers", nargs="+", choices=LAYERS, default=defaults.texture_layers, metavar="LAYER",
                     help="VGG-16 layers of the texture loss, e.g. relu3_3 conv5_3")
    gan.add_argument("--texture-network", default=None, metavar="FILE",
                     help="VGG-16 state dict (.safetensors or torch.save, torchvision keys); default: seeded random weights")
    gan.add_argument("--d-lr", type=float, default=defaults.d_lr, help="discriminator learning rate")
    gan.add_argument("--d-channels", type=int, default=defaults.d_channels, help="discriminator width")


def run(args: argparse.Namespace) -> int:
    """Run ``train``; returns the exit status: 0 done.

    Raises:
        CommandError: status 2, a bad setting (``--device`` and torchrun's environment included);
            status 1, what :func:`~qgac_fast.train.train` raises as ``OSError`` or ``ValueError``
            (the data or the ``--init`` weights cannot be used, checked there before the first step).
    """
    import torch

    from ..devices import resolve_device, torchrun_ranks
    from ..train import train

    try:
        rank, _, _ = torchrun_ranks()
    except ValueError as error:
        raise CommandError(str(error), 2) from None
    try:
        resolve_device(args.device)
    except ValueError as error:
        raise CommandError(f"--device: {error}", 2) from None
    if args.threads:
        torch.set_num_threads(args.threads)
    config = _config(args)
    try:
        train(config)
    except (OSError, ValueError) as error:  # weights that are not QGAC's are a WeightsError, a ValueError
        raise CommandError(str(error), 1) from None
    if rank == 0:
        print(f"weights: {os.path.join(args.out, 'weights.safetensors')}")
    return 0


def _config(args: argparse.Namespace) -> TrainConfig:
    """The :class:`~qgac_fast.train.TrainConfig` of the options; its checks' ``ValueError`` is a
    usage error (``CommandError``, status 2)."""
    try:
        return TrainConfig(
            data=args.data or default_data(), out=args.out, model=args.model, init=args.init, stages=args.stages,
            steps=args.steps, batch_size=args.batch_size, crop=args.crop, lr=args.lr, min_lr=args.min_lr,
            warmup=args.warmup, weight_decay=args.weight_decay, clip=args.clip, ssim_weight=args.ssim_weight,
            pixel_loss=args.pixel_loss, layouts=args.layouts, qualities=tuple(args.qualities), tables=args.tables,
            workers=args.workers, precision=args.precision, weights_dtype=args.weights_dtype,
            val_images=args.val_images, log_every=args.log_every, val_every=args.val_every,
            checkpoint_every=args.checkpoint_every, time_limit=args.time_limit, seed=args.seed, device=args.device,
            progress=not args.quiet, gan=args.gan, texture_weight=args.texture_weight, gan_weight=args.gan_weight,
            l1_weight=args.l1_weight, texture_statistic=args.texture_statistic,
            texture_layers=tuple(args.texture_layers), texture_network=args.texture_network, d_lr=args.d_lr,
            d_channels=args.d_channels, ema=tuple(args.ema))
    except ValueError as error:
        raise CommandError(str(error), 2) from None
