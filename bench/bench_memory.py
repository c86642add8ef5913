"""Peak memory and time of ``qgac_fast.correct`` on one large JPEG, on the CPU.

Usage (from the repository root, inside .venv)::

    python -m bench.run memory --name correct-48mp-cpu

Parameters (``QGAC_BENCH_MEMORY_*``): ``WIDTH`` (8000), ``HEIGHT`` (6000), ``THREADS`` (2),
``BUDGET_MB`` (lowers the engine's CPU budget ceiling,
:data:`qgac_fast.inference.memory.MAX_CPU_BUDGET`, to scale a small image's run down with it;
default the engine's own).

The JPEG is the bundled photos' mosaic (:func:`bench.common.mosaic`) at that size, quality 30,
4:2:0. A child process loads the shipped ``default`` model, corrects a 64x64 JPEG (imports,
first-call allocations) and runs the memory probes of the 4:2:0 layout (which a small image skips),
then corrects the large file from its path with ``qgac_fast.correct`` (default precision and memory
budget). Recorded (:func:`measure`): the peak resident memory of the child (:func:`bench.common.high_water_mib`), its
resident memory before the large file, and the time; pytest-benchmark's own time is the whole
child. The report (:func:`markdown`): one row per case.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bench.common import ROOT, optional_int, setting
from bench.report import provenance


WIDTH = int(setting("MEMORY_WIDTH", "8000"))
HEIGHT = int(setting("MEMORY_HEIGHT", "6000"))
THREADS = int(setting("MEMORY_THREADS", "2"))
BUDGET_MB = optional_int("MEMORY_BUDGET_MB")  # None: the engine's own ceiling

_CHILD = r"""
import json, sys, time
import psutil, torch
torch.set_num_threads(int(sys.argv[3]))
import qgac_fast
from bench.common import high_water_mib, mosaic
from qgac_fast.inference import memory
if sys.argv[2] != "default":
    memory.MAX_CPU_BUDGET = int(sys.argv[2])
width, height = map(int, sys.argv[1].split("x"))
data = qgac_fast.compress(torch.from_numpy(mosaic(height, width)).permute(2, 0, 1), 30)
model = qgac_fast.load_model("default", device="cpu")
small = qgac_fast.compress(torch.full((3, 64, 64), 128, dtype=torch.uint8), 50)
qgac_fast.correct(small, model=model)
qgac_fast.Corrector(model, batch_size=1, workers=0).cost("420")  # the probes, which a small image skips
before = psutil.Process().memory_info().rss
start = time.perf_counter()
image = qgac_fast.correct(data, model=model)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rss_before_mb": before / 2**20,
                  "peak_rss_mb": high_water_mib(),
                  "precision": qgac_fast.inference.resolve_precision("auto", "cpu"),
                  "budget_mb": memory.default_budget(torch.device("cpu")) / 2**20, "shape": list(image.shape),
                  "jpeg_bytes": len(data)}))
"""


def _environment() -> dict[str, str]:
    """The child's environment: only what finds Python and its packages, so that settings the calling
    process picked up (pytest runs other tests' command lines in-process) cannot change what is
    measured."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")
    return {name: os.environ[name] for name in keep if name in os.environ} | {"OMP_WAIT_POLICY": "PASSIVE"}


def measure(width: int, height: int, threads: int = 2, budget_mb: int | None = None) -> dict:
    """Run the child, which makes the JPEG (the mosaic at quality 30) and corrects it, and return what
    it measured: ``seconds`` (the large image's correction), ``rss_before_mb`` and ``peak_rss_mb``
    (MiB), ``precision``, ``budget_mb`` (the engine's CPU budget), ``shape`` (``[3, height, width]``),
    ``jpeg_bytes``, with ``width``, ``height``, ``megapixels`` and ``threads``. Nothing of the calling
    process reaches the child but its arguments and :func:`_environment`. Raises RuntimeError with
    the child's error output when it fails."""
    budget = "default" if budget_mb is None else str(budget_mb << 20)
    run = subprocess.run([sys.executable, "-c", _CHILD, f"{width}x{height}", budget, str(threads)],
                         capture_output=True, text=True, env=_environment(), cwd=ROOT)
    if run.returncode != 0:
        raise RuntimeError(f"the child failed:\n{run.stderr[-3000:]}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    result.update(width=width, height=height, megapixels=width * height / 1e6, threads=threads)
    return result


def bench_memory(benchmark):
    result = benchmark.pedantic(measure, args=(WIDTH, HEIGHT, THREADS, BUDGET_MB), rounds=1, iterations=1)
    benchmark.extra_info.update(result)


def markdown(benchmarks: list[dict], run: dict) -> str:
    """The report's table of this module's cases (:mod:`bench.report`)."""
    lines = ["# qgac_fast.correct on one large JPEG (CPU)", "", provenance(run), "",
             "| size | megapixels | JPEG bytes | threads | precision | budget MB | seconds | MP/s | RSS before MB "
             "| peak RSS MB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for bench in benchmarks:
        r = bench["extra_info"]
        lines.append(f"| {r['width']}x{r['height']} | {r['megapixels']:.1f} | {r['jpeg_bytes']:,} | {r['threads']} | "
                     f"{r['precision']} | {r['budget_mb']:.0f} | {r['seconds']:.1f} | "
                     f"{r['megapixels'] / r['seconds']:.2f} | {r['rss_before_mb']:.0f} | {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines) + "\n"
