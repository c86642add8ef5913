"""Twice-compressed JPEGs: find a first ("primary") quantization coarser than the file's, and use it.

A JPEG saved at quality 10 and re-saved at 90 carries the file's fine table, but its artifacts are
the coarse ones: QGAC conditioned on the file's table understates them. On a grid aligned with the
first compression, each coefficient of the second was quantized from a value near a multiple
``k T`` of the first step ``T``, so its quantized value ``c`` (file step ``Q``) is one of the few
integers ``round(k T / Q)``; a never-recompressed file uses all integers. :func:`find_primary`
scores each IJG table by the share of non-zero luma coefficients on that sparse set (above the
share chance gives) at the frequencies where it is at least twice as coarse as the file's, and
:func:`requantize` re-expresses the coefficients on the primary lattice (``round(c Q / T)`` with
the table ``max(T, Q)`` per frequency), which the model then corrects as a JPEG of the primary
quality.

A crop between the two compressions (or any shift that is not a multiple of 8 pixels) moves the
primary grid off the file's, and its lattice no longer shows in the file's coefficients.
:func:`find_shifted_primary` then goes through the pixels: it decodes a window of the file (a
constant cost per file) and asks :func:`~qgac_fast.estimate.estimate_quantization` for a grid
other than the file's (its lattice spread by the second compression's rounding); an exact IJG
table found there, at least twice as coarse as the file's (geometric mean of the step ratios), is
the primary, and the file's decoded pixels are corrected the blind way on that grid
(:func:`qgac_fast.blind.prepare`), cut back to the file's size and alignment.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from .blind import BlindInput, prepare
from .codec import JPEGCoefficients, decode_pixels
from .estimate import QuantizationEstimate, estimate_quantization
from .functional.quantization import round_half_away_from_zero
from .ops import _libjpeg_refusal
from .quality import _all_tables, closest_quality

__all__ = ["MIN_PRIMARY_FIT", "MIN_SHIFTED_FIT", "TABLE_CHOICES", "PrimaryTable", "choose_table", "find_primary",
           "find_shifted_primary", "requantize", "shifted_estimate"]

#: ``table=`` choices: ``"auto"`` (the primary table when one is found, else the file's; a file
#: whose luma steps are all 1, quality 100, keeps its own: it quantized nothing, so what it holds,
#: an earlier compression's traces included, is the image as its owner saved it; correcting those
#: cost 0.78 dB against the bundled chelsea photo, itself once a JPEG), ``"file"`` (always the
#: file's), ``"primary"`` (the primary table; a file with none found is an error).
TABLE_CHOICES = ("auto", "file", "primary")

#: Share of the luma coefficients that must sit on a primary lattice (beyond chance, 0..1) to
#: call a file twice compressed. Tuned on 12 BSDS500 train images: compressed once at quality
#: 10..90 they score at most 0.04; at 10 then 90, 0.23 to 0.87 (median 0.8).
MIN_PRIMARY_FIT = 0.3
#: Confidence (:attr:`~qgac_fast.estimate.QuantizationEstimate.confidence`) an exact IJG table on a
#: grid shifted from the file's needs to be taken as a primary quantization. Tuned on 12 BSDS500
#: train images (``bench/bench_estimate.py``, section ``shifted_tuning``): compressed once at
#: quality 30..95 they score at most 0.07; twice with a crop of (3, 5) between (10 then 90, 20 then
#: 75, 30 then 95), 0.31 and up.
MIN_SHIFTED_FIT = 0.15
_MIN_SHIFTED_RATIO = 2.0  # primary / file luma steps, geometric mean: "clearly coarser"
_SHIFTED_PIXELS = 2**16  # the estimate's window (a constant cost per file, however large)
# RMS spread (DCT units) the second compression adds around the first lattice, for the estimate. On
# BSDS500 train images 4 found the first table under second compressions at qualities 50 to 95 (2
# missed it under 75, 8 blurred the lattice of one at 90), and once-compressed files stayed below
# 0.02; one value for all files, so that the estimate builds one more kernel, not one per file.
_LATER_NOISE = 4.0
_MIN_COEFFICIENTS = 64  # non-zero luma AC coefficients at frequencies where the candidate is coarser
_VALUES = 64  # |quantized coefficients| scored: 1..63 (larger ones are few and add little)


@dataclass(frozen=True)
class PrimaryTable:
    """A primary quantization found in a JPEG's coefficients.

    Attributes:
        quality: the IJG quality of the primary luma table.
        fit: share of the informative luma coefficients on the primary lattice beyond chance (0..1);
            for a shifted grid the estimate's confidence.
        luma, chroma: int32 ``(8, 8)`` tables the model is given: aligned, those the coefficients
            were re-expressed with (per frequency the coarser of the primary IJG table and the
            file's); shifted, the estimated tables (chroma None for gray).
        file_quality: the closest IJG quality of the file's own luma table.
        offset: for a primary grid shifted against the file's (:func:`find_shifted_primary`), its
            ``(dy, dx)`` in the file's pixels (first row and column on it, 0..7); None when aligned.
    """

    quality: int
    fit: float
    luma: torch.Tensor
    chroma: torch.Tensor | None
    file_quality: int
    offset: tuple[int, int] | None = None

    def to_json(self) -> dict:
        return {"quality": self.quality, "fit": round(self.fit, 4), "file_quality": self.file_quality,
                "shifted": self.offset is not None, "offset": None if self.offset is None else list(self.offset)}


def find_primary(jc: JPEGCoefficients) -> PrimaryTable | None:
    """The primary quantization of a twice-compressed JPEG, or None (compressed once, or the two
    grids not aligned, or too few non-zero coefficients to tell).

    Args:
        jc: the JPEG's coefficients (gray or YCbCr; component 0 is the luma).
    """
    if jc.color_space not in ("ycbcr", "gray"):
        return None
    file_table = jc.quantization[0].reshape(64).to(torch.int64)
    if int(file_table.min()) < 1:  # a damaged table (read with strict=False): no lattice to read
        return None
    values = jc.coefficients[0].reshape(-1, 64).to(torch.int64).abs()
    values = torch.where(values < _VALUES, values, 0)  # zeros say nothing: dropped below, with the largest
    top = int(values.max()) + 1 if values.numel() else 1
    histogram = torch.bincount((values + torch.arange(64) * top).flatten(), minlength=64 * top).view(64, top)
    histogram = histogram[:, 1:].to(torch.float32)
    candidates = _all_tables(False, True).view(100, 64).to(torch.int64)  # baseline IJG qualities 1..100
    # (100, 64): frequencies where a candidate is at least twice as coarse, so that its lattice
    # holds at most every other integer (a step barely above the file's puts every small value on
    # its lattice, and would "fit" any file)
    coarser = candidates >= 2 * file_table
    # c = round(k T / Q) for some k: take k = round(c Q / T) and check that it comes back (both
    # roundings of positive values, half up, in integers)
    c = torch.arange(1, top)
    q, t = file_table[None, :, None], candidates[:, :, None]
    k = (2 * c * q + t) // (2 * t)
    on = (2 * k * t + q) // (2 * q) == c  # (100, 64, top - 1)
    chance = (file_table[None] / candidates).to(torch.float32)  # share of integers on the lattice
    score = (on.to(torch.float32) - chance[..., None]) / (1 - chance[..., None]).clamp(min=1e-6)
    weights = histogram[None] * coarser[..., None]
    informative = weights.sum(dim=(1, 2))
    support = (weights * score).sum(dim=(1, 2))
    # AC coefficients needed: the DCs of a flat image repeat one value, which any lattice holds
    enough = weights[:, 1:].sum(dim=(1, 2)) >= _MIN_COEFFICIENTS
    fit = torch.where(enough, support / informative.clamp(min=1), torch.zeros(()))
    best = int(support.where(fit >= MIN_PRIMARY_FIT, torch.full((), -1.0)).argmax())
    if float(fit[best]) < MIN_PRIMARY_FIT:
        return None
    quality = best + 1
    luma = torch.maximum(candidates[best], file_table).to(torch.int32).reshape(8, 8)
    chroma = None
    if jc.num_components == 3:
        chroma_file = jc.quantization[1].to(torch.int64)
        chroma = torch.maximum(_all_tables(True, True)[best].to(torch.int64), chroma_file).to(torch.int32)
    return PrimaryTable(quality, float(fit[best]), luma, chroma, closest_quality(jc.quantization[0]).quality)


def requantize(jc: JPEGCoefficients, primary: PrimaryTable) -> JPEGCoefficients:
    """``jc`` with its coefficients re-expressed on ``primary``'s tables: ``round(c Q / T)``,
    tables ``T`` (luma on component 0, chroma on the others)."""
    coefficients, tables = [], []
    for index, (coef, table) in enumerate(zip(jc.coefficients, jc.quantization)):
        target = primary.luma if index == 0 else primary.chroma
        new = round_half_away_from_zero(coef.to(torch.float64) * table.double() / target.double())
        coefficients.append(new.to(torch.int16))
        tables.append(target)
    return replace(jc, coefficients=tuple(coefficients), quantization=tuple(tables))


def find_shifted_primary(jc: JPEGCoefficients) -> tuple[PrimaryTable, BlindInput] | None:
    """The primary quantization of a JPEG compressed again on a grid shifted against the first, and
    its decoded pixels made ready for the model on the primary grid; None when there is none.

    Args:
        jc: the JPEG's coefficients (gray or YCbCr).

    Returns:
        ``(primary, blind)``: ``primary.offset`` is the grid's offset in the file's pixels, its
        tables the estimated IJG tables; ``blind`` (:class:`~qgac_fast.blind.BlindInput`) the
        pixels encoded on that grid, whose ``finish`` cuts the model's output back to the file's
        size. None when the file is not YCbCr or gray, has a damaged table (a step of 0, in any
        component) or coefficients 8-bit JPEG cannot code (both only in a damaged file read with
        ``strict=False``; libjpeg decodes neither), or no exact IJG table at least twice as coarse
        as the file's fits a shifted grid with confidence :data:`MIN_SHIFTED_FIT`.
    """
    if jc.color_space not in ("ycbcr", "gray") or _libjpeg_refusal(jc) is not None:
        return None
    estimate = shifted_estimate(jc)
    if not estimate.found or estimate.quality is None or estimate.confidence < MIN_SHIFTED_FIT:
        return None
    file_table = jc.quantization[0].to(torch.float64)
    if float((estimate.luma.to(torch.float64) / file_table).log().mean().exp()) < _MIN_SHIFTED_RATIO:
        return None
    table = PrimaryTable(estimate.quality, estimate.confidence, estimate.luma, estimate.chroma,
                         closest_quality(jc.quantization[0]).quality, estimate.offset)
    # every block is off the primary lattice by the second rounding: none is "edited"
    return table, prepare(decode_pixels(jc), jc.icc_profile, estimate, find_edited=False)


def shifted_estimate(jc: JPEGCoefficients) -> QuantizationEstimate:
    """The quantization estimated on the best grid other than the file's, from the decoded pixels of
    the file's most textured window of at most ``_SHIFTED_PIXELS`` (:func:`_window`): what
    :func:`find_shifted_primary` judges (its confidence also where no table was found:
    ``bench/bench_estimate.py`` tunes :data:`MIN_SHIFTED_FIT` on it)."""
    return estimate_quantization(decode_pixels(_window(jc, _SHIFTED_PIXELS)), max_pixels=_SHIFTED_PIXELS,
                                 skip_offset=(0, 0), noise=_LATER_NOISE)


def _window(jc: JPEGCoefficients, max_pixels: int) -> JPEGCoefficients:
    """A window of whole MCUs of ``jc`` with at most ``max_pixels`` pixels (``jc`` itself when it is
    that small), at a position on the 16-pixel grid (so that offsets and chroma phases found in it
    are the file's): of 3 x 3 positions, the one with the most non-zero luma AC coefficients.
    Decoding it instead of the whole file keeps the check's cost constant per file."""
    mcu_h, mcu_w = (8 * max(sampling[i] for sampling in jc.sampling) for i in (1, 0))
    if jc.width * jc.height <= max_pixels or jc.height < 2 * mcu_h or jc.width < 2 * mcu_w:
        return jc
    step_y, step_x = max(1, 16 // mcu_h), max(1, 16 // mcu_w)  # MCUs per 16 pixels
    full_y, full_x = jc.height // mcu_h, jc.width // mcu_w  # whole MCUs inside the image
    side = max(16, int(max_pixels**0.5) // 16 * 16)
    win_x = min(full_x, max(side // mcu_w, max_pixels // (full_y * mcu_h) // mcu_w)) // step_x * step_x
    win_y = min(full_y, max_pixels // (win_x * mcu_w) // mcu_h) // step_y * step_y
    if win_x < step_x or win_y < step_y:
        return jc
    h0, v0 = jc.sampling[0]
    texture = (jc.coefficients[0].flatten(-2)[..., 1:] != 0).sum(-1)  # (blocks_h, blocks_w)
    best, best_count = (0, 0), -1
    for y0 in torch.linspace(0, full_y - win_y, 3).long().tolist():
        for x0 in torch.linspace(0, full_x - win_x, 3).long().tolist():
            y0, x0 = y0 // step_y * step_y, x0 // step_x * step_x
            count = int(texture[y0 * v0:(y0 + win_y) * v0, x0 * h0:(x0 + win_x) * h0].sum())
            if count > best_count:
                best, best_count = (y0, x0), count
    y0, x0 = best
    coefficients = tuple(coef[y0 * v:(y0 + win_y) * v, x0 * h:(x0 + win_x) * h].contiguous()
                         for coef, (h, v) in zip(jc.coefficients, jc.sampling))
    return replace(jc, width=win_x * mcu_w, height=win_y * mcu_h, coefficients=coefficients, markers=())


def choose_table(jc: JPEGCoefficients, table: str) -> tuple[JPEGCoefficients, PrimaryTable | None, BlindInput | None]:
    """The coefficients to correct for the ``table`` choice (:data:`TABLE_CHOICES`), the primary
    table used (None: the file's), and for a shifted primary the blind input whose ``finish`` cuts
    the output back to the file's pixels (else None). An aligned primary is looked for first
    (:func:`find_primary`), then a shifted one (:func:`find_shifted_primary`).

    Raises:
        ValueError: an unknown choice, or ``"primary"`` and no primary quantization found.
    """
    if table not in TABLE_CHOICES:
        raise ValueError(f"table must be one of {TABLE_CHOICES}, got {table!r}")
    if table == "file" or (table == "auto" and bool((jc.quantization[0] == 1).all())):
        return jc, None, None
    primary = find_primary(jc)
    if primary is not None:
        return requantize(jc, primary), primary, None
    shifted = find_shifted_primary(jc)
    if shifted is not None:
        primary, blind = shifted
        return blind.coefficients, primary, blind
    if table == "primary":
        raise ValueError("table='primary': no primary quantization coarser than the file's was found (the file "
                         "looks compressed once); use table='auto' or 'file'")
    return jc, None, None
