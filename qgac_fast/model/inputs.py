"""What the model reads: a JPEG's dequantized coefficient planes and its tables, batched.

The model restores Y on its own grid and Cb, Cr either from half-size planes (4:2:0, doubled
inside the colour network) or from planes already on the luma grid (4:4:4). Files with other
samplings (4:2:2, 4:4:0, 4:1:1) have their chroma brought to the luma grid first: inverse DCT,
nearest-neighbour upsampling of the samples, forward DCT; the result is treated as 4:4:4.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import UnsupportedJPEGError
from ..functional.transform import dct, idct
from ..functional.jpeg import coefficient_planes
from ..functional.quantization import dequantize
from ..functional.sampling import upsample

__all__ = ["CoefficientPlanes", "planes_from_jpeg"]


@dataclass
class CoefficientPlanes:
    """A batch of JPEGs in the model's input layout (MCU-padded planes, dequantized).

    Attributes:
        luma: float32 ``(N, 1, H, W)`` dequantized Y coefficients (tiled; H, W multiples of 8).
        chroma: float32 ``(N, 2, H/2, W/2)`` or ``(N, 2, H, W)`` dequantized Cb, Cr, or None (gray).
        luma_table: float32 ``(N, 8, 8)`` the Y quantization steps.
        chroma_table: float32 ``(N, 2, 8, 8)`` the Cb and Cr steps, or None.
        size: ``(height, width)`` in pixels of the real images (the planes are cropped to it
            after decoding).
    """

    luma: torch.Tensor
    chroma: torch.Tensor | None
    luma_table: torch.Tensor
    chroma_table: torch.Tensor | None
    size: tuple[int, int]

    def to(self, device: torch.device | str | None = None, non_blocking: bool = False) -> "CoefficientPlanes":
        move = lambda t: None if t is None else t.to(device, non_blocking=non_blocking)  # noqa: E731
        return CoefficientPlanes(move(self.luma), move(self.chroma), move(self.luma_table), move(self.chroma_table),
                                 self.size)


def planes_from_jpeg(jc) -> CoefficientPlanes:
    """One JPEG (:class:`qgac_fast.JPEGCoefficients`) as a batch of one in the model's layout.

    Raises:
        UnsupportedJPEGError: an RGB-coded JPEG (the model works on YCbCr), or a component
            layout other than 1 or 3 components.
    """
    if jc.color_space == "rgb":
        raise UnsupportedJPEGError("the model corrects YCbCr and grayscale JPEGs; this file stores RGB components")
    if jc.num_components not in (1, 3):
        raise UnsupportedJPEGError(f"expected 1 or 3 components, got {jc.num_components}")
    planes = coefficient_planes(jc)
    tables = [q.to(torch.float32) for q in jc.quantization]
    luma = dequantize(planes[0], tables[0], dtype=torch.float32)[None, None]
    if jc.num_components == 1:
        return CoefficientPlanes(luma, None, tables[0][None], None, (jc.height, jc.width))
    chroma = torch.stack([dequantize(p, t, dtype=torch.float32) for p, t in zip(planes[1:], tables[1:])])[None]
    h, w = luma.shape[-2:]
    hc, wc = chroma.shape[-2:]
    if (hc, wc) not in ((h, w), (h // 2, w // 2)) or (hc, wc) == (h // 2, w // 2) and (h % 16 or w % 16):
        factor = (h // hc, w // wc)
        # to the luma grid through pixels: IDCT, nearest upsampling, DCT (documented above)
        samples = upsample(idct(chroma), factor, method="nearest")
        chroma = dct(samples[..., :h, :w])
    return CoefficientPlanes(luma, chroma, tables[0][None], torch.stack(tables[1:])[None], (jc.height, jc.width))
