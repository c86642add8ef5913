"""Image-quality metrics as used in the JPEG artifact correction literature: PSNR, PSNR-B, SSIM.

Conventions shared by every function here:

* Images are tensors ``(N, C, H, W)`` (a batch) or ``(C, H, W)`` (one image), any real dtype
  (uint8, integer or floating point), on any device. Both images of a pair must have the same
  shape. Values lie on ``[0, data_range]``: the default ``data_range=255`` suits uint8 images
  and float images on the 0..255 scale; pass ``data_range=1.0`` for images on ``[0, 1]``.
* All arithmetic is float64 (the metrics are reported to 0.01 dB / 0.001 SSIM, and float32
  accumulation over megapixel images is not that exact), on the input's device.
* A batch returns a float64 tensor ``(N,)``, one value per image; a single ``(C, H, W)`` image
  returns a 0-dim tensor.
* Colour images are whatever the caller passes (the literature's colour results are on RGB);
  ``rgb_to_y`` gives the BT.601 luma that grey-scale results are usually measured on.

Example:
    >>> import torch
    >>> from qgac_fast.metrics import psnr, psnr_b, ssim
    >>> x = torch.arange(3 * 32 * 32, dtype=torch.float64).reshape(1, 3, 32, 32) % 251
    >>> y = x + 1
    >>> psnr(x, y)
    tensor([48.1308], dtype=torch.float64)
    >>> bool(psnr_b(y, x) <= psnr(y, x)), ssim(x, x).tolist()
    (True, [1.0])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["blocking_effect_factor", "psnr", "psnr_b", "rgb_to_y", "ssim"]

_BLOCK = 8  # JPEG's block grid, which PSNR-B measures blocking on


def _as_batch(x: torch.Tensor, name: str) -> torch.Tensor:
    """``x`` as float64 ``(N, C, H, W)``; a ``(C, H, W)`` image becomes a batch of one."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype == torch.bool or x.is_complex():
        raise TypeError(f"{name} must have a real dtype (uint8, int or float), got {x.dtype}")
    if x.dim() not in (3, 4):
        raise ValueError(f"{name} must be (N, C, H, W) or (C, H, W), got shape {tuple(x.shape)}")
    x = x.to(torch.float64)
    return x if x.dim() == 4 else x.unsqueeze(0)


def _pair(x: torch.Tensor, y: torch.Tensor, names: tuple[str, str]) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Both images as float64 batches, and whether the inputs were single images."""
    if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and x.shape != y.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    single = isinstance(x, torch.Tensor) and x.dim() == 3
    return _as_batch(x, names[0]), _as_batch(y, names[1]), single


def _check_range(data_range: float) -> float:
    if isinstance(data_range, bool) or not isinstance(data_range, (int, float)) or not data_range > 0:
        raise ValueError(f"data_range must be a positive number (255 for uint8 images, 1.0 for "
                         f"images on [0, 1]), got {data_range!r}")
    return float(data_range)


def _unbatch(values: torch.Tensor, single: bool) -> torch.Tensor:
    return values[0] if single else values


def _psnr_from_mse(mse: torch.Tensor, data_range: float) -> torch.Tensor:
    # mse == 0 gives +inf (division by zero in float), the usual convention for identical images.
    return 10 * torch.log10(data_range**2 / mse)


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 255.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range^2 / MSE)``.

    The MSE is taken over all channels and pixels jointly (colour PSNR on RGB, as in the
    literature's colour tables), not averaged per channel.

    Args:
        x, y: ``(N, C, H, W)`` or ``(C, H, W)`` images on ``[0, data_range]``, same shape.
        data_range: peak value, 255 for uint8.

    Returns:
        float64 ``(N,)`` (0-dim for a single image); ``inf`` where the images are identical.
    """
    data_range = _check_range(data_range)
    x, y, single = _pair(x, y, ("x", "y"))
    mse = (x - y).square().mean(dim=(1, 2, 3))
    return _unbatch(_psnr_from_mse(mse, data_range), single)


