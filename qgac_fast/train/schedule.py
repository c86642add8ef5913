"""When a run slows down and stops: the learning-rate factor over steps or time, and the time limit."""

from __future__ import annotations

import math

import torch
import torch.distributed as dist

from .config import TrainConfig

__all__ = ["agreed_seconds", "lr_factor", "out_of_time"]


def lr_factor(step: int, total: int, config: TrainConfig, elapsed: float = 0.0) -> float:
    """Learning-rate factor of optimiser step ``step`` (0-based) of ``total``: linear warm-up over
    ``config.warmup`` steps, then cosine decay from 1 to ``config.min_lr / config.lr`` over the
    remaining steps, or over ``config.time_limit`` seconds when ``elapsed`` (seconds) gets there
    first."""
    if step < config.warmup:
        return (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, total - config.warmup)
    if config.time_limit:
        progress = max(progress, elapsed / config.time_limit)
    floor = config.min_lr / config.lr
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def agreed_seconds(config: TrainConfig, seconds: float, device: torch.device, world: int) -> float:
    """Rank 0's training ``seconds`` on every rank of ``world``, so that all stop at the same step
    and decay the learning rate alike, whichever stop each rank's clock left out
    (:class:`~qgac_fast.train.clock.TrainingClock`). One broadcast a step; none with one process
    or without ``config.time_limit``, when nothing depends on the seconds."""
    if config.time_limit is None or world == 1:  # no device round trip (a GPU sync per step)
        return seconds
    shared = torch.tensor([seconds], dtype=torch.float64, device=device)
    dist.broadcast(shared, 0)
    return float(shared.item())


def out_of_time(config: TrainConfig, seconds: float) -> bool:
    """Whether ``seconds`` of training (:func:`agreed_seconds`) use up ``config.time_limit``
    (never when it is None)."""
    return config.time_limit is not None and seconds >= config.time_limit
