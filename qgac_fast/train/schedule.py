"""When a run slows down and stops: the learning-rate factor over steps or time, and the time limit."""

from __future__ import annotations

import math

import torch
import torch.distributed as dist

from .config import TrainConfig

__all__ = ["lr_factor", "out_of_time"]


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


def out_of_time(config: TrainConfig, elapsed: float, device: torch.device, world: int) -> bool:
    """Whether ``elapsed`` seconds use up ``config.time_limit`` (never when it is None); with
    ``world`` > 1 processes every rank gets rank 0's answer, so all stop at the same step."""
    if config.time_limit is None:
        return False
    if world == 1:  # no device round trip (a GPU sync per step) when nobody needs to agree
        return elapsed >= config.time_limit
    done = torch.tensor([float(elapsed >= config.time_limit)], device=device)
    dist.broadcast(done, 0)
    return bool(done.item())
