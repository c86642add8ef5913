"""The C++ twins (backend ``"native"``): CPU kernels of the extension that are not libjpeg's.

:func:`decode_normalized` is the CPU twin of :func:`qgac_fast.functional.jpeg.decode_normalized`
for planes on one grid (the model's output: Cb and Cr restored at the luma's size, or gray), the
quantization constraint included (``bins``). It reads each 8x8 block once and writes only the
pixels: no float temporaries the size of the image, on ``torch.get_num_threads()`` threads, without
the GIL. It computes in float32 with a separable
inverse DCT, so a pixel may differ from the reference's where a value sits within float32 rounding
of a rounding tie (the bounds are the Triton twin's: ``tests/test_native.py``).
"""

from __future__ import annotations

import torch

from . import _jpeg
from .functional.checks import check_bins
from .functional.color import YCBCR_TO_RGB
from .functional.sampling import UPSAMPLING
from .functional.transform import dct_matrix

__all__ = ["decode_normalized", "unsupported_reason"]

_COLOUR = torch.tensor(YCBCR_TO_RGB, dtype=torch.float64).to(torch.float32).numpy()
_DCT = dct_matrix(torch.float32).numpy()


def unsupported_reason(luma: torch.Tensor, chroma: torch.Tensor | None, mean: torch.Tensor | None = None,
                       std: torch.Tensor | None = None,
                       bins: tuple[torch.Tensor, torch.Tensor] | None = None) -> str | None:
    """None if :func:`decode_normalized` takes these planes, else why not: they must be float on
    the CPU (``bins`` on the CPU, its dequantized luma float), ``luma`` ``(N, 1, H, W)`` and
    ``chroma`` None or ``(N, 2, H, W)`` (one grid: a subsampled chroma needs the reference's
    upsampling), statistics ``(C, 8, 8)``; and the extension must have the kernel (a build older
    than it does not)."""
    if not getattr(_jpeg, "FLOAT_DECODE_BINS", False):
        return "the built extension has no native decode, or an older one (rebuild it: pip install -e . or make)"
    floats = [t for t in (luma, chroma, mean, std, None if bins is None else bins[0]) if t is not None]
    if any(t.device.type != "cpu" for t in floats + ([] if bins is None else [bins[1]])):
        return "the native decode runs on the CPU"
    if any(not t.dtype.is_floating_point for t in floats):
        return "the native decode takes float planes"
    if luma.dim() != 4 or luma.shape[1] != 1 or luma.shape[-2] % 8 or luma.shape[-1] % 8:
        return "luma must be (N, 1, H, W) with H and W multiples of 8"
    if chroma is not None and (chroma.dim() != 4 or chroma.shape[:2] != (luma.shape[0], 2)
                               or chroma.shape[-2:] != luma.shape[-2:]):
        return "the native decode takes chroma on the luma's grid (N, 2, H, W); a subsampled chroma is upsampled " \
               "by the reference"
    channels = 1 if chroma is None else 3
    if (mean is None) != (std is None) or (mean is not None and (mean.shape != (channels, 8, 8)
                                                                 or std.shape != (channels, 8, 8))):
        return f"mean and std must both be ({channels}, 8, 8) or both None"
    return None


def _array(t: torch.Tensor | None):
    return None if t is None else t.detach().to(torch.float32).contiguous().numpy()


def decode_normalized(luma: torch.Tensor, chroma: torch.Tensor | None = None, mean: torch.Tensor | None = None,
                      std: torch.Tensor | None = None, *, size: tuple[int, int] | None = None,
                      upsampling: str = "fancy", bins: tuple[torch.Tensor, torch.Tensor] | None = None,
                      out: torch.Tensor | None = None) -> torch.Tensor:
    """Decode float coefficient planes on one grid to uint8 pixels, as
    :func:`qgac_fast.functional.jpeg.decode_normalized` does (``upsampling`` is accepted for the
    same signature; on one grid nothing is upsampled).

    Args:
        luma, chroma, mean, std, size, bins: as the reference's (see :func:`unsupported_reason` for
            what this twin takes); computed in float32.
        out: a contiguous uint8 CPU tensor of the result's shape to write into, or None.

    Returns:
        uint8 ``(N, 3, height, width)`` RGB (``(N, 1, ...)`` gray).

    Raises:
        ValueError: planes this twin does not take, or a bad ``size``, ``bins`` or ``out``.
    """
    reason = unsupported_reason(luma, chroma, mean, std, bins)
    if reason is not None:
        raise ValueError(reason)
    if bins is not None:
        check_bins(luma, *bins)
    if upsampling not in UPSAMPLING:
        raise ValueError(f"upsampling must be one of {UPSAMPLING}, got {upsampling!r}")
    n, _, h, w = luma.shape
    height, width = size or (h, w)
    if not (0 <= height <= h and 0 <= width <= w):
        raise ValueError(f"size {(height, width)} must be within the planes {(h, w)}")
    shape = (n, 1 if chroma is None else 3, height, width)
    if out is None:
        out = torch.empty(shape, dtype=torch.uint8)
    elif out.shape != shape or out.dtype != torch.uint8 or out.device.type != "cpu" or not out.is_contiguous():
        raise ValueError(f"out must be a contiguous uint8 CPU tensor of shape {shape}")
    with torch.no_grad():
        dequantized, half_steps = (None, None) if bins is None else (bins[0].reshape(n, h, w),
                                                                      bins[1].reshape(n, 64).to(torch.float32) / 2)
        _jpeg.float_decode(_array(luma.reshape(n, h, w)), _array(chroma), _array(mean), _array(std),
                           _array(dequantized), _array(half_steps), _DCT, _COLOUR, out.numpy(), torch.get_num_threads())
    return out
