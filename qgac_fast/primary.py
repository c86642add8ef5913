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

import numpy as np
import torch

from .blind import BlindInput, prepare
from .codec import decode_pixels
from .coefficients import JPEGCoefficients
from .distinct import distinct_rows
from .estimate import QuantizationEstimate, estimate_quantization
from .functional.quantization import round_half_away_from_zero
from .ops import libjpeg_refusal
from .quality import all_tables, closest_quality
from .options import TABLE_CHOICES

__all__ = ["MIN_PRIMARY_FIT", "MIN_PRIMARY_ON", "MIN_PRIMARY_Z", "MIN_SHIFTED_BLOCKS", "MIN_SHIFTED_FIT", "TABLE_CHOICES", "LatticeEvidence",
           "PrimaryTable", "choose_table", "find_primary", "find_shifted_primary", "lattice_evidence", "requantize",
           "shifted_estimate"]

#: Share of the informative luma coefficients (of distinct blocks) that must sit on a primary
#: lattice beyond chance (0..1), how many of them (AC) must be on it, and how many standard
#: deviations above chance they must lie (:func:`lattice_evidence`), to call a file twice
#: compressed: what a once-compressed file does not give by chance, flat graphics included. Tuned
#: with ``python -m experiments.estimate --only auto`` on BSDS500 train and Urban100 crops and drawn
#: graphics, 5 encoders, qualities 50..100 and 6 non-IJG tables: of the 1,836 files compressed once,
#: the candidates passing the first two reached z 3.3 (graphics; fits up to 0.31); of 192 twice
#: compressed (10..40 then 70..95), 189 had one, at z 52 and more. The fit alone (at 0.3, repeated
#: blocks counted) passed 64 of 816 once-compressed graphics.
MIN_PRIMARY_FIT = 0.1
MIN_PRIMARY_ON = 128
MIN_PRIMARY_Z = 12.0
#: Confidence (:attr:`~qgac_fast.estimate.QuantizationEstimate.confidence`) an exact IJG table on a
#: grid shifted from the file's needs to be taken as a primary quantization. Tuned on 12 BSDS500
#: train images (``experiments/estimate.py``, section ``shifted_tuning``): compressed once at
#: quality 30..95 they score at most 0.07; twice with a crop of (3, 5) between (10 then 90, 20 then
#: 75, 30 then 95), 0.31 and up; and on drawn graphics compressed once (``--only auto``), which
#: scored up to 0.19 (flat shapes at quality 95 or with non-IJG tables; 0.15 took them).
MIN_SHIFTED_FIT = 0.25
#: Distinct textured 8x8 blocks (:func:`shifted_estimate`) a shifted primary must rest on: the few
#: edge blocks of a flat graphic, each repeated along its edge, fit some coarse lattice by chance
#: (a blue square on white, saved once at quality 85, scored 0.66 before repeated blocks counted
#: once, and still 0.2 to 0.4 after). Tuned in ``experiments/estimate.py`` (section ``auto``).
MIN_SHIFTED_BLOCKS = 128
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


@dataclass(frozen=True)
class LatticeEvidence:
    """How well each baseline IJG table (qualities 1..100) explains a JPEG's luma coefficients as a
    primary lattice (:func:`lattice_evidence`); float32 ``(100,)`` tensors, index = quality - 1.

    Attributes:
        fit: share of the informative coefficients (non-zero, |c| < 64, at frequencies where the
            candidate is at least twice as coarse as the file) on the candidate's lattice beyond
            chance, weighted by their counts (0 where there are fewer than ``_MIN_COEFFICIENTS``).
        support: the same share times the number of informative coefficients (what ranks candidates).
        on: informative AC coefficients on the candidate's lattice.
        z: how far ``on`` lies above the number chance gives (each coefficient on a lattice holding
            a share ``Q / T`` of the integers), in standard deviations of that binomial count.
    """

    fit: torch.Tensor
    support: torch.Tensor
    on: torch.Tensor
    z: torch.Tensor


