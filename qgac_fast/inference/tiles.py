"""Large images in tiles: the model's receptive field, tile plans, and the tiled forward.

A tile is a window on the 16-pixel grid: a core plus ``overlap`` 8x8 blocks of context on every
side that has neighbours, shifted inside the image so that all windows of an image have one size
(and batch together). The restored normalised planes of the cores are stitched in the coefficient
domain (:func:`restore_tiled`); the whole image is then clamped and decoded at once, as an untiled
one, so the decode never sees a tile edge. With an overlap as wide as the model's receptive field
(:func:`receptive_field`) the tiled result equals the whole-image one up to float rounding; the
default overlap (:func:`default_overlap`) is narrower, see there.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch

from ..model import CoefficientPlanes, QGACConfig
from ..options import check_overlap, check_tile
from .step import CorrectionStep

__all__ = ["MAX_DEFAULT_OVERLAP", "MIN_CORE", "Tile", "check_overlap", "check_tile", "default_overlap", "fit_tiles",
           "plan_tiles", "receptive_field", "restore_tiled"]

#: Default ceiling on the overlap, in 8x8 blocks (see :func:`default_overlap`).
MAX_DEFAULT_OVERLAP = 8


def receptive_field(config: QGACConfig) -> int:
    """How far, in 8x8 luma blocks, an output coefficient of the model can see: the radius of the
    receptive field of the restored Y and Cb, Cr blocks, whichever is larger.

    Counted from the architecture: CFMs are block-local; each 3x3 convolution on the block grid
    adds one block (an RRDB of ``dense_blocks`` x ``dense_layers`` convolutions adds that many:
    the dense connections' longest path goes through all of them); the Y network is two
    BlockNets, a FrequencyNet (RRDBs plus two per-frequency convolutions) and three fusion
    convolutions; the colour network adds its own RRDBs on the luma grid to the restored Y's
    field, and on the 4:2:0 chroma grid one chroma block is two luma blocks (plus two for the
    learned 2x upsampling and the fancy skip path).

    Example:
        >>> from qgac_fast.model import CONFIGS
        >>> receptive_field(CONFIGS["default"]), receptive_field(CONFIGS["paper"])
        (21, 65)
    """
    rrdb = config.rrdb_blocks * config.dense_blocks * config.dense_layers
    color = config.color_rrdb_blocks * config.dense_blocks * config.dense_layers
    luma = 2 * rrdb + (rrdb + 2) + 3
    chroma_from_luma = luma + color
    chroma_from_chroma = 2 * color + 2 + color
    return max(luma, chroma_from_luma, chroma_from_chroma, 2)


def default_overlap(config: QGACConfig) -> int:
    """The default tile overlap in 8x8 blocks: the receptive field, at most
    :data:`MAX_DEFAULT_OVERLAP` (64 pixels), rounded up to an even count (the 16-pixel grid).

    A model's influence fades well inside its receptive field (21 blocks for ``default``, 65 for
    ``paper``): with the ``default`` configuration and non-trivial weights, 8 blocks of overlap
    change the result by a small fraction of a level (see ``tests/test_engine.py``), while the full
    field would multiply the work of 512-pixel tiles by up to 2.7 (``paper``: 9). Pass
    ``overlap=receptive_field(config)`` for a result equal to the whole-image one up to rounding.
    """
    blocks = min(receptive_field(config), MAX_DEFAULT_OVERLAP)
    return blocks + blocks % 2


class Tile(NamedTuple):
    """One window of a tiled image, in luma pixels of the (MCU-padded) planes.

    ``window`` ``(top, bottom, left, right)`` is what the model reads; ``core`` (same form, inside
    the window) is the part of its result that is kept.
    """

    window: tuple[int, int, int, int]
    core: tuple[int, int, int, int]


#: Smallest core :func:`fit_tiles` plans, in pixels: below it the overlap would be most of the work.
MIN_CORE = 64


def _window(length: int, count: int, overlap: int) -> int | None:
    """The smallest window (pixels, on the 16-pixel grid, or ``length`` itself for one tile) with
    which ``count`` windows overlapping by ``2 * overlap`` cover ``length``; None when ``count``
    windows of that size cannot all be distinct (too many for the length)."""
    if count == 1:
        return length
    window = -(-(length + 2 * overlap * (count - 1)) // count)
    window = -(-window // 16) * 16
    step = window - 2 * overlap
    # distinct windows: the last regular start falls short of the end, where the last window sits
    if window >= length or step <= 0 or (count - 2) * step >= length - window:
        return None
    return window


def _spans(length: int, count: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """1-D tiling in ``count`` windows of :func:`_window`'s size:
    ``(window_start, window_end, core_start, core_end)`` per tile. Windows start ``window - 2 *
    overlap`` apart, the last one flush with the end; each core boundary lies ``overlap`` inside
    the later window, so both neighbours see at least ``overlap`` of context across it."""
    window = _window(length, count, overlap)
    step = window - 2 * overlap
    starts = [min(i * step, length - window) for i in range(count)]
    bounds = [0] + [start + overlap for start in starts[1:]] + [length]
    return [(start, start + window, bounds[i], bounds[i + 1]) for i, start in enumerate(starts)]


def _counts(length: int, overlap: int) -> list[tuple[int, int]]:
    """``(count, window)`` for every usable tile count along ``length``, the windows shrinking."""
    counts = []
    for count in range(1, length // 16 + 2):
        window = _window(length, count, overlap)
        if window is not None and (not counts or window < counts[-1][1]):
            counts.append((count, window))
    return counts


def _check_grid(height: int, width: int, overlap: int) -> None:
    if overlap < 0 or overlap % 16:
        raise ValueError(f"tile overlap must be a multiple of 16 pixels, got {overlap}")
    if height % 8 or width % 8 or height < 8 or width < 8:
        raise ValueError(f"plane size must be positive multiples of 8, got {height}x{width}")


def _grid(height: int, width: int, rows: int, cols: int, overlap: int) -> list[Tile]:
    return [Tile((r[0], r[1], c[0], c[1]), (r[2], r[3], c[2], c[3]))
            for r in _spans(height, rows, overlap) for c in _spans(width, cols, overlap)]


def plan_tiles(height: int, width: int, core: int, overlap: int) -> list[Tile]:
    """Tiles covering a ``height`` x ``width`` plane (pixels, multiples of 8) whose windows are at
    most ``core + 2 * overlap`` pixels on each side.

    Per dimension, the fewest windows of that size or less; they all have one size (the smallest
    that covers the plane with that many), overlap their neighbours by ``2 * overlap`` (the last
    one may overlap more) and sit inside the plane. The cores partition the plane, and every core
    edge has at least ``overlap`` pixels of context, or all the plane has on that side. Interior
    cores are at most ``core`` pixels; edge cores, which need context on one side only, up to
    ``core + overlap``.

    Args:
        core, overlap: pixels, multiples of 16 (``overlap`` may be 0). Every window and core
            then starts and ends on the 8x8 block grid, and on the 16-pixel grid (that of 4:2:0
            chroma blocks) when the plane's sides are multiples of 16, as 4:2:0 planes are.

    Raises:
        ValueError: ``core`` or ``overlap`` off the 16-pixel grid, or the plane's sides off the 8-pixel grid.

    Example:
        >>> [(t.window[:2], t.core[:2]) for t in plan_tiles(96, 40, 32, 16)]  # rows; 40 columns fit
        [((0, 64), (0, 48)), ((32, 96), (48, 96))]
    """
    if core < 16 or core % 16:
        raise ValueError(f"tile core must be a positive multiple of 16 pixels, got {core}")
    _check_grid(height, width, overlap)
    side = core + 2 * overlap

    def fewest(length: int) -> int:  # the fewest windows of at most ``side``, else the smallest windows
        counts = _counts(length, overlap)
        return next((count for count, window in counts if window <= side), counts[-1][0])

    return _grid(height, width, fewest(height), fewest(width), overlap)


def fit_tiles(height: int, width: int, max_pixels: int, overlap: int, *, min_core: int = MIN_CORE) -> list[Tile]:
    """The tiles of :func:`plan_tiles`' kind whose windows hold at most ``max_pixels`` pixels each
    and that make the model read the fewest pixels in all (fewest tiles among equals). Windows
    may be oblong: a plane of 2992 rows and 4000 columns under 3.27 MP with an overlap of 64 gets 2
    x 2 windows of 1568 x 2064 (1.08 times the plane's pixels), where squares of 1792 took 6 (1.61
    times).

    Windows narrower than ``min_core + 2 * overlap`` (``min_core`` a multiple of 16; default
    :data:`MIN_CORE`) are not planned, unless one window spans the side; when no tiling fits
    ``max_pixels``, the windows are :func:`plan_tiles`' for cores of ``min_core``, whatever they
    hold.

    Raises:
        ValueError: as :func:`plan_tiles`.
    """
    _check_grid(height, width, overlap)
    smallest = min_core + 2 * overlap
    rows = [(count, tall) for count, tall in _counts(height, overlap) if count == 1 or tall >= smallest]
    columns = [(count, wide) for count, wide in _counts(width, overlap) if count == 1 or wide >= smallest]
    best = None
    for row_count, tall in rows:
        if best is not None and (height + 2 * overlap * (row_count - 1)) * width > best[0][0]:
            break  # more rows read at least this much whatever the columns
        for column_count, wide in columns:
            # the pixels any windows this many read, rounding aside: more columns only read more
            if best is not None and ((height + 2 * overlap * (row_count - 1))
                                     * (width + 2 * overlap * (column_count - 1)) > best[0][0]):
                break
            key = (row_count * column_count * tall * wide, row_count * column_count)
            if tall * wide <= max_pixels and (best is None or key < best[0]):
                best = key, row_count, column_count
    if best is None:
        return plan_tiles(height, width, min_core, overlap)
    return _grid(height, width, best[1], best[2], overlap)


def restore_tiled(step: CorrectionStep, planes: CoefficientPlanes, tiles: list[Tile], per_call: int,
                  done: Callable[[float], None] | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:meth:`CorrectionStep.restore` of one image (a batch of one) window by window, ``per_call``
    windows per model call, with the cores stitched into whole planes: normalised float32 Y
    ``(1, 1, H, W)`` and Cb, Cr ``(1, 2, H, W)`` (None for gray). ``done``, if given, is called
    after each model call with the fraction of the planes whose cores it finished."""
    h, w = planes.luma.shape[-2:]
    with torch.inference_mode():
        y_out = torch.empty(1, 1, h, w, device=planes.luma.device)
        chroma_out = None if planes.chroma is None else torch.empty(1, 2, h, w, device=planes.luma.device)
        for first in range(0, len(tiles), per_call):
            chunk = tiles[first:first + per_call]
            y, chroma = step.restore(CoefficientPlanes.cat([planes.crop(tile.window) for tile in chunk]))
            for j, tile in enumerate(chunk):
                top, bottom, left, right = tile.core
                dy, dx = tile.window[0], tile.window[2]
                y_out[..., top:bottom, left:right] = y[j, :, top - dy:bottom - dy, left - dx:right - dx]
                if chroma_out is not None:
                    chroma_out[..., top:bottom, left:right] = chroma[j, :, top - dy:bottom - dy, left - dx:right - dx]
            if done is not None:
                done(sum((t.core[1] - t.core[0]) * (t.core[3] - t.core[2]) for t in chunk) / (h * w))
    return y_out, chroma_out
