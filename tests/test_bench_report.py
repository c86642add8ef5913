"""The report tool (``python -m bench.report``) turns benchmark results into Markdown tables and
plots: pytest-benchmark JSON of the bench/ modules (the tables kept in bench/results come back row
for row from their JSON), the end-to-end benchmark's JSON and the former engine script's; it
refuses other JSON files."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _run(*args):
    return subprocess.run([sys.executable, "-m", "bench.report", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def _table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


@pytest.mark.parametrize("name", ["codec-x86_64-2cpu", "job-cpu", "png-level"])
def test_kept_results_render_to_their_kept_tables(tmp_path, name):
    # bench_codec's cases through the shared throughput table; bench_job's and bench_png's through their own
    run = _run(RESULTS / f"{name}.json", "--out-dir", tmp_path)
    assert run.returncode == 0, run.stderr
    assert _table_rows((tmp_path / f"{name}.md").read_text()) == _table_rows((RESULTS / f"{name}.md").read_text())


def _end_to_end_report():
    meta = {"hardware": "test GPU", "torch": "x", "commit": "abc", "command": "c", "env": {}, "triton": "t",
            "python": "3", "datetime": "d", "tf32": {}}
    rows = [{"config": "default", "pipeline": p, "compiled": False, "size": s, "batch": b, "precision": "bf16",
             "images": 2, "status": "ok", "mp_per_s": 10.0 * b + s / 100}
            for p in ("forward", "engine") for s in (512, 2048) for b in (1, 16)]
    rows.append({"config": "default", "pipeline": "eager_loop", "compiled": False, "size": 512, "batch": 1,
                 "precision": "float32", "images": 2, "status": "ok", "mp_per_s": 1.0})
    rows.append({"config": "default", "pipeline": "files", "compiled": False, "size": 2048, "batch": 16,
                 "precision": "bf16", "images": 32, "status": "oom", "reason": "out of memory"})
    return {"meta": meta, "peak": {}, "models": {"default": {}}, "reader": [], "keep_up": [], "results": rows}


def test_plots_engine_and_end_to_end_results(tmp_path):
    pytest.importorskip("matplotlib")
    engine = RESULTS / "engine-cpu-2threads.json"
    e2e = tmp_path / "e2e-test.json"
    e2e.write_text(json.dumps(_end_to_end_report()))
    out = tmp_path / "out"
    run = _run(engine, e2e, "--out-dir", out)
    assert run.returncode == 0, run.stderr
    for name in ("engine-cpu-2threads.png", "e2e-test.png"):
        assert (out / name).read_bytes()[:8] == PNG_SIGNATURE
    assert not (out / "engine-cpu-2threads.md").exists()  # the former script's Markdown is kept as it was
    assert "| default | files | 2048 | 16 | bf16 | 32 | oom: out of memory |" in (out / "e2e-test.md").read_text()
    run = _run(e2e)  # default: next to the JSON
    assert run.returncode == 0 and (tmp_path / "e2e-test.png").is_file() and (tmp_path / "e2e-test.md").is_file()


def test_refuses_other_json(tmp_path):
    other = tmp_path / "eval.json"
    other.write_text(json.dumps([{"dataset": "live1"}]))
    run = _run(other, "--out-dir", tmp_path)
    assert run.returncode == 1 and "not a benchmark result" in run.stderr
    assert not (tmp_path / "eval.png").exists() and not (tmp_path / "eval.md").exists()
