"""``qgac_fast.correct`` tiles large images within the engine's memory budget: peak resident memory
grows with the budget plus a few bytes per pixel, not with the image's activations
(``bench/correct_memory.py``; its 48 MP run is in ``bench/results/correct-48mp-cpu.md``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "correct_memory.py"
#: Bytes per pixel the tiled correction may hold besides the activations: the input's int16
#: coefficients and float32 planes, the stitched float32 outputs and the uint8 image (~25), with room.
BYTES_PER_PIXEL = 40


def test_large_image_memory_follows_the_budget():
    budget_mb = 48
    width, height = 1024, 768
    run = subprocess.run([sys.executable, str(SCRIPT), "--width", str(width), "--height", str(height),
                          "--budget-mb", str(budget_mb), "--no-save"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout)
    assert result["shape"] == [3, height, width]
    growth_mb = result["peak_rss_mb"] - result["rss_before_mb"]
    # untiled, this forward alone holds several hundred MB of activations (default budget: it fails)
    assert growth_mb <= budget_mb + BYTES_PER_PIXEL * width * height / 2**20 + 64, result
