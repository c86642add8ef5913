"""Peak memory and time of ``qgac_fast.correct`` on one large JPEG, on the CPU.

Usage (from the repository root, inside .venv)::

    python bench/correct_memory.py [--width 8000] [--height 6000] [--threads 2] [--budget-mb MB]
        [--name correct-48mp-cpu]

The JPEG is the bundled photos' mosaic (``bench/conftest.py``) at that size, quality 30, 4:2:0.
A child process loads the shipped ``default`` model, corrects a 64x64 JPEG (imports, first-call
allocations) and runs the memory probes of the 4:2:0 layout (which a small image skips), then
corrects the large file from its path with ``qgac_fast.correct`` (default precision and memory
budget; ``--budget-mb`` lowers the engine's CPU budget ceiling,
:data:`qgac_fast.inference.memory.MAX_CPU_BUDGET`, to scale a small image's
run down with it). Reported: the peak resident memory of the child (``ru_maxrss``), its resident
memory before the large file, and the time. Writes
``bench/results/<name>.{json,md}`` unless ``--no-save``; prints the JSON.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from conftest import git_commit, mosaic  # noqa: E402  (bench/conftest.py)

RESULTS = Path(__file__).parent / "results"

_CHILD = r"""
import json, resource, sys, time
import psutil, torch
torch.set_num_threads(int(sys.argv[3]))
import qgac_fast
from qgac_fast.inference import memory
if sys.argv[2] != "default":
    memory.MAX_CPU_BUDGET = int(sys.argv[2])
model = qgac_fast.load_model("default", device="cpu")
small = qgac_fast.compress(torch.full((3, 64, 64), 128, dtype=torch.uint8), 50)
qgac_fast.correct(small, model=model)
qgac_fast.Corrector(model, batch_size=1, workers=0).cost("420")  # the probes, which a small image skips
before = psutil.Process().memory_info().rss
start = time.perf_counter()
image = qgac_fast.correct(sys.argv[1], model=model)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rss_before_mb": before / 2**20,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "precision": qgac_fast.inference.resolve_precision("auto", "cpu"),
                  "budget_mb": memory.default_budget(torch.device("cpu")) / 2**20, "shape": list(image.shape)}))
"""


def measure(width: int, height: int, threads: int = 2, budget_mb: int | None = None) -> dict:
    """Make the JPEG, run the child, return its measurements with the input's description."""
    import qgac_fast
    import torch

    image = torch.from_numpy(mosaic(height, width)).permute(2, 0, 1)
    data = qgac_fast.compress(image, 30)
    del image
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "large.jpg")
        Path(path).write_bytes(data)
        budget = "default" if budget_mb is None else str(budget_mb << 20)
        run = subprocess.run([sys.executable, "-c", _CHILD, path, budget, str(threads)], capture_output=True,
                             text=True)
    if run.returncode != 0:
        raise RuntimeError(f"the child failed:\n{run.stderr[-3000:]}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    result.update(width=width, height=height, megapixels=width * height / 1e6, jpeg_bytes=len(data),
                  threads=threads)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=8000)
    parser.add_argument("--height", type=int, default=6000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--budget-mb", type=int, help="lower the CPU budget ceiling (default: the engine's)")
    parser.add_argument("--name", default="correct-48mp-cpu")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.width, args.height, args.threads, args.budget_mb)
    result.update(commit=git_commit(), machine=f"{platform.machine()}, {os.cpu_count()} logical CPUs",
                  datetime=datetime.datetime.now(datetime.timezone.utc).isoformat(),
                  command=shlex.join(["python", "bench/correct_memory.py", *(sys.argv[1:] if argv is None else argv)]))
    print(json.dumps(result, indent=1))
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
        (RESULTS / f"{args.name}.md").write_text(
            f"# qgac_fast.correct on one {args.width}x{args.height} JPEG (CPU)\n\n"
            f"Command: `{result['command']}`; commit {result['commit']}; {result['machine']}; "
            f"{result['datetime']}.\n\n"
            "| megapixels | JPEG bytes | precision | budget MB | seconds | MP/s | RSS before MB | peak RSS MB |\n"
            "|---|---|---|---|---|---|---|---|\n"
            f"| {result['megapixels']:.1f} | {result['jpeg_bytes']:,} | {result['precision']} | "
            f"{result['budget_mb']:.0f} | {result['seconds']:.1f} | "
            f"{result['megapixels'] / result['seconds']:.2f} | {result['rss_before_mb']:.0f} | "
            f"{result['peak_rss_mb']:.0f} |\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
