"""``qgac_fast.estimate_quantization``: grid, layout and tables of decoded JPEGs recovered from the pixels; no
history found in never-compressed, flat, tiny and grid-drawn images. The JPEGs are made by libjpeg-turbo through
Pillow / PyTurboJPEG (``compress``) and decoded by Pillow, never by qgac_fast."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from qgac_fast import estimate_quantization
from qgac_fast.compression import compress
from qgac_fast.estimate import MIN_CONFIDENCE, image_tensor
from qgac_fast.quality import ijg_table

from images import sample_image

# A textured crop keeps the tests fast; 256 x 256 is 1024 blocks, enough to identify the tables.
PHOTO = sample_image("astronaut.png", (256, 256))


def _decoded(image: np.ndarray, quality=None, subsampling="4:2:0", quantization=None) -> np.ndarray:
    data = compress(image, quality, subsampling=subsampling, quantization=quantization)
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB" if image.ndim == 3 else "L"))


@pytest.mark.parametrize("quality", [10, 30, 50, 75, 90])
def test_ijg_tables_of_aligned_images_are_recovered_exactly(quality):
    estimate = estimate_quantization(_decoded(PHOTO, quality))
    assert estimate.found and estimate.confidence >= MIN_CONFIDENCE
    assert estimate.quality == quality and torch.equal(estimate.luma, ijg_table(quality))
    assert estimate.offset == (0, 0) and estimate.subsampling == "4:2:0"
    assert torch.equal(estimate.chroma, ijg_table(quality, chroma=True))


@pytest.mark.parametrize("quality, dy, dx", [(20, 3, 5), (50, 7, 1), (75, 12, 9)])
def test_cropped_images_give_the_grid_offset_and_the_chroma_phase(quality, dy, dx):
    decoded = _decoded(PHOTO, quality)[dy:, dx:]
    estimate = estimate_quantization(decoded)
    # the first whole block starts where the next multiple of 8 (16 for 4:2:0 chroma) was
    assert estimate.offset == ((8 - dy) % 8, (8 - dx) % 8)
    assert estimate.mcu_offset == ((16 - dy) % 16, (16 - dx) % 16)
    assert estimate.quality == quality


@pytest.mark.parametrize("subsampling", ["4:2:2", "4:4:0"])
@pytest.mark.parametrize("quality, dy, dx", [(10, 5, 11), (30, 0, 0), (50, 3, 5), (75, 12, 9)])
def test_422_and_440_layouts_and_their_chroma_phase(subsampling, quality, dy, dx):
    estimate = estimate_quantization(_decoded(PHOTO, quality, subsampling)[dy:, dx:])
    assert estimate.subsampling == subsampling and estimate.quality == quality
    assert torch.equal(estimate.chroma, ijg_table(quality, chroma=True))
    # 16-pixel chroma grid along the halved axis only (4:2:2 columns, 4:4:0 rows)
    period_y, period_x = (8, 16) if subsampling == "4:2:2" else (16, 8)
    assert estimate.mcu_offset == ((period_y - dy) % period_y, (period_x - dx) % period_x)


def test_444_and_gray_layouts():
    assert estimate_quantization(_decoded(PHOTO, 40, "4:4:4")).subsampling == "4:4:4"
    gray = _decoded(PHOTO[..., 1], 40)
    estimate = estimate_quantization(gray)
    assert (estimate.subsampling, estimate.quality, estimate.chroma) == ("gray", 40, None)
    # the same gray image as RGB with equal channels, and as a (1, H, W) tensor
    assert estimate_quantization(np.repeat(gray[..., None], 3, axis=2)).subsampling == "gray"
    assert estimate_quantization(torch.from_numpy(gray.copy())[None]).quality == 40



@pytest.mark.parametrize("quality", [20, 30])
def test_flat_areas_do_not_vote_for_a_chroma_layout(quality):
    # a photo three quarters flat grey, saved by Pillow (4:2:0), decoded and cropped by (5, 3): the
    # flat blocks' chroma DCs, one value repeated in every block, sit on the 4:4:4 lattice too, and
    # counted in every copy they took 4:4:4 (the default model then gained 0.04 dB less here)
    image = sample_image("astronaut.png", (256, 336)).copy()
    image[:, :252] = 200
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    decoded = np.asarray(Image.open(buffer).convert("RGB"))[5:245, 3:323]
    estimate = estimate_quantization(np.ascontiguousarray(decoded))
    assert estimate.subsampling == "4:2:0" and estimate.mcu_offset == (11, 13)
    assert estimate.quality == quality and torch.equal(estimate.luma, ijg_table(quality))

def test_a_non_ijg_table_is_recovered_step_by_step():
    rng = np.random.default_rng(3)
    luma = torch.from_numpy(rng.integers(4, 40, size=(8, 8))).to(torch.int32)
    luma[0, 0] = 12
    chroma = ijg_table(60, chroma=True)
    estimate = estimate_quantization(_decoded(PHOTO, quantization=[luma, chroma]))
    assert estimate.found and estimate.quality is None
    # every low and middle frequency carries enough non-zero coefficients to be read exactly;
    # those that do not fall back to the closest IJG table's step
    low = torch.add(*torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")) <= 4
    assert torch.equal(estimate.luma[low], luma[low])
    assert (estimate.luma - luma).abs().float().mean() < 3


@pytest.mark.parametrize("make", [
    lambda: np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8),  # noise
    lambda: np.broadcast_to(np.linspace(0, 255, 128, dtype=np.uint8)[None, :, None], (96, 128, 3)).copy(),  # ramp
    lambda: np.full((64, 64, 3), 77, np.uint8),  # flat
    lambda: PHOTO[::2, ::2][:100, :100].copy(),  # a photo that was never a JPEG at this scale
    lambda: np.zeros((7, 5, 3), np.uint8),  # smaller than a block
    lambda: np.random.default_rng(1).integers(0, 256, (9, 9), dtype=np.uint8),  # one block
], ids=["noise", "ramp", "flat", "photo", "7x5", "9x9"])
def test_never_compressed_images_have_no_history(make):
    estimate = estimate_quantization(make())
    assert not estimate.found and estimate.luma is None
    assert estimate.reason.startswith("no JPEG history found") and estimate.confidence < MIN_CONFIDENCE


def test_a_grid_drawn_on_an_image_is_not_a_jpeg_history():
    image = np.random.default_rng(2).normal(128, 20, (128, 128)).clip(0, 255).astype(np.uint8)
    image[::8] = 0
    image[:, ::8] = 255
    assert not estimate_quantization(image).found


def test_a_grid_drawn_on_a_decoded_jpeg_does_not_hide_it():
    decoded = _decoded(PHOTO, 30).copy()
    decoded[3::64] = 255  # lines off the JPEG grid, through one block row and column in eight
    decoded[:, 5::64] = 0
    estimate = estimate_quantization(decoded)
    assert estimate.found and estimate.offset == (0, 0) and estimate.quality == 30


def test_input_kinds_and_bad_inputs():
    decoded = _decoded(PHOTO, 50)
    tensor = torch.from_numpy(decoded).permute(2, 0, 1)
    for image in (decoded, tensor, Image.fromarray(decoded)):
        assert estimate_quantization(image).quality == 50
    assert torch.equal(image_tensor(Image.fromarray(decoded).convert("RGBA")), tensor)  # alpha dropped
    with pytest.raises(TypeError, match="must be uint8"):
        estimate_quantization(decoded.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\) RGB or \(H, W\) gray"):
        estimate_quantization(decoded[None])
    with pytest.raises(TypeError, match="expected decoded pixels"):
        estimate_quantization("photo.png")
    with pytest.raises(ValueError, match="empty"):
        estimate_quantization(np.zeros((0, 4), np.uint8))
    with pytest.raises(ValueError, match="mode I;16 has more than 8 bits per sample"):
        estimate_quantization(Image.fromarray(np.full((16, 16), 300, np.uint16)))


def test_to_json_is_plain_data():
    import json

    document = estimate_quantization(_decoded(PHOTO, 50)).to_json()
    assert json.loads(json.dumps(document))["quality"] == 50 and len(document["luma"]) == 8
