"""The training loop: regression training of QGAC with L1 - lambda SSIM on decoded pixels, and
GAN fine-tuning with ``L_texture + gamma * L_G^Ra + nu * L1`` (``gan=True``).

Runs on one device or data-parallel under ``torchrun`` (DistributedDataParallel; NCCL on GPUs,
gloo on CPUs). Rank 0 owns the progress bar, validation, checkpoints and the final weights. The
loop drives the jobs of the modules beside it: :mod:`.optimisation` (the step, with
:mod:`.objective` and :mod:`.adversary`), :mod:`.schedule` (with :mod:`.clock`, the seconds it
counts), :mod:`.validation`, :mod:`.progress` (the log), :mod:`.checkpoint` and :mod:`.provenance`.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..cpu import flush_denormals
from ..deprecation import moved_names
from ..devices import resolve_device, torchrun_ranks
from ..inference.step import resolve_precision
from ..model import QGAC, coefficient_statistics, load_model, save_model
from ..model.weights import STORAGE_DTYPES
from . import checkpoint, provenance, validation
from .clock import TrainingClock
from .config import TrainConfig
from .data import TrainingImages, TrainingSampler, collate, find_images, load_rgb, split_validation, validation_crops
from .optimisation import Optimisation
from .progress import LOG_NAME, RunLog
from .schedule import agreed_seconds, out_of_time

__all__ = ["train"]


def train(config: TrainConfig) -> QGAC:
    """Run (or resume) a training run.

    Rank 0 writes ``out/weights.safetensors`` at the end. Returns the trained model (every rank
    holds an identical replica)."""
    # normalised high frequencies go denormal in the backward pass: 20x slower CPU convolutions
    with flush_denormals(), TrainingClock() as elapsed:
        return _train(config, elapsed)


def _device(config: TrainConfig, local_rank: int) -> torch.device:
    device = resolve_device(config.device)
    # "cuda" without an index is this process's GPU (under torchrun, each rank its own)
    return torch.device("cuda", local_rank) if device.type == "cuda" and device.index is None else device


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


def _train(config: TrainConfig, elapsed: TrainingClock) -> QGAC:
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
    checkpoint_path = out / checkpoint.CHECKPOINT_NAME
    # pixels count from the init weights' own training, so gain against training megapixels reads
    # as one curve across warm restarts
    state = checkpoint.new_state(provenance.training_pixels(config.init))
    resume = checkpoint.load_checkpoint(checkpoint_path)
    if resume is not None:
        model.load_state_dict(resume["model"])
        state = resume["state"]
    # the averages start from the starting weights, or from the checkpoint's averages on a resume
    averages = {decay: AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
                for decay in config.ema}
    for decay, average in averages.items():
        if resume is not None:
            average.load_state_dict(resume["ema"][str(decay)])
    elapsed.resume(state["elapsed"])
    # rank 0's seconds as every rank last agreed on them: the time-based decay reads these
    agreed = [float(state["elapsed"])]

    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        log = RunLog(out / LOG_NAME, elapsed, config.log_every, bar=config.progress)

    for stage_index in range(state["stage"], len(config.stages)):
        stage, steps = config.stages[stage_index], config.steps[stage_index]
        optimisation = Optimisation(model, stage, steps, config, device, world, bf16, averages, lambda: agreed[0])
        first = 0
        if resume is not None and resume["state"]["stage"] == stage_index:
            first = optimisation.resume(resume)
        layouts = config.layouts if stage != "color" else {k: v for k, v in config.layouts.items() if k != "gray"}
        sampler = TrainingSampler(len(dataset), config.batch_size, layouts,
                                  seed=config.seed * 1000 + rank + 97 * stage_index, start=first)
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=collate,
                                             num_workers=config.workers, persistent_workers=False,
                                             prefetch_factor=4 if config.workers else None)
        if rank == 0:
            log.start_stage(stage, steps, first)
        step = first
        for batch in loader:
            if step >= steps:
                break
            loss, parts, grad_norm = optimisation.step(batch)
            step += 1
            pixels = batch.rgb.shape[0] * batch.rgb.shape[-1] * batch.rgb.shape[-2] * world
            state["pixels"] = state.get("pixels", 0) + pixels
            agreed[0] = agreed_seconds(config, elapsed(), device, world)
            last = step == steps or out_of_time(config, agreed[0])
            if rank == 0:
                log.step(step, pixels, loss.item(), parts, float(grad_norm), optimisation.lr, state["pixels"] / 1e6)
                if crops and (last or (config.val_every and step % config.val_every == 0)):
                    log.validation(step, state["pixels"] / 1e6, validation.validate(model, crops),
                                   {str(d): validation.validate(a.module, crops) for d, a in averages.items()})
                if step % config.checkpoint_every == 0 or last:
                    state.update(stage=stage_index, step=step, elapsed=elapsed())
                    checkpoint.save_checkpoint(checkpoint_path, model, optimisation.optimizer, optimisation.scheduler,
                                               state, optimisation.adversary, averages)
            if last:
                state.setdefault("steps_done", []).append(step)
                if step < steps and rank == 0:
                    log.write(f"time limit of {config.time_limit:g} s reached at step {step} of {steps}")
                break
        if rank == 0:
            log.end_stage()
        resume = None
    if world > 1:
        dist.barrier()
    if rank == 0:
        state.update(stage=len(config.stages), step=0, elapsed=elapsed())
        checkpoint.save_checkpoint(checkpoint_path, model, None, None, state, averages=averages)
        _write_weights(out, model, averages, provenance.training_record(config, world, device, state, bf16),
                       config.weights_dtype)
        log.close()
    return model


def _write_weights(out: Path, model: QGAC, averages: dict, training: dict, dtype: str) -> None:
    """``out/weights.safetensors``, and ``out/weights-ema<decay>.safetensors`` per weight average
    (its ``training`` record adds ``ema_decay``), stored in ``dtype`` (a key of ``STORAGE_DTYPES``)."""
    save_model(model, out / "weights.safetensors", training=training, dtype=STORAGE_DTYPES[dtype][0])
    for decay, average in averages.items():
        save_model(average.module, out / f"weights-ema{decay:g}.safetensors", training=training | {"ema_decay": decay},
                   dtype=STORAGE_DTYPES[dtype][0])


#: Public names this module held before the trainer was split by job, still here for one release.
__getattr__ = moved_names(__name__, {name: f"qgac_fast.train.{module}.{name}" for name, module in (
    ("Objective", "objective"), ("regression_loss", "objective"), ("validate", "validation"),
    ("VALIDATION_QUALITIES", "validation"), ("VALIDATION_LAYOUTS", "validation"),
    ("training_pixels", "provenance"), ("PRECISIONS", "config"), ("STAGES", "config"))})
