"""What the model reads: a JPEG's dequantized coefficient planes and its tables, batched.

The model restores Y on its own grid and Cb, Cr either from half-size planes (4:2:0, doubled
inside the colour network) or from planes already on the luma grid (4:4:4). Files with other
samplings (4:2:2, 4:4:0, 4:1:1) have their chroma brought to the luma grid first: inverse DCT,
nearest-neighbour upsampling of the samples, forward DCT; the result is treated as 4:4:4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from ..errors import UnsupportedJPEGError
from ..functional.quantization import dequantize
from ..functional.transform import dct, idct
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

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> "CoefficientPlanes":
        """The same batch with ``fn`` applied to each tensor (planes and tables); same ``size``."""
        apply = lambda t: None if t is None else fn(t)  # noqa: E731
        return CoefficientPlanes(apply(self.luma), apply(self.chroma), apply(self.luma_table),
                                 apply(self.chroma_table), self.size)

    def to(self, device: torch.device | str | None = None, non_blocking: bool = False) -> "CoefficientPlanes":
        return self.map(lambda t: t.to(device, non_blocking=non_blocking))

    def select(self, index: slice | torch.Tensor) -> "CoefficientPlanes":
        """The samples ``index`` (a slice or an index tensor) of the batch; same ``size``."""
        return self.map(lambda t: t[index])

    def crop(self, window: tuple[int, int, int, int]) -> "CoefficientPlanes":
        """The window ``(top, bottom, left, right)`` in luma pixels (multiples of 8; of 16 for
        4:2:0 chroma) of every sample, contiguous; ``size`` becomes the window's."""
        top, bottom, left, right = window
        chroma = self.chroma
        if chroma is not None:
            half = chroma.shape[-1] != self.luma.shape[-1]
            chroma = (chroma[..., top // 2:bottom // 2, left // 2:right // 2] if half
                      else chroma[..., top:bottom, left:right]).contiguous()
        return CoefficientPlanes(self.luma[..., top:bottom, left:right].contiguous(), chroma, self.luma_table,
                                 self.chroma_table, (bottom - top, right - left))

    @staticmethod
    def cat(parts: Sequence["CoefficientPlanes"]) -> "CoefficientPlanes":
        """One batch of ``parts`` (same plane shapes and layout); ``size`` is the first part's."""
        if len(parts) == 1:
            return parts[0]
        join = lambda name: None if getattr(parts[0], name) is None else torch.cat(  # noqa: E731
            [getattr(p, name) for p in parts])
        return CoefficientPlanes(join("luma"), join("chroma"), join("luma_table"), join("chroma_table"),
                                 parts[0].size)

    @staticmethod
    def from_quantized(luma: torch.Tensor, chroma: torch.Tensor | None, luma_table: torch.Tensor,
                       chroma_table: torch.Tensor | None, size: tuple[int, int]) -> "CoefficientPlanes":
        """A batch from quantized planes and per-sample tables (what
        :func:`qgac_fast.ops.encode_planes` returns, with the tables it was given).

        Args:
            luma: integer ``(N, 1, H, W)`` quantized Y coefficients (tiled).
            chroma: integer ``(N, 2, h, w)`` quantized Cb, Cr, or None (gray).
            luma_table, chroma_table: ``(N, 8, 8)`` steps (Cb and Cr share ``chroma_table``).
            size: ``(height, width)`` of the images in pixels.
        """
        luma_table = luma_table.to(torch.float32)
        chroma_table = None if chroma is None else chroma_table.to(torch.float32)
        return CoefficientPlanes(
            dequantize(luma, luma_table[:, None], dtype=torch.float32),
            None if chroma is None else dequantize(chroma, chroma_table[:, None], dtype=torch.float32),
            luma_table, None if chroma is None else chroma_table[:, None].expand(-1, 2, -1, -1).contiguous(), size)

    @property
    def layout(self) -> str:
        """``"gray"``, ``"420"`` (half-size chroma) or ``"444"`` (chroma on the luma grid)."""
        if self.chroma is None:
            return "gray"
        return "444" if self.chroma.shape[-2:] == self.luma.shape[-2:] else "420"

    @property
    def batch_size(self) -> int:
        return self.luma.shape[0]

    @property
    def pixels(self) -> int:
        """Luma pixels of the planes (MCU-padded), summed over the batch."""
        return self.luma.shape[0] * self.luma.shape[-2] * self.luma.shape[-1]


def planes_from_jpeg(jc) -> CoefficientPlanes:
    """One JPEG (:class:`qgac_fast.JPEGCoefficients`) as a batch of one in the model's layout.

    Raises:
        UnsupportedJPEGError: an RGB-coded JPEG (the model works on YCbCr), a component
            layout other than 1 or 3 components, or a chroma component whose grid does not
            divide the luma grid (chroma sampled more finely than luma, or by a factor that is
            not a whole number).
    """
    if jc.color_space == "rgb":
        raise UnsupportedJPEGError("the model corrects YCbCr and grayscale JPEGs; this file stores RGB components")
    if jc.num_components not in (1, 3):
        raise UnsupportedJPEGError(f"expected 1 or 3 components, got {jc.num_components}")
    tables = [q.to(torch.float32) for q in jc.quantization]
    size = (jc.height, jc.width)
    luma = _dequantized(jc.coefficients[0], tables[0])[None, None]
    if jc.num_components == 1:
        return CoefficientPlanes(luma, None, tables[0][None], None, size)
    chroma_tables = torch.stack(tables[1:])[None]
    h, w = luma.shape[-2:]
    native = ((h, w), (h // 2, w // 2)) if h % 16 == 0 and w % 16 == 0 else ((h, w),)
    shapes = {tuple(8 * n for n in blocks.shape[:2]) for blocks in jc.coefficients[1:]}
    if len(shapes) == 1 and next(iter(shapes)) in native:  # Cb and Cr written into one tensor
        chroma = torch.empty(1, 2, *next(iter(shapes)), dtype=torch.float32, device=jc.coefficients[1].device)
        for c, (blocks, table) in enumerate(zip(jc.coefficients[1:], tables[1:])):
            _dequantized(blocks, table, out=chroma[0, c])
        return CoefficientPlanes(luma, chroma, tables[0][None], chroma_tables, size)
    # Each plane to the luma grid on its own (Cb and Cr may be sampled differently), through
    # pixels: IDCT, nearest upsampling, DCT (documented above).
    chroma = []
    for c, (blocks, table) in enumerate(zip(jc.coefficients[1:], tables[1:])):
        plane = _dequantized(blocks, table)[None, None]
        hc, wc = plane.shape[-2:]
        if h % hc or w % wc:
            raise UnsupportedJPEGError(
                f"the model needs each chroma grid to divide the luma grid; component {c + 1} has "
                f"{hc}x{wc} coefficients for the luma's {h}x{w} (sampling factors {jc.sampling})")
        chroma.append(dct(upsample(idct(plane), (h // hc, w // wc), method="nearest")))
    return CoefficientPlanes(luma, torch.cat(chroma, dim=1), tables[0][None], chroma_tables, size)


def _dequantized(blocks: torch.Tensor, table: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """A component's block grid ``(Bh, Bw, 8, 8)`` (int16) as a dequantized float32 tiled plane
    ``(8 Bh, 8 Bw)``, written into ``out`` when given: ``dequantize(deblockify(blocks), table)``
    in one pass (the same float32 products), without the tiled table or the int16 plane."""
    bh, bw = blocks.shape[:2]
    if out is None:
        out = torch.empty(8 * bh, 8 * bw, dtype=torch.float32, device=blocks.device)
    torch.mul(blocks.transpose(1, 2), table[:, None, :], out=out.view(bh, 8, bw, 8))
    return out
