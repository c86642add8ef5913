"""The flip-ensemble study's orientations (experiments/flip_ensemble.py) are exact: turning a
coefficient plane equals turning its pixels, and turning back restores it."""

import pytest
import torch

from experiments.flip_ensemble import ORIENTATIONS, orient
from qgac_fast.functional.transform import idct


def _pixels_turned(pixels: torch.Tensor, orientation) -> torch.Tensor:
    transpose, rows, columns = orientation
    if transpose:
        pixels = pixels.transpose(-2, -1)
    if rows:
        pixels = pixels.flip(-2)
    if columns:
        pixels = pixels.flip(-1)
    return pixels


@pytest.mark.parametrize("orientation", ORIENTATIONS, ids=str)
def test_turning_coefficients_turns_the_pixels(orientation):
    generator = torch.Generator().manual_seed(sum(o << i for i, o in enumerate(orientation)))
    plane = torch.randn(2, 3, 24, 40, generator=generator, dtype=torch.float64) * 100
    turned = idct(orient(plane, orientation))
    # float64 IDCT of values up to ~500: the two sides sum the same products in different orders
    torch.testing.assert_close(turned, _pixels_turned(idct(plane), orientation), rtol=0, atol=1e-9)
    assert torch.equal(orient(orient(plane, orientation), orientation, inverse=True), plane)
