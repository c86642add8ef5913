"""The settings of a training run (:class:`TrainConfig`, the ``qgac-fast train`` options) and their
allowed values.

Nothing here loads torch (the command line builds its parser from these defaults); checks that
need the model's configurations import them when a :class:`TrainConfig` is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..options import WEIGHT_DTYPES

if TYPE_CHECKING:
    from ..model.config import QGACConfig

__all__ = ["LAYERS", "LAYOUTS", "PIXEL_LOSSES", "PRECISIONS", "STAGES", "TABLE_KINDS", "TEXTURE_STATISTICS",
           "VGG16_WIDTHS", "TrainConfig", "check_probabilities", "check_texture_layers"]

#: Training stages: "y" trains the Y network on luma; "color" trains the colour network with the
#: Y network frozen; "joint" trains everything end to end on RGB.
STAGES = ("y", "color", "joint")
#: Training precisions: "auto" is bf16 autocast where :func:`~qgac_fast.inference.step.resolve_precision`
#: picks it for inference (CUDA with bf16, CPUs with AMX-BF16 or AVX512-BF16), float32 elsewhere.
#: fp16 would need loss scaling, which the trainer does not do.
PRECISIONS = ("auto", "float32", "bf16")
#: Pixel distances ``L`` of the regression loss ``L - lambda SSIM``: the paper's L1, or the mean
#: squared error (PSNR's own measure).
PIXEL_LOSSES = ("l1", "l2")
#: Batch layouts: JPEG subsampling of the batch, or "gray" (one-component JPEGs of the luma).
LAYOUTS = ("4:2:0", "4:4:4", "gray")

#: Kinds of training tables (see :func:`~qgac_fast.train.data.sample_tables`) and the default probability of each.
TABLE_KINDS = {"ijg": 0.75, "non-baseline": 0.1, "perturbed": 0.15}

#: Statistics the texture loss compares (:class:`~qgac_fast.train.texture.TextureLoss`).
TEXTURE_STATISTICS = ("gram", "features")

# VGG-16 "D" convolution widths; "M" is a 2x2 max-pool.
VGG16_WIDTHS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)


def _layer_indices() -> dict[str, int]:
    indices, index, block, conv = {}, 0, 1, 1
    for width in VGG16_WIDTHS:
        if width == "M":
            index, block, conv = index + 1, block + 1, 1
        else:
            indices[f"conv{block}_{conv}"], indices[f"relu{block}_{conv}"] = index, index + 1
            index, conv = index + 2, conv + 1
    return indices


#: Named layers -> index in torchvision's ``vgg16().features`` (``convA_B`` before its ReLU,
#: ``reluA_B`` after it).
LAYERS = _layer_indices()


def check_texture_layers(layers: Sequence[str]) -> None:
    """Raise ValueError unless ``layers`` names one or more of :data:`LAYERS`."""
    unknown = [name for name in layers if name not in LAYERS]
    if not layers or unknown:
        raise ValueError(f"unknown VGG-16 layers {unknown or list(layers)}; choose from {', '.join(LAYERS)}")


def check_probabilities(name: str, given: dict[str, float], allowed: Sequence[str]) -> None:
    """Raise ValueError unless ``given`` maps some of ``allowed`` to non-negative probabilities
    with a positive sum (``name`` names the setting in the message)."""
    if (not given or set(given) - set(allowed) or any(not p >= 0 for p in given.values())
            or sum(given.values()) <= 0):
        raise ValueError(f"{name} must map some of {tuple(allowed)} to non-negative probabilities, got {given}")


@dataclass
class TrainConfig:
    """Everything a training run needs (the ``qgac-fast train`` options).

    Attributes:
        data: folders (or files) of clean training images.
        out: run folder: ``checkpoint.pt`` (resumable state), ``weights.safetensors`` (final
            weights), ``log.jsonl`` (losses and validation).
        model: configuration (name or QGACConfig) of a fresh model (ignored with ``init``).
        init: weights (name or path) to start from instead of a fresh model.
        stages: stages run in order, from :data:`STAGES`.
        steps: optimiser steps per stage (one number per stage).
        batch_size: samples per step per process; crop: their side in pixels (multiple of 16).
        lr, min_lr, warmup, weight_decay, clip: AdamW with linear warm-up then cosine decay to
            ``min_lr``, and gradient-norm clipping.
        ssim_weight: ``lambda`` in ``L - lambda * SSIM`` (pixels on [0, 1]).
        pixel_loss: ``L``: one of :data:`PIXEL_LOSSES`, ``"l1"`` (the paper's) or ``"l2"`` (the mean
            squared error: PSNR's own measure, for a final phase).
        layouts: per-batch probabilities of 4:2:0, 4:4:4 and gray batches.
        qualities: range of the random JPEG quality (of IJG and perturbed tables).
        tables: probabilities of the kinds of quantization tables
            (:func:`~qgac_fast.train.data.sample_tables`).
        workers: DataLoader worker processes per training process (they only crop: the
            compression runs batched on the training device).
        precision: one of :data:`PRECISIONS`: bf16 autocast for the network (the Y network's
            decode CFM stays float32, as in inference) or float32.
        log_every: steps between lines of ``log.jsonl``.
        weights_dtype: storage type of the parameters in ``weights.safetensors``, a key of
            :data:`~qgac_fast.options.WEIGHT_DTYPES` (``"bfloat16"``: half the bytes; the
            checkpoint stays float32).
        time_limit: seconds of training (summed over resumed pieces) after which a one-stage run
            ends as if its steps were done (checkpoint, validation, weights); the learning-rate
            decay then follows whichever of steps and time runs out first. None: steps only. The
            seconds are wall time, validation included, without the time the processes spend
            stopped (``kill -STOP``, Ctrl-Z; :class:`~qgac_fast.train.clock.TrainingClock`).
        val_images: images held back from ``data`` for validation; val_every: steps between
            validations (0: only at the end of each stage); checkpoint_every: steps between
            checkpoints.
        stats_images: images used to compute the normalisation statistics of a fresh model.
        seed: base seed (each rank adds its rank).
        device: ``"cuda"``, ``"cpu"`` or None (:func:`~qgac_fast.devices.default_device`: CUDA when
            available, under torchrun the local rank's GPU, else the CPU).
        progress: show a progress bar on rank 0.
        gan: GAN fine-tuning (usually with ``init``): each step trains the model on
            ``texture_weight * L_texture + gan_weight * L_G^Ra + l1_weight * L1``, then a
            :class:`~qgac_fast.train.gan.PatchDiscriminator` (``d_channels`` wide, AdamW at
            ``d_lr`` on the same schedule) on the relativistic average loss. The default
            ``l1_weight`` is 1.0, not the paper's 1e-2 (why: ``docs/training.md``, GAN
            fine-tuning).
        ema: decays of exponential moving averages of the weights kept beside the trained ones
            (updated after every optimiser step, validated with them, checkpointed, and written
            as ``weights-ema<decay>.safetensors``); empty: none.
        texture_statistic, texture_layers, texture_network: the texture loss
            (:class:`~qgac_fast.train.texture.TextureLoss`; ``texture_network``: a VGG-16
            state dict file, None for the seeded random VGG-16).
    """

    data: list[str]
    out: str
    model: str | QGACConfig = "default"
    init: str | None = None
    stages: list[str] = field(default_factory=lambda: ["y", "color"])
    steps: list[int] = field(default_factory=lambda: [20000, 10000])
    batch_size: int = 16
    crop: int = 64
    lr: float = 1e-3
    min_lr: float = 1e-6
    warmup: int = 200
    weight_decay: float = 1e-4
    clip: float = 1.0
    ssim_weight: float = 0.05
    pixel_loss: str = "l1"
    layouts: dict[str, float] = field(default_factory=lambda: {"4:2:0": 0.8, "4:4:4": 0.1, "gray": 0.1})
    qualities: tuple[int, int] = (10, 100)
    tables: dict[str, float] = field(default_factory=lambda: dict(TABLE_KINDS))
    workers: int = 0
    precision: str = "auto"
    weights_dtype: str = "float32"
    val_images: int = 8
    log_every: int = 50
    val_every: int = 1000
    checkpoint_every: int = 500
    time_limit: float | None = None
    stats_images: int = 64
    seed: int = 0
    device: str | None = None
    progress: bool = True
    gan: bool = False
    texture_weight: float = 1.0
    gan_weight: float = 5e-3
    l1_weight: float = 1.0
    texture_statistic: str = "gram"
    texture_layers: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3")
    texture_network: str | None = None
    d_lr: float = 1e-4
    d_channels: int = 32
    ema: tuple[float, ...] = ()

    def __post_init__(self):
        if not self.stages or any(s not in STAGES for s in self.stages):
            raise ValueError(f"stages must be a non-empty list of {STAGES}, got {self.stages}")
        if len(self.steps) != len(self.stages) or any(s < 1 for s in self.steps):
            raise ValueError(f"give one positive step count per stage: stages {self.stages}, steps {self.steps}")
        if self.time_limit is not None and (len(self.stages) != 1 or not self.time_limit > 0):
            raise ValueError(f"time_limit takes a positive number of seconds and one stage, got {self.time_limit} "
                             f"with stages {self.stages}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        from ..model.config import get_config  # loads torch: here, not when the parser is built

        get_config(self.model)  # an unknown name or override fails here, not inside the run
        check_probabilities("layouts", self.layouts, LAYOUTS)
        check_probabilities("tables", self.tables, TABLE_KINDS)
        if self.pixel_loss not in PIXEL_LOSSES:
            raise ValueError(f"pixel_loss must be one of {PIXEL_LOSSES}, got {self.pixel_loss!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.weights_dtype not in WEIGHT_DTYPES:
            raise ValueError(f"weights_dtype must be one of {WEIGHT_DTYPES}, got {self.weights_dtype!r}")
        if self.texture_statistic not in TEXTURE_STATISTICS:
            raise ValueError(f"texture_statistic must be one of {TEXTURE_STATISTICS}, got {self.texture_statistic!r}")
        check_texture_layers(self.texture_layers)
        if any(not 0 < d < 1 for d in self.ema):
            raise ValueError(f"ema decays must lie strictly between 0 and 1, got {list(self.ema)}")
        if self.gan and "y" in self.stages:
            raise ValueError("GAN fine-tuning judges RGB images: use the 'joint' or 'color' stage, not 'y'")
