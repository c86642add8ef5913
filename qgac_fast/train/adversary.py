"""The GAN side of a training step: the texture loss, the discriminator, its optimiser and schedule."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import TrainConfig
from .gan import PatchDiscriminator, discriminator_loss, generator_loss
from .schedule import lr_factor
from .texture import TextureLoss

__all__ = ["Adversary"]


class Adversary:
    """The GAN side of one stage: the generator's loss and the discriminator's optimiser step.

    Args:
        config: the run's settings (the texture loss, ``d_channels``, ``d_lr`` and the weights of
            the terms).
        device: where the texture network and the discriminator run.
        world: processes in the run (above 1: the discriminator is wrapped in
            DistributedDataParallel).
        steps: the stage's steps, over which the discriminator's learning rate follows
            :func:`~qgac_fast.train.schedule.lr_factor`.
    """

    def __init__(self, config: TrainConfig, device: torch.device, world: int, steps: int):
        self.config = config
        self.texture = TextureLoss(config.texture_statistic, config.texture_layers, config.texture_network).to(device)
        torch.manual_seed(config.seed + 1)  # every rank builds the same discriminator
        self.discriminator = PatchDiscriminator(config.d_channels).to(device)
        self.wrapped = self.discriminator if world == 1 else torch.nn.parallel.DistributedDataParallel(
            self.discriminator, device_ids=[device.index] if device.type == "cuda" else None)
        self.optimizer = torch.optim.AdamW(self.discriminator.parameters(), lr=config.d_lr, betas=(0.9, 0.99),
                                           weight_decay=0.0, fused=True)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: lr_factor(s, steps, config))

    def generator_loss(self, output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """``texture_weight * L_texture + gan_weight * L_G^Ra + l1_weight * L1`` of pixels on
        [0, 1], and its parts as floats (``"texture"``, ``"adversarial"``, ``"l1"``)."""
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
        """One optimiser step of the discriminator on real ``target`` vs detached ``output``;
        returns ``{"d_loss", "d_real", "d_fake"}`` (the loss and the mean logits, floats)."""
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
        """The discriminator, its optimiser and schedule, as the checkpoint's ``"adversary"``."""
        return {"discriminator": self.discriminator.state_dict(), "d_optimizer": self.optimizer.state_dict(),
                "d_scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.discriminator.load_state_dict(state["discriminator"])
        self.optimizer.load_state_dict(state["d_optimizer"])
        self.scheduler.load_state_dict(state["d_scheduler"])