def lattice_evidence(jc: JPEGCoefficients) -> LatticeEvidence | None:
    """Each baseline IJG table's evidence as the primary lattice of ``jc``'s luma coefficients
    (what :func:`find_primary` judges; ``experiments/estimate.py`` tunes its thresholds on it);
    None when the file cannot be searched (:func:`_unsearchable`).

    Only evidence counts: zeros, which every lattice holds, do not, and identical blocks count once
    (a flat graphic repeats one block along each straight colour edge, and those few values, counted
    in every copy, fit some coarse lattice by their numbers alone)."""
    if _unsearchable(jc, decoded=False) is not None:
        return None
    file_table = jc.quantization[0].reshape(64).to(torch.int64)
    # repeated blocks count once (a graphic repeats one block along a straight colour edge)
    values = distinct_rows(jc.coefficients[0].reshape(-1, 64)).to(torch.int64).abs()
    values = torch.where(values < _VALUES, values, 0)  # zeros say nothing: dropped below, with the largest
    top = int(values.max()) + 1 if values.numel() else 1
    histogram = torch.bincount((values + torch.arange(64) * top).flatten(), minlength=64 * top).view(64, top)
    histogram = histogram[:, 1:].to(torch.float32)
    candidates = all_tables(False, True).view(100, 64).to(torch.int64)  # baseline IJG qualities 1..100
    # (100, 64): frequencies where a candidate is at least twice as coarse, so that its lattice
    # holds at most every other integer (a step barely above the file's puts every small value on
    # its lattice, and would "fit" any file)
    coarser = candidates >= 2 * file_table
    # c = round(k T / Q) for some k: take k = round(c Q / T) and check that it comes back (both
    # roundings of positive values, half up, in integers)
    c = torch.arange(1, top)
    q, t = file_table[None, :, None], candidates[:, :, None]
    k = (2 * c * q + t) // (2 * t)
    on = ((2 * k * t + q) // (2 * q) == c).to(torch.float32)  # (100, 64, top - 1)
    chance = (file_table[None] / candidates).to(torch.float32)[..., None]  # share of integers on the lattice
    score = (on - chance) / (1 - chance).clamp(min=1e-6)
    weights = histogram[None] * coarser[..., None]
    informative = weights.sum(dim=(1, 2))
    support = (weights * score).sum(dim=(1, 2))
    # AC coefficients needed: the DCs of a flat image repeat one value, which any lattice holds
    enough = weights[:, 1:].sum(dim=(1, 2)) >= _MIN_COEFFICIENTS
    fit = torch.where(enough, support / informative.clamp(min=1), torch.zeros(()))
    # AC coefficients on the lattice against the share chance puts there, as a binomial count
    ac = weights[:, 1:]
    hits = (ac * on[:, 1:]).sum(dim=(1, 2))
    expected = (ac * chance[:, 1:]).sum(dim=(1, 2))
    spread = (ac * chance[:, 1:] * (1 - chance[:, 1:])).sum(dim=(1, 2))
    z = (hits - expected) / spread.clamp(min=1e-6).sqrt()
    return LatticeEvidence(fit, support, hits, z)


def find_primary(jc: JPEGCoefficients) -> PrimaryTable | None:
    """The primary quantization of a twice-compressed JPEG, or None (compressed once, or the two
    grids not aligned, or too little evidence to tell, or a file that cannot be searched:
    :func:`_unsearchable`).

    A candidate needs three things (:func:`lattice_evidence`): a share :data:`MIN_PRIMARY_FIT` of
    the informative coefficients on its lattice beyond chance, at least :data:`MIN_PRIMARY_ON`
    distinct occupied (frequency, value) pairs on it, and those :data:`MIN_PRIMARY_Z` standard
    deviations above what chance puts there; of those, the best supported.

    Args:
        jc: the JPEG's coefficients (gray or YCbCr; component 0 is the luma).
    """
    evidence = lattice_evidence(jc)
    if evidence is None:
        return None
    accepted = (evidence.fit >= MIN_PRIMARY_FIT) & (evidence.on >= MIN_PRIMARY_ON) & (evidence.z >= MIN_PRIMARY_Z)
    if not bool(accepted.any()):
        return None
    best = int(evidence.support.where(accepted, torch.full((), -1.0)).argmax())
    quality = best + 1
    file_table = jc.quantization[0].to(torch.int64)
    luma = torch.maximum(all_tables(False, True)[best].to(torch.int64), file_table).to(torch.int32)
    chroma = None
    if jc.num_components == 3:
        chroma_file = jc.quantization[1].to(torch.int64)
        chroma = torch.maximum(all_tables(True, True)[best].to(torch.int64), chroma_file).to(torch.int32)
    return PrimaryTable(quality, float(evidence.fit[best]), luma, chroma, closest_quality(jc.quantization[0]).quality)


def _unsearchable(jc: JPEGCoefficients, decoded: bool) -> str | None:
    """Why ``jc`` cannot be searched for a primary quantization (None when it can): a colour space
    other than YCbCr and gray, a luma step of 0 (a damaged table, read with ``strict=False``: no
    lattice to read), and for the search through the pixels (``decoded``) anything libjpeg cannot
    decode (a step of 0 in any table, coefficients beyond 8-bit JPEG's range). Such a file keeps its
    own table."""
    if jc.color_space not in ("ycbcr", "gray"):
        return f"color space {jc.color_space}"
    if int(jc.quantization[0].min()) < 1:
        return "a luma step of 0"
    return libjpeg_refusal(jc) if decoded else None


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
        size. None when the file cannot be searched (:func:`_unsearchable`), or no exact IJG table
        at least twice as coarse as the file's fits a shifted grid with confidence
        :data:`MIN_SHIFTED_FIT` on at least :data:`MIN_SHIFTED_BLOCKS` distinct textured blocks.
    """
    if _unsearchable(jc, decoded=True) is not None:
        return None
    estimate, blocks = shifted_estimate(jc)
    if (not estimate.found or estimate.quality is None or estimate.confidence < MIN_SHIFTED_FIT
            or blocks < MIN_SHIFTED_BLOCKS):
        return None
    file_table = jc.quantization[0].to(torch.float64)
    if float((estimate.luma.to(torch.float64) / file_table).log().mean().exp()) < _MIN_SHIFTED_RATIO:
        return None
    table = PrimaryTable(estimate.quality, estimate.confidence, estimate.luma, estimate.chroma,
                         closest_quality(jc.quantization[0]).quality, estimate.offset)
    # every block is off the primary lattice by the second rounding: none is "edited"
    return table, prepare(decode_pixels(jc), jc.icc_profile, estimate, find_edited=False)


def shifted_estimate(jc: JPEGCoefficients) -> tuple[QuantizationEstimate, int]:
    """The quantization estimated on the best grid other than the file's, from the decoded pixels of
    the file's most textured window of at most ``_SHIFTED_PIXELS`` (:func:`_window`), and the number
    of distinct textured 8x8 blocks of that window on the estimate's grid: what
    :func:`find_shifted_primary` judges (the confidence also where no table was found:
    ``experiments/estimate.py`` tunes :data:`MIN_SHIFTED_FIT` on it)."""
    pixels = decode_pixels(_window(jc, _SHIFTED_PIXELS))
    estimate = estimate_quantization(pixels, max_pixels=_SHIFTED_PIXELS, skip_offset=(0, 0), noise=_LATER_NOISE)
    return estimate, _distinct_textured_blocks(pixels, estimate.offset)


def _distinct_textured_blocks(pixels: torch.Tensor, offset: tuple[int, int]) -> int:
    """How many distinct non-flat 8x8 blocks (all channels together) ``pixels`` (uint8 ``(C, H, W)``)
    holds on the grid starting at ``offset``: the independent pieces of evidence a lattice found
    there rests on (a graphic repeats one block along a straight edge, and has flat areas)."""
    dy, dx = offset
    channels, height, width = pixels.shape
    hb, wb = (height - dy) // 8, (width - dx) // 8
    if hb < 1 or wb < 1:
        return 0
    blocks = pixels[:, dy:dy + 8 * hb, dx:dx + 8 * wb].reshape(channels, hb, 8, wb, 8)
    blocks = blocks.permute(1, 3, 0, 2, 4).reshape(hb * wb, channels, 64)
    textured = (blocks != blocks[..., :1]).any(-1).any(-1)
    return int(distinct_rows(blocks[textured].flatten(1)).shape[0])


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
    luma = jc.coefficients[0].cpu().numpy()
    best, best_count = (0, 0), -1
    for y0 in torch.linspace(0, full_y - win_y, 3).long().tolist():
        for x0 in torch.linspace(0, full_x - win_x, 3).long().tolist():
            y0, x0 = y0 // step_y * step_y, x0 // step_x * step_x
            count = _ac_count(luma[y0 * v0:(y0 + win_y) * v0, x0 * h0:(x0 + win_x) * h0])
            if count > best_count:
                best, best_count = (y0, x0), count
    y0, x0 = best
    coefficients = tuple(coef[y0 * v:(y0 + win_y) * v, x0 * h:(x0 + win_x) * h].contiguous()
                         for coef, (h, v) in zip(jc.coefficients, jc.sampling))
    return replace(jc, width=win_x * mcu_w, height=win_y * mcu_h, coefficients=coefficients, markers=())


def _ac_count(blocks: np.ndarray) -> int:
    """Non-zero AC coefficients of a block grid ``(Bh, Bw, 8, 8)``: all non-zero ones minus the
    DCs. Counted in each candidate window only, not per block of the whole image first (24 MP:
    0.06 s in torch)."""
    return int(np.count_nonzero(blocks)) - int(np.count_nonzero(blocks[..., 0, 0]))


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
