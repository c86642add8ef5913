"""``distinct_rows`` holds the same rows as ``torch.unique(dim=0)`` (its reference), faster."""

from __future__ import annotations

import time

import pytest
import torch

from qgac_fast.distinct import distinct_rows


def _as_set(rows: torch.Tensor) -> set[tuple]:
    return set(map(tuple, rows.tolist()))


@pytest.mark.parametrize("dtype", [torch.int16, torch.int32, torch.uint8, torch.float32])
def test_same_rows_as_torch_unique(dtype):
    seed = int(time.time())
    generator = torch.Generator().manual_seed(seed)
    rows = (torch.randn(3000, 64, generator=generator) * 3).round().to(dtype)
    rows[:1000] = rows[1000:2000]  # a third repeated
    rows[2000:2500] = 0  # flat blocks
    rows = rows + 0  # no -0.0: torch.unique calls it 0.0, the bytes do not (a level-shifted pixel is never -0.0)
    got = distinct_rows(rows)
    want = torch.unique(rows, dim=0)
    assert got.dtype == dtype and got.shape == want.shape, seed
    assert _as_set(got) == _as_set(want), seed


def test_first_occurrences_in_input_order_and_any_row_width():
    """Rows of 13 bytes (not whole 8-byte words) differing in one byte only, many repeated."""
    seed = int(time.time())
    generator = torch.Generator().manual_seed(seed)
    rows = torch.zeros(5000, 13, dtype=torch.uint8)
    rows[:, -1] = torch.randint(0, 256, (5000,), generator=generator, dtype=torch.int32).to(torch.uint8)
    rows[:, 3] = torch.randint(0, 3, (5000,), generator=generator, dtype=torch.int32).to(torch.uint8)
    got = distinct_rows(rows)
    first = {}
    for index, row in enumerate(map(tuple, rows.tolist())):
        first.setdefault(row, index)
    assert got.tolist() == [list(row) for row in sorted(first, key=first.get)], seed


@pytest.mark.parametrize("shape", [(0, 64), (1, 64), (2, 64)])
def test_small_inputs(shape):
    rows = torch.ones(shape, dtype=torch.int16)
    assert distinct_rows(rows).shape == torch.unique(rows, dim=0).shape


def test_empty_rows_are_one_row():
    assert distinct_rows(torch.ones(3, 0, dtype=torch.int16)).shape == (1, 0)


def test_not_two_dimensional():
    with pytest.raises(ValueError, match="2-D"):
        distinct_rows(torch.zeros(4, 8, 8))
