"""The end-to-end GPU benchmark (``python -m bench.end_to_end``) runs in its CPU smoke mode and
writes a complete report and its plot through the report tool: a check of the benchmark code, not a
measurement (about 20 s; its compiled rows trace with dynamo only, the smoke's compile backend is
``eager``)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_end_to_end_benchmark_smoke(tmp_path):
    env = {**os.environ, "QGAC_BENCH_CPU_SMOKE": "1", "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1",
           "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-m", "bench.end_to_end", "--device", "cpu", "--configs", "default", "--sizes", "32",
               "--batches", "1", "2", "--compile-modes", "default", "--workers", "2", "--out-dir", str(tmp_path),
               "--name", "smoke"]
    run = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((tmp_path / "smoke.json").read_text())
    assert report["complete"] and report["meta"]["smoke"]
    assert (tmp_path / "smoke.md").read_text().startswith("# End-to-end correction throughput")
    if importlib.util.find_spec("matplotlib") is not None:  # pinned in requirements.txt; GPU machines may lack it
        assert (tmp_path / "smoke.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report["models"]["default"]["flops_per_mp"] > 1e9
    assert report["peak"]["bf16_tflops"] > 0

    rows = {(r["pipeline"], r["batch"], r["precision"]): r for r in report["results"] if not r["compiled"]}
    compiled = {(r["pipeline"], r["batch"], r["precision"]): r for r in report["results"] if r["compiled"]}
    assert set(compiled) == {(p, b, q) for p in ("forward", "stream") for b in (1, 2) for q in ("bf16", "float32")}
    assert all(r["compiled"] == "default" and r["status"] == "ok" for r in compiled.values())
    # the eager loop decodes with the reference, the step with the CPU's native twin: equal but for
    # values within float32 rounding of a rounding tie, one level (tests/test_native.py's bound)
    assert _within_native_bound(compiled[("stream", 1, "float32")]["vs_eager"])
    assert rows[("eager_loop", 1, "float32")]["status"] == "ok"
    for batch in (1, 2):
        for pipeline in ("forward", "stream", "engine", "files"):
            row = rows[(pipeline, batch, "float32")]
            assert row["status"] == "ok", row
            assert row["mp_per_s"] > 0 and row["tflops"] > 0 and row["x_eager"] > 0
        # bf16 autocast runs on the CPU too, in every pipeline
        assert all(rows[(pipeline, batch, "bf16")]["status"] == "ok"
                   for pipeline in ("forward", "stream", "engine", "files"))
        # the CPU engine runs images one by one: the eager loop's pixels but for the decode's ties
        assert _within_native_bound(rows[("engine", batch, "float32")]["vs_eager"])
    assert _within_native_bound(rows[("stream", 1, "float32")]["vs_eager"])
    assert {(r["size"], r["workers"]) for r in report["reader"]} == {(32, 1), (32, 2)}
    assert report["keep_up"] and all(k["model_s_per_image"] > 0 for k in report["keep_up"])


def _within_native_bound(difference: dict) -> bool:
    """A row's ``vs_eager`` within the native decode's bound: at most 1 level, on at most 0.1% of
    the values (the mean difference is then at most 1e-3)."""
    return difference["max"] <= 1 and difference["mean"] <= 1e-3
