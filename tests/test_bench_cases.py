"""The pytest-benchmark files of bench/ that no other test runs go through the harness at their
tiniest parameters (the kernel benchmarks in their CPU smoke mode), and the report tool writes each
one's table: a check of the benchmark code, not a measurement."""

import json

import pytest

from bench import run

#: file -> (QGAC_BENCH_* settings, extra pytest arguments, a line its report must hold)
CASES = {
    "dct": ({"CPU_SMOKE": "1", "DCT_OPS": "idct dct_quantize"},
            ["--benchmark-min-rounds=1", "--benchmark-max-time=0.01"], "| dct_quantize | - | 1x1x16x16 | triton |"),
    "decode_cpu": ({"DECODE_SIZES": "64x48", "DECODE_REPEATS": "1"}, [], "| 64x48 "),
    "precision": ({"PRECISION_SIZE": "32", "PRECISION_REPEATS": "1", "PRECISION_THREADS": "1"}, [],
                  "| forward + clamp + decode | bf16 |"),
    "train": ({"TRAIN_VARIANTS": "float32/1/0", "TRAIN_STEPS": "10"}, [], "| after | float32 | 1 | 0 | 1 |"),
}


@pytest.mark.parametrize("name", CASES)
def test_benchmark_file_runs_and_reports(tmp_path, monkeypatch, name):
    settings, extra, line = CASES[name]
    for key, value in settings.items():
        monkeypatch.setenv(f"QGAC_BENCH_{key}", value)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # the kernels run in Triton's interpreter
    assert run.main([name, "--out-dir", str(tmp_path), *extra]) == 0
    benchmarks = json.loads((tmp_path / f"{name}.json").read_text())["benchmarks"]
    assert benchmarks and all(b["stats"]["median"] > 0 for b in benchmarks)
    assert line in (tmp_path / f"{name}.md").read_text()
