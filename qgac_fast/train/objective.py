"""What a training stage optimises: its parameters, the model's pixels against the target, and the
regression loss ``L - lambda SSIM``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..functional.color import rgb_to_ycbcr
from ..metrics import ssim
from ..model import QGAC, CoefficientPlanes
from ..model.layers import make_tables

__all__ = ["Objective", "regression_loss", "trainable"]


def trainable(model: QGAC, stage: str) -> list[torch.nn.Parameter]:
    """The parameters ``stage`` trains (``"y"``: the Y network, ``"color"``: the colour network,
    ``"joint"``: both); every other parameter of ``model`` is frozen (``requires_grad`` False)."""
    model.requires_grad_(False)
    parts = {"y": [model.y_net], "color": [model.color_net], "joint": [model.y_net, model.color_net]}[stage]
    for part in parts:
        part.requires_grad_(True)
    return [p for part in parts for p in part.parameters()]


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
