"""``qgac_fast.correct``: correct one JPEG with a QGAC model."""

from __future__ import annotations

import functools
import os

import torch

from .codec import JPEGCoefficients, read_coefficients
from .ops import decode_normalized
from .model import QGAC, load_model, planes_from_jpeg
from .model.constraint import constrain_luma

__all__ = ["correct"]


@functools.lru_cache(maxsize=4)
def _shipped(name: str, device: str) -> QGAC:
    return load_model(name, device=device)


def _device(device: torch.device | str | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def correct(jpeg: bytes | str | os.PathLike | JPEGCoefficients, model: QGAC | str | None = None,
            device: torch.device | str | None = None, *, constrain: bool = True,
            backend: str = "auto") -> torch.Tensor:
    """Correct the artifacts of one JPEG.

    Args:
        jpeg: the file's bytes, its path, or its :class:`~qgac_fast.JPEGCoefficients`.
        model: a :class:`~qgac_fast.model.QGAC` (used on the device it is on), a shipped
            weights name or a weights path (loaded once and cached), or None for ``"default"``.
        device: where to run a model given by name; default CUDA when available, else CPU.
        constrain: keep the restored luma coefficients inside the file's quantization bins
            (:func:`qgac_fast.model.constraint.constrain_luma`).
        backend: ``"auto"`` (Triton kernels on CUDA), ``"reference"`` or ``"triton"`` for the
            final decode.

    Returns:
        uint8 ``(3, H, W)`` RGB (``(1, H, W)`` for a grayscale JPEG) on the CPU, the JPEG's size.

    Raises:
        qgac_fast.JPEGError: unreadable or unsupported JPEG (including RGB-coded files).
    """
    if isinstance(model, QGAC):
        net = model
    else:
        net = _shipped(str(model or "default"), str(_device(device)))
    jc = jpeg if isinstance(jpeg, JPEGCoefficients) else read_coefficients(jpeg)
    planes = planes_from_jpeg(jc).to(net.mean.device)
    if planes.luma.device.type == "cpu":
        torch.set_flush_denormal(True)  # denormal activations make CPU convolutions ~20x slower
    with torch.no_grad():
        y, chroma = net.restore(planes)
        if constrain:
            y = constrain_luma(net, y, planes)
        mean, std = (net.mean[:1], net.std[:1]) if chroma is None else (net.mean, net.std)
        pixels = decode_normalized(y, chroma, mean, std, size=planes.size, backend=backend)
    return pixels[0].cpu()
