"""Per-channel, per-frequency statistics of DCT coefficients, for the model's normalisation."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ..functional.color import rgb_to_ycbcr
from ..functional.sampling import downsample
from ..functional.transform import blockify, dct

__all__ = ["coefficient_statistics"]

#: Floor on a frequency's standard deviation, in coefficient units, so normalisation never
#: divides by ~0 for a frequency a small corpus barely excites.
MIN_STD = 1e-2


def coefficient_statistics(images: Iterable[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of each channel's (Y, Cb, Cr) DCT coefficients per frequency.

    Each image is converted to YCbCr, level-shifted by 128 and cut into 8x8 blocks (edges cropped
    to whole blocks); Cb and Cr are first halved by 2x2 box filtering, as 4:2:0 stores them.
    The coefficients are not quantized (the statistics describe the clean signal the model
    restores; dequantized inputs share its scale).

    Args:
        images: uint8 ``(3, H, W)`` RGB images, each at least 16x16.

    Returns:
        ``(mean, std)``: float32 ``(3, 8, 8)`` each, on the coefficients' scale (DC = 8 x block mean).
    """
    total = torch.zeros(3, 8, 8, dtype=torch.float64)
    square = torch.zeros(3, 8, 8, dtype=torch.float64)
    count = torch.zeros(3, dtype=torch.float64)
    for image in images:
        if image.dim() != 3 or image.shape[0] != 3 or image.dtype != torch.uint8:
            raise ValueError(f"images must be uint8 (3, H, W) RGB, got {image.dtype} {tuple(image.shape)}")
        ycbcr = rgb_to_ycbcr(image, dtype=torch.float64) - 128.0
        h, w = (image.shape[-2] // 16) * 16, (image.shape[-1] // 16) * 16
        if h == 0 or w == 0:
            raise ValueError(f"images must be at least 16x16, got {tuple(image.shape[-2:])}")
        planes = [ycbcr[0, :h, :w], *downsample(ycbcr[1:, :h, :w], (2, 2))]
        for c, plane in enumerate(planes):
            blocks = blockify(dct(plane)).reshape(-1, 8, 8)
            total[c] += blocks.sum(0)
            square[c] += (blocks * blocks).sum(0)
            count[c] += blocks.shape[0]
    if not bool((count > 0).all()):
        raise ValueError("coefficient_statistics needs at least one image")
    mean = total / count[:, None, None]
    std = (square / count[:, None, None] - mean * mean).clamp_min(0).sqrt().clamp_min(MIN_STD)
    return mean.to(torch.float32), std.to(torch.float32)
