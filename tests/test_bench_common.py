"""The benchmarks measure a child's own peak memory, not its parent's: on Linux ``ru_maxrss`` carries
the parent's peak over ``exec``, which made a child of the whole test suite report 1.5 GB."""

from __future__ import annotations

import json
import subprocess
import sys

from bench.common import ROOT

#: A parent holding 512 MiB runs a child (which holds a few MiB of Python) both ways.
_PARENT = r"""
import json, sys
from pathlib import Path
from bench.common import run_measured
hold = bytearray(512 * 2**20)
hold[::4096] = b"\1" * len(hold[::4096])  # touched: resident
child = [sys.executable, "-c", "from bench.common import high_water_mib; print(high_water_mib())"]
row = run_measured(child, Path(sys.argv[1]), {"PATH": "", "PYTHONPATH": "."})
print(json.dumps({"high_water_mib": float(row["stdout"]), "launched_peak_mb": row["peak_rss_mb"]}))
"""


def test_child_peak_memory_is_its_own(tmp_path):
    run = subprocess.run([sys.executable, "-c", _PARENT, str(tmp_path)], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    # a bare Python holds about 10 MiB; the parent's 512 MiB would show whole
    assert 0 < result["high_water_mib"] < 128, result
    assert 0 < result["launched_peak_mb"] < 128, result
