"""IJG quality tables against the tables libjpeg-turbo writes (Pillow, PyTurboJPEG and cjpeg, with
and without its baseline clamp)."""

import pytest
import torch

from images import cjpeg, pillow_jpeg, synthetic_image, turbo_jpeg
from qgac_fast.codec import read_coefficients
from qgac_fast.quality import IJG_CHROMA, IJG_LUMA, closest_quality, ijg_table, quality_scale

QUALITIES = list(range(1, 101))
IMAGE = synthetic_image(16, 16)
ENCODERS = {"pillow": pillow_jpeg, "turbo": turbo_jpeg}


def _highest_equal_quality(quality: int, chroma: bool) -> int:
    """The tie-break ``closest_quality`` promises: highest quality with an identical table."""
    table = ijg_table(quality, chroma)
    return max(q for q in QUALITIES if torch.equal(ijg_table(q, chroma), table))


@pytest.mark.parametrize("encoder", ENCODERS, ids=ENCODERS)
@pytest.mark.parametrize("quality", QUALITIES, ids=[f"q{q}" for q in QUALITIES])
def test_tables_match_libjpeg(encoder, quality):
    jc = read_coefficients(ENCODERS[encoder](IMAGE, quality, "4:2:0"))
    luma, chroma = jc.quantization[0], jc.quantization[1]
    assert torch.equal(luma, ijg_table(quality))
    assert torch.equal(chroma, ijg_table(quality, chroma=True))
    assert closest_quality(luma, chroma=False) == (quality, True, 0.0, False, True)
    assert closest_quality(chroma, chroma=True) == (_highest_equal_quality(quality, True), True, 0.0, True, True)


def test_cjpeg_tables_with_and_without_baseline_clamp_are_exact():
    # cjpeg leaves baseline off unless asked: below q24 its steps exceed 255.
    for quality in QUALITIES:
        for baseline in (True, False):
            args = ("-quality", str(quality), "-sample", "1x1") + (("-baseline",) if baseline else ())
            jc = read_coefficients(cjpeg(IMAGE, *args))
            for table, chroma in ((jc.quantization[0], False), (jc.quantization[1], True)):
                assert torch.equal(table, ijg_table(quality, chroma, baseline)), (quality, baseline, chroma)
                match = closest_quality(table, chroma=chroma)
                assert match.exact and match.chroma == chroma
                assert torch.equal(ijg_table(match.quality, chroma, match.baseline), table)
                # the baseline flag is only False where the clamp makes a difference
                assert match.baseline == (baseline or torch.equal(table, ijg_table(quality, chroma, True)))
                if not chroma or not baseline:
                    assert match.quality == quality


def test_non_baseline_tables_go_above_255_and_stop_at_32767():
    assert int(ijg_table(5, baseline=False).max()) == 1210 and int(ijg_table(5).max()) == 255
    assert int(ijg_table(1, baseline=False).max()) == 6050
    assert torch.equal(ijg_table(24, baseline=False), ijg_table(24))


@pytest.mark.parametrize("quality", [1, 2, 3], ids=["q1", "q2", "q3"])
def test_chroma_tie_goes_to_highest_quality(quality):
    assert torch.all(ijg_table(quality, chroma=True) == 255)
    assert closest_quality(ijg_table(quality, chroma=True), chroma=True).quality == 3


def test_quality_50_is_annex_k():
    assert quality_scale(50) == 100
    assert torch.equal(ijg_table(50), IJG_LUMA)
    assert torch.equal(ijg_table(50, chroma=True), IJG_CHROMA)


def test_quality_100_is_all_ones():
    assert torch.equal(ijg_table(100), torch.ones(8, 8, dtype=torch.int32))


def test_returned_table_is_a_copy():
    table = ijg_table(75)
    table.fill_(0)
    assert int(ijg_table(75)[0, 0]) == 8


@pytest.mark.parametrize(
    "table, chroma, expected",
    [
        (ijg_table(60).index_put((torch.tensor(7), torch.tensor(7)), torch.tensor(3, dtype=torch.int32), accumulate=True),
         False, (60, False, 3.0, False, True)),
        (ijg_table(40, chroma=True), None, (40, True, 0.0, True, True)),
        (ijg_table(40).float().flatten(), None, (40, True, 0.0, False, True)),
        (ijg_table(5, baseline=False) + 1, False, (5, False, 64.0, False, False)),
    ],
    ids=["one-step-off-luma", "either-finds-chroma", "flat-float", "one-off-non-baseline"],
)
def test_closest_quality_inexact_and_either_kind(table, chroma, expected):
    assert closest_quality(table, chroma=chroma) == expected


@pytest.mark.parametrize("quality", [0, 101, 7.5, True, "75"], ids=["zero", "above", "float", "bool", "str"])
def test_bad_quality_raises(quality):
    with pytest.raises(ValueError, match=r"quality must be an int in 1\.\.100, got"):
        ijg_table(quality)


def test_bad_table_shape_raises():
    with pytest.raises(ValueError, match=r"64 entries .* got shape \(4, 4\)"):
        closest_quality(torch.ones(4, 4))
