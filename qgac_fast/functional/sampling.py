"""Chroma resampling as libjpeg does it, plus the exact DCT-domain 2x nearest-neighbour doubling.

Sampling factors are given as ``factor = (fy, fx)``: the vertical then horizontal ratio between
the full-resolution grid and the component (e.g. ``(2, 2)`` for 4:2:0 chroma, ``(1, 2)`` for
4:2:2, ``(2, 1)`` for 4:4:0, ``(1, 4)`` for 4:1:1). Planes are ``(..., H, W)`` on the 0..255 scale.

* :func:`upsample` ``"fancy"`` is libjpeg's default (jdsample.c): a triangle filter (3/4 nearer,
  1/4 further sample) for 2x horizontal (only when the component is wider than 2 samples, as
  libjpeg), 2x vertical, and 2x2 (separable, only when wider than 2 samples); any other ratio is
  replicated (libjpeg's int_upsample). It works on the component's real size and replicates the
  edge samples, as libjpeg's context rows do. ``"nearest"`` is plain replication.
* :func:`downsample` is libjpeg's encoder box filter (jcsample.c), with its alternating rounding
  bias when ``rounding=True``.
* :func:`dct_upsample_nearest` doubles a tiled coefficient plane exactly in the DCT domain.
"""

from __future__ import annotations

import torch

from .dtypes import float_dtype
from .transform import BLOCK, blockify, dct_matrix, plane_matmul

__all__ = [
    "UPSAMPLING",
    "pad_edges",
    "upsample",
    "downsample",
    "dct_upsample_operator",
    "dct_upsample_matrix",
    "dct_upsample_nearest",
]


#: Chroma upsampling methods: libjpeg's default (``"fancy"``: triangle filter) and replication.
UPSAMPLING = ("fancy", "nearest")


def _check_factor(factor) -> tuple[int, int]:
    fy, fx = (int(f) for f in factor)
    if fy < 1 or fx < 1:
        raise ValueError(f"sampling factors must be positive integers, got {factor}")
    return fy, fx


