"""The engine benchmark (bench/bench_engine.py) runs at tiny sizes and writes its JSON, table and
plot: a check of the benchmark code, not a measurement."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "bench_engine.py"


def test_engine_benchmark_runs_two_sizes(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(SCRIPT), "--sizes", "32", "64", "--images", "4", "--batch-sizes", "1", "2",
               "--repeats", "1", "--out-dir", str(tmp_path), "--name", "smoke"]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((tmp_path / "smoke.json").read_text())
    rows = {(r["size"], r["case"]): r for r in report["results"]}
    cases = {"loop", "engine b=1", "engine b=1 + png", "engine b=2", "engine b=2 + png", "forward b=1", "forward b=2"}
    assert set(rows) == {(size, case) for size in (32, 64) for case in cases}
    assert rows[32, "loop"]["images"] == 4 and rows[64, "loop"]["images"] == 2  # the same megapixels per pass
    assert all(r["mp_per_s"] > 0 and r["warmup_s"] > 0 and len(r["runs_s"]) == 1 for r in rows.values())
    table = (tmp_path / "smoke.md").read_text()
    assert table.startswith("# Inference engine throughput") and "| 64 | 2 | engine b=2 |" in table
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "smoke.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
