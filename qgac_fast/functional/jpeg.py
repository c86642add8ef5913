"""JPEG decode and encode pipelines built from the reference operations.

Decoding (coefficients -> pixels), libjpeg's default output path:
dequantize -> inverse DCT -> +128 -> crop each component to its real size -> chroma upsampling
(fancy by default) -> YCbCr -> RGB -> clamp and round.

* :func:`decode` works on one :class:`~qgac_fast.coefficients.JPEGCoefficients`. With
  ``dtype=torch.uint8`` (default) it mirrors libjpeg's integer steps (IDCT output rounded and
  range-limited, integer fancy upsampling with libjpeg's biases, fixed-point colour conversion);
  with ``idct="islow"`` (an integer twin of libjpeg's jidctint) it reproduces libjpeg bit for
  bit; ``idct="float"`` swaps in the float IDCT (then rounded). With a
  float ``dtype`` it is the differentiable decode used for training: nothing is rounded, values
  are RGB on the 0..255 scale, clamped to [0, 255] only if ``clamp=True``.
* :func:`decode_planes` is the batched, tensor-level form the model and the Triton kernels use:
  tiled coefficient planes ``(N, 1, H, W)`` luma and ``(N, 2, H/fy, W/fx)`` chroma with tables
  ``(N, C, 8, 8)`` in, ``(N, 3, H, W)`` out.

Encoding (pixels -> quantized coefficients), :func:`encode`, reproduces libjpeg's integer steps
(fixed-point colour conversion, edge replication to whole blocks, biased box downsampling,
libjpeg's integer DCT and round-half-away quantization, dummy blocks at MCU padding), so its
coefficients equal those libjpeg writes with the accurate DCT. It is not differentiable.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from ..coefficients import JPEGCoefficients
from .dtypes import float_dtype
from .checks import BLOCK, SUBSAMPLING_FACTORS, check_bins
from .color import rgb_to_ycbcr_libjpeg, ycbcr_to_rgb, ycbcr_to_rgb_libjpeg
from .transform import blockify, block_dct, deblockify, fdct_islow, idct, idct_islow
from .quantization import clamp_to_bins, dequantize, quantize_scaled, round_half_away_from_zero, tile_table
from .sampling import UPSAMPLING, downsample, pad_edges, upsample

__all__ = [
    "coefficient_planes",
    "decode",
    "decode_normalized",
    "decode_planes",
    "encode",
    "encode_planes",
]



def coefficient_planes(jc) -> tuple[torch.Tensor, ...]:
    """The components of ``jc`` as tiled planes: per component ``(8 * blocks_h, 8 * blocks_w)``
    (MCU-padded, same dtype as stored, int16 from a file)."""
    return tuple(deblockify(c) for c in jc.coefficients)


def _decode_components(planes: Sequence[torch.Tensor], tables: Sequence[torch.Tensor | None],
                       factors: Sequence[tuple[int, int]], size: tuple[int, int], color_space: str,
                       upsampling: str, dtype: torch.dtype, clamp: bool, idct_method: str = "islow") -> torch.Tensor:
    """Shared decode core. ``planes[c]``: ``(..., h_c, w_c)`` tiled coefficients; ``tables[c]``:
    ``(..., 8, 8)`` or None (already dequantized); ``factors[c]``: ``(fy, fx)``."""
    if upsampling not in UPSAMPLING:
        raise ValueError(f"upsampling must be one of {UPSAMPLING}, got {upsampling!r}")
    exact = dtype == torch.uint8
    if not exact and not dtype.is_floating_point:
        raise ValueError(f"dtype must be torch.uint8 or a floating point dtype, got {dtype}")
    if idct_method not in ("islow", "float"):
        raise ValueError(f"idct must be 'islow' or 'float', got {idct_method!r}")
    integer_idct = exact and idct_method == "islow"
    compute = torch.float64 if exact else dtype
    height, width = size
    out = []
    for plane, table, (fy, fx) in zip(planes, tables, factors):
        if integer_idct:  # libjpeg's jidctint: integer dequantization and IDCT, rounded, range-limited
            if plane.dtype.is_floating_point:
                raise TypeError("the integer IDCT needs integer coefficients; use idct='float' or a float dtype")
            coef = plane.to(torch.int64)
            if table is not None:
                coef = coef * tile_table(table, *coef.shape[-2:]).to(torch.int64)
            pix = deblockify(idct_islow(blockify(coef)))
        else:
            coef = plane.to(compute) if table is None else dequantize(plane, table, dtype=compute)
            pix = idct(coef) + 128.0
        ch, cw = -(-height // fy), -(-width // fx)
        if ch > pix.shape[-2] or cw > pix.shape[-1]:
            raise ValueError(f"component plane {tuple(pix.shape[-2:])} is smaller than its real size {(ch, cw)}")
        pix = pix[..., :ch, :cw]
        if exact and not integer_idct:  # libjpeg's IDCT rounds its output and range-limits it
            pix = torch.floor(pix + 0.5).clamp_(0, 255).to(torch.int64)
        out.append(upsample(pix, (fy, fx), method=upsampling, size=(height, width), rounding=exact))
    x = torch.stack(out, dim=-3)
    if color_space == "ycbcr" and x.shape[-3] == 3:
        x = ycbcr_to_rgb_libjpeg(x) if exact else ycbcr_to_rgb(x)
    elif color_space not in ("ycbcr", "gray", "rgb"):
        raise ValueError(f"unsupported colour space {color_space!r}")
    if exact:
        return x.clamp(0, 255).to(torch.uint8)
    return x.clamp(0.0, 255.0) if clamp else x


def _component_factors(sampling: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    hmax = max(h for h, _ in sampling)
    vmax = max(v for _, v in sampling)
    factors = []
    for h, v in sampling:
        if hmax % h or vmax % v:
            raise ValueError(f"non-integral sampling ratios are not supported: {tuple(sampling)}")
        factors.append((vmax // v, hmax // h))
    return factors


def decode(jc, *, upsampling: str = "fancy", dtype: torch.dtype = torch.uint8, clamp: bool = False,
           idct: str = "islow") -> torch.Tensor:
    """Decode a JPEG's coefficients to pixels, like libjpeg's default output.

    Args:
        jc: :class:`qgac_fast.coefficients.JPEGCoefficients` (gray, YCbCr or RGB; any integral sampling
            factors). Its coefficients may also be float tensors (e.g. restored ones).
        upsampling: ``"fancy"`` (libjpeg's default triangle filter) or ``"nearest"``.
        dtype: ``torch.uint8`` for libjpeg's rounded output, or a float dtype for the
            differentiable decode (no rounding anywhere).
        clamp: float decode only: clamp to [0, 255] (kills gradients outside).
        idct: uint8 decode only: ``"islow"`` (libjpeg's integer IDCT, bit-exact) or ``"float"``
            (orthonormal float IDCT, then rounded). The float decode always uses the float IDCT.

    Returns:
        ``(C, H, W)`` with C = 3 (RGB, or the file's RGB) or 1 (gray), on the 0..255 scale; uint8,
        or float of ``dtype`` (not clamped unless ``clamp``).

    Example:
        >>> from qgac_fast.codec import read_coefficients            # doctest: +SKIP
        >>> rgb = decode(read_coefficients("photo.jpg"))              # doctest: +SKIP
    """
    if jc.num_components not in (1, 3):
        raise ValueError(f"decode supports 1 or 3 components, got {jc.num_components}")
    planes = coefficient_planes(jc)
    factors = _component_factors(jc.sampling)
    return _decode_components(planes, list(jc.quantization), factors, (jc.height, jc.width),
                              jc.color_space, upsampling, dtype, clamp, idct)


def _batch_table(table: torch.Tensor | None, channels: int, name: str) -> torch.Tensor | None:
    if table is None:
        return None
    if table.dim() == 3:  # (N, 8, 8): one table per sample, shared by the channels
        table = table.unsqueeze(-3)
    if table.dim() not in (2, 4) or table.shape[-2:] != (8, 8):
        raise ValueError(f"{name} must be (8, 8), (N, 8, 8) or (N, C, 8, 8), got {tuple(table.shape)}")
    if table.dim() == 4 and table.shape[1] not in (1, channels):
        raise ValueError(f"{name} has {table.shape[1]} channels, the planes {channels}")
    return table


def decode_planes(luma: torch.Tensor, chroma: torch.Tensor | None = None,
                  luma_table: torch.Tensor | None = None, chroma_table: torch.Tensor | None = None, *,
                  size: tuple[int, int] | None = None, upsampling: str = "fancy",
                  dtype: torch.dtype | None = None, clamp: bool = False, idct: str = "islow") -> torch.Tensor:
    """Batched decode of tiled coefficient planes: what the model and the Triton kernels use.

    Args:
        luma: ``(N, 1, H, W)`` tiled Y coefficients, H and W multiples of 8.
        chroma: ``(N, 2, Hc, Wc)`` tiled Cb, Cr coefficients with ``H = fy * Hc``,
            ``W = fx * Wc`` (``(H, W)`` for 4:4:4, ``(H/2, W/2)`` for 4:2:0...), or None for gray.
        luma_table, chroma_table: quantization tables ``(8, 8)``, ``(N, 8, 8)`` or
            ``(N, C, 8, 8)``; if None the planes are taken as already dequantized.
        size: ``(height, width)`` of the real image (<= ``(H, W)``): components are cropped to
            their real size before upsampling, as libjpeg; default ``(H, W)``.
        upsampling: ``"fancy"`` or ``"nearest"``.
        dtype: float dtype (default: the planes' if floating, else float32) for the
            differentiable decode, or ``torch.uint8`` for libjpeg-like rounded output.
        clamp: float decode only: clamp to [0, 255].
        idct: uint8 decode only: ``"islow"`` (libjpeg's integer IDCT, bit-exact) or
            ``"float"`` (float IDCT, then rounded).

    Returns:
        ``(N, 3, height, width)`` RGB (``(N, 1, ...)`` gray) on the 0..255 scale; float,
        differentiable and unclamped by default.
    """
    if luma.dim() != 4 or luma.shape[1] != 1:
        raise ValueError(f"luma must be (N, 1, H, W), got {tuple(luma.shape)}")
    n, _, h, w = luma.shape
    if dtype != torch.uint8:
        dtype = float_dtype(luma, dtype)
    planes, tables, factors = [luma], [_batch_table(luma_table, 1, "luma_table")], [(1, 1)]
    if chroma is not None:
        if chroma.dim() != 4 or chroma.shape[:2] != (n, 2):
            raise ValueError(f"chroma must be (N, 2, Hc, Wc) with N = {n}, got {tuple(chroma.shape)}")
        hc, wc = chroma.shape[-2:]
        if h % hc or w % wc:
            raise ValueError(f"chroma plane {hc}x{wc} does not divide the luma plane {h}x{w}")
        ct = _batch_table(chroma_table, 2, "chroma_table")
        for c in range(2):
            planes.append(chroma[:, c:c + 1])
            tables.append(None if ct is None else (ct if ct.dim() == 2 or ct.shape[1] == 1 else ct[:, c:c + 1]))
            factors.append((h // hc, w // wc))
    x = _decode_components(planes, tables, factors, size or (h, w), "ycbcr", upsampling, dtype, clamp, idct)
    return x.squeeze(-4)  # components (N, 1, H, W) were stacked on dim -3: (N, 1, C, H, W)


def decode_normalized(luma: torch.Tensor, chroma: torch.Tensor | None = None, mean: torch.Tensor | None = None,
                      std: torch.Tensor | None = None, *, size: tuple[int, int] | None = None,
                      upsampling: str = "fancy", bins: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Decode the model's float coefficient planes to uint8 pixels (the model's output path).

    De-normalises per channel and frequency (``coef = x * std + mean``), clamps Y to ``bins``
    (the quantization constraint) when given, then runs the float decode (:func:`decode_planes`
    with ``clamp=True``, float32) and rounds half up.

    Args:
        luma: float ``(N, 1, H, W)`` tiled Y coefficients (normalised, or de-normalised when
            ``mean`` and ``std`` are None), H and W multiples of 8.
        chroma: float ``(N, 2, Hc, Wc)`` tiled Cb, Cr coefficients as in :func:`decode_planes`,
            or None for gray.
        mean, std: ``(C, 8, 8)`` per channel (Y, Cb, Cr; C = 1 for gray), per frequency
            statistics of the dequantized coefficients, or both None.
        size, upsampling: as in :func:`decode_planes`.
        bins: ``(dequantized, table)``, the input's dequantized Y, float ``(N, 1, H, W)``, and its
            steps ``(N, 8, 8)``: the de-normalised Y is clamped to within half a step of it
            (:func:`~qgac_fast.functional.quantization.clamp_to_bins`), or None.

    Returns:
        uint8 ``(N, 3, height, width)`` RGB (``(N, 1, ...)`` gray). Not differentiable.
    """
    if (mean is None) != (std is None):
        raise ValueError("mean and std must both be given or both be None")
    channels = 1 if chroma is None else 3
    if mean is not None:
        if mean.shape != (channels, 8, 8) or std.shape != (channels, 8, 8):
            raise ValueError(f"mean and std must be ({channels}, 8, 8), got {tuple(mean.shape)} and {tuple(std.shape)}")
        planes = [luma] if chroma is None else [luma, chroma]
        firsts = [0] if chroma is None else [0, 1]
        out = []
        for plane, first in zip(planes, firsts):
            c = plane.shape[1]
            s = tile_table(std[first:first + c].to(torch.float32), *plane.shape[-2:])
            m = tile_table(mean[first:first + c].to(torch.float32), *plane.shape[-2:])
            out.append(plane.to(torch.float32) * s + m)
        luma, chroma = out[0], (out[1] if chroma is not None else None)
    if bins is not None:
        dequantized, table = bins
        check_bins(luma, dequantized, table)
        luma = clamp_to_bins(luma.to(torch.float32), dequantized.to(torch.float32), table)
    x = decode_planes(luma, chroma, size=size, upsampling=upsampling, dtype=torch.float32, clamp=True)
    return torch.floor(x + 0.5).to(torch.uint8)


def _tables_for(quantization, count: int) -> list[torch.Tensor]:
    if isinstance(quantization, (list, tuple)):
        tables = [torch.as_tensor(t) for t in quantization]
    else:
        t = torch.as_tensor(quantization)
        tables = [t] if t.dim() == 2 else list(t.unbind(0))
    if any(t.shape != (8, 8) for t in tables):
        raise ValueError(f"quantization tables must be (8, 8), got {[tuple(t.shape) for t in tables]}")
    if len(tables) == 1:
        tables = tables * count
    elif len(tables) == 2 and count == 3:
        tables = [tables[0], tables[1], tables[1]]
    elif len(tables) == 2 and count == 1:
        tables = tables[:1]
    if len(tables) != count:
        raise ValueError(f"got {len(tables)} quantization tables for {count} components")
    tables = [t.to(torch.int32) for t in tables]
    for t in tables:
        if bool((t < 1).any()) or bool((t > 32767).any()):
            raise ValueError("quantization table entries must be in 1..32767")
    return tables


def _pad_dummy_blocks(q: torch.Tensor, h_samp: int, v_samp: int) -> torch.Tensor:
    """Pad a quantized block grid ``(..., hb, wb, 8, 8)`` to whole MCUs with libjpeg's dummy
    blocks: zero AC; DC copied from the last real block of the row (right edge), and in dummy
    rows from the last block of the MCU's row above (bottom edge)."""
    *lead, hb, wb = q.shape[:-2]
    hp, wp = -(-hb // v_samp) * v_samp, -(-wb // h_samp) * h_samp
    if (hp, wp) == (hb, wb):
        return q
    out = q.new_zeros(*lead, hp, wp, BLOCK, BLOCK)
    out[..., :hb, :wb, :, :] = q
    out[..., :hb, wb:, 0, 0] = q[..., :, wb - 1, 0, 0].unsqueeze(-1)
    if hp > hb:
        last = out[..., hb - 1, :, 0, 0].reshape(*lead, wp // h_samp, h_samp)[..., -1]
        out[..., hb:, :, 0, 0] = last.repeat_interleave(h_samp, dim=-1).unsqueeze(-2)
    return out


def _encode_components(samples: torch.Tensor, tables: Sequence[torch.Tensor],
                       sampling: Sequence[tuple[int, int]], dct: str) -> list[torch.Tensor]:
    """libjpeg's encoder after colour conversion, on a batch.

    ``samples``: uint8 ``(..., C, H, W)`` (Y, Cb, Cr or gray); ``tables[c]``: integer tables
    broadcastable against the block grid ``(..., hb, wb, 8, 8)``; ``sampling[c]``: libjpeg's
    ``(h, v)``. Returns per component int16 block grids ``(..., hp, wp, 8, 8)`` padded to whole
    MCUs (dummy blocks when there are several components)."""
    height, width = samples.shape[-2:]
    factors = _component_factors(sampling)
    vmax = max(v for _, v in sampling)
    group_rows = -(-height // vmax) * vmax  # libjpeg pads the image to whole row groups
    coefficients = []
    for c, ((h_samp, v_samp), (fy, fx), table) in enumerate(zip(sampling, factors, tables)):
        wb = math.ceil(math.ceil(width / fx) / BLOCK)
        hb = math.ceil(math.ceil(height / fy) / BLOCK)
        full = pad_edges(samples[..., c, :, :], group_rows, wb * BLOCK * fx)
        comp = downsample(full, (fy, fx), rounding=True) if (fy, fx) != (1, 1) else full.to(torch.int64)
        comp = pad_edges(comp[..., : hb * BLOCK, :], hb * BLOCK, wb * BLOCK)  # replicate rows to whole blocks
        shifted = comp.to(torch.int64) - 128
        if dct == "islow":
            q = quantize_scaled(fdct_islow(blockify(shifted)), table, scale=8)
        else:
            coef = block_dct(blockify(shifted), dtype=torch.float64)
            q = round_half_away_from_zero(coef / table.double())
        if len(sampling) > 1:
            q = _pad_dummy_blocks(q, h_samp, v_samp)
        coefficients.append(q.to(torch.int16).contiguous())
    return coefficients


def encode(image: torch.Tensor, quantization, subsampling: str = "4:2:0", *, dct: str = "islow",
           ycbcr: bool = False):
    """Encode pixels to quantized DCT coefficients as libjpeg does (accurate DCT).

    Args:
        image: uint8 ``(3, H, W)`` RGB (Y, Cb, Cr with ``ycbcr``), or ``(1, H, W)`` / ``(H, W)``
            gray.
        quantization: int tables in natural order: one ``(8, 8)`` for every component,
            ``(2, 8, 8)`` (or a pair) for luma and chroma, or ``(3, 8, 8)`` per component;
            entries 1..32767 (libjpeg's baseline tables are 1..255).
        subsampling: ``"4:4:4"``, ``"4:2:2"``, ``"4:2:0"``, ``"4:4:0"``, ``"4:1:1"``, or
            ``"gray"`` (an RGB image is then reduced to its Y); ignored for gray images.
        dct: ``"islow"`` (libjpeg's integer DCT, bit-exact) or ``"float"`` (orthonormal float
            DCT of the same integer samples; differs from libjpeg in a small fraction of
            coefficients at fine quantization).
        ycbcr: the image is already Y, Cb, Cr samples (libjpeg's ``in_color_space = JCS_YCbCr``):
            no colour conversion.

    Returns:
        :class:`qgac_fast.coefficients.JPEGCoefficients` with int16 coefficients padded to whole MCUs
        (dummy blocks as libjpeg writes them), int32 tables, baseline layout
        (``progressive=False``). Not differentiable (every step rounds).
    """
    if dct not in ("islow", "float"):
        raise ValueError(f"dct must be 'islow' or 'float', got {dct!r}")
    img = torch.as_tensor(image)
    if img.dtype != torch.uint8:
        raise TypeError(f"image must be uint8, got {img.dtype}")
    if img.dim() == 2:
        img = img.unsqueeze(0)
    if img.dim() != 3 or img.shape[0] not in (1, 3):
        raise ValueError(f"image must be (3, H, W), (1, H, W) or (H, W), got {tuple(img.shape)}")
    _, height, width = img.shape
    if height < 1 or width < 1:
        raise ValueError(f"image must not be empty, got {height}x{width}")
    gray = img.shape[0] == 1 or subsampling == "gray"
    if img.shape[0] == 3:
        img = img if ycbcr else rgb_to_ycbcr_libjpeg(img)
    if gray:
        samples = img[:1]
        sampling = [(1, 1)]
    else:
        if subsampling not in SUBSAMPLING_FACTORS:
            raise ValueError(f"subsampling must be one of {tuple(SUBSAMPLING_FACTORS)} or 'gray', got {subsampling!r}")
        samples = img
        sampling = [SUBSAMPLING_FACTORS[subsampling], (1, 1), (1, 1)]
    tables = _tables_for(quantization, len(sampling))
    coefficients = _encode_components(samples, tables, sampling, dct)
    distinct: list[torch.Tensor] = []
    indices = []
    for t in tables:
        for i, d in enumerate(distinct):
            if torch.equal(d, t):
                indices.append(i)
                break
        else:
            distinct.append(t.contiguous())
            indices.append(len(distinct) - 1)
    return JPEGCoefficients(
        width=int(width),
        height=int(height),
        color_space="gray" if gray else "ycbcr",
        progressive=False,
        coefficients=tuple(coefficients),
        quantization=tuple(distinct[i] for i in indices),
        table_indices=tuple(indices),
        sampling=tuple(tuple(s) for s in sampling),
    )


def _batch_quant_table(table: torch.Tensor, n: int, name: str) -> torch.Tensor:
    """Validate an ``(8, 8)`` or ``(N, 8, 8)`` quantization table; int64, broadcastable against a
    block grid ``(N, hb, wb, 8, 8)``."""
    table = torch.as_tensor(table)
    if table.shape not in ((8, 8), (n, 8, 8)):
        raise ValueError(f"{name} must be (8, 8) or (N, 8, 8) with N = {n}, got {tuple(table.shape)}")
    if table.is_floating_point() and bool((table != table.round()).any()):
        raise ValueError(f"{name} entries must be integers")
    if bool((table < 1).any()) or bool((table > 32767).any()):
        raise ValueError(f"{name} entries must be in 1..32767")
    table = table.to(torch.int64)
    return table if table.dim() == 2 else table[:, None, None]


def encode_planes(rgb: torch.Tensor, luma_table: torch.Tensor, chroma_table: torch.Tensor | None = None,
                  subsampling: str = "4:2:0", *, dct: str = "islow") -> tuple[torch.Tensor, torch.Tensor | None]:
    """Batched JPEG encode to tiled quantized coefficient planes (training pairs on the GPU).

    The same libjpeg steps as :func:`encode` (fixed-point colour conversion, edge replication,
    biased box downsampling, DCT, round-half-away quantization, dummy blocks at MCU padding).

    Args:
        rgb: uint8 ``(N, 3, H, W)`` RGB.
        luma_table, chroma_table: integer quantization tables ``(8, 8)`` or ``(N, 8, 8)``
            (entries 1..32767, natural order); ``chroma_table`` (shared by Cb and Cr) is
            required unless ``subsampling="gray"``.
        subsampling: ``"4:4:4"``, ``"4:2:2"``, ``"4:2:0"``, ``"4:4:0"``, ``"4:1:1"`` or
            ``"gray"`` (Y only).
        dct: ``"islow"`` (libjpeg's integer DCT, bit-exact) or ``"float"`` (orthonormal float
            DCT: what the Triton kernel computes).

    Returns:
        ``(luma, chroma)``: int16 ``(N, 1, Hp, Wp)`` Y and ``(N, 2, Hp / fy, Wp / fx)`` Cb, Cr
        tiled planes padded to whole MCUs (``chroma`` is None for gray). Not differentiable.
    """
    if dct not in ("islow", "float"):
        raise ValueError(f"dct must be 'islow' or 'float', got {dct!r}")
    if rgb.dtype != torch.uint8:
        raise TypeError(f"rgb must be uint8, got {rgb.dtype}")
    if rgb.dim() != 4 or rgb.shape[1] != 3 or 0 in rgb.shape:
        raise ValueError(f"rgb must be a non-empty (N, 3, H, W), got {tuple(rgb.shape)}")
    n = rgb.shape[0]
    samples = rgb_to_ycbcr_libjpeg(rgb)
    tables = [_batch_quant_table(luma_table, n, "luma_table")]
    if subsampling == "gray":
        samples, sampling = samples[:, :1], [(1, 1)]
    elif subsampling in SUBSAMPLING_FACTORS:
        if chroma_table is None:
            raise ValueError(f"chroma_table is required for subsampling {subsampling!r}")
        tables += [_batch_quant_table(chroma_table, n, "chroma_table")] * 2
        sampling = [SUBSAMPLING_FACTORS[subsampling], (1, 1), (1, 1)]
    else:
        raise ValueError(f"subsampling must be one of {tuple(SUBSAMPLING_FACTORS)} or 'gray', got {subsampling!r}")
    grids = _encode_components(samples, [t.to(rgb.device) for t in tables], sampling, dct)
    luma = deblockify(grids[0]).unsqueeze(1)
    chroma = None if len(grids) == 1 else torch.stack([deblockify(g) for g in grids[1:]], dim=1)
    return luma, chroma
