"""The training loop: regression training of QGAC with L1 - lambda SSIM on decoded pixels, and
GAN fine-tuning with ``L_texture + gamma * L_G^Ra + nu * L1`` (``gan=True``).

Runs on one device or data-parallel under ``torchrun`` (DistributedDataParallel; NCCL on GPUs,
gloo on CPUs). Rank 0 owns the progress bar, validation, checkpoints and the final weights.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import platform
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from ..atomic import write_atomic
from ..compression import compress
from ..cpu import flush_denormals
from ..inference.step import CorrectionStep, resolve_precision
from ..codec import read_coefficients
from ..functional.color import rgb_to_ycbcr, rgb_to_ycbcr_libjpeg
from ..metrics import psnr, ssim
from ..functional.jpeg import decode
from ..devices import resolve_device, torchrun_ranks
from ..model import (QGAC, CoefficientPlanes, coefficient_statistics, load_model, planes_from_jpeg,
                     read_metadata, save_model)
from ..model.layers import make_tables
from ..model.weights import STORAGE_DTYPES
from .config import PRECISIONS, STAGES, TrainConfig
from .data import TrainingImages, TrainingSampler, collate, find_images, load_rgb, split_validation, validation_crops
from .gan import PatchDiscriminator, discriminator_loss, generator_loss
from .texture import TextureLoss

__all__ = ["PRECISIONS", "STAGES", "Objective", "TrainConfig", "regression_loss", "train", "training_pixels", "validate"]

def _device(config: TrainConfig, local_rank: int) -> torch.device:
    device = resolve_device(config.device)
    # "cuda" without an index is this process's GPU (under torchrun, each rank its own)
    return torch.device("cuda", local_rank) if device.type == "cuda" and device.index is None else device


def _schedule(step: int, total: int, config: TrainConfig, elapsed: float = 0.0) -> float:
    """Learning-rate factor: linear warm-up, then cosine decay from 1 to ``min_lr / lr`` over the
    steps, or over ``config.time_limit`` seconds when ``elapsed`` of them get there first."""
    if step < config.warmup:
        return (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, total - config.warmup)
    if config.time_limit:
        progress = max(progress, elapsed / config.time_limit)
    floor = config.min_lr / config.lr
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


class Objective(torch.nn.Module):
    """The model from coefficient planes to pixels in [0, 1] through the differentiable decode,
    with the matching target, as a module so DistributedDataParallel can wrap it.

    The "y" stage produces luma only (and the target's Y); the others produce RGB (Y for gray
    batches).
    """

    def __init__(self, model: QGAC, stage: str, bf16: bool):
        super().__init__()
        self.model, self.stage, self.bf16 = model, stage, bf16

    def forward(self, luma, luma_table, chroma, chroma_table, target) -> tuple[torch.Tensor, torch.Tensor]:
        """Planes as in :class:`~qgac_fast.model.inputs.CoefficientPlanes`, uint8 ``target``
        ``(N, C, H, W)``; returns ``(output, target)``, float32 ``(N, C', H, W)`` on [0, 1]."""
        model, size = self.model, tuple(target.shape[-2:])
        luma_only = self.stage == "y" or chroma is None
        with torch.autocast(luma.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            if luma_only:
                y, chroma = model.y_net(model.normalize(luma, 0), make_tables(luma_table, luma.dtype)), None
            else:
                y, chroma = model.restore(CoefficientPlanes(luma, chroma, luma_table, chroma_table, size))
        output = model.to_pixels(y.float(), None if chroma is None else chroma.float(), size) / 255.0
        target = target.to(torch.float32)
        if luma_only and target.shape[1] == 3:
            target = rgb_to_ycbcr(target)[:, :1]
        return output, target / 255.0


def regression_loss(output: torch.Tensor, target: torch.Tensor, ssim_weight: float, pixel_loss: str = "l1"):
    """``(L - ssim_weight * SSIM, L1, SSIM)`` of pixels on [0, 1] (the last two detached), where
    ``L`` is the L1 distance or, with ``pixel_loss="l2"``, the mean squared error."""
    l1 = F.l1_loss(output, target)
    pixel = l1 if pixel_loss == "l1" else F.mse_loss(output, target)
    structural = ssim(output, target, data_range=1.0, dtype=output.dtype).mean()
    return pixel - ssim_weight * structural, l1.detach(), structural.detach()


class _Adversary:
    """The GAN side of a step: texture loss, discriminator and its optimiser."""

    def __init__(self, config: TrainConfig, device: torch.device, world: int, steps: int):
        self.config = config
        self.texture = TextureLoss(config.texture_statistic, config.texture_layers, config.texture_network).to(device)
        torch.manual_seed(config.seed + 1)  # every rank builds the same discriminator
        self.discriminator = PatchDiscriminator(config.d_channels).to(device)
        self.wrapped = self.discriminator if world == 1 else torch.nn.parallel.DistributedDataParallel(
            self.discriminator, device_ids=[device.index] if device.type == "cuda" else None)
        self.optimizer = torch.optim.AdamW(self.discriminator.parameters(), lr=config.d_lr, betas=(0.9, 0.99),
                                           weight_decay=0.0, fused=True)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: _schedule(s, steps, config))

    def generator_loss(self, output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """``texture_weight * L_texture + gan_weight * L_G^Ra + l1_weight * L1`` and its parts."""
        config = self.config
        self.discriminator.requires_grad_(False).eval()  # judged, not trained, in this half
        logits = self.discriminator(torch.cat([target, output]))
        real, fake = logits.chunk(2)
        adversarial = generator_loss(real, fake)
        texture = self.texture(output, target)
        l1 = F.l1_loss(output, target)
        loss = config.texture_weight * texture + config.gan_weight * adversarial + config.l1_weight * l1
        return loss, {"texture": texture.item(), "adversarial": adversarial.item(), "l1": l1.item()}

    def discriminator_step(self, output: torch.Tensor, target: torch.Tensor) -> dict:
        """One optimiser step of the discriminator on real ``target`` vs detached ``output``."""
        self.discriminator.requires_grad_(True).train()
        # one call on both halves: DDP expects one forward per backward
        real, fake = self.wrapped(torch.cat([target, output.detach()])).chunk(2)
        loss = discriminator_loss(real, fake)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return {"d_loss": loss.item(), "d_real": real.mean().item(), "d_fake": fake.mean().item()}

    def state_dict(self) -> dict:
        return {"discriminator": self.discriminator.state_dict(), "d_optimizer": self.optimizer.state_dict(),
                "d_scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.discriminator.load_state_dict(state["discriminator"])
        self.optimizer.load_state_dict(state["d_optimizer"])
        self.scheduler.load_state_dict(state["d_scheduler"])


def _trainable(model: QGAC, stage: str) -> list[torch.nn.Parameter]:
    """Select the stage's parameters (the others are frozen)."""
    model.requires_grad_(False)
    parts = {"y": [model.y_net], "color": [model.color_net], "joint": [model.y_net, model.color_net]}[stage]
    for part in parts:
        part.requires_grad_(True)
    return [p for part in parts for p in part.parameters()]


#: Validation settings: the IJG qualities and layouts every held-back crop is compressed at.
VALIDATION_QUALITIES = (10, 30, 50)
VALIDATION_LAYOUTS = ("4:2:0", "4:4:4", "gray")


@torch.no_grad()
def validate(model: QGAC, crops: list[torch.Tensor], qualities=VALIDATION_QUALITIES,
             layouts=VALIDATION_LAYOUTS) -> dict:
    """PSNR of the JPEG and of the correction over held-back crops, every crop at every quality and
    layout, corrected as :func:`qgac_fast.correct` does (float32, luma clamped to the quantization
    bins, reference decode). Gray compresses and scores the crop's libjpeg luma.

    Args:
        crops: uint8 ``(3, H, W)`` RGB crops (:func:`~qgac_fast.train.data.validation_crops`).

    Returns:
        ``{"jpeg_psnr", "model_psnr", "gain_db"}`` (dB, means over every crop, quality and layout),
        ``"gain_by"``: the mean gain per ``"layout q<quality>"``, and ``"gain_by_crop"``: the mean
        gain of each crop over qualities and layouts, in ``crops``' order (for paired comparisons of
        two models on the same crops).
    """
    step = CorrectionStep(model, precision="float32", decode_backend="reference")
    jpeg_db, model_db, gain_by = [], [], {}
    by_crop = [[] for _ in crops]
    for layout in layouts:
        for quality in qualities:
            gains = []
            for index, crop in enumerate(crops):
                image, options = (rgb_to_ycbcr_libjpeg(crop)[:1], {}) if layout == "gray" else (crop, {"subsampling": layout})
                jc = read_coefficients(compress(image, quality=quality, **options))
                out = step(planes_from_jpeg(jc).to(step.device))[0].cpu()
                jpeg_db.append(psnr(decode(jc), image).item())
                model_db.append(psnr(out, image).item())
                gains.append(model_db[-1] - jpeg_db[-1])
                by_crop[index].append(gains[-1])
            gain_by[f"{layout} q{quality}"] = sum(gains) / len(gains)
    model.train()
    jpeg, corrected = sum(jpeg_db) / len(jpeg_db), sum(model_db) / len(model_db)
    return {"jpeg_psnr": jpeg, "model_psnr": corrected, "gain_db": corrected - jpeg, "gain_by": gain_by,
            "gain_by_crop": [sum(g) / len(g) for g in by_crop]}


def training_pixels(init: str | None) -> int:
    """Training pixels behind the weights ``init`` (name or path): their provenance's ``training_mp``, or for files
    written before it was recorded, steps x batch x crop^2 x processes of their run (0 if unknown)."""
    if init is None:
        return 0
    training = read_metadata(init).get("training") or {}
    if "training_mp" in training:
        return int(training["training_mp"] * 1e6)
    config = training.get("config") or {}
    try:
        return int(sum(config["steps"]) * config["batch_size"] * config["crop"] ** 2 * training.get("processes", 1))
    except (KeyError, TypeError):
        return 0


def _initial_model(config: TrainConfig, train_files) -> QGAC:
    """The weights to start from, or a fresh model with statistics of the training images."""
    if config.init is not None:
        model = load_model(config.init, device="cpu")  # moved to the training device with a fresh one
        model.requires_grad_(True)
        return model.train()
    torch.manual_seed(config.seed)  # every rank builds the same initial weights
    model = QGAC(config.model)
    step = max(1, len(train_files) // config.stats_images)
    images = (torch.from_numpy(load_rgb(f)).permute(2, 0, 1) for f in train_files[::step][:config.stats_images])
    mean, std = coefficient_statistics(images)
    model.mean.copy_(mean)
    model.std.copy_(std)
    return model.train()


def train(config: TrainConfig) -> QGAC:
    """Run (or resume) a training run.

    Rank 0 writes ``out/weights.safetensors`` at the end. Returns the trained model (every rank
    holds an identical replica)."""
    # normalised high frequencies go denormal in the backward pass: 20x slower CPU convolutions
    with flush_denormals():
        return _train(config)


def _train(config: TrainConfig) -> QGAC:
    rank, world, local_rank = torchrun_ranks()
    device = _device(config, local_rank)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    out = Path(config.out)
    train_files, val_files = split_validation(find_images(config.data), config.val_images)

    model = _initial_model(config, train_files).to(device)
    dataset = TrainingImages(train_files, config.crop, config.qualities, config.tables)
    bf16 = resolve_precision(config.precision, device) == "bf16"
    crops = validation_crops(val_files) if rank == 0 else []
    checkpoint_path = out / "checkpoint.pt"
    # pixels count from the init weights' own training, so gain against training megapixels reads
    # as one curve across warm restarts
    state = {"stage": 0, "step": 0, "elapsed": 0.0, "pixels": training_pixels(config.init), "steps_done": []}
    resume = torch.load(checkpoint_path, map_location="cpu", weights_only=True) if checkpoint_path.exists() else None
    if resume is not None:
        model.load_state_dict(resume["model"])
        state = resume["state"]
    # the averages start from the starting weights, or from the checkpoint's averages on a resume
    averages = {decay: AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
                for decay in config.ema}
    for decay, average in averages.items():
        if resume is not None:
            average.load_state_dict(resume["ema"][str(decay)])
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        log = open(out / "log.jsonl", "a")
    started = time.perf_counter() - state["elapsed"]

    for stage_index in range(state["stage"], len(config.stages)):
        stage, steps = config.stages[stage_index], config.steps[stage_index]
        params = _trainable(model, stage)
        objective = Objective(model, stage, bf16)
        adversary = _Adversary(config, device, world, steps) if config.gan else None
        if world > 1:
            # some batches leave parameters unused (gray: the colour net; 4:4:4: its upsampling)
            objective = torch.nn.parallel.DistributedDataParallel(
                objective, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True)
        # fused: one kernel over all parameters instead of a dozen elementwise passes each (on this
        # project's 2-core CPU a bf16 step of `default` took about 12% less time)
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: _schedule(s, steps, config, time.perf_counter() - started))
        first = 0
        if resume is not None and resume["state"]["stage"] == stage_index:
            optimizer.load_state_dict(resume["optimizer"])
            scheduler.load_state_dict(resume["scheduler"])
            first = resume["state"]["step"]
            if adversary is not None:
                adversary.load_state_dict(resume["adversary"])
        layouts = config.layouts if stage != "color" else {k: v for k, v in config.layouts.items() if k != "gray"}
        sampler = TrainingSampler(len(dataset), config.batch_size, layouts,
                                  seed=config.seed * 1000 + rank + 97 * stage_index, start=first)
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=collate,
                                             num_workers=config.workers, persistent_workers=False,
                                             prefetch_factor=4 if config.workers else None)
        bar = tqdm(total=steps, initial=first, desc=f"train {stage}", unit="step", dynamic_ncols=True,
                   disable=rank != 0 or not config.progress, file=sys.stderr)
        window_start, window_pixels = time.perf_counter(), 0
        step = first
        for batch in loader:
            if step >= steps:
                break
            planes, target = batch.compress(device)
            output, target = objective(planes.luma, planes.luma_table, planes.chroma, planes.chroma_table, target)
            if adversary is None:
                loss, l1, structural = regression_loss(output, target, config.ssim_weight, config.pixel_loss)
                parts = {"l1": l1.item(), "ssim": structural.item()}
            else:
                loss, parts = adversary.generator_loss(output, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(params, config.clip)
            optimizer.step()
            scheduler.step()
            for average in averages.values():
                average.update_parameters(model)
            if adversary is not None:
                parts |= adversary.discriminator_step(output, target)
            step += 1
            pixels = batch.rgb.shape[0] * batch.rgb.shape[-1] * batch.rgb.shape[-2] * world
            window_pixels += pixels
            state["pixels"] = state.get("pixels", 0) + pixels
            last = step == steps or _out_of_time(config, time.perf_counter() - started, device, world)
            if rank == 0:
                rate = window_pixels / 1e6 / max(1e-9, time.perf_counter() - window_start)
                bar.set_postfix(loss=f"{loss.item():.4f}", l1=f"{parts['l1']:.4f}", mp_s=f"{rate:.2f}",
                                lr=f"{scheduler.get_last_lr()[0]:.1e}")
                bar.update()
                if step % config.log_every == 0:
                    log.write(json.dumps({"stage": stage, "step": step, "loss": loss.item(), **parts,
                                          "grad_norm": float(grad_norm), "lr": scheduler.get_last_lr()[0],
                                          "mp_per_s": rate, "elapsed_s": time.perf_counter() - started,
                                          "training_mp": state["pixels"] / 1e6}) + "\n")
                    log.flush()
                    window_start, window_pixels = time.perf_counter(), 0
                if crops and (last or (config.val_every and step % config.val_every == 0)):
                    result = validate(model, crops)
                    bar.write(f"validation {stage} step {step}: JPEG {result['jpeg_psnr']:.2f} dB, "
                              f"model {result['model_psnr']:.2f} dB ({result['gain_db']:+.2f})")
                    line = {"stage": stage, "step": step, "training_mp": state["pixels"] / 1e6, "validation": result}
                    if averages:
                        line["validation_ema"] = {str(d): validate(a.module, crops) for d, a in averages.items()}
                        bar.write("  averaged: " + ", ".join(f"ema {d}: {r['gain_db']:+.3f} dB"
                                                             for d, r in line["validation_ema"].items()))
                    log.write(json.dumps(line) + "\n")
                    log.flush()
                if step % config.checkpoint_every == 0 or last:
                    state.update(stage=stage_index, step=step, elapsed=time.perf_counter() - started)
                    _save_checkpoint(checkpoint_path, model, optimizer, scheduler, state, adversary, averages)
            if last:
                state.setdefault("steps_done", []).append(step)
                if step < steps and rank == 0:
                    bar.write(f"time limit of {config.time_limit:g} s reached at step {step} of {steps}")
                break
        bar.close()
        resume = None
    if world > 1:
        dist.barrier()
    if rank == 0:
        state.update(stage=len(config.stages), step=0, elapsed=time.perf_counter() - started)
        _save_checkpoint(checkpoint_path, model, None, None, state, averages=averages)
        training = _provenance(config, world, device, state, bf16)
        save_model(model, out / "weights.safetensors", training=training, dtype=STORAGE_DTYPES[config.weights_dtype][0])
        for decay, average in averages.items():
            save_model(average.module, out / f"weights-ema{decay:g}.safetensors", training=training | {"ema_decay": decay},
                       dtype=STORAGE_DTYPES[config.weights_dtype][0])
        log.close()
    return model


def _save_checkpoint(path: Path, model, optimizer, scheduler, state: dict, adversary: _Adversary | None = None,
                     averages: dict | None = None) -> None:
    # serialized in memory, then written atomically: an interrupt (Ctrl-C, SIGTERM) or a full disk
    # leaves the previous checkpoint and no partial file
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": None if optimizer is None else optimizer.state_dict(),
                "scheduler": None if scheduler is None else scheduler.state_dict(), "state": state,
                "adversary": None if adversary is None else adversary.state_dict(),
                "ema": {str(d): a.state_dict() for d, a in (averages or {}).items()}}, buffer)
    write_atomic(path, buffer.getvalue())


def _out_of_time(config: TrainConfig, elapsed: float, device: torch.device, world: int) -> bool:
    """Whether ``config.time_limit`` is used up; every rank gets rank 0's answer, so all stop together."""
    if config.time_limit is None:
        return False
    if world == 1:  # no device round trip (a GPU sync per step) when nobody needs to agree
        return elapsed >= config.time_limit
    done = torch.tensor([float(elapsed >= config.time_limit)], device=device)
    dist.broadcast(done, 0)
    return bool(done.item())


def _provenance(config: TrainConfig, world: int, device: torch.device, state: dict, bf16: bool) -> dict:
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
    return {"command": " ".join(["qgac-fast", *sys.argv[1:]]) if sys.argv else "",
            "config": {k: v for k, v in dataclasses.asdict(config).items() if k not in ("progress",)},
            "processes": world, "hardware": hardware, "precision": "bf16" if bf16 else "float32",
            "wall_time_s": round(state["elapsed"], 1), "training_mp": round(state.get("pixels", 0) / 1e6, 3),
            "steps_done": state.get("steps_done"),
            "torch": torch.__version__}