def _boundary_differences(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean squared difference of adjacent pixels across and away from 8x8 block boundaries.

    Args:
        x: float64 ``(N, C, H, W)``.

    Returns:
        ``(D_B, D_B^c)``, each float64 ``(N, C)``: the mean of ``(p - q)^2`` over horizontally
        and vertically adjacent pairs ``(p, q)`` that straddle a block boundary (``q`` in
        column/row ``8k``, ``k >= 1``), and over all other adjacent pairs.
    """
    height, width = x.shape[-2:]
    # Squared differences, summed along the direction that does not decide boundary-ness.
    across_columns = (x[..., :, 1:] - x[..., :, :-1]).square().sum(dim=-2)  # (N, C, W - 1)
    across_rows = (x[..., 1:, :] - x[..., :-1, :]).square().sum(dim=-1)  # (N, C, H - 1)
    # Pair j joins pixels j and j + 1: a boundary pair when j + 1 is a multiple of 8.
    column_boundary = (torch.arange(1, width, device=x.device) % _BLOCK) == 0
    row_boundary = (torch.arange(1, height, device=x.device) % _BLOCK) == 0
    boundary_sum = across_columns[..., column_boundary].sum(-1) + across_rows[..., row_boundary].sum(-1)
    other_sum = across_columns[..., ~column_boundary].sum(-1) + across_rows[..., ~row_boundary].sum(-1)
    boundary_count = height * int(column_boundary.sum()) + width * int(row_boundary.sum())
    other_count = height * int((~column_boundary).sum()) + width * int((~row_boundary).sum())
    return boundary_sum / boundary_count, other_sum / other_count


def blocking_effect_factor(image: torch.Tensor) -> torch.Tensor:
    """Blocking effect factor (BEF) of Yim & Bovik (2011) on the 8x8 grid, per channel.

    ``BEF = eta * (D_B - D_B^c)`` if ``D_B > D_B^c`` else 0, with ``eta = log2(8) /
    log2(min(H, W))``; ``D_B`` and ``D_B^c`` are the mean squared differences of adjacent
    pixels across and away from block boundaries (see ``_boundary_differences``). The grid
    starts at the top-left pixel, as JPEG's does.

    Args:
        image: ``(N, C, H, W)`` or ``(C, H, W)``, any real dtype; ``H, W >= 2`` and at least one
            of them above 8 (so that there is a block boundary).

    Returns:
        float64 ``(N, C)`` (``(C,)`` for a single image), in squared ``image`` units (the same
        units as an MSE).
    """
    single = isinstance(image, torch.Tensor) and image.dim() == 3
    x = _as_batch(image, "image")
    height, width = x.shape[-2:]
    if min(height, width) < 2 or max(height, width) <= _BLOCK:
        raise ValueError(f"blocking_effect_factor needs H, W >= 2 and H or W > {_BLOCK} (a block "
                         f"boundary to measure), got H={height}, W={width}")
    d_b, d_bc = _boundary_differences(x)
    eta = math.log2(_BLOCK) / math.log2(min(height, width))
    return _unbatch((eta * (d_b - d_bc)).clamp(min=0), single)


def psnr_b(test: torch.Tensor, reference: torch.Tensor, data_range: float = 255.0) -> torch.Tensor:
    """PSNR-B in dB (Yim & Bovik 2011): ``10 log10(data_range^2 / (MSE + BEF))``.

    The blocking effect factor is measured on ``test`` only (argument order matters). Colour
    images get PSNR-B per channel, averaged over channels, as in the evaluation code of FBCNN
    and JDEC whose tables the literature compares against; for one channel this is exactly the
    paper's definition. Note that this average differs from ``psnr``'s joint colour MSE.

    Args:
        test: the image under test (JPEG or restored), ``(N, C, H, W)`` or ``(C, H, W)``.
        reference: the original, same shape.
        data_range: peak value, 255 for uint8.

    Returns:
        float64 ``(N,)`` (0-dim for a single image). Identical images give ``inf`` only when
        ``test`` has no blocking (BEF = 0); otherwise the BEF keeps the value finite.
    """
    data_range = _check_range(data_range)
    x, y, single = _pair(test, reference, ("test", "reference"))
    mse = (x - y).square().mean(dim=(2, 3))  # (N, C)
    per_channel = _psnr_from_mse(mse + blocking_effect_factor(x), data_range)
    return _unbatch(per_channel.mean(dim=1), single)


def _window(name: str, device: torch.device) -> torch.Tensor:
    """The 1-D factor of a separable SSIM window, float64, summing to 1."""
    if name == "gaussian":
        offsets = torch.arange(-5, 6, dtype=torch.float64, device=device)
        weights = torch.exp(-offsets.square() / (2 * 1.5**2))
        return weights / weights.sum()
    if name == "uniform8":
        return torch.full((8,), 1 / 8, dtype=torch.float64, device=device)
    raise ValueError(f"window must be 'gaussian' (11x11, sigma 1.5) or 'uniform8' (8x8 box), got {name!r}")


def _filter_valid(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Separable 2-D filtering of ``(B, 1, H, W)`` with ``taps`` x ``taps``, no padding."""
    x = F.conv2d(x, taps.view(1, 1, -1, 1))
    return F.conv2d(x, taps.view(1, 1, 1, -1))


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 255.0, window: str = "gaussian") -> torch.Tensor:
    """Structural similarity (Wang et al. 2004), mean over the valid region and the channels.

    Local means, variances and covariance come from a sliding window applied without padding
    (only positions where the window fits inside the image), with population (1/n) moments,
    ``K1 = 0.01`` and ``K2 = 0.03``; the SSIM map is averaged over positions and channels.

    * ``window="gaussian"``: 11x11 Gaussian, sigma 1.5, the paper's setting. Equals
      ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
      use_sample_covariance=False, data_range=data_range)`` (whose result is the mean over the
      same cropped region), channel-averaged with ``channel_axis``.
    * ``window="uniform8"``: 8x8 box window, the variant the QGAC authors evaluated with.

    Args:
        x, y: ``(N, C, H, W)`` or ``(C, H, W)`` on ``[0, data_range]``, same shape; H and W at
            least the window size (11 or 8).
        data_range: peak value, 255 for uint8.
        window: ``"gaussian"`` or ``"uniform8"``.

    Returns:
        float64 ``(N,)`` (0-dim for a single image); 1 where the images are identical.
    """
    data_range = _check_range(data_range)
    x, y, single = _pair(x, y, ("x", "y"))
    taps = _window(window, x.device)
    n, c, height, width = x.shape
    if min(height, width) < taps.numel():
        raise ValueError(f"ssim with window={window!r} needs H, W >= {taps.numel()}, got H={height}, W={width}")
    # All five local moments in one batched filtering pass: (N * C * 5, 1, H, W).
    planes = torch.stack([x, y, x * x, y * y, x * y], dim=2).reshape(n * c * 5, 1, height, width)
    moments = _filter_valid(planes, taps)
    mu_x, mu_y, xx, yy, xy = moments.reshape(n, c, 5, *moments.shape[-2:]).unbind(2)
    var_x, var_y, cov = xx - mu_x.square(), yy - mu_y.square(), xy - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x.square() + mu_y.square() + c1) * (var_x + var_y + c2))
    return _unbatch(ssim_map.mean(dim=(1, 2, 3)), single)


