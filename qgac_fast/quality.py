"""The IJG (libjpeg) standard quantization tables and the quality scale that scales them.

Every table here is an int32 ``(8, 8)`` tensor in natural (row-major) order: row = vertical
frequency, ``[0, 0]`` the DC step. ``ijg_table`` reproduces libjpeg's ``jpeg_set_quality(cinfo,
quality, force_baseline)`` bit for bit. Pillow and PyTurboJPEG force baseline (steps clamped to
255); cjpeg does not unless given ``-baseline``, so below quality 24 (luma) and 20 (chroma) its
steps go above 255 (clamped to 32767). ``closest_quality`` is the one matcher that recognises
both, so it recovers the ``quality`` a file was saved with by any of these encoders.

Example:
    >>> from qgac_fast.quality import ijg_table, closest_quality
    >>> int(ijg_table(50)[0, 0]), int(ijg_table(50, chroma=True)[0, 0])
    (16, 17)
    >>> closest_quality(ijg_table(75))
    QualityMatch(quality=75, exact=True, distance=0.0, chroma=False, baseline=True)
    >>> closest_quality(ijg_table(5, baseline=False)).baseline
    False
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import torch

__all__ = ["IJG_CHROMA", "IJG_LUMA", "QualityMatch", "all_tables", "closest_quality", "ijg_table", "quality_scale",
           "table_spread"]

#: JPEG spec (ITU-T T.81) Annex K, Table K.1: luminance, natural order; IJG quality 50.
IJG_LUMA = torch.tensor([
    [16, 11, 10, 16, 24, 40, 51, 61],
    [12, 12, 14, 19, 26, 58, 60, 55],
    [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62],
    [18, 22, 37, 56, 68, 109, 103, 77],
    [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101],
    [72, 92, 95, 98, 112, 100, 103, 99],
], dtype=torch.int32)

#: JPEG spec Annex K, Table K.2: chrominance, natural order; IJG quality 50.
IJG_CHROMA = torch.tensor([
    [17, 18, 24, 47, 99, 99, 99, 99],
    [18, 21, 26, 66, 99, 99, 99, 99],
    [24, 26, 56, 99, 99, 99, 99, 99],
    [47, 66, 99, 99, 99, 99, 99, 99],
    [99, 99, 99, 99, 99, 99, 99, 99],
    [99, 99, 99, 99, 99, 99, 99, 99],
    [99, 99, 99, 99, 99, 99, 99, 99],
    [99, 99, 99, 99, 99, 99, 99, 99],
], dtype=torch.int32)


class QualityMatch(NamedTuple):
    """Result of ``closest_quality``.

    Attributes:
        quality: IJG quality 1..100 whose table is closest.
        exact: whether that table equals the given one element for element.
        distance: sum of absolute differences to that table (0.0 when exact).
        chroma: whether the match is against the chrominance base table.
        baseline: whether the matched table is the baseline one (steps clamped to 255, as Pillow
            and PyTurboJPEG write) rather than cjpeg's default non-baseline one (clamped to
            32767). At qualities where no step exceeds 255 the two are the same table and this
            is True.
    """

    quality: int
    exact: bool
    distance: float
    chroma: bool
    baseline: bool


def _check_quality(quality: int) -> int:
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ValueError(f"quality must be an int in 1..100, got {quality!r}")
    return quality


def quality_scale(quality: int) -> int:
    """libjpeg's ``jpeg_quality_scaling``: the percentage (5000..0) applied to the base tables.

    Quality 50 is 100 % (the Annex K tables), 100 is 0 % (all ones after clamping), and below 50
    the scale is ``5000 // quality`` (integer division, as in libjpeg).
    """
    quality = _check_quality(quality)
    return 5000 // quality if quality < 50 else 200 - 2 * quality


def ijg_table(quality: int, chroma: bool = False, baseline: bool = True) -> torch.Tensor:
    """The table libjpeg uses at ``quality``.

    Args:
        quality: IJG quality, int 1..100.
        chroma: False for the luminance table, True for the chrominance one.
        baseline: steps clamped to 1..255 (``force_baseline=TRUE``: Pillow, PyTurboJPEG,
            ``cjpeg -baseline``) if True, else to 1..32767 (cjpeg's default).

    Returns:
        int32 ``(8, 8)`` tensor, natural order (a fresh tensor; modifying it is safe).
    """
    return all_tables(bool(chroma), bool(baseline))[_check_quality(quality) - 1].clone()


@lru_cache(maxsize=4)
def all_tables(chroma: bool, baseline: bool) -> torch.Tensor:
    """int32 ``(100, 8, 8)``: the tables of qualities 1..100 (index = quality - 1)."""
    base = (IJG_CHROMA if chroma else IJG_LUMA).to(torch.int64)
    scales = torch.tensor([quality_scale(q) for q in range(1, 101)], dtype=torch.int64)
    # jpeg_add_quant_table: (base * scale + 50) / 100 in integer arithmetic (all terms are
    # non-negative, so floor division equals C's truncation), then clamp to 1..32767, and to
    # 1..255 when forcing baseline.
    tables = (base[None] * scales[:, None, None] + 50) // 100
    return tables.clamp_(1, 255 if baseline else 32767).to(torch.int32)


def table_spread(tables: torch.Tensor, chroma: bool) -> torch.Tensor:
    """How far quantization tables lie from the IJG family: per table, the smallest root mean square
    over the 64 frequencies of ``log(step / IJG step)`` among the IJG tables of every quality,
    baseline and not. 0 for an IJG table; about 0.35 for the perturbed tables the models train on
    (:data:`qgac_fast.train.data.PERTURBATION`); about 1 for uniformly random steps.

    Args:
        tables: ``(..., 8, 8)`` steps (any real dtype, values >= 1), natural order, any device.
        chroma: compare with the chrominance (True) or luminance (False) tables.

    Returns:
        float32 ``(...)`` on ``tables``' device.
    """
    logs = torch.log(tables.to(torch.float64).clamp(min=1)).flatten(-2)
    ijg = torch.log(torch.cat([all_tables(chroma, True), all_tables(chroma, False)]).to(logs.device,
                                                                                              torch.float64))
    deviation = (logs[..., None, :] - ijg.flatten(-2)).pow(2).mean(-1).sqrt()
    return deviation.min(-1).values.to(torch.float32)


def closest_quality(table: torch.Tensor, chroma: bool | None = None) -> QualityMatch:
    """The IJG quality whose table is closest to ``table`` (sum of absolute differences), among
    the baseline tables and the non-baseline ones (see ``ijg_table``).

    Ties go to luminance, then to the highest quality, then to the baseline table. Distinct
    qualities can give the same baseline table once the clamp to 255 bites: the baseline
    chrominance tables of qualities 1, 2 and 3 are all 255 (the 100 luminance tables are
    distinct), so a q1 baseline chroma table is reported as quality 3.

    Args:
        table: ``(8, 8)`` (or 64 values) quantization steps, natural order, any integer or float
            dtype, any device.
        chroma: compare with the luminance (False) or chrominance (True) tables; None compares with
            both and takes the closer (luminance on a tie).

    Returns:
        ``QualityMatch(quality, exact, distance, chroma, baseline)``.
    """
    table = torch.as_tensor(table)
    if table.numel() != 64:
        raise ValueError(f"table must have 64 entries (8x8, natural order), got shape {tuple(table.shape)}")
    table = table.detach().reshape(8, 8).to("cpu", torch.float64)
    kinds = (False, True) if chroma is None else (bool(chroma),)
    best = None
    for kind in kinds:
        kind_best = None
        for baseline in (True, False):
            distances = (all_tables(kind, baseline).to(torch.float64) - table).abs().sum(dim=(1, 2))
            # Highest quality among the minima: flip so that argmin's first hit is the highest.
            index = 99 - int(torch.argmin(distances.flip(0)))
            distance = float(distances[index])
            if kind_best is None or (distance, -index) < (kind_best.distance, 1 - kind_best.quality):
                kind_best = QualityMatch(index + 1, distance == 0, distance, kind, baseline)
        if best is None or kind_best.distance < best.distance:
            best = kind_best
    return best
