"""CPU decode of large JPEGs, bytes -> uint8 RGB: ``qgac_fast.decode`` against Pillow, time and peak memory.

Usage (from the repository root, inside .venv)::

    QGAC_BENCH_DECODE_REFERENCE_MAX_MP=50 python -m bench.run decode_cpu --name decode-cpu-libjpeg

Parameters (``QGAC_BENCH_DECODE_*``): ``SIZES`` (``WIDTHxHEIGHT`` items; 4000x3000 8000x6000),
``REPEATS`` (decodes per process, the fastest is reported; 3), ``REFERENCE_MAX_MP`` (the largest
image, in megapixels, the reference decode runs on: it needs ~150 bytes per pixel; 12).

Each size is a 4:2:0, quality 90 JPEG (Pillow) of the bundled astronaut photo scaled up (bicubic).
Every (tool, size) case runs in a fresh subprocess, so its peak RSS (``VmHWM``) is its own: the
process imports its tool, reads the file's bytes, then decodes ``REPEATS`` times; the case records
the fastest decode, the peak RSS of the whole process and the peak above what the process held
before its first decode (imports and the file's bytes); pytest-benchmark's own time is the whole
subprocess. Tools: ``qgac_fast.decode`` (auto: libjpeg on the CPU), ``qgac_fast.decode(reference)``
(the pure-PyTorch decode) and Pillow (``Image.open`` and ``numpy.asarray``: decode and one copy to
an array, as a caller gets pixels). The report (:func:`markdown`): time and memory, and both
relative to Pillow's.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import ROOT, setting
from bench.report import provenance

SIZES = setting("DECODE_SIZES", "4000x3000 8000x6000").split()
REPEATS = int(setting("DECODE_REPEATS", "3"))
REFERENCE_MAX_MP = float(setting("DECODE_REFERENCE_MAX_MP", "12"))
TOOLS = ("qgac_fast.decode", "qgac_fast.decode(reference)", "pillow")

CHILD = r"""
import json, sys, time
from bench.common import high_water_mib

tool, path, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
if tool.startswith("qgac_fast"):
    import qgac_fast
    from qgac_fast.codec import read_coefficients
    backend = "reference" if "reference" in tool else "auto"
    decode = lambda data: qgac_fast.decode(read_coefficients(data), backend=backend)
else:
    import io
    import numpy as np
    from PIL import Image
    decode = lambda data: np.asarray(Image.open(io.BytesIO(data)))
data = open(path, "rb").read()
before = high_water_mib()
times = []
for _ in range(repeats):
    start = time.perf_counter()
    pixels = decode(data)
    times.append(time.perf_counter() - start)
    del pixels
print(json.dumps({"seconds": min(times), "peak_mib": high_water_mib(), "before_mib": before}))
"""


def make_jpeg(width: int, height: int, folder: Path) -> Path:
    from importlib import resources

    from PIL import Image

    photo = Image.open(resources.files("qgac_fast") / "samples" / "astronaut.png").convert("RGB")
    buffer = io.BytesIO()
    photo.resize((width, height), Image.BICUBIC).save(buffer, format="JPEG", quality=90, subsampling="4:2:0")
    path = folder / f"astronaut-{width}x{height}.jpg"
    path.write_bytes(buffer.getvalue())
    return path


def measure(tool: str, path: Path, repeats: int) -> dict:
    """``{"seconds", "peak_mib", "before_mib"}`` of ``tool`` decoding ``path`` in a fresh process."""
    out = subprocess.run([sys.executable, "-c", CHILD, tool, str(path), str(repeats)], capture_output=True,
                         text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory) -> dict:
    """``{"WxH": path}`` of the scaled-up photos."""
    folder = tmp_path_factory.mktemp("decode")
    return {size: make_jpeg(*(int(v) for v in size.split("x")), folder) for size in SIZES}


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("size", SIZES)
def bench_decode(benchmark, jpegs, size, tool):
    width, height = (int(v) for v in size.split("x"))
    if "reference" in tool and width * height / 1e6 > REFERENCE_MAX_MP:
        pytest.skip(f"the reference decode runs up to {REFERENCE_MAX_MP:g} MP (QGAC_BENCH_DECODE_REFERENCE_MAX_MP)")
    result = benchmark.pedantic(measure, args=(tool, jpegs[size], REPEATS), rounds=1, iterations=1)
    benchmark.extra_info.update(result, tool=tool, size=size, file_mb=jpegs[size].stat().st_size / 1e6,
                                repeats=REPEATS)


def markdown(benchmarks: list[dict], run: dict) -> str:
    """The report's table of this module's cases (:mod:`bench.report`), each against Pillow's at its size."""
    rows = [bench["extra_info"] for bench in benchmarks]
    pillow = {r["size"]: r for r in rows if r["tool"] == "pillow"}
    lines = ["# CPU decode of large JPEGs: `qgac_fast.decode` against Pillow", "", provenance(run), "",
             f"Fastest of {rows[0]['repeats']} decodes in a fresh process per (tool, size); peak RSS of the whole "
             "process (`VmHWM`), and above what it held before its first decode.", "",
             "| image | tool | decode s | peak RSS MiB | peak above start MiB | time / Pillow | memory / Pillow |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        base = pillow.get(r["size"])
        time_ratio = f"{r['seconds'] / base['seconds']:.2f}" if base else "n/a"
        memory_ratio = f"{r['peak_mib'] / base['peak_mib']:.2f}" if base else "n/a"
        lines.append(f"| {r['size']} ({r['file_mb']:.1f} MB) | {r['tool']} | {r['seconds']:.3f} | "
                     f"{r['peak_mib']:.0f} | {r['peak_mib'] - r['before_mib']:.0f} | {time_ratio} | {memory_ratio} |")
    return "\n".join(lines) + "\n"
