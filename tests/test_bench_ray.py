"""The Ray Data benchmark (bench/bench_ray.py) runs through the harness on a local loopback
cluster of its own, at the tiniest size, and its report fits the line through the two corpus
sizes: a check of the benchmark code, not a measurement."""

import json

import pytest

from bench import run
from bench.bench_ray import rows

pytest.importorskip("ray.data")


def test_ray_benchmark_runs_and_reports(tmp_path, monkeypatch):
    for name, value in {"IMAGES": "2", "SIZE": "32", "ACTORS": "1", "WARMUP": "0", "REPEATS": "1"}.items():
        monkeypatch.setenv(f"QGAC_BENCH_RAY_{name}", value)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert run.main(["ray", "--name", "ray-smoke", "--out-dir", str(tmp_path)]) == 0
    benchmarks = json.loads((tmp_path / "ray-smoke.json").read_text())["benchmarks"]
    assert [b["extra_info"]["case"] for b in benchmarks] == ["local", "ray 1 actor", "ray 1 actor, 1 images"]
    local, ray_row = rows(benchmarks)
    assert (local["case"], ray_row["case"], ray_row["images"]) == ("local", "ray 1 actor", 2)
    # the line through the two corpus sizes: its fixed part and slope rebuild the full run's time
    assert ray_row["fixed_s"] + 2 * ray_row["per_image_s"] == pytest.approx(ray_row["seconds"])
    assert "| ray 1 actor | 2 |" in (tmp_path / "ray-smoke.md").read_text()
