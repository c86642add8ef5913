"""bench/plot_results.py draws the result JSON files of the benchmarks (engine and end_to_end kinds)
as PNGs and refuses other JSON files."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "plot_results.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def _end_to_end_report():
    meta = {"hardware": "test GPU", "torch": "x", "commit": "abc"}
    rows = [{"config": "default", "pipeline": p, "compiled": False, "size": s, "batch": b, "precision": "bf16",
             "status": "ok", "mp_per_s": 10.0 * b + s / 100}
            for p in ("forward", "engine") for s in (512, 2048) for b in (1, 16)]
    rows.append({"config": "default", "pipeline": "eager_loop", "compiled": False, "size": 512, "batch": 1,
                 "precision": "float32", "status": "ok", "mp_per_s": 1.0})
    rows.append({"config": "default", "pipeline": "files", "compiled": False, "size": 2048, "batch": 16,
                 "precision": "bf16", "status": "oom", "reason": "out of memory"})
    return {"meta": meta, "models": {"default": {}}, "results": rows}


def test_plots_engine_and_end_to_end_results(tmp_path):
    engine = ROOT / "bench" / "results" / "engine-cpu-2threads.json"
    e2e = tmp_path / "e2e-test.json"
    e2e.write_text(json.dumps(_end_to_end_report()))
    out = tmp_path / "png"
    run = _run(engine, e2e, "--out-dir", out)
    assert run.returncode == 0, run.stderr
    for name in ("engine-cpu-2threads.png", "e2e-test.png"):
        assert (out / name).read_bytes()[:8] == PNG_SIGNATURE
    run = _run(e2e)  # default: next to the JSON
    assert run.returncode == 0 and (tmp_path / "e2e-test.png").is_file()


def test_refuses_other_json(tmp_path):
    other = tmp_path / "eval.json"
    other.write_text(json.dumps([{"dataset": "live1"}]))
    run = _run(other, "--out-dir", tmp_path)
    assert run.returncode == 1 and "not a result of bench/bench_engine.py" in run.stderr
    assert not (tmp_path / "eval.png").exists()
