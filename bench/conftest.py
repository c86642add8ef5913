"""Shared inputs for the benchmarks: ~2 MP photo-like JPEG files made from the bundled samples,
and the device the kernel benchmarks run on."""

from __future__ import annotations

import io
import os
from importlib import resources

import numpy as np
import pytest
import torch
from PIL import Image

BENCH_SIZE = (1080, 1920)  # (H, W): 2.07 megapixels, the size the toolchain notes measured
QUALITIES = (90, 10)


def mosaic(height: int, width: int) -> np.ndarray:
    """uint8 (H, W, 3): the bundled photos tiled with mirroring, so the file holds real photo texture."""
    samples = resources.files("qgac_fast") / "samples"
    tiles = [np.asarray(Image.open(samples / name).convert("RGB")) for name in ("astronaut.png", "chelsea.png")]
    tile_h = min(t.shape[0] for t in tiles)
    row = np.concatenate([t[:tile_h] for t in tiles], axis=1)
    row = np.concatenate([row, row[:, ::-1]], axis=1)
    reps_y, reps_x = -(-height // tile_h), -(-width // row.shape[1])
    rows = [row if i % 2 == 0 else row[::-1] for i in range(reps_y)]
    full = np.tile(np.concatenate(rows, axis=0), (1, reps_x, 1))
    return np.ascontiguousarray(full[:height, :width])


@pytest.fixture(scope="session", params=QUALITIES, ids=lambda q: f"q{q}")
def jpeg_file(request, tmp_path_factory):
    """(path, bytes, megapixels) of a 4:2:0 JPEG (libjpeg, accurate DCT) at the given quality."""
    height, width = BENCH_SIZE
    buffer = io.BytesIO()
    Image.fromarray(mosaic(height, width)).save(buffer, format="JPEG", quality=request.param, subsampling="4:2:0")
    data = buffer.getvalue()
    path = tmp_path_factory.mktemp("bench") / f"mosaic_q{request.param}.jpg"
    path.write_bytes(data)
    return path, data, height * width / 1e6


#: ``QGAC_BENCH_CPU_SMOKE=1`` (with ``TRITON_INTERPRET=1``) runs the GPU benchmarks at tiny sizes on
#: the CPU, to check the benchmark code itself where no GPU is available.
SMOKE = os.environ.get("QGAC_BENCH_CPU_SMOKE") == "1"


@pytest.fixture(scope="session")
def device() -> torch.device:
    """CUDA for the kernel benchmarks; the CPU only in smoke mode; otherwise they are skipped."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if SMOKE:
        return torch.device("cpu")
    pytest.skip("kernel benchmarks need CUDA (QGAC_BENCH_CPU_SMOKE=1 runs a CPU smoke test)")
