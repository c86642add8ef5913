"""Image-quality metrics as used in the JPEG artifact correction literature: PSNR, PSNR-B, SSIM;
and a texture measure, the high-frequency energy ratio.

Conventions shared by every function here:

* Images are tensors ``(N, C, H, W)`` (a batch) or ``(C, H, W)`` (one image), any real dtype
  (uint8, integer or floating point), on any device. Both images of a pair must have the same
  shape. Values lie on ``[0, data_range]``: the default ``data_range=255`` suits uint8 images
  and float images on the 0..255 scale; pass ``data_range=1.0`` for images on ``[0, 1]``.
* All arithmetic is float64 (the metrics are reported to 0.01 dB / 0.001 SSIM, and float32
  accumulation over megapixel images is not that exact), on the input's device, in strips of rows
  converted one at a time (:data:`_STRIP_ELEMENTS`): a whole 24 MP RGB image in float64 is
  576 MB, and each temporary as much again. For integer-valued images (uint8) the sums of
  squared differences are exact, whatever the strips.
* A batch returns a float64 tensor ``(N,)``, one value per image; a single ``(C, H, W)`` image
  returns a 0-dim tensor.
* Colour images are whatever the caller passes (the literature's colour results are on RGB);
  ``rgb_to_y`` gives the BT.601 luma that grey-scale results are usually measured on.
  ``psnr_b`` is the exception: it takes one channel (gray) or three (RGB), because its colour
  form follows the published protocol, which measures blocking on the luma.

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
from typing import Callable

import torch
import torch.nn.functional as F

from .functional.transform import blockify, dct_matrix

__all__ = ["blocking_effect_factor", "boundary_differences", "high_frequency_ratio", "psnr", "psnr_b", "rgb_to_y",
           "ssim"]

_BLOCK = 8  # JPEG's block grid, which PSNR-B measures blocking on


def _as_batch(x: torch.Tensor, name: str, dtype: torch.dtype | None = torch.float64) -> torch.Tensor:
    """``x`` as ``dtype`` ``(N, C, H, W)`` (its own dtype, not copied, when ``dtype`` is None); a
    ``(C, H, W)`` image becomes a batch of one."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype == torch.bool or x.is_complex():
        raise TypeError(f"{name} must have a real dtype (uint8, int or float), got {x.dtype}")
    if x.dim() not in (3, 4):
        raise ValueError(f"{name} must be (N, C, H, W) or (C, H, W), got shape {tuple(x.shape)}")
    if dtype is not None:
        x = x.to(dtype)
    return x if x.dim() == 4 else x.unsqueeze(0)


