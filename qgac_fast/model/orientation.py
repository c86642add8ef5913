"""An image's flips and transpose as exact operations on its tiled coefficient planes.

The 8-point DCT basis of frequency ``k`` is even about the block's centre for even ``k`` and odd
for odd ``k``. So the plane of an image flipped left to right is the plane with its block columns
in reverse order and its odd horizontal frequencies negated (top to bottom: the same for rows), and
the plane of the transposed image is the transposed plane (every block transposed with the grid;
the quantization tables too). No rounding is involved: the model can correct a JPEG in several
orientations and average the turned-back outputs (the test-time ensemble of
:class:`~qgac_fast.inference.CorrectionStep`'s ``flips``; ``bench/results/flip-ensemble.md``).
"""

from __future__ import annotations

import dataclasses

import torch

from .inputs import CoefficientPlanes

__all__ = ["ORIENTATIONS", "Orientation", "flip_blocks", "orient", "oriented"]

#: An orientation: (transpose, flip rows, flip columns), applied in that order.
Orientation = tuple[bool, bool, bool]
#: The 8 orientations; the first 4 are the flips (no transpose), the first 2 the identity and the
#: left-right flip.
ORIENTATIONS: list[Orientation] = [(t, v, h) for t in (False, True) for v in (False, True) for h in (False, True)]


def flip_blocks(plane: torch.Tensor, dim: int) -> torch.Tensor:
    """The tiled coefficient plane ``(..., H, W)`` (H, W multiples of 8) of the image flipped along
    ``dim`` (-1: left to right, -2: top to bottom): the blocks in reverse order, the odd frequencies
    along ``dim`` negated. A new tensor of ``plane``'s dtype."""
    *lead, h, w = plane.shape
    sign = ((-1.0) ** torch.arange(8, device=plane.device)).to(plane.dtype)
    if dim == -1:
        return (plane.reshape(*lead, h, w // 8, 8).flip(-2) * sign).reshape(plane.shape)
    if dim == -2:
        return (plane.reshape(*lead, h // 8, 8, w).flip(-3) * sign[:, None]).reshape(plane.shape)
    raise ValueError(f"dim must be -1 or -2, got {dim}")


def orient(plane: torch.Tensor, orientation: Orientation, inverse: bool = False) -> torch.Tensor:
    """``plane`` ``(..., H, W)`` turned to ``orientation`` (or back from it: ``inverse``), contiguous."""
    transpose, rows, columns = orientation
    steps = [(transpose, lambda p: p.transpose(-2, -1)), (rows, lambda p: flip_blocks(p, -2)),
             (columns, lambda p: flip_blocks(p, -1))]
    for wanted, step in (reversed(steps) if inverse else steps):
        if wanted:
            plane = step(plane)
    return plane.contiguous()


def oriented(planes: CoefficientPlanes, orientation: Orientation) -> CoefficientPlanes:
    """The model's input for ``planes`` turned to ``orientation``: the planes turned, and with a
    transpose the tables and the size transposed too."""
    transpose = orientation[0]
    table = (lambda t: None if t is None else t.transpose(-2, -1).contiguous()) if transpose else (lambda t: t)
    return dataclasses.replace(planes, luma=orient(planes.luma, orientation),
                               chroma=None if planes.chroma is None else orient(planes.chroma, orientation),
                               luma_table=table(planes.luma_table), chroma_table=table(planes.chroma_table),
                               size=planes.size[::-1] if transpose else planes.size)
