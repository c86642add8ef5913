"""Tile plans (qgac_fast.inference.tiles): cores partition the plane with context on every side,
windows of one size on the block grid, within their limits, and fit_tiles' windows cost no more
model pixels than the square tiles the engine planned before."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qgac_fast.inference import fit_tiles, plan_tiles
from qgac_fast.inference.tiles import MIN_CORE, _window


def _check(tiles, h: int, w: int, overlap: int) -> tuple[int, int]:
    """Assert the plan's invariants; returns the window's (height, width)."""
    covered = torch.zeros(h, w, dtype=torch.int32)
    sizes = {(t.window[1] - t.window[0], t.window[3] - t.window[2]) for t in tiles}
    assert len(sizes) == 1, "all windows of an image have one size"
    assert len({t.window for t in tiles}) == len(tiles), "no window twice"
    grid = 16 if h % 16 == 0 and w % 16 == 0 else 8
    for (wt, wb, wl, wr), (ct, cb, cl, cr) in tiles:
        covered[ct:cb, cl:cr] += 1
        assert 0 <= wt <= ct < cb <= wb <= h and 0 <= wl <= cl < cr <= wr <= w
        assert all(v % grid == 0 for v in (wt, wb, wl, wr, ct, cb, cl, cr))
        # context: at least the overlap, or all there is up to the plane's edge
        for inner, outer in ((ct, wt), (cl, wl)):
            assert outer == 0 or inner - outer >= overlap
        for inner, outer, edge in ((cb, wb, h), (cr, wr, w)):
            assert outer == edge or outer - inner >= overlap
    assert bool((covered == 1).all()), "cores partition the plane"
    return sizes.pop()


def _read(tiles) -> int:
    """Pixels the model reads for the plan."""
    (top, bottom, left, right), _ = tiles[0]
    return len(tiles) * (bottom - top) * (right - left)


@pytest.mark.parametrize("shape", [(48, 40), (208, 304), (16, 16), (24, 40), (200, 296), (1024, 64)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("core,overlap", [(32, 16), (64, 64), (16, 0)])
def test_plan_tiles_partitions_the_plane_with_context(shape, core, overlap):
    h, w = shape
    tall, wide = _check(plan_tiles(h, w, core, overlap), h, w, overlap)
    assert tall <= core + 2 * overlap or tall == h
    assert wide <= core + 2 * overlap or wide == w


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 200), st.integers(1, 200), st.sampled_from([0, 16, 32, 64]), st.integers(1, 64))
def test_plan_tiles_windows_within_their_side(h8, w8, overlap, core16):
    h, w, core = 8 * h8, 8 * w8, 16 * core16
    tiles = plan_tiles(h, w, core, overlap)
    tall, wide = _check(tiles, h, w, overlap)
    side = core + 2 * overlap
    for length, window, count in ((h, tall, len({t.window[:2] for t in tiles})),
                                  (w, wide, len({t.window[2:] for t in tiles}))):
        assert window <= side or window == length
        # the fewest windows: one fewer would not cover the side within ``side``
        fewer = _window(length, count - 1, overlap) if count > 1 else None
        assert count == 1 or fewer is None or fewer > side


def _squares(h: int, w: int, core: int, overlap: int) -> int:
    """Pixels read by the engine's former plan: square windows of ``core + 2 * overlap``, cores
    starting every ``core`` pixels, each window shifted inside the plane."""
    def count(length: int) -> tuple[int, int]:
        window = core + 2 * overlap
        return (1, length) if length <= window else (len(range(0, length, core)), window)
    (rows, tall), (cols, wide) = count(h), count(w)
    return rows * cols * tall * wide


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 400), st.integers(1, 400), st.sampled_from([0, 16, 32, 64]), st.integers(16 * 16, 4_000_000))
def test_fit_tiles_within_the_budget_and_no_worse_than_squares(h8, w8, overlap, max_pixels):
    h, w = 8 * h8, 8 * w8
    tiles = fit_tiles(h, w, max_pixels, overlap)
    tall, wide = _check(tiles, h, w, overlap)
    fallback = plan_tiles(h, w, MIN_CORE, overlap)
    assert tall * wide <= max_pixels or tiles == fallback
    # the engine's former squares, where they fit the budget: never more pixels than they read
    side = math.isqrt(max_pixels) // 16 * 16
    if side - 2 * overlap >= MIN_CORE:
        assert _read(tiles) <= _squares(h, w, side - 2 * overlap, overlap)


def test_fit_tiles_takes_oblong_windows():
    # a 12 MP photo's luma under the default model's CPU budget (3.27 MP a call, 64 pixels of overlap)
    tiles = fit_tiles(2992, 4000, 3_268_619, 64)
    assert _check(tiles, 2992, 4000, 64) == (1568, 2064) and len(tiles) == 4
    assert _read(tiles) / (2992 * 4000) < 1.09  # squares of 1792: 6 tiles, 1.61


def test_plan_tiles_rejects_off_grid_sizes():
    with pytest.raises(ValueError, match="multiple of 16"):
        plan_tiles(64, 64, 24, 16)
    with pytest.raises(ValueError, match="multiple of 16"):
        plan_tiles(64, 64, 32, 8)
    with pytest.raises(ValueError, match="multiples of 8"):
        fit_tiles(60, 64, 1000, 16)
