"""The engine benchmark (bench/bench_engine.py) runs through the harness at tiny sizes, and the
report tool writes its table and plot: a check of the benchmark code, not a measurement."""

import importlib.util
import json

from bench import run


def test_engine_benchmark_runs_two_sizes(tmp_path, monkeypatch):
    for name, value in {"SIZES": "32 64", "IMAGES": "4", "BATCH_SIZES": "1 2", "REPEATS": "1"}.items():
        monkeypatch.setenv(f"QGAC_BENCH_ENGINE_{name}", value)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert run.main(["engine", "--name", "smoke", "--out-dir", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "smoke.json").read_text())
    rows = {(b["extra_info"]["size"], b["extra_info"]["case"]): b for b in report["benchmarks"]}
    cases = {"loop", "engine b=1", "engine b=1 + png", "engine b=2", "engine b=2 + png", "forward b=1", "forward b=2"}
    assert set(rows) == {(size, case) for size in (32, 64) for case in cases}
    # the same megapixels per pass at each size
    assert rows[32, "loop"]["extra_info"]["images"] == 4 and rows[64, "loop"]["extra_info"]["images"] == 2
    assert all(b["stats"]["rounds"] == 1 and b["extra_info"]["warmup_s"] > 0 for b in rows.values())
    assert report["qgac"]["command"].startswith("OMP_NUM_THREADS=1 QGAC_BENCH_ENGINE_BATCH_SIZES='1 2'")
    table = (tmp_path / "smoke.md").read_text()
    assert table.startswith("# Inference engine throughput") and "| 64 | 2 | engine b=2 |" in table
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "smoke.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
