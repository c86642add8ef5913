"""What the benchmarks and the studies share: the results folder, photo-like inputs made from the
bundled samples, the commit measured, settings from ``QGAC_BENCH_*`` variables and the CPU smoke
switch."""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

#: The repository's root (children that import ``bench`` run there).
ROOT = Path(__file__).resolve().parents[1]
#: Where every result is kept, with the command that made it.
RESULTS = Path(__file__).parent / "results"

BENCH_SIZE = (1080, 1920)  # (H, W): 2.07 megapixels, the size the toolchain notes measured
QUALITIES = (90, 10)

#: ``QGAC_BENCH_CPU_SMOKE=1`` (with ``TRITON_INTERPRET=1``) runs the GPU benchmarks at tiny sizes on
#: the CPU, to check the benchmark code itself where no GPU is available.
SMOKE = os.environ.get("QGAC_BENCH_CPU_SMOKE") == "1"


def setting(name: str, default: str) -> str:
    """The benchmark parameter ``QGAC_BENCH_<name>`` from the environment, else ``default``
    (pytest-benchmark cases take their parameters so; the report records every such variable)."""
    return os.environ.get(f"QGAC_BENCH_{name}", default)


def optional_int(name: str) -> int | None:
    """The integer parameter ``QGAC_BENCH_<name>``, None when it is unset or empty."""
    value = setting(name, "")
    return int(value) if value else None


def photo_size(megapixels: float) -> tuple[int, int]:
    """``(height, width)`` of a 4:3 landscape photo of about ``megapixels``, on the 16-pixel grid."""
    width = int((megapixels * 1e6 * 4 / 3) ** 0.5) // 16 * 16
    return int(width * 3 / 4) // 16 * 16, width


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


def mosaic_jpegs(size: int, count: int, quality: int, distinct: int | None = None) -> list[bytes]:
    """``count`` 4:2:0 JPEGs (Pillow/libjpeg) of ``size`` x ``size`` crops of the mosaic: ``distinct``
    different crops (default ``count``), cycled."""
    distinct = min(count, distinct or count)
    columns = -(-distinct // 2)
    photo = mosaic(2 * size, columns * size)
    out = []
    for i in range(distinct):
        row, col = divmod(i, columns)
        buffer = io.BytesIO()
        crop = photo[row * size:(row + 1) * size, col * size:(col + 1) * size]
        Image.fromarray(crop).save(buffer, format="JPEG", quality=quality, subsampling="4:2:0")
        out.append(buffer.getvalue())
    return [out[i % distinct] for i in range(count)]


def high_water_mib() -> float:
    """This process's peak resident memory, MiB: ``VmHWM`` of ``/proc/self/status`` on Linux, else
    ``ru_maxrss``. Not ``ru_maxrss`` on Linux: it carries the parent's peak over ``exec``, so the child
    of a large process (the whole test suite) reported the parent's 1.5 GB as its own."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


#: Runs ``argv[2:]`` as a child and writes its wall time and resource usage to ``argv[1]`` (JSON). A
#: small process in between, because the usage of a child of the measuring process (large, with
#: torch, or the whole test suite) would carry that process's peak memory (see high_water_mib).
_LAUNCHER = r"""
import json, os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as report:
    json.dump({"wall_s": wall, "user_s": usage.ru_utime, "sys_s": usage.ru_stime, "minor_faults": usage.ru_minflt,
               "peak_rss_mb": usage.ru_maxrss / 1024}, report)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(args: list[str], workdir: Path, env: dict[str, str]) -> dict:
    """Run ``args`` with ``env``, its output in ``workdir/stdout`` and ``workdir/stderr``; return its
    ``wall_s``, ``user_s``, ``sys_s``, ``minor_faults``, ``peak_rss_mb`` (its own, within the ~10 MB
    of the small launcher it is started from) and ``stdout``. Raises AssertionError with the end of
    its error output when it fails."""
    usage = workdir / "usage.json"
    with open(workdir / "stdout", "w+") as out, open(workdir / "stderr", "w+") as err:
        code = subprocess.run([sys.executable, "-c", _LAUNCHER, str(usage), *args], env=env, stdout=out,
                              stderr=err).returncode
        out.seek(0)
        err.seek(0)
        assert code == 0, err.read()[-2000:]
        return json.loads(usage.read_text()) | {"stdout": out.read()}


def git_commit(where: Path | None = None) -> str:
    """Short commit of the checkout (this one, or the one at ``where``; " (dirty)" with uncommitted
    tracked changes), for result metadata; ``$QGAC_COMMIT`` where there is no git (a GPU machine
    given only the working tree)."""
    here = Path(where) if where is not None else Path(__file__).parent
    try:
        out = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], capture_output=True, text=True,
                             cwd=here, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                   text=True, cwd=here, timeout=10).stdout.strip()
            return out.stdout.strip() + (" (dirty)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return os.environ.get("QGAC_COMMIT", "unknown (no git; set QGAC_COMMIT)")


def save_report(name: str, report: dict, text: str) -> None:
    """Write a study's ``report`` to ``bench/results/<name>.json`` and its Markdown ``text`` to
    ``<name>.md``, and print the Markdown."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=1) + "\n")
    (RESULTS / f"{name}.md").write_text(text)
    print(text)
