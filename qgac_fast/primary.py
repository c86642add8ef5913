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

Only a primary grid aligned with the file's is detected (a crop between the two compressions
shifts it; that case is not handled).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from .codec import JPEGCoefficients
from .functional.quantization import round_half_away_from_zero
from .quality import _all_tables, closest_quality

__all__ = ["MIN_PRIMARY_FIT", "TABLE_CHOICES", "PrimaryTable", "choose_table", "find_primary", "requantize"]

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
_MIN_COEFFICIENTS = 64  # non-zero luma coefficients at frequencies where the candidate is coarser
_VALUES = 64  # |quantized coefficients| scored: 1..63 (larger ones are few and add little)


@dataclass(frozen=True)
class PrimaryTable:
    """A primary quantization found in a JPEG's coefficients.

    Attributes:
        quality: the IJG quality of the primary luma table.
        fit: share of the informative luma coefficients on the primary lattice beyond chance (0..1).
        luma, chroma: int32 ``(8, 8)`` tables the coefficients were re-expressed with (per
            frequency the coarser of the primary IJG table and the file's).
        file_quality: the closest IJG quality of the file's own luma table.
    """

    quality: int
    fit: float
    luma: torch.Tensor
    chroma: torch.Tensor | None
    file_quality: int

    def to_json(self) -> dict:
        return {"quality": self.quality, "fit": round(self.fit, 4), "file_quality": self.file_quality}


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
    fit = torch.where(informative >= _MIN_COEFFICIENTS, support / informative.clamp(min=1), torch.zeros(()))
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


def choose_table(jc: JPEGCoefficients, table: str) -> tuple[JPEGCoefficients, PrimaryTable | None]:
    """The coefficients to correct for the ``table`` choice (:data:`TABLE_CHOICES`), and the primary
    table used (None: the file's).

    Raises:
        ValueError: an unknown choice, or ``"primary"`` and no primary quantization found.
    """
    if table not in TABLE_CHOICES:
        raise ValueError(f"table must be one of {TABLE_CHOICES}, got {table!r}")
    if table == "file" or (table == "auto" and bool((jc.quantization[0] == 1).all())):
        return jc, None
    primary = find_primary(jc)
    if primary is None:
        if table == "primary":
            raise ValueError("table='primary': no primary quantization coarser than the file's was found (the file "
                             "looks compressed once); use table='auto' or 'file'")
        return jc, None
    return requantize(jc, primary), primary
