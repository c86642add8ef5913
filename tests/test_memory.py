"""``qgac_fast.correct`` tiles large images within the engine's memory budget: peak resident memory
grows with the budget plus a few bytes per pixel, not with the image's activations
(``bench/bench_memory.py``; its 48 MP run is in ``bench/results/correct-48mp-cpu.md``)."""

from __future__ import annotations

import json
import subprocess
import sys


from bench.bench_memory import measure

#: Bytes per pixel the tiled correction may hold besides the activations: the input's int16
#: coefficients and float32 planes, the stitched float32 outputs and the uint8 image (~25), with room.
BYTES_PER_PIXEL = 40


def test_large_image_memory_follows_the_budget():
    budget_mb = 48
    width, height = 1024, 768
    result = measure(width, height, budget_mb=budget_mb)
    assert result["shape"] == [3, height, width]
    growth_mb = result["peak_rss_mb"] - result["rss_before_mb"]
    # untiled, this forward alone holds several hundred MB of activations (default budget: it fails)
    assert growth_mb <= budget_mb + BYTES_PER_PIXEL * width * height / 2**20 + 64, result


# A process of the command line (qgac_fast.cli:main with its arguments given, so on the C library's
# malloc: main restarts on tcmalloc only as the process's own entry) correcting one
# folder's first half, then its second half; prints its resident memory after each, in MB.
_SIZES_CHILD = """
import json, sys
import psutil
from qgac_fast.cli import main
weights, out, *files = sys.argv[1:]
rss = []
for part in (files[:len(files) // 2], files[len(files) // 2:]):
    assert main(["correct", *part, "-o", out, "--model", weights, "--threads", "1", "--quiet"]) == 0
    rss.append(psutil.Process().memory_info().rss / 2**20)
print(json.dumps(rss))
"""
#: Resident memory a second half of new image sizes may add, MB. oneDNN and ideep cached compiled
#: convolutions for every distinct input shape (1024 entries each): with the tiny model the second
#: half of these 48 sizes added 44 MB (1 to 3 MB per new size with any model); with the caches
#: bounded (qgac_fast.cli.NATIVE_ENVIRONMENT) it added nothing (-0.3 MB).
SIZES_GROWTH_MB = 20


def test_many_image_sizes_do_not_grow_the_process(tmp_path):
    import os
    import random

    import torch

    from qgac_fast import compress
    from qgac_fast.model import QGAC, QGACConfig, save_model

    tiny = QGACConfig(manifold=4, block_channels=8, tile_channels=4, frequency_channels=1, fusion_channels=2,
                      dense_blocks=1, dense_layers=1, color_channels=4, init_scale=1.0, output_init_scale=1.0)
    torch.manual_seed(0)
    weights = tmp_path / "tiny.safetensors"
    save_model(QGAC(tiny), weights)
    sizes = [(16 * a, 16 * b) for a in range(1, 7) for b in range(1, 9)]  # 48 distinct plane sizes
    random.Random(0).shuffle(sizes)
    generator = torch.Generator().manual_seed(0)
    files = []
    for i, (height, width) in enumerate(sizes):
        image = torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=generator)
        files.append(tmp_path / f"{i:02d}.jpg")
        files[-1].write_bytes(compress(image, 50))
    env = {k: v for k, v in os.environ.items() if k not in ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY",
                                                             "DNNL_PRIMITIVE_CACHE_CAPACITY")}
    run = subprocess.run([sys.executable, "-c", _SIZES_CHILD, str(weights), str(tmp_path / "out"), *map(str, files)],
                         capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    first, second = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(list((tmp_path / "out").iterdir())) == len(sizes)
    assert second - first <= SIZES_GROWTH_MB, (first, second, second - first)
