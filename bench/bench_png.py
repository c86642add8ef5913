"""PNG output: encoding time against file size at each zlib level, next to the JPEG and WebP outputs.

Usage (from the repository root, inside .venv, on an otherwise quiet machine)::

    OMP_WAIT_POLICY=PASSIVE python -m bench.run png --name png-level

The images are what ``qgac-fast correct`` writes: the ``default`` model's corrections of the bundled
photos and of a 1920x1080 crop of their mosaic, each saved by Pillow as a 4:2:0 JPEG at quality 30.
Each case encodes all of them with :func:`qgac_fast.inference.encoding.encode_image` (one thread, as
the engine's writer thread does), best of 3 rounds. The report (:func:`markdown`): seconds per
megapixel, bytes per pixel, and both relative to PNG level 6 (zlib's and Pillow's default).
"""

from __future__ import annotations

import io
from importlib import resources

import numpy as np
import pytest
from PIL import Image

from bench.common import mosaic
from bench.report import provenance

LEVELS = (0, 1, 2, 3, 4, 5, 6, 9)
CASES = [("png", level) for level in LEVELS] + [("jpeg", 95), ("webp", None)]


def _jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=30, subsampling="4:2:0")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def corrected() -> list:
    """The corrected images, uint8 ``(3, H, W)`` tensors."""
    import torch

    from qgac_fast import correct

    torch.set_num_threads(2)
    samples = resources.files("qgac_fast") / "samples"
    photos = [np.asarray(Image.open(samples / name).convert("RGB")) for name in ("astronaut.png", "chelsea.png")]
    photos.append(mosaic(1080, 1920))
    return [correct(_jpeg(photo)) for photo in photos]


def _case_id(case) -> str:
    format, setting = case
    return f"{format}-{'lossless' if setting is None else setting}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def bench_encode(benchmark, corrected, case):
    from qgac_fast.inference.encoding import encode_image

    format, setting = case
    options = {"png": {"png_level": setting}, "jpeg": {"jpeg_quality": setting}, "webp": {"webp_quality": setting}}

    def encode_all() -> int:
        return sum(len(encode_image(image, format, **options[format])) for image in corrected)

    size = benchmark.pedantic(encode_all, rounds=3, iterations=1, warmup_rounds=1)
    pixels = sum(image.shape[1] * image.shape[2] for image in corrected)
    benchmark.extra_info.update(seconds_per_mp=benchmark.stats.stats.min / (pixels / 1e6),
                                bytes_per_pixel=size / pixels, megapixels=pixels / 1e6)


def markdown(benchmarks: list[dict], run: dict) -> str:
    """The report's table of this module's cases (:mod:`bench.report`), relative to PNG level 6."""
    rows = {bench["param"]: bench["extra_info"] for bench in benchmarks}
    if "png-6" not in rows:
        return "# PNG output: zlib level against size\n\nThe level-6 case did not run: no ratios to report.\n"
    base = rows["png-6"]
    lines = ["# PNG output: zlib level against size", "", provenance(run), "",
             f"{base['megapixels']:.2f} MP of corrected photos (bundled samples and their mosaic, JPEG q30 in), "
             "encoded on one thread, best of 3 rounds.", "",
             "| output | s per MP | bytes per pixel | time / PNG 6 | size / PNG 6 |",
             "|---|---:|---:|---:|---:|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['seconds_per_mp']:.3f} | {row['bytes_per_pixel']:.3f} | "
                     f"{row['seconds_per_mp'] / base['seconds_per_mp']:.2f} | "
                     f"{row['bytes_per_pixel'] / base['bytes_per_pixel']:.2f} |")
    return "\n".join(lines) + "\n"
