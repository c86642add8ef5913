"""Codec throughput: reading DCT coefficients with qgac_fast against other tools, on the same files.

Every benchmark records ``extra_info["megapixels"]`` so ``bench/report.py`` can report megapixels per
second and ratios. Pillow and PyTurboJPEG do a full decode (IDCT, upsampling, colour conversion),
which a coefficient reader skips; jpeglib and torchjpeg read coefficients like qgac_fast does.

The ``decode-pixels`` group times file bytes to RGB pixels: ``qgac_fast.decode`` after
``read_coefficients`` (on the CPU "auto" runs libjpeg; ``reference`` is the pure-PyTorch decode;
``cuda`` the fused Triton decode) against Pillow and PyTurboJPEG on the CPU and, when a GPU is
there and torchvision is installed, ``torchvision.io.decode_jpeg(device="cuda")`` (nvJPEG).
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from PIL import Image

import qgac_fast
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


def _cuda_runner(run):
    """``run`` followed by a device synchronisation, so the time covers the GPU's work."""
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")

    def timed():
        out = run()
        torch.cuda.synchronize()
        return out

    return timed


def _decode_runner(tool: str, data: bytes):
    """A no-argument callable decoding ``data`` to RGB pixels with ``tool``."""
    if tool == "qgac_fast.decode(cpu)":
        return lambda: qgac_fast.decode(codec.read_coefficients(data))
    if tool == "qgac_fast.decode(cpu, reference)":
        return lambda: qgac_fast.decode(codec.read_coefficients(data), backend="reference")
    if tool == "qgac_fast.decode(cuda)":
        return _cuda_runner(lambda: qgac_fast.decode(codec.read_coefficients(data), device="cuda"))
    if tool == "torchvision.decode_jpeg(cuda)":
        torchvision_io = pytest.importorskip("torchvision.io", reason="torchvision is not installed (optional)")
        encoded = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        return _cuda_runner(lambda: torchvision_io.decode_jpeg(encoded, device="cuda"))
    return _single_runner(tool, None, data)


@pytest.mark.benchmark(group="decode-pixels")
@pytest.mark.parametrize("tool", ["qgac_fast.decode(cpu)", "qgac_fast.decode(cpu, reference)", "pillow.decode",
                                  "turbojpeg.decode", "qgac_fast.decode(cuda)", "torchvision.decode_jpeg(cuda)"])
def bench_decode_pixels(benchmark, jpeg_file, tool):
    path, data, megapixels = jpeg_file
    run = _decode_runner(tool, data)
    run()  # warm-up: CUDA context, Triton compilation
    benchmark.extra_info.update(tool=tool, megapixels=megapixels, file=path.name, threads=1)
    benchmark(run)
