"""Property tests of qgac_fast.codec on hostile input: random bytes and mutated real JPEGs must
either read into a consistent JPEGCoefficients or raise JPEGError, in strict and lenient mode,
never crash or raise anything else; whatever reads must also survive a write/read round trip.
Derandomized, so CI sees the same examples on every run."""

from __future__ import annotations

import jpeglib
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from images import pillow_jpeg, synthetic_image, turbo_jpeg
from qgac_fast.codec import JPEGCoefficients, read_coefficients, write_coefficients
from qgac_fast.errors import JPEGError

FUZZ = settings(max_examples=250, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
# Mutated headers can declare large frames; keep each example's allocation small.
MAX_PIXELS = 2**20


def _arithmetic_jpeg(tmp_dir) -> bytes:
    path = tmp_dir / "arith.jpg"
    with jpeglib.version("turbo210"):
        jpeglib.from_spatial(synthetic_image(20, 28)).write_spatial(str(path), qt=60, flags=["+ARITH_CODE"])
    return path.read_bytes()


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> list[bytes]:
    """Small real JPEGs covering the decoder's paths: baseline, progressive, restarts, gray,
    4:1:1, arithmetic coding."""
    image = synthetic_image(20, 28)
    return [
        pillow_jpeg(image, 75, "4:2:0"),
        pillow_jpeg(image, 60, "4:4:4", progressive=True),
        pillow_jpeg(image, 80, "4:2:2", restart_marker_blocks=2),
        turbo_jpeg(image[..., 0], 50),
        turbo_jpeg(image, 90, "4:1:1", progressive=True),
        _arithmetic_jpeg(tmp_path_factory.mktemp("fuzz")),
    ]


def check_read(data: bytes, strict: bool) -> JPEGCoefficients | None:
    """Read ``data``; JPEGError is the only failure allowed. Returns the result or None."""
    try:
        jc = read_coefficients(data, strict=strict, max_pixels=MAX_PIXELS)
    except JPEGError:
        return None
    assert jc.num_components in (1, 3) and len(jc.quantization) == len(jc.sampling) == jc.num_components
    max_h = max(h for h, _ in jc.sampling)
    max_v = max(v for _, v in jc.sampling)
    for (h, v), coefficients, table in zip(jc.sampling, jc.coefficients, jc.quantization):
        blocks_h = -(-(-(-jc.height * v // (max_v * 8))) // v) * v
        blocks_w = -(-(-(-jc.width * h // (max_h * 8))) // h) * h
        assert coefficients.shape == (blocks_h, blocks_w, 8, 8) and coefficients.dtype == torch.int16
        assert table.shape == (8, 8) and table.dtype == torch.int32
    return jc


def image_blocks(jc: JPEGCoefficients, ci: int) -> torch.Tensor:
    """Component ``ci`` without its MCU padding blocks."""
    max_h = max(h for h, _ in jc.sampling)
    max_v = max(v for _, v in jc.sampling)
    h, v = jc.sampling[ci]
    return jc.coefficients[ci][: -(-jc.height * v // (max_v * 8)), : -(-jc.width * h // (max_h * 8))]


def check_round_trip(jc: JPEGCoefficients) -> None:
    """Write what was read; a ValueError (uncodable values) is the only failure allowed. libjpeg
    writes MCU padding blocks its own way (AC zero, DC of the left neighbour), which a mutated
    file need not have followed, so only the image blocks must come back unchanged."""
    try:
        data = write_coefficients(jc)
    except ValueError:
        return
    again = read_coefficients(data)
    for ci in range(jc.num_components):
        assert torch.equal(image_blocks(jc, ci), image_blocks(again, ci)), f"component {ci}"
    assert all(torch.equal(a, b) for a, b in zip(jc.quantization, again.quantization))


@FUZZ
@given(data=st.binary(max_size=2048), soi=st.booleans(), strict=st.booleans())
def test_random_bytes(data, soi, strict):
    check_read((b"\xff\xd8" if soi else b"") + data, strict)


# One mutation: (kind, position as a fraction of the length, payload).
MUTATION = st.tuples(
    st.sampled_from(["flip", "set", "insert", "delete", "truncate", "header-byte", "header-word"]),
    st.floats(0, 1, exclude_max=True),
    st.binary(min_size=1, max_size=8),
)


def mutate(data: bytes, mutation) -> bytes:
    kind, where, payload = mutation
    pos = int(where * len(data))
    header = max(1, data.find(b"\xff\xda") + 12)  # markers up to the first scan's header
    if kind == "flip":
        return data[:pos] + bytes([data[pos] ^ (payload[0] or 1)]) + data[pos + 1 :]
    if kind == "set":
        return data[:pos] + payload + data[pos + len(payload) :]
    if kind == "insert":
        return data[:pos] + payload + data[pos:]
    if kind == "delete":
        return data[:pos] + data[pos + len(payload) :]
    if kind == "truncate":
        return data[:pos]
    hpos = int(where * header)
    width = 1 if kind == "header-byte" else 2
    return data[:hpos] + payload[:width].ljust(width, b"\x00") + data[hpos + width :]


@FUZZ
@given(index=st.integers(0, 5), mutations=st.lists(MUTATION, min_size=1, max_size=4), strict=st.booleans())
def test_mutated_jpegs(seeds, index, mutations, strict):
    data = seeds[index]
    for mutation in mutations:
        if data:
            data = mutate(data, mutation)
    jc = check_read(data, strict)
    if jc is not None:
        check_round_trip(jc)


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "lenient"])
@pytest.mark.parametrize("index", range(6), ids=["baseline-420", "progressive-444", "restarts-422", "gray",
                                                 "progressive-411", "arithmetic"])
def test_unmutated_seeds_read_and_round_trip(seeds, index, strict):
    jc = check_read(seeds[index], strict)
    assert jc is not None
    check_round_trip(jc)
