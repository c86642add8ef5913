"""The C++ float decode (``backend="native"``) against its reference, on fresh random inputs.

Bound (derived): both compute in float32, the reference with the 64x64 Kronecker IDCT, the twin
with two 8-point passes and its own summation order, so a value differs by a few float32 ulps of
its magnitude (coefficients up to a few thousand: about 1e-3 at most, and the colour mix adds
terms of the same size). A pixel changes only where ``x + 0.5`` lies within that of an integer,
so by one level, on a fraction of the values near 1e-3 / 1 level: asserted as at most 1 level on
at most 0.1 % of the values (what the Triton twin's tests allow for float32).
"""

import math

import pytest
import torch

from qgac_fast import native, ops
from qgac_fast.codec import read_coefficients
from qgac_fast.functional.jpeg import decode_normalized
from qgac_fast.inference import CorrectionStep
from qgac_fast.model import QGAC, planes_from_jpeg
from qgac_fast.model.config import QGACConfig

from images import sample_image, turbo_jpeg

TINY = QGACConfig(manifold=4, block_channels=8, tile_channels=4, frequency_channels=1, fusion_channels=2,
                  dense_blocks=1, dense_layers=1, color_channels=4, init_scale=1.0, output_init_scale=1.0,
                  chroma_skip="fancy")


def _assert_within_bound(got: torch.Tensor, want: torch.Tensor, seed: int | None = None) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype == torch.uint8
    diff = (got.to(torch.int32) - want.to(torch.int32)).abs()
    where = f"at {diff.nonzero()[:5].tolist()}, seed {seed}"
    assert int(diff.max()) <= 1, f"max diff {int(diff.max())} {where}"
    assert int((diff > 0).sum()) <= max(1, math.floor(1e-3 * want.numel())), f"{int((diff > 0).sum())} differ {where}"


def _planes(n, h, w, gray, seed, scale=1.0):
    """Normalised planes like the model's output, and per-channel statistics like a model's."""
    g = torch.Generator().manual_seed(seed)
    luma = torch.randn(n, 1, h, w, generator=g) * scale
    chroma = None if gray else torch.randn(n, 2, h, w, generator=g) * scale
    channels = 1 if gray else 3
    mean = torch.randn(channels, 8, 8, generator=g) * 20
    std = torch.rand(channels, 8, 8, generator=g) * 60 + 0.5
    return luma, chroma, mean, std


