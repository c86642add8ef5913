"""One stage's optimisation: the parameters it trains, AdamW on its schedule, the GAN side, and
the optimiser step on a batch."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..model import QGAC
from .adversary import Adversary
from .config import TrainConfig
from .data import TrainingBatch
from .objective import Objective, regression_loss, trainable
from .schedule import lr_factor

__all__ = ["Optimisation"]


class Optimisation:
    """The optimisation of one training stage (built at the stage's start: seeds the GAN's
    discriminator, freezes the parameters the stage does not train).

    Args:
        model: the model being trained (on ``device``).
        stage: one of :data:`~qgac_fast.train.config.STAGES`; steps: the stage's optimiser steps.
        config: the run's settings.
        device: this process's device; world: processes in the run (above 1: the objective is
            wrapped in DistributedDataParallel).
        bf16: run the network under bf16 autocast.
        averages: ``{decay: AveragedModel}``, updated after every step.
        elapsed: the run's training seconds so far, for the time-limited schedule.
    """

    def __init__(self, model: QGAC, stage: str, steps: int, config: TrainConfig, device: torch.device, world: int,
                 bf16: bool, averages: dict, elapsed: Callable[[], float]):
        self.model, self.config, self.device, self.averages = model, config, device, averages
        self.params = trainable(model, stage)
        objective = Objective(model, stage, bf16)
        self.adversary = Adversary(config, device, world, steps) if config.gan else None
        if world > 1:
            # some batches leave parameters unused (gray: the colour net; 4:4:4: its upsampling)
            objective = torch.nn.parallel.DistributedDataParallel(
                objective, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True)
        self.objective = objective
        # fused: one kernel over all parameters instead of a dozen elementwise passes each
        self.optimizer = torch.optim.AdamW(self.params, lr=config.lr, weight_decay=config.weight_decay, fused=True)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, steps, config, elapsed()))

    def resume(self, checkpoint: dict) -> int:
        """Load the optimiser, schedule and GAN side from a checkpoint taken during this stage;
        returns the stage's steps it had done."""
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        if self.adversary is not None:
            self.adversary.load_state_dict(checkpoint["adversary"])
        return checkpoint["state"]["step"]

    @property
    def lr(self) -> float:
        """The model's learning rate for the next step."""
        return self.scheduler.get_last_lr()[0]

    def step(self, batch: TrainingBatch) -> tuple[torch.Tensor, dict, torch.Tensor]:
        """One optimiser step of the model (clipped to ``config.clip``), the weight averages' update,
        and in GAN runs the discriminator's step, on ``batch`` compressed on the device.

        Returns:
            ``(loss, parts, grad_norm)``: the model's loss (0-dim), its parts as floats (``"l1"``
            and ``"ssim"``, or the GAN's terms and the discriminator's ``"d_*"`` values), and the
            gradient norm before clipping (0-dim).
        """
        planes, target = batch.compress(self.device)
        output, target = self.objective(planes.luma, planes.luma_table, planes.chroma, planes.chroma_table, target)
        if self.adversary is None:
            loss, l1, structural = regression_loss(output, target, self.config.ssim_weight, self.config.pixel_loss)
            parts = {"l1": l1.item(), "ssim": structural.item()}
        else:
            loss, parts = self.adversary.generator_loss(output, target)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.config.clip)
        self.optimizer.step()
        self.scheduler.step()
        for average in self.averages.values():
            average.update_parameters(self.model)
        if self.adversary is not None:
            parts |= self.adversary.discriminator_step(output, target)
        return loss, parts, grad_norm