def _pair(x: torch.Tensor, y: torch.Tensor, names: tuple[str, str],
          dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Both images as batches (as ``dtype``; their own dtypes when None, for strip-wise
    conversion), and whether the inputs were single images."""
    if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and x.shape != y.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    single = isinstance(x, torch.Tensor) and x.dim() == 3
    return _as_batch(x, names[0], dtype), _as_batch(y, names[1], dtype), single


#: Elements of one strip's float64 planes: 1 Mi (8 MiB), which stay in the cache through the
#: several passes each strip takes (SSIM's filtering: 4x faster per element than strips of 4 Mi).
_STRIP_ELEMENTS = 1 << 20


def _rows_within(x: torch.Tensor, planes: int, elements: int = _STRIP_ELEMENTS) -> int:
    """How many of ``x``'s rows ``(N, C, H, W)`` make ``elements`` values of ``planes`` float
    planes per channel (0 when one row makes more)."""
    n, c, _, width = x.shape
    return elements // max(1, n * c * planes * width)


def _strips(x: torch.Tensor, planes: int = 1, multiple: int = 1) -> range:
    """First rows of the strips that split ``x`` ``(N, C, H, W)`` for :data:`_STRIP_ELEMENTS`
    elements of ``planes`` float planes per channel; ``range.step`` is the strip's height, a
    positive multiple of ``multiple``."""
    rows = max(1, _rows_within(x, planes))
    return range(0, x.shape[-2], max(multiple, rows // multiple * multiple))


def _squared_error_sums(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sum of ``(x - y)^2`` per image of two ``(N, C, H, W)`` batches: float64 ``(N,)``, in strips."""
    rows = _strips(x, planes=2)
    total = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
    for top in rows:
        strip = (slice(None), slice(None), slice(top, top + rows.step))
        total += (x[strip].to(torch.float64) - y[strip].to(torch.float64)).square().sum(dim=(1, 2, 3))
    return total


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
    mse = _squared_error_sums(x, y) / math.prod(x.shape[1:])
    return _unbatch(_psnr_from_mse(mse, data_range), single)


def _boundary_sums(x: torch.Tensor, plane: Callable[[torch.Tensor], torch.Tensor] | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """Sums of squared differences of adjacent pixels across and away from 8x8 block boundaries.

    Args:
        x: ``(N, C, H, W)``, any real dtype.
        plane: what is measured, computed from each strip of ``x``'s rows: float64 ``(N, C', h, W)``
            of ``(N, C, h, W)``; ``x`` itself as float64 when None.

    Returns:
        ``(S_B, S_B^c, n_B, n_B^c)``: ``S_B`` and ``S_B^c``, each float64 ``(N, C')``, sum
        ``(p - q)^2`` over the horizontally and vertically adjacent pairs ``(p, q)`` that straddle
        a block boundary (``q`` in column/row ``8k``, ``k >= 1``) and over all other adjacent
        pairs; ``n_B`` and ``n_B^c`` are how many pairs of each kind there are.
    """
    plane = plane or (lambda strip: strip.to(torch.float64))
    height, width = x.shape[-2:]
    # Squared differences, summed along the direction that does not decide boundary-ness: over the
    # rows of each strip, and along each row pair, strip by strip; a strip takes its next row too,
    # for the pairs that join it to the next strip.
    across_columns, across_rows = 0, []
    rows = _strips(x, planes=4)
    for top in rows:
        bottom = min(height, top + rows.step)
        values = plane(x[..., top:bottom + 1, :])
        inside = values[..., :bottom - top, :]
        across_columns = across_columns + (inside[..., 1:] - inside[..., :-1]).square().sum(dim=-2)  # (N, C', W - 1)
        across_rows.append((values[..., 1:, :] - values[..., :-1, :]).square().sum(dim=-1))
    across_rows = torch.cat(across_rows, dim=-1)  # (N, C', H - 1)
    # Pair j joins pixels j and j + 1: a boundary pair when j + 1 is a multiple of 8.
    column_boundary = (torch.arange(1, width, device=x.device) % _BLOCK) == 0
    row_boundary = (torch.arange(1, height, device=x.device) % _BLOCK) == 0
    boundary_sum = across_columns[..., column_boundary].sum(-1) + across_rows[..., row_boundary].sum(-1)
    other_sum = across_columns[..., ~column_boundary].sum(-1) + across_rows[..., ~row_boundary].sum(-1)
    boundary_count = height * int(column_boundary.sum()) + width * int(row_boundary.sum())
    other_count = height * int((~column_boundary).sum()) + width * int((~row_boundary).sum())
    return boundary_sum, other_sum, boundary_count, other_count


def boundary_differences(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean squared difference of adjacent pixels across and away from 8x8 block boundaries.

    Args:
        x: ``(N, C, H, W)`` or ``(C, H, W)``, any real dtype.

    Returns:
        ``(D_B, D_B^c)``, each float64 ``(N, C)`` (``(C,)`` for a single image):
        ``_boundary_sums``' sums over their pair counts.
    """
    single = isinstance(x, torch.Tensor) and x.dim() == 3
    boundary_sum, other_sum, boundary_count, other_count = _boundary_sums(_as_batch(x, "x", None))
    return _unbatch(boundary_sum / boundary_count, single), _unbatch(other_sum / other_count, single)


def blocking_effect_factor(image: torch.Tensor, *, counts: str = "exact") -> torch.Tensor:
    """Blocking effect factor (BEF) of Yim & Bovik (2011) on the 8x8 grid, per channel.

    ``BEF = eta * (D_B - D_B^c)`` if ``D_B > D_B^c`` else 0, with ``eta = log2(8) /
    log2(min(H, W))``; ``D_B`` and ``D_B^c`` are the mean squared differences of adjacent
    pixels across and away from block boundaries (see ``_boundary_sums``). The grid starts at the
    top-left pixel, as JPEG's does.

    The means divide the sums of squared differences by pair counts, chosen by ``counts``:

    * ``"exact"``: the number of pairs summed, for any size.
    * ``"nominal"``: the paper's counts, written for sizes that are multiples of 8,
      ``N_B = H (W/8 - 1) + W (H/8 - 1)`` and ``N_B^c = H (W - 1) + W (H - 1) - N_B``, used
      for every size (fractional when H or W is not a multiple of 8), as ``compute_bef`` in
      JDEC's ``utils_.py`` and FBCNN's ``utils/utils_image.py`` does. The two agree when H and W
      are multiples of 8.

    Args:
        image: ``(N, C, H, W)`` or ``(C, H, W)``, any real dtype. ``"exact"`` needs ``H, W >= 2``
            and at least one of them above 8 (so that there is a block boundary); ``"nominal"``
            needs ``H, W >= 8``, one of them above 8 (so that ``N_B > 0``).
        counts: ``"exact"`` or ``"nominal"``.

    Returns:
        float64 ``(N, C)`` (``(C,)`` for a single image), in squared ``image`` units (the same
        units as an MSE).
    """
    single = isinstance(image, torch.Tensor) and image.dim() == 3
    return _unbatch(_blocking_effect_factor(_as_batch(image, "image", None), counts), single)


def _blocking_effect_factor(x: torch.Tensor, counts: str,
                            plane: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """:func:`blocking_effect_factor` of ``(N, C, H, W)``, or of the ``plane`` computed from it
    strip by strip (as in :func:`_boundary_sums`): float64 ``(N, C')``."""
    if counts not in ("exact", "nominal"):
        raise ValueError(f"counts must be 'exact' or 'nominal', got {counts!r}")
    height, width = x.shape[-2:]
    smallest = 2 if counts == "exact" else _BLOCK
    if min(height, width) < smallest or max(height, width) <= _BLOCK:
        raise ValueError(f"blocking_effect_factor with counts={counts!r} needs H, W >= {smallest} and H or "
                         f"W > {_BLOCK} (a block boundary to measure), got H={height}, W={width}")
    boundary_sum, other_sum, boundary_count, other_count = _boundary_sums(x, plane)
    if counts == "nominal":
        boundary_count = height * (width / _BLOCK - 1) + width * (height / _BLOCK - 1)
        other_count = height * (width - 1) + width * (height - 1) - boundary_count
    d_b, d_bc = boundary_sum / boundary_count, other_sum / other_count
    eta = math.log2(_BLOCK) / math.log2(min(height, width))
    return (eta * (d_b - d_bc)).clamp(min=0)


def psnr_b(test: torch.Tensor, reference: torch.Tensor, data_range: float = 255.0) -> torch.Tensor:
    """PSNR-B in dB (Yim & Bovik 2011): ``10 log10(data_range^2 / (MSE + BEF))``.

    The blocking effect factor is measured on ``test`` only (argument order matters).

    * Gray ``(.., 1, H, W)``: the paper's definition, ``MSE`` of the channel plus the
      ``blocking_effect_factor`` of ``test`` with exact pair counts. JDEC's and FBCNN's code
      uses its nominal counts for gray too, which gives the same value for sizes that are
      multiples of 8 (Classic5) and a slightly lower one otherwise (gray LIVE1 JPEG rows: by
      0.006 dB at q10, 0.012 dB at q30); adding ``blocking_effect_factor(test,
      counts="nominal")`` to the MSE reproduces their gray numbers exactly.
    * Colour ``(.., 3, H, W)``, RGB: the protocol of the colour tables the literature compares
      against, as computed by ``calculate_psnrb`` in JDEC's ``utils_.py`` (called by its
      ``test.py``) and in FBCNN's ``utils/utils_image.py``: ``MSE`` over all values of all
      three channels jointly (as ``psnr``), plus the BEF of one plane, the luma of ``test``
      (``rgb_to_y``) rounded to the nearest 8-bit level (ties to even, like numpy's ``round``),
      with that code's ``"nominal"`` pair counts (see ``blocking_effect_factor``; they differ
      from the exact counts only when H or W is not a multiple of 8). On LIVE1 this reproduces
      the published JPEG rows to the printed digit (24.20, 26.49, 27.84 dB at q10, 20, 30).

    Args:
        test: the image under test (JPEG or restored), ``(N, C, H, W)`` or ``(C, H, W)`` with
            C = 1 or 3. Colour needs ``H, W >= 8`` and one of them above 8.
        reference: the original, same shape.
        data_range: peak value, 255 for uint8. The luma is rounded to steps of
            ``data_range / 255``, so that values on ``[0, 1]`` give the same result as on 0..255.

    Returns:
        float64 ``(N,)`` (0-dim for a single image). Identical images give ``inf`` only when
        ``test`` has no blocking (BEF = 0); otherwise the BEF keeps the value finite.
    """
    data_range = _check_range(data_range)
    x, y, single = _pair(test, reference, ("test", "reference"))
    if x.shape[1] == 1:
        bef = _blocking_effect_factor(x, "exact")[:, 0]
    elif x.shape[1] == 3:
        levels = 255 / data_range
        bef = _blocking_effect_factor(x, "nominal", lambda rgb: torch.round(rgb_to_y(rgb, data_range) * levels) / levels)
        bef = bef[:, 0]
    else:
        raise ValueError(f"psnr_b takes gray (1 channel) or RGB (3 channels) images, got shape {tuple(test.shape)}")
    mse = _squared_error_sums(x, y) / math.prod(x.shape[1:])
    return _unbatch(_psnr_from_mse(mse + bef, data_range), single)


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
    """Separable 2-D filtering of every channel of ``(N, K, H, W)`` with ``taps`` x ``taps``, no padding."""
    if x.dtype == torch.float64 and x.device.type == "cpu":
        # CPU convolutions in float64 have no oneDNN kernel; torch's generic one took 5x the time
        # of these shifted sums, and 20x in strips that stay in the cache
        return _correlate_valid(_correlate_valid(x, taps, -2), taps, -1)
    # depthwise (groups=K): CPU convolutions with one input channel take a slow generic path
    # (30x slower than this in float32); the loss's backward through it is 4.6x faster than
    # through the shifted sums
    k = x.shape[1]
    x = F.conv2d(x, taps.view(1, 1, -1, 1).expand(k, 1, -1, 1), groups=k)
    return F.conv2d(x, taps.view(1, 1, 1, -1).expand(k, 1, 1, -1), groups=k)


def _correlate_valid(x: torch.Tensor, taps: torch.Tensor, dim: int) -> torch.Tensor:
    """``sum_i taps[i] * x[j + i]`` along ``dim`` at every ``j`` where all the taps fit."""
    weights = taps.tolist()
    length = x.shape[dim] - len(weights) + 1
    out = x.narrow(dim, 0, length) * weights[0]
    for i, weight in enumerate(weights[1:], 1):
        out.add_(x.narrow(dim, i, length), alpha=weight)
    return out


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 255.0, window: str = "gaussian",
         dtype: torch.dtype = torch.float64) -> torch.Tensor:
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
        dtype: floating dtype of the computation: float64 for measurements; a loss takes
            float32 (several times faster, gradients in the images' dtype).

    Returns:
        ``dtype`` ``(N,)`` (0-dim for a single image); 1 where the images are identical.
    """
    data_range = _check_range(data_range)
    x, y, single = _pair(x, y, ("x", "y"))
    taps = _window(window, x.device).to(dtype)
    n, c, height, width = x.shape
    if min(height, width) < taps.numel():
        raise ValueError(f"ssim with window={window!r} needs H, W >= {taps.numel()}, got H={height}, W={width}")
    size = taps.numel()
    rows = height - size + 1
    # Strips of output rows, each converted to ``dtype`` on its own, bound the temporaries (five
    # moments per channel and the map's terms) whatever the image size: whole, a 4 MP image in
    # float64 made about 15 GB of them; one strip is the whole image for training crops, whose
    # result stays the plain mean. A strip reads size - 1 rows more than its own: at least `size`
    # rows each keeps that overhead below one half. Other dtypes than float64 (the loss: float32,
    # with gradients) take strips 4x larger, so that training crops stay one strip, as they were.
    elements = _STRIP_ELEMENTS * (1 if dtype == torch.float64 else 4)
    strips = range(0, rows, max(size, _rows_within(x, 5, elements)))
    if len(strips) == 1:
        return _unbatch(_ssim_map(x.to(dtype), y.to(dtype), taps, data_range).mean(dim=(1, 2, 3)), single)
    total = torch.zeros(n, dtype=dtype, device=x.device)
    for top in strips:
        part = (..., slice(top, min(rows, top + strips.step) + size - 1), slice(None))
        total += _ssim_map(x[part].to(dtype), y[part].to(dtype), taps, data_range).sum(dim=(1, 2, 3))
    return _unbatch(total / (c * rows * (width - size + 1)), single)


def _ssim_map(x: torch.Tensor, y: torch.Tensor, taps: torch.Tensor, data_range: float) -> torch.Tensor:
    """SSIM at every position where the window fits: ``(N, C, H - k + 1, W - k + 1)``."""
    n, c, height, width = x.shape
    # All five local moments in one batched filtering pass: (N, C * 5, H, W).
    planes = torch.stack([x, y, x * x, y * y, x * y], dim=2).reshape(n, c * 5, height, width)
    moments = _filter_valid(planes, taps)
    mu_x, mu_y, xx, yy, xy = moments.reshape(n, c, 5, *moments.shape[-2:]).unbind(2)
    var_x, var_y, cov = xx - mu_x.square(), yy - mu_y.square(), xy - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x.square() + mu_y.square() + c1) * (var_x + var_y + c2))


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


#: Frequencies ``(u, v)`` with ``u + v >= HIGH_FREQUENCY_START`` count as high in
#: :func:`high_frequency_ratio`: 54 of the 64, all but the lowest 10 (the DC and the 3 lowest
#: anti-diagonals), which even quality-10 tables mostly keep.
HIGH_FREQUENCY_START = 4


def high_frequency_ratio(test: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Texture measure: energy of the luma's high 8x8 DCT frequencies in ``test`` over that in
    ``reference``.

    Below 1: ``test`` is smoother than the reference (JPEG's lost detail, or a regression
    model's blur); above 1: it has more high-frequency energy (ringing, noise or invented
    texture). Measured on the JPEG block grid (the top-left-aligned 8x8 blocks of the part of
    the image that is a multiple of 8), on ``rgb_to_y`` luma for three channels, the channel
    itself for one, with an orthonormal DCT; frequencies as :data:`HIGH_FREQUENCY_START`.

    Args:
        test, reference: ``(N, C, H, W)`` or ``(C, H, W)``, C = 1 or 3, on the same scale.

    Returns:
        float64 ``(N,)`` (0-dim for one image): the ratio of the two energies.
    """
    x, y, single = _pair(test, reference, ("test", "reference"))
    if x.shape[1] not in (1, 3):
        raise ValueError(f"high_frequency_ratio takes 1 or 3 channels, got shape {tuple(test.shape)}")
    h, w = x.shape[-2] // _BLOCK * _BLOCK, x.shape[-1] // _BLOCK * _BLOCK
    if h == 0 or w == 0:
        raise ValueError(f"images must be at least 8x8, got shape {tuple(test.shape)}")
    basis = dct_matrix(torch.float64, x.device)
    n = torch.arange(_BLOCK, device=x.device)
    high = (n[:, None] + n[None, :]) >= HIGH_FREQUENCY_START
    rows = _strips(x, planes=2, multiple=_BLOCK)
    energies = []
    for image in (x, y):
        energy = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
        for top in range(0, h, rows.step):
            strip = image[..., top:min(h, top + rows.step), :w]
            luma = rgb_to_y(strip) if strip.shape[1] == 3 else strip.to(torch.float64)
            coefficients = basis @ blockify(luma[:, 0]) @ basis.T
            energy += coefficients.square()[..., high].sum(dim=(1, 2, 3))
        energies.append(energy)
    return _unbatch(energies[0] / energies[1], single)
