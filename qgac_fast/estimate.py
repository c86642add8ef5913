"""Recover the JPEG quantization that decoded pixels came from: grid, subsampling, tables.

A decoded JPEG keeps its history: on the 8x8 grid it was coded on, the forward DCT of its samples
(converted back to YCbCr exactly as libjpeg converts) sits within rounding noise of integer
multiples of each frequency's quantization step. :func:`estimate_quantization` finds

1. the grid offset ``(dy, dx)`` (an image cropped after decoding): among the 64 offsets (63 with
   ``skip_offset``: an earlier compression of a JPEG file's pixels on a shifted grid), the one
   where the most AC coefficients of textured blocks fall on zero (quantized away);
2. the luma table: each IJG quality's table (:func:`qgac_fast.quality.ijg_table`, baseline and
   cjpeg's non-baseline) scored by how many non-zero coefficients lie on its lattice, the best
   kept when it explains the coefficients as well as free per-frequency steps do, else the free
   steps (frequencies with too few non-zero coefficients to tell keep the IJG step);
3. the chroma layout and table: Cb and Cr on the luma grid (4:4:4), or with libjpeg's fancy
   upsampling undone (:func:`~qgac_fast.functional.sampling.unfancy`) along the halved axes, on a
   grid of 16 pixels along them (4:2:0 both, 4:2:2 horizontal, 4:4:0 vertical), whichever lattice
   fits best; chroma tables are IJG chroma tables (the luma's quality when it fits about as well).
   4:1:1 is not recognised: it comes out as the closest of the four.

Scores are sums of a per-coefficient lattice kernel over a histogram of the coefficients (bins of
0.5), so the cost is one block DCT of the analysed window (the most textured one of at most
``max_pixels``, on the image's 16-pixel grid) plus small matrix products.
Below ``MIN_CONFIDENCE`` the image is reported as having no JPEG history (``found=False``): a
never-compressed image, a flat one, one smaller than a block, or one re-saved at quality ~100.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from functools import lru_cache

import torch

from .functional.checks import SUBSAMPLING_FACTORS
from .functional.color import rgb_to_ycbcr_libjpeg
from .functional.sampling import unfancy
from .distinct import distinct_rows
from .functional.transform import BLOCK, dct_kron_matrix
from .quality import all_tables, closest_quality, ijg_table

__all__ = ["MIN_CONFIDENCE", "QuantizationEstimate", "estimate_quantization", "image_tensor"]

#: Below this confidence the image is taken as never JPEG-compressed (``found=False``). Tuned on
#: 12 BSDS500 train images (``experiments/estimate.py``, section ``tuning``): decoded JPEGs of
#: quality 10 to 95 scored 0.37 and up, the same images downscaled 3x (never compressed at that
#: scale) 0.021 at most.
MIN_CONFIDENCE = 0.15

_SIGMA = 0.6  # spread of a recomputed coefficient around its lattice point: pixel and YCbCr rounding
_BIN = 0.5  # histogram bin width of |coefficient|: bin k holds |c| in [k/2 - 1/4, k/2 + 1/4)
_BINS = 2049  # |c| up to 1024, the largest 8-bit JPEG coefficient (DC 8 x 128)
_MAX_STEP = 2048  # a larger step quantizes every coefficient to zero: no lattice can tell them apart
_IDENTIFIED = 8  # non-zero coefficients a frequency needs before its own step is trusted
# Blocks needed before free steps are tried: the best of 255 steps per frequency fits a few dozen
# random values well by chance (noise 40x56 did), while one IJG quality for all 64 cannot.
_FREE_BLOCKS = 256
_KERNEL_SLICE = 128  # bins per slice when building a lattice kernel
_OFFSET_PATCHES = 96  # textured patches scored at each of the 64 grid offsets


@dataclass(frozen=True)
class QuantizationEstimate:
    """What :func:`estimate_quantization` found.

    Attributes:
        found: whether the pixels show a JPEG history (confidence >= :data:`MIN_CONFIDENCE`).
        confidence: 0..1, the share of informative coefficients on the lattice of the tables,
            scaled down when there are few of them.
        offset: ``(dy, dx)`` in 0..7: the first pixel row and column on the 8x8 grid (0, 0 for an
            uncropped image).
        mcu_offset: ``(my, mx)`` in 0..15: the same for the chroma grid of a subsampled layout
            (16 pixels along each halved axis), equal to ``offset`` for 4:4:4 and gray.
        subsampling: ``"gray"``, ``"4:4:4"``, ``"4:2:0"``, ``"4:2:2"`` or ``"4:4:0"``.
        luma, chroma: int32 ``(8, 8)`` quantization steps, natural order (``chroma`` None for
            gray); None when not found.
        quality: the IJG quality when ``luma`` is an IJG table exactly, else None.
        baseline: whether that IJG table is the baseline one (steps clamped to 255).
        reason: why nothing was found (empty when found).
    """

    found: bool
    confidence: float
    offset: tuple[int, int] = (0, 0)
    mcu_offset: tuple[int, int] = (0, 0)
    subsampling: str = "gray"
    luma: torch.Tensor | None = None
    chroma: torch.Tensor | None = None
    quality: int | None = None
    baseline: bool = True
    reason: str = ""

    def to_json(self) -> dict:
        """JSON-ready values (tables as nested lists)."""
        return {"found": self.found, "confidence": round(self.confidence, 4), "offset": list(self.offset),
                "mcu_offset": list(self.mcu_offset), "subsampling": self.subsampling if self.found else None,
                "quality": self.quality, "luma": None if self.luma is None else self.luma.tolist(),
                "chroma": None if self.chroma is None else self.chroma.tolist(), "reason": self.reason or None}


#: Why an image of more than 8 bits per sample is refused, and what to pass instead.
DEEP_SAMPLES_HINT = "JPEG history lives in 8-bit pixels; pass the 8-bit image the JPEG was decoded to"


def image_tensor(image) -> torch.Tensor:
    """Decoded pixels as uint8 ``(C, H, W)`` on the CPU, C = 3 (RGB) or 1 (gray).

    Takes numpy ``(H, W, 3)`` / ``(H, W, 4)`` / ``(H, W)``, torch ``(3, H, W)`` / ``(1, H, W)``
    / ``(H, W)`` (uint8), and 8-bit PIL images (converted to RGB, or L when gray; alpha and
    palettes are resolved).

    Raises:
        TypeError: not an image, not uint8, or a tensor without a dense buffer of data (meta, sparse).
        ValueError: a layout other than the above, an empty image, or a PIL image with more than
            8 bits per sample (modes I, I;16, F).
    """
    pil = sys.modules.get("PIL.Image")  # a PIL image exists only if Pillow was imported
    if pil is not None and isinstance(image, pil.Image):
        import numpy

        if image.mode.startswith(("I", "F")):  # converting would clip them to 0..255
            raise ValueError(f"a PIL image of mode {image.mode} has more than 8 bits per sample: {DEEP_SAMPLES_HINT}")
        image = numpy.asarray(image.convert("L" if image.mode in ("1", "L", "LA") else "RGB"))
    if type(image).__module__ == "numpy" and hasattr(image, "shape"):
        if image.ndim == 3 and image.shape[2] in (3, 4):
            image = torch.from_numpy(image[..., :3].copy()).permute(2, 0, 1)
        elif image.ndim == 2:
            image = torch.from_numpy(image.copy())[None]
        else:
            raise ValueError(f"a numpy image must be (H, W, 3) RGB or (H, W) gray, got shape {image.shape}")
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"expected decoded pixels (a numpy array, a tensor or a PIL image), got {type(image).__name__}")
    if image.dtype != torch.uint8:
        raise TypeError(f"decoded pixels must be uint8 (0..255), got {image.dtype}")
    if image.is_meta or image.layout != torch.strided:  # no data to read; no dense buffer
        raise TypeError(f"decoded pixels must be a dense tensor with data, got layout {image.layout} on "
                        f"{image.device} (.to_dense(); a meta tensor holds no pixels)")
    if image.dim() == 2:
        image = image[None]
    if image.dim() != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"a tensor image must be (3, H, W) RGB or (1, H, W) / (H, W) gray, got {tuple(image.shape)}")
    if 0 in image.shape:
        raise ValueError(f"the image is empty: {tuple(image.shape)}")
    return image.detach().cpu().contiguous()


def estimate_quantization(image, *, max_pixels: int = 2**17,
                          skip_offset: tuple[int, int] | None = None, noise: float = 0.0) -> QuantizationEstimate:
    """Estimate the JPEG grid, chroma subsampling and quantization tables of decoded pixels.

    Args:
        image: uint8 decoded pixels: numpy ``(H, W, 3)`` / ``(H, W)``, torch ``(3, H, W)`` /
            ``(1, H, W)``, or a PIL image (see :func:`image_tensor`). An RGB image whose three
            channels are equal is treated as gray.
        max_pixels: the estimate reads the most textured window of at most this many pixels (about
            2000 8x8 blocks by default), which bounds its time on large images.
        skip_offset: a luma grid offset ``(dy, dx)`` not to consider: the grid of the JPEG file the
            pixels were decoded from, when looking for an earlier compression on a shifted grid
            (:mod:`qgac_fast.primary`); the best of the 63 others is reported.
        noise: RMS spread (DCT coefficient units) that a later compression added around the
            lattice sought, on top of rounding; 0 for pixels decoded from the JPEG itself.

    Returns:
        :class:`QuantizationEstimate`; ``found`` is False for images without JPEG history.

    Example:
        >>> import numpy as np
        >>> est = estimate_quantization(np.zeros((64, 64), np.uint8))
        >>> est.found, est.reason
        (False, 'no JPEG history found: too few non-zero DCT coefficients to tell (flat image?)')
    """
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1024:
        raise ValueError(f"max_pixels must be an int >= 1024, got {max_pixels!r}")
    pixels = _window(image_tensor(image), max_pixels)
    _, height, width = pixels.shape
    if height < BLOCK or width < BLOCK:
        return QuantizationEstimate(False, 0.0, reason=f"no JPEG history found: {width}x{height} is smaller than "
                                                       "one 8x8 block")
    gray = pixels.shape[0] == 1 or bool((pixels[0] == pixels[1]).all() and (pixels[0] == pixels[2]).all())
    ycc = pixels[:1] if pixels.shape[0] == 1 else rgb_to_ycbcr_libjpeg(pixels)
    y = ycc[0].to(torch.float32) - 128
    offsets = None if skip_offset is None else [(oy, ox) for oy in range(BLOCK) for ox in range(BLOCK)
                                                if (oy, ox) != tuple(skip_offset)]
    sigma = math.hypot(_SIGMA, noise)
    dy, dx = _grid_offset(y[None], offsets, sigma)
    luma = _fit(_coefficients(y, dy, dx), chroma=False, sigma=sigma)
    if luma.confidence < MIN_CONFIDENCE:
        why = luma.why or "the DCT coefficients do not cluster on any quantization lattice"
        return QuantizationEstimate(False, luma.confidence, (dy, dx), (dy, dx), reason=f"no JPEG history found: {why}")
    match = closest_quality(luma.table, chroma=False)
    quality = match.quality if match.exact else None
    if gray:
        return QuantizationEstimate(True, luma.confidence, (dy, dx), (dy, dx), "gray", luma.table, None, quality,
                                    match.baseline)
    prefer = (luma.quality - 1 + (0 if luma.baseline else 100)) if luma.quality is not None else None
    subsampling, mcu, chroma = _chroma(ycc[1:].to(torch.float32) - 128, dy, dx, prefer, sigma)
    if chroma.confidence < MIN_CONFIDENCE:  # no chroma lattice to read (flat chroma): the luma's quality
        chroma = _Fit(ijg_table(match.quality, chroma=True, baseline=match.baseline), 0.0)
    return QuantizationEstimate(True, luma.confidence, (dy, dx), mcu, subsampling, luma.table, chroma.table, quality,
                                match.baseline)


# --------------------------------------------------------------------------------------------
# analysed window and grid offset


def _window(pixels: torch.Tensor, max_pixels: int) -> torch.Tensor:
    """The most textured window of ``pixels`` (``(C, H, W)``) with at most ``max_pixels`` pixels, at a
    position on the 16-pixel grid of the image (so that offsets found in it are the image's), or
    ``pixels`` when it is small enough. Texture: mean absolute difference of neighbouring pixels of
    one channel, on every fourth row, over 3 x 3 candidate positions."""
    _, height, width = pixels.shape
    if height * width <= max_pixels:
        return pixels
    side = max(32, math.isqrt(max_pixels) // 16 * 16)
    win_w = min(width, max(side, max_pixels // height // 16 * 16))
    win_h = min(height, max(16, max_pixels // win_w // 16 * 16))
    channel = pixels[pixels.shape[0] // 2, ::4].to(torch.int16)
    detail = (channel[:, 1:] - channel[:, :-1]).abs_()
    best, best_score = (0, 0), -1.0
    for y0 in torch.linspace(0, height - win_h, 3).long().tolist():
        for x0 in torch.linspace(0, width - win_w, 3).long().tolist():
            y0, x0 = y0 // 16 * 16, x0 // 16 * 16
            score = float(detail[y0 // 4:(y0 + win_h) // 4, x0:x0 + win_w - 1].float().mean())
            if score > best_score:
                best, best_score = (y0, x0), score
    y0, x0 = best
    return pixels[:, y0:y0 + win_h, x0:x0 + win_w]



def _grid_offset(planes: torch.Tensor, candidates: list[tuple[int, int]] | None = None,
                 sigma: float = _SIGMA) -> tuple[int, int]:
    """``(dy, dx)`` among ``candidates`` (default: all 64 offsets) where the most AC coefficients of
    textured 8x8 blocks of ``planes`` (level-shifted ``(C, H, W)``) are near zero, i.e. quantized
    away. Scores the ``_OFFSET_PATCHES`` most textured of four times as many 15x15 patches spread
    evenly over the planes; (0, 0) when they are smaller than one patch."""
    _, height, width = planes.shape
    if height < 2 * BLOCK - 1 or width < 2 * BLOCK - 1:
        return (0, 0) if candidates is None else candidates[0]
    rows, cols = (height - 2 * BLOCK + 1) // BLOCK + 1, (width - 2 * BLOCK + 1) // BLOCK + 1
    count = min(4 * _OFFSET_PATCHES, planes.shape[0] * rows * cols)
    anchors = torch.linspace(0, planes.shape[0] * rows * cols - 1, count).long()  # deterministic
    plane, anchors = anchors // (rows * cols), anchors % (rows * cols)
    ay, ax = anchors // cols * BLOCK, anchors % cols * BLOCK
    span = torch.arange(2 * BLOCK - 1)
    patches = planes[plane[:, None, None], (ay[:, None] + span)[:, :, None], (ax[:, None] + span)[:, None, :]]
    flat = patches.flatten(1)
    texture = (flat * flat).mean(1) - flat.mean(1).square()  # the variance (torch's var is slow here)
    patches = patches[texture.argsort(descending=True)[:_OFFSET_PATCHES]]
    windows = patches.unfold(1, BLOCK, 1).unfold(2, BLOCK, 1)  # (n, dy, dx, 8, 8)
    offsets = candidates or [(oy, ox) for oy in range(BLOCK) for ox in range(BLOCK)]
    blocks = torch.stack([windows[:, oy % BLOCK, ox % BLOCK] for oy, ox in offsets]).flatten(-2)
    coefficients = blocks @ dct_kron_matrix(torch.float32).T
    near_zero = (coefficients[..., 1:].abs() < 2 * sigma).sum(dim=(1, 2))
    return offsets[int(near_zero.argmax())]


# --------------------------------------------------------------------------------------------
# lattice scores


def _coefficients(plane: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """float32 ``(N, 64)`` DCT coefficients of the distinct whole 8x8 blocks of ``plane``
    (level-shifted, ``(H, W)``) on the grid starting at ``(dy, dx)``, in no particular order.

    Repeated blocks count once: a graphic repeats the same block along a straight colour edge, and
    those copies are one piece of evidence, whose few values would otherwise fit some lattice by
    their numbers alone."""
    hb, wb = (plane.shape[0] - dy) // BLOCK, (plane.shape[1] - dx) // BLOCK
    if hb < 1 or wb < 1:
        return plane.new_zeros(0, BLOCK * BLOCK)
    blocks = plane[dy:dy + BLOCK * hb, dx:dx + BLOCK * wb].reshape(hb, BLOCK, wb, BLOCK)
    blocks = distinct_rows(blocks.transpose(1, 2).reshape(-1, BLOCK * BLOCK))
    return blocks @ dct_kron_matrix(torch.float32).T


@lru_cache(maxsize=2)
def _candidates(chroma: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(steps, tables, scored, index)``: every step worth scoring (1..255 and those of the IJG
    tables, at most ``_MAX_STEP``), the 200 IJG tables ``(200, 64)`` (baseline qualities 1..100, then
    cjpeg's non-baseline), the same clamped to ``_MAX_STEP``, and each entry's position in ``steps``."""
    tables = torch.cat([all_tables(chroma, True), all_tables(chroma, False)]).view(200, 64).long()
    scored = tables.clamp(max=_MAX_STEP)
    steps = torch.unique(torch.cat([torch.arange(1, 256), scored.flatten()]))
    return steps, tables, scored, torch.searchsorted(steps, scored)


@lru_cache(maxsize=6)  # luma and chroma at the default spread and two others (15 MB each pair)
def _kernel(chroma: bool, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ac, dc)``, float32 ``(_BINS, steps)`` each: per bin of |coefficient| and candidate step,
    how much a coefficient there supports the step's lattice: 1 on a lattice point, 0 on average for
    a value unrelated to it, negative between lattice points; 0 where ``|c| < step / 2`` (quantized
    to zero, which says nothing about the step) and for steps too fine to tell from noise. The DC
    kernel also counts ``8 round(k step / 8)`` as on the lattice: a flat block decodes to whole
    levels, so its DC comes back as a multiple of 8. Built in slices of bins, so that its float64
    temporaries stay small (the allocator keeps what a process once held)."""
    steps = _candidates(chroma)[0].to(torch.float64)
    chance = (math.sqrt(2 * math.pi) * sigma / steps).clamp(max=1.0)  # the kernel's mean off-lattice
    ac, dc = (torch.empty(_BINS, steps.shape[0]) for _ in range(2))
    for start in range(0, _BINS, _KERNEL_SLICE):
        values = torch.arange(start, min(start + _KERNEL_SLICE, _BINS), dtype=torch.float64)[:, None] * _BIN
        nearest = steps * torch.round(values / steps)
        residual = (values - nearest).abs()
        # a flat block decodes to round-half-up levels: 8 floor(c / 8 + 1/2) for either sign of c
        flat = torch.minimum((values - 8 * torch.floor(nearest / 8 + 0.5)).abs(),
                             (values - 8 * torch.ceil(nearest / 8 - 0.5)).abs())
        informative = (values >= steps / 2) & (chance < 1)
        # two targets for the DC: twice the chance
        for out, r, spread in ((ac, residual, 1.0), (dc, torch.minimum(residual, flat), 2.0)):
            mean = (spread * chance).clamp(max=1.0)
            score = (torch.exp(-r**2 / (2 * sigma**2)) - mean) / (1 - mean).clamp(min=1e-9)
            out[start:start + values.shape[0]] = torch.where(informative & (mean < 1), score, 0.0)
    return ac, dc


@dataclass
class _Fit:
    table: torch.Tensor | None
    confidence: float
    quality: int | None = None  # index + 1 of the best IJG table (also when free steps won)
    baseline: bool = True
    why: str = ""


def _fit(coefficients: torch.Tensor, chroma: bool, free: bool = True, prefer: int | None = None,
         sigma: float = _SIGMA) -> _Fit:
    """The table whose lattice best explains ``coefficients`` (``(N, 64)``): an IJG table (the one
    at index ``prefer`` of ``_candidates`` when it does about as well), or (``free``, from
    ``_FREE_BLOCKS`` blocks on) per-frequency steps when they explain clearly more; with its
    confidence."""
    if coefficients.shape[0] == 0:
        return _Fit(None, 0.0, why="no whole 8x8 block")
    steps, tables, scored, index = _candidates(chroma)
    bins = (coefficients.abs().clamp(max=_BIN * (_BINS - 1)) / _BIN).round().long()
    histogram = torch.bincount((bins + torch.arange(64) * _BINS).flatten(), minlength=64 * _BINS).view(64, _BINS)
    used = histogram.sum(0).nonzero().flatten()
    counts = histogram.index_select(1, used).to(torch.float32)
    values = used.to(torch.float32) * _BIN
    ac, dc = (kernel.index_select(0, used) for kernel in _kernel(chroma, sigma))
    support = torch.cat([counts[:1] @ dc, counts[1:] @ ac])  # (64, steps)
    # Informative coefficients (|c| >= step / 2, i.e. bin >= step) per frequency and step: the
    # counts from the top bin down.
    evidence = histogram.flip(1).cumsum(1).flip(1)[:, steps.clamp(max=_BINS - 1)].to(torch.float32)
    per_table = support.gather(1, index.T).sum(0)  # (200,)
    best = int(per_table.argmax())
    for alternative in (prefer, best - 100 if best >= 100 else None):
        # as good within noise: the expected table (chroma at the luma's quality), or the baseline
        # table of the same quality (they differ where every coefficient is zero)
        if alternative is not None and float(per_table[alternative]) >= 0.98 * float(per_table[best]) - 2:
            best = alternative
            break
    table = scored[best]
    rows = torch.arange(64)
    if free and coefficients.shape[0] >= _FREE_BLOCKS:
        # At frequencies whose coefficients occupy at least two non-zero lattice points (one value
        # repeated, as in a ramp, fits any step that divides it), the best-supported step (ties to
        # the coarser: a lattice's divisors fit it as well); elsewhere the IJG step.
        coarsest = support.shape[1] - 1 - support.flip(1).argmax(1)
        own = (evidence[rows, coarsest] >= _IDENTIFIED) & (support[rows, coarsest] > 0)
        own &= _occupied(counts, values, steps[coarsest]) >= 2
        steps_free = torch.where(own, steps[coarsest], table)
        ijg_support = float(support[rows, index[best]][own].sum())
        free_support = float(support[rows, coarsest][own].sum())
        free = free_support > 1.2 * ijg_support + 16  # clearly better than any IJG table
        if free:
            table = steps_free
    else:
        free = False
    at = torch.searchsorted(steps, table)
    # Luma AC lattice points occupied: a DC alone is no evidence of a JPEG (the block means of a
    # ramp or of a synthetic pattern can share a lattice by chance). The chroma DC tells layouts apart.
    occupied = float(_occupied(counts, values, table)[0 if chroma else 1:].sum())
    if occupied < 8:
        return _Fit(None, 0.0, why="too few non-zero DCT coefficients to tell (flat image?)")
    fit = float(support[rows, at].sum()) / max(1.0, float(evidence[rows, at].sum()))
    confidence = max(0.0, min(1.0, fit)) * min(1.0, occupied / 32)
    if not free:
        table = tables[best]  # unclamped: cjpeg's non-baseline steps reach 32767
    return _Fit(table.to(torch.int32).reshape(8, 8), confidence, best % 100 + 1, best < 100)


def _occupied(counts: torch.Tensor, values: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """int64 ``(64,)``: per frequency, how many distinct non-zero multiples ``k`` of its step
    (``|c| ~ k * step``, ``k`` counted up to 63) the coefficients sit nearest to, from ``counts``
    ``(64, bins)`` of the values ``|c|`` = ``values`` ``(bins,)``."""
    multiples = torch.round(values[None] / table[:, None].to(torch.float32)).long().clamp_(max=63)
    present = torch.zeros(64, 64).scatter_add_(1, multiples, (counts > 0).to(torch.float32))
    return (present[:, 1:] > 0).sum(1)


# --------------------------------------------------------------------------------------------
# chroma


# The chroma layouts told apart; the first, the commonest, is kept when no chroma lattice is read
# (flat chroma, or quality ~10 where nearly every chroma coefficient is zero). Each mistake's cost
# (bench/results/layout-costs.md: blind correction of BSDS500 train crops at quality 10 / 30):
# 4:2:0 taken for 4:4:4 loses 0.12 / 0.15 dB, 4:4:4 for 4:2:0 0.85 / 1.09 dB, 4:2:2 for 4:2:0
# 0.50 / 0.66 dB; 4:2:0 is the cheaper guess while over about 85% of such files are 4:2:0, as
# libjpeg's, Pillow's and phones' low-quality JPEGs are.
_LAYOUTS = ("4:2:0", "4:4:4", "4:2:2", "4:4:0")


def _chroma(cbcr: torch.Tensor, dy: int, dx: int, prefer: int | None,
            sigma: float = _SIGMA) -> tuple[str, tuple[int, int], _Fit]:
    """``(subsampling, mcu_offset, fit)`` of the level-shifted Cb, Cr planes ``(2, H, W)``: whichever
    of :data:`_LAYOUTS` fits its lattice best. 4:4:4 is read on the luma grid; a layout halved along
    an axis has libjpeg's fancy upsampling undone along it, its chroma grid starting at luma row
    ``dy`` or ``dy + 8`` (column ``dx`` or ``dx + 8``) along that axis."""
    best = None
    for name in _LAYOUTS:
        fx, fy = SUBSAMPLING_FACTORS[name]
        # Pairs of upsampled samples start at the luma grid's parity; the half-size chroma grid at
        # (m - parity) / 2 for an MCU offset m.
        py, px = dy % 2 if fy == 2 else 0, dx % 2 if fx == 2 else 0
        planes = cbcr[:, py:, px:]
        if fx == 2:
            planes = unfancy(planes, -1)
        if fy == 2:
            planes = unfancy(planes, -2)
        rows = (dy, dy + BLOCK) if fy == 2 else (dy,)
        cols = (dx, dx + BLOCK) if fx == 2 else (dx,)
        phases = {((my - py) // fy, (mx - px) // fx): (my, mx) for my in rows for mx in cols}
        oy, ox = _grid_offset(planes, list(phases), sigma) if len(phases) > 1 else next(iter(phases))
        fit = _fit(_pair(planes, oy, ox), chroma=True, free=False, prefer=prefer, sigma=sigma)
        if best is None or fit.confidence > max(best[2].confidence, MIN_CONFIDENCE if best[0] == _LAYOUTS[0] else 0):
            best = (name, phases[oy, ox], fit)
    return best


def _pair(planes: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """The coefficients of both chroma planes ``(2, H, W)`` together (see :func:`_coefficients`)."""
    return torch.cat([_coefficients(plane, dy, dx) for plane in planes])