def rgb_to_y(rgb: torch.Tensor, data_range: float = 255.0) -> torch.Tensor:
    """BT.601 studio-range luma, the grey channel the literature's grey-scale results use.

    ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255`` on the 0..255 scale (so Y lies in
    16..235), scaled to ``data_range``; MATLAB's ``rgb2ycbcr`` luma. Not rounded: code that
    rounds Y to uint8 before measuring (as BasicSR-style scripts do) must round the result.

    Args:
        rgb: ``(N, 3, H, W)`` or ``(3, H, W)``, RGB order, on ``[0, data_range]``.
        data_range: peak value, 255 for uint8.

    Returns:
        float64 ``(N, 1, H, W)`` (``(1, H, W)`` for a single image) on the same scale.
    """
    data_range = _check_range(data_range)
    single = isinstance(rgb, torch.Tensor) and rgb.dim() == 3
    x = _as_batch(rgb, "rgb")
    if x.shape[1] != 3:
        raise ValueError(f"rgb must have 3 channels (R, G, B), got shape {tuple(rgb.shape)}")
    weights = torch.tensor([65.481, 128.553, 24.966], dtype=torch.float64, device=x.device) / 255
    y = (x * weights.view(1, 3, 1, 1)).sum(dim=1, keepdim=True) + 16 / 255 * data_range
    return _unbatch(y, single)
