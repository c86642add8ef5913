"""The quantization constraint: restored luma coefficients stay inside the file's quantization bins.

A JPEG stores ``c = round(x / Q)`` for each true coefficient ``x``, so ``x`` lies in
``[(c - 1/2) Q, (c + 1/2) Q]``. Clamping a restored coefficient to that interval (a projection
onto a convex set that contains the truth) can only bring it closer to ``x``; since the DCT is
orthonormal, the restored luma's squared error in pixels cannot grow. It matters at high
qualities, where the bins are narrow and a network's residual would otherwise leave them.

Applied to Y only: Cb and Cr are restored on the luma grid, while a 4:2:0 file's bins constrain
the half-resolution chroma.
"""

from __future__ import annotations

import torch

from ..functional.quantization import clamp_to_bins
from .inputs import CoefficientPlanes
from .networks import QGAC

__all__ = ["constrain_luma"]


def constrain_luma(model: QGAC, y: torch.Tensor, planes: CoefficientPlanes) -> torch.Tensor:
    """Clamp restored normalised Y to the quantization bins of the input.

    Args:
        model: the model whose normalisation ``y`` is in.
        y: ``(N, 1, H, W)`` restored normalised Y (``model.restore``'s first output).
        planes: the input that was restored (dequantized ``luma`` and ``luma_table``).

    Returns:
        ``(N, 1, H, W)`` normalised Y with every coefficient within half a step of the input's.
    """
    return model.normalize(clamp_to_bins(model.denormalize(y, 0), planes.luma, planes.luma_table), 0)
