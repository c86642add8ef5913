"""The orientations of coefficient planes (qgac_fast.model.orientation) are exact: turning a
coefficient plane equals turning its pixels, and turning back restores it; the step's test-time
ensemble over the flips averages the turned-back outputs."""

import dataclasses

import pytest
import torch

from qgac_fast import Corrector, compress
from qgac_fast.codec import read_coefficients
from qgac_fast.functional.transform import idct
from qgac_fast.inference import CorrectionStep
from qgac_fast.model import QGAC, planes_from_jpeg
from qgac_fast.model.config import QGACConfig
from qgac_fast.model.orientation import ORIENTATIONS, flip_blocks, orient, oriented

from images import sample_image


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


# ------------------------------------------------------------------------------------------------
# the step's test-time ensemble (CorrectionStep(flips=...))

TINY = QGACConfig(manifold=4, block_channels=8, tile_channels=4, frequency_channels=1, fusion_channels=2,
                  dense_blocks=1, dense_layers=1, color_channels=4, init_scale=1.0, output_init_scale=1.0,
                  chroma_skip="fancy")


@pytest.fixture(scope="module")
def tiny():
    """A small model with statistics like a trained one's: a flip negates coefficients, not
    normalised values, which only a non-zero mean tells apart."""
    torch.manual_seed(0)
    model = QGAC(TINY).eval()
    model.mean.copy_(torch.randn(model.mean.shape) * 5)
    model.std.copy_(torch.rand(model.std.shape) * 20 + 0.5)
    return model


def _planes(subsampling: str, size=(64, 96)):
    data = compress(torch.from_numpy(sample_image(size=size)).permute(2, 0, 1), 30, subsampling=subsampling)
    return planes_from_jpeg(read_coefficients(data))


@pytest.mark.parametrize("subsampling", ["4:2:0", "4:4:4"])
def test_ensemble_is_the_mean_of_the_turned_back_outputs(tiny, subsampling):
    planes = _planes(subsampling, size=(56, 88))  # not a multiple of the MCU: padding moves with the flips
    plain = CorrectionStep(tiny, precision="float32")
    outputs = []
    for orientation in ORIENTATIONS[:4]:
        y, chroma = plain.restore(oriented(planes, orientation))
        outputs.append((orient(tiny.denormalize(y, 0), orientation, inverse=True),
                        orient(tiny.denormalize(chroma, slice(1, 3)), orientation, inverse=True)))
    y, chroma = CorrectionStep(tiny, precision="float32", flips=4).restore(planes)
    want_y = tiny.normalize(sum(o[0] for o in outputs) / 4, 0)
    want_chroma = tiny.normalize(sum(o[1] for o in outputs) / 4, slice(1, 3))
    torch.testing.assert_close(y, want_y, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(chroma, want_chroma, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(y, plain.restore(planes)[0], atol=1e-3)  # the ensemble is not the plain output


@pytest.mark.parametrize("subsampling", ["4:2:0", "gray"])
def test_four_flips_correct_a_flipped_jpeg_into_the_flipped_output(tiny, subsampling):
    """The 4-flip ensemble is flip-equivariant: it averages the same four outputs whichever way the
    JPEG is turned (sizes on the MCU grid, so that the padding does not move). Pixels agree up to
    the float sums' order: at most one level, on few pixels."""
    image = torch.from_numpy(sample_image(size=(64, 96))).permute(2, 0, 1)
    options = {} if subsampling == "gray" else {"subsampling": subsampling}
    if subsampling == "gray":
        image = image[:1]
    step = CorrectionStep(tiny, precision="float32", flips=4)
    for dims in ([-1], [-2], [-2, -1]):
        # a lossless turn of the JPEG: its coefficients turned, rewritten
        jc = read_coefficients(compress(image, 30, **options))
        planes = planes_from_jpeg(jc)
        turned = dataclasses.replace(planes, luma=_turn(planes.luma, dims),
                                     chroma=None if planes.chroma is None else _turn(planes.chroma, dims))
        want = step(planes)[0].flip(dims)
        got = step(turned)[0]
        diff = (got.int() - want.int()).abs()
        assert int(diff.max()) <= 1 and float((diff > 0).float().mean()) < 0.01, dims


def _turn(plane: torch.Tensor, dims: list[int]) -> torch.Tensor:
    for dim in dims:
        plane = flip_blocks(plane, dim)
    return plane


def test_flips_is_checked():
    model = QGAC(TINY)
    for bad in (0, 3, 8, 2.0, True, "4"):
        with pytest.raises(ValueError, match="flips must be one of"):
            CorrectionStep(model, flips=bad)
    with pytest.raises(ValueError, match="flips must be one of"):
        Corrector(model, flips=3)