def _bins(luma, mean, std, seed):
    """Quantization bins ``(dequantized, table)`` for normalised ``luma``: integer steps 1..99 per
    sample, centres within a step of the de-normalised values."""
    g = torch.Generator().manual_seed(seed + 1)
    n, _, h, w = luma.shape
    table = torch.randint(1, 100, (n, 8, 8), generator=g)
    denormalised = luma * std[:1].repeat(1, h // 8, w // 8) + mean[:1].repeat(1, h // 8, w // 8)
    steps = table.repeat(1, h // 8, w // 8)[:, None].float()
    return denormalised + steps * (torch.rand(luma.shape, generator=g) * 2 - 1), table


@pytest.mark.parametrize("gray", [False, True], ids=["rgb", "gray"])
@pytest.mark.parametrize("n, h, w, size", [(1, 8, 8, None), (2, 48, 72, (41, 67)), (3, 16, 40, (9, 33)),
                                           (1, 136, 24, (130, 17))])
def test_matches_reference_on_random_planes(n, h, w, size, gray):
    seed = torch.randint(0, 2**31, ()).item()  # fresh inputs each run; a failure names the seed
    luma, chroma, mean, std = _planes(n, h, w, gray, seed)
    want = decode_normalized(luma, chroma, mean, std, size=size)
    _assert_within_bound(native.decode_normalized(luma, chroma, mean, std, size=size), want, seed)
    # the quantization constraint: bins around values near the de-normalised luma, of random steps,
    # so that some coefficients are clamped and some are not
    bins = _bins(luma, mean, std, seed)
    unconstrained, want = want, decode_normalized(luma, chroma, mean, std, size=size, bins=bins)
    assert not torch.equal(want, unconstrained)
    _assert_within_bound(native.decode_normalized(luma, chroma, mean, std, size=size, bins=bins), want, seed)
    # without statistics: planes already de-normalised (large values: clamped at 0 and 255)
    luma, chroma = luma * 300, None if chroma is None else chroma * 300
    _assert_within_bound(native.decode_normalized(luma, chroma, size=size),
                         decode_normalized(luma, chroma, size=size), seed)


def test_matches_reference_on_a_photo_through_the_step():
    """The step's decode of a real JPEG (constrained luma, strips) with either backend."""
    torch.manual_seed(0)
    model = QGAC(TINY).eval()
    planes = planes_from_jpeg(read_coefficients(turbo_jpeg(sample_image(size=(96, 128)), 30, "4:2:0")))
    step = CorrectionStep(model, precision="float32", decode_backend="reference")
    y, chroma = step.restore(planes)
    want = step.decode(planes, y, chroma)
    step.decode_strip_pixels = 32 * 128  # strips of 32 rows: the twin decodes strips as the whole
    step.decode_backend = "native"
    _assert_within_bound(step.decode(planes, y, chroma), want)


def test_writes_into_out_and_uses_the_threads():
    luma, chroma, mean, std = _planes(2, 64, 64, False, seed=3)
    want = native.decode_normalized(luma, chroma, mean, std, size=(60, 61))
    out = torch.empty((2, 3, 60, 61), dtype=torch.uint8)
    threads = torch.get_num_threads()
    try:
        for count in (3, 1):  # rows split over threads: the same pixels
            out.fill_(7)
            torch.set_num_threads(count)
            assert native.decode_normalized(luma, chroma, mean, std, size=(60, 61), out=out) is out
            assert torch.equal(out, want)
    finally:
        torch.set_num_threads(threads)


def test_nan_and_infinity_become_defined_pixels():
    luma = torch.zeros(1, 1, 8, 8)
    luma[0, 0, 0, 0] = float("nan")
    assert torch.equal(native.decode_normalized(luma), torch.zeros(1, 1, 8, 8, dtype=torch.uint8))
    bins = (torch.zeros(1, 1, 8, 8), torch.ones(1, 8, 8))  # NaN stays NaN through the clamp, as the reference's
    assert torch.equal(native.decode_normalized(luma, bins=bins), decode_normalized(luma, bins=bins))
    luma[0, 0, 0, 0] = float("inf")
    assert torch.equal(native.decode_normalized(luma), torch.full((1, 1, 8, 8), 255, dtype=torch.uint8))


def test_refuses_what_it_does_not_take():
    luma = torch.zeros(1, 1, 16, 16)
    subsampled = torch.zeros(1, 2, 8, 8)
    assert "luma's grid" in native.unsupported_reason(luma, subsampled)
    assert native.unsupported_reason(luma.double(), torch.zeros(1, 2, 16, 16)) is None
    assert "float" in native.unsupported_reason(luma.to(torch.int16), None)
    assert "multiples of 8" in native.unsupported_reason(torch.zeros(1, 1, 12, 16), None)
    assert "(3, 8, 8)" in native.unsupported_reason(luma, torch.zeros(1, 2, 16, 16), torch.zeros(1, 8, 8),
                                                    torch.ones(1, 8, 8))
    with pytest.raises(ValueError, match="luma's grid"):
        native.decode_normalized(luma, subsampled)
    with pytest.raises(ValueError, match="within the planes"):
        native.decode_normalized(luma, size=(17, 16))
    with pytest.raises(ValueError, match="upsampling must be one of"):
        native.decode_normalized(luma, upsampling="bogus")
    assert native.decode_normalized(luma, size=(0, 16)).shape == (1, 1, 0, 16)  # as the reference: empty
    with pytest.raises(ValueError, match="out must be"):
        native.decode_normalized(luma, out=torch.empty(1, 1, 16, 16, dtype=torch.int16))
    with pytest.raises(ValueError, match="the table must be"):
        native.decode_normalized(luma, bins=(luma, torch.ones(2, 8, 8)))
    with pytest.raises(ValueError, match="the luma's shape"):
        native.decode_normalized(luma, bins=(luma[..., :8], torch.ones(1, 8, 8)))
    # auto leaves a subsampled chroma to the reference; an explicit native refuses it
    want = decode_normalized(luma, subsampled)
    assert torch.equal(ops.decode_normalized(luma, subsampled), want)
    with pytest.raises(ValueError, match="luma's grid"):
        ops.decode_normalized(luma, subsampled, backend="native")


def test_the_extension_checks_shapes_itself():
    """A wrong shape reaching the extension is a ValueError, not a read out of bounds."""
    from qgac_fast import _jpeg

    luma = torch.zeros(1, 16, 16).numpy()
    out = torch.empty(1, 3, 16, 16, dtype=torch.uint8).numpy()
    dct = torch.eye(8).numpy()
    with pytest.raises(ValueError, match="chroma must be"):
        _jpeg.float_decode(luma, torch.zeros(1, 2, 8, 8).numpy(), None, None, None, None, dct, torch.eye(3).numpy(),
                           out, 1)
    with pytest.raises(ValueError, match="out must be"):
        _jpeg.float_decode(luma, None, None, None, None, None, dct, torch.eye(3).numpy(), out, 1)
    with pytest.raises(ValueError, match="bins must be"):
        _jpeg.float_decode(luma, None, None, None, torch.zeros(1, 8, 16).numpy(), torch.ones(1, 64).numpy(), dct,
                           torch.eye(3).numpy(), out[:, :1], 1)
    with pytest.raises(ValueError, match="bins must be"):
        _jpeg.float_decode(luma, None, None, None, luma, torch.ones(1, 63).numpy(), dct, torch.eye(3).numpy(),
                           out[:, :1], 1)
    with pytest.raises(ValueError, match="go together"):
        _jpeg.float_decode(luma, None, None, None, luma, None, dct, torch.eye(3).numpy(), out[:, :1], 1)