def pad_edges(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Grow ``(..., h, w)`` to ``(..., height, width)`` (>= h, w) by replicating the last row and
    column (libjpeg's edge expansion). Any dtype; differentiable for float input."""
    h, w = x.shape[-2:]
    if height < h or width < w:
        raise ValueError(f"pad_edges cannot shrink {h}x{w} to {height}x{width}")
    if height > h:
        x = x.index_select(-2, torch.arange(height, device=x.device).clamp_(max=h - 1))
    if width > w:
        x = x.index_select(-1, torch.arange(width, device=x.device).clamp_(max=w - 1))
    return x


def _replicate(x: torch.Tensor, fy: int, fx: int) -> torch.Tensor:
    if fy > 1:
        x = x.repeat_interleave(fy, dim=-2)
    if fx > 1:
        x = x.repeat_interleave(fx, dim=-1)
    return x


def _neighbours(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Previous and next sample along ``dim`` with the edge sample replicated."""
    n = x.shape[dim]
    prev = torch.cat([x.narrow(dim, 0, 1), x.narrow(dim, 0, n - 1)], dim)
    nxt = torch.cat([x.narrow(dim, 1, n - 1), x.narrow(dim, n - 1, 1)], dim)
    return prev, nxt


def _interleave(even: torch.Tensor, odd: torch.Tensor, dim: int) -> torch.Tensor:
    """Interleave two equal tensors along ``dim`` (``dim`` negative): e0, o0, e1, o1, ..."""
    out = torch.stack([even, odd], dim=dim)  # new axis right after ``dim``
    shape = list(even.shape)
    shape[dim] *= 2
    return out.reshape(shape)


def _fancy_1d(x: torch.Tensor, dim: int, rounding: bool) -> torch.Tensor:
    """2x triangle filter along ``dim``: (3 x[i] + x[i-1] (+1)) / 4, (3 x[i] + x[i+1] (+2)) / 4."""
    prev, nxt = _neighbours(x, dim)
    even, odd = 3 * x + prev, 3 * x + nxt
    if rounding:
        even = torch.div(even + 1, 4, rounding_mode="floor")
        odd = torch.div(odd + 2, 4, rounding_mode="floor")
    else:
        even, odd = even / 4, odd / 4
    return _interleave(even, odd, dim)


def _fancy_h2v2(x: torch.Tensor, rounding: bool) -> torch.Tensor:
    """libjpeg's h2v2 fancy upsampling: vertical 3:1 column sums, then horizontal 3:1 with the
    biases 8 (left output) and 7 (right output), divided by 16."""
    up, down = _neighbours(x, -2)
    colsum = _interleave(3 * x + up, 3 * x + down, -2)
    left, right = _neighbours(colsum, -1)
    even, odd = 3 * colsum + left, 3 * colsum + right
    if rounding:
        even = torch.div(even + 8, 16, rounding_mode="floor")
        odd = torch.div(odd + 7, 16, rounding_mode="floor")
    else:
        even, odd = even / 16, odd / 16
    return _interleave(even, odd, -1)


def _samples(x: torch.Tensor, rounding: bool, op: str) -> torch.Tensor:
    """Resampling input in its working dtype: int64 for libjpeg's integer arithmetic
    (``rounding``), else floating (integer samples become float32)."""
    if rounding:
        if x.dtype.is_floating_point:
            raise TypeError(f"{op}(rounding=True) needs integer samples; round them first")
        return x.to(torch.int64)
    return x if x.dtype.is_floating_point else x.to(torch.float32)


def upsample(x: torch.Tensor, factor: tuple[int, int], *, method: str = "fancy",
             size: tuple[int, int] | None = None, rounding: bool = False) -> torch.Tensor:
    """Upsample a chroma component as libjpeg's decoder does.

    Args:
        x: ``(..., h, w)`` component samples at their *real* downsampled size (libjpeg:
            ``ceil(W * h_samp / max_h)`` by ``ceil(H * v_samp / max_v)``), 0..255 scale, not
            level-shifted. Integer dtype when ``rounding=True``, else float (ints are promoted
            to float32).
        factor: ``(fy, fx)`` vertical and horizontal ratios.
        method: ``"fancy"`` (libjpeg's default, see the module docstring) or ``"nearest"``.
        size: optional ``(H, W)`` to crop the result to (the image size).
        rounding: integer arithmetic with libjpeg's alternating biases (bit-exact given
            libjpeg's integer input); otherwise exact float weights (differentiable).

    Returns:
        ``(..., h * fy, w * fx)`` (or ``size``); int64 when ``rounding``, else float.
    """
    fy, fx = _check_factor(factor)
    if method not in UPSAMPLING:
        raise ValueError(f"method must be one of {UPSAMPLING}, got {method!r}")
    x = _samples(x, rounding, "upsample")
    w = x.shape[-1]
    if method == "nearest" or (fy, fx) == (1, 1):
        out = _replicate(x, fy, fx)
    elif (fy, fx) == (1, 2):
        out = _fancy_1d(x, -1, rounding) if w > 2 else _replicate(x, 1, 2)
    elif (fy, fx) == (2, 1):
        out = _fancy_1d(x, -2, rounding)
    elif (fy, fx) == (2, 2):
        out = _fancy_h2v2(x, rounding) if w > 2 else _replicate(x, 2, 2)
    else:
        out = _replicate(x, fy, fx)
    if size is not None:
        hh, ww = size
        if hh > out.shape[-2] or ww > out.shape[-1]:
            raise ValueError(f"size {size} exceeds the upsampled size {tuple(out.shape[-2:])}")
        out = out[..., :hh, :ww]
    return out


def downsample(x: torch.Tensor, factor: tuple[int, int], *, rounding: bool = False) -> torch.Tensor:
    """Box-filter downsampling as libjpeg's encoder (jcsample.c).

    Args:
        x: ``(..., H, W)`` samples (0..255 scale), H and W multiples of ``fy`` and ``fx`` (edge-pad
            first, see :func:`pad_edges`).
        factor: ``(fy, fx)``.
        rounding: integer result as libjpeg: for ``(1, 2)`` ``(a + b + bias) >> 1`` with bias
            0, 1, 0, 1... along each row; for ``(2, 2)`` ``(sum + bias) >> 2`` with bias 1, 2, 1,
            2...; for any other ratio ``(sum + n // 2) // n``. Needs integer input.
            Otherwise the exact float mean (differentiable).

    Returns:
        ``(..., H / fy, W / fx)``: int64 when ``rounding``, else float.
    """
    fy, fx = _check_factor(factor)
    *lead, h, w = x.shape
    if h % fy or w % fx:
        raise ValueError(f"plane {h}x{w} is not a multiple of the factor {(fy, fx)}; pad it first")
    x = _samples(x, rounding, "downsample")
    s = x.reshape(*lead, h // fy, fy, w // fx, fx).sum(dim=(-3, -1))
    n = fy * fx
    if not rounding:
        return s / n
    if (fy, fx) == (1, 2):
        bias = torch.arange(w // fx, device=x.device) % 2
    elif (fy, fx) == (2, 2):
        bias = 1 + torch.arange(w // fx, device=x.device) % 2
    else:
        bias = n // 2
    return torch.div(s + bias, n, rounding_mode="floor")


def unfancy(x: torch.Tensor, dim: int, taps: int = 4) -> torch.Tensor:
    """Undo libjpeg's 2x fancy upsampling along ``dim`` (the float inverse; edges approximate).

    Fancy upsampling writes each sample ``s[i]`` as the pair ``(3 s[i] + s[i-1]) / 4``,
    ``(3 s[i] + s[i+1]) / 4``; the mean of the pair is ``(s[i-1] + 6 s[i] + s[i+1]) / 8``, whose
    inverse filter has the taps ``sqrt(2) rho**|k|``, ``rho = 2 sqrt(2) - 3`` (about -0.17: with
    ``taps`` = 4 on each side the truncation error is under 0.1 % of the signal). Libjpeg's
    rounding of the upsampled samples stays as noise of about half a level.

    Args:
        x: float ``(..., H, W)`` upsampled plane whose pairs start at index 0 along ``dim`` (crop
            it first); an odd last sample is dropped.
        dim: -2 (vertical) or -1 (horizontal).

    Returns:
        float ``(..., H // 2, W)`` or ``(..., H, W // 2)``: the samples before upsampling.
    """
    if dim not in (-1, -2):
        raise ValueError(f"dim must be -1 or -2, got {dim}")
    n = x.shape[dim] // 2
    split = x.narrow(dim, 0, 2 * n).unflatten(dim, (n, 2))  # the pair axis is next to dim, at index dim
    pairs = (split.select(dim, 0) + split.select(dim, 1)) * 0.5
    index = torch.arange(-taps, n + taps, device=x.device).clamp_(0, n - 1)  # edges replicated
    padded = pairs.index_select(dim, index)
    rho = 2 * 2**0.5 - 3
    out = sum(2**0.5 * rho ** abs(k - taps) * padded.narrow(dim, k, n) for k in range(2 * taps + 1))
    return out


def dct_upsample_operator(dtype: torch.dtype = torch.float64,
                          device: torch.device | str | None = None) -> torch.Tensor:
    """The 1-D factors ``A`` (2, 8, 8) of the DCT-domain 2x nearest-neighbour doubling.

    ``A[a] = D @ S[a] @ D.T`` where ``S[a][i, m] = 1`` iff ``m == 4 a + i // 2`` selects the rows
    of half ``a`` of the doubled block. The coefficient block ``(a, b)`` of the four that replace
    ``X`` is ``A[a] @ X @ A[b].T``. Built in float64, then cast.
    """
    d = dct_matrix(torch.float64)
    s = torch.zeros(2, BLOCK, BLOCK, dtype=torch.float64)
    i = torch.arange(BLOCK)
    for a in range(2):
        s[a, i, 4 * a + i // 2] = 1.0
    return (d @ s @ d.T).to(dtype=dtype, device=device)


def dct_upsample_matrix(dtype: torch.dtype = torch.float64,
                        device: torch.device | str | None = None) -> torch.Tensor:
    """The doubling as (4, 64, 64) matrices on row-major flattened blocks:
    ``out[2a + b] = M[2a + b] @ x.reshape(64)`` with ``M[2a + b] = kron(A[a], A[b])``."""
    a = dct_upsample_operator(torch.float64)
    m = torch.stack([torch.kron(a[i], a[j]) for i in range(2) for j in range(2)])
    return m.to(dtype=dtype, device=device)


def dct_upsample_nearest(plane: torch.Tensor, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Double a tiled coefficient plane by nearest neighbour, exactly, in the DCT domain.

    ``dct_upsample_nearest(x) == dct(nearest_2x(idct(x)))`` to float rounding, computed per block
    with a fixed linear operator (no pixels formed). Each plane (leading index) is its own item of
    the products (:func:`~qgac_fast.functional.transform.plane_matmul`): equal planes, such as Cb
    and Cr with equal values, give bit-identical results.

    Args:
        plane: ``(..., H, W)`` tiled coefficients (H, W multiples of 8), e.g. dequantized chroma.
        dtype: compute/output dtype; default: the input's if floating, else float32.

    Returns:
        ``(..., 2H, 2W)`` tiled coefficients of the doubled plane; linear and differentiable.
    """
    dtype = float_dtype(plane, dtype)
    x = blockify(plane.to(dtype))  # (..., bh, bw, 8, 8)
    *lead, bh, bw = x.shape[:-2]
    a_t = dct_upsample_operator(dtype, x.device).reshape(2 * BLOCK, BLOCK).T  # (8, 16): columns (a, i)
    # (A[a] @ X)^T = X^T @ A[a]^T for every block: rows (block, l), columns (a, i)
    left = plane_matmul(x.transpose(-1, -2).reshape(*lead, bh * bw * BLOCK, BLOCK), a_t)
    # (A[a] @ X) @ A[b]^T: rows (block, a, i), columns (b, j)
    left = left.reshape(*lead, bh * bw, BLOCK, 2 * BLOCK).transpose(-1, -2)
    y = plane_matmul(left.reshape(*lead, bh * bw * 2 * BLOCK, BLOCK), a_t)
    y = y.reshape(*lead, bh, bw, 2, BLOCK, 2, BLOCK)
    # rows: block row p, half a, sample i; columns: block col q, half b, sample j
    y = y.permute(*range(len(lead)), -6, -4, -3, -5, -2, -1)  # (..., bh, 2, 8, bw, 2, 8)
    return y.reshape(*lead, bh * 2 * BLOCK, bw * 2 * BLOCK)
