"""Codec throughput: reading DCT coefficients with qgac_fast against other tools, on the same files.

Every benchmark records ``extra_info["megapixels"]`` so ``bench/run.py`` can report megapixels per
second and ratios. Pillow and PyTurboJPEG do a full decode (IDCT, upsampling, colour conversion),
which a coefficient reader skips; jpeglib and torchjpeg read coefficients like qgac_fast does.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

import qgac_fast.codec as codec

BATCH = 16  # files per threaded-batch benchmark
WORKERS = min(2, os.cpu_count() or 1)


def _pillow_decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()  # decodes the pixels into the Image; returned so a batch keeps them, as ours does
    return image


def _turbojpeg_decoder():
    turbojpeg = pytest.importorskip("turbojpeg")
    tj = turbojpeg.TurboJPEG()
    return lambda data: tj.decode(data, pixel_format=turbojpeg.TJPF_RGB)


def _single_runner(tool: str, path, data: bytes):
    """A no-argument callable that reads ``path`` / ``data`` once with ``tool``."""
    if tool == "qgac_fast.read_coefficients(bytes)":
        return lambda: codec.read_coefficients(data)
    if tool == "qgac_fast.read_coefficients(path)":
        return lambda: codec.read_coefficients(path)
    if tool == "pillow.decode":
        return lambda: _pillow_decode(data)
    if tool == "turbojpeg.decode":
        decode = _turbojpeg_decoder()
        return lambda: decode(data)
    if tool == "jpeglib.read_dct":
        jpeglib = pytest.importorskip("jpeglib")
        return lambda: jpeglib.read_dct(str(path)).load()
    if tool == "torchjpeg.read_coefficients":
        torchjpeg_codec = pytest.importorskip("torchjpeg.codec", reason="torchjpeg is not installed (optional)")
        return lambda: torchjpeg_codec.read_coefficients(str(path))
    raise ValueError(tool)


@pytest.mark.benchmark(group="read-single-thread")
@pytest.mark.parametrize(
    "tool",
    ["qgac_fast.read_coefficients(bytes)", "qgac_fast.read_coefficients(path)", "pillow.decode",
     "turbojpeg.decode", "jpeglib.read_dct", "torchjpeg.read_coefficients"],
)
def bench_read_single(benchmark, jpeg_file, tool):
    path, data, megapixels = jpeg_file
    run = _single_runner(tool, path, data)
    benchmark.extra_info.update(tool=tool, megapixels=megapixels, file=path.name, threads=1)
    benchmark(run)


@pytest.mark.benchmark(group="read-batch-threaded")
@pytest.mark.parametrize("tool", ["qgac_fast.read_coefficients_many", "qgac_fast.sequential", "pillow.threaded",
                                  "turbojpeg.threaded"])
def bench_read_batch(benchmark, jpeg_file, tool):
    path, data, megapixels = jpeg_file
    paths = [path] * BATCH
    if tool == "qgac_fast.read_coefficients_many":
        run = lambda: codec.read_coefficients_many(paths, workers=WORKERS)  # noqa: E731
    elif tool == "qgac_fast.sequential":
        run = lambda: [codec.read_coefficients(p) for p in paths]  # noqa: E731
    else:
        decode = _pillow_decode if tool == "pillow.threaded" else _turbojpeg_decoder()

        def run():
            with ThreadPoolExecutor(WORKERS) as pool:
                return list(pool.map(lambda p: decode(p.read_bytes()), paths))

    benchmark.extra_info.update(tool=tool, megapixels=megapixels * BATCH, file=path.name,
                                threads=1 if tool == "qgac_fast.sequential" else WORKERS)
    benchmark(run)
