"""``experiments/memory_format_choice.py``: one case runs end to end and the table reports ratios to
the contiguous layout."""

from __future__ import annotations

import math

from experiments import memory_format_choice as script


def test_one_case_runs_and_reports_positive_times():
    row = script.run_case("float32", 1, "channels_last_everywhere", steps=1, repeats=1)
    assert row["layout"] == "channels_last_everywhere" and row["threads"] == 1
    for key in ("train_step_ms", "forward_ms", "forward_mp_per_s"):
        assert math.isfinite(row[key]) and row[key] > 0, (key, row)
    assert math.isclose(row["forward_mp_per_s"], 512 * 512 / 1e3 / row["forward_ms"], rel_tol=1e-9)


def test_markdown_ratios_are_against_contiguous():
    rows = [{"precision": "bf16", "threads": 2, "layout": "contiguous", "train_step_ms": 200.0, "forward_ms": 100.0,
             "forward_mp_per_s": 2.62},
            {"precision": "bf16", "threads": 2, "layout": "channels_last", "train_step_ms": 150.0, "forward_ms": 300.0,
             "forward_mp_per_s": 0.87}]
    report = {"command": "c", "commit": "x", "date": "d", "torch": "t", "machine": "m", "load_average": "0",
              "rows": rows}
    text = script.markdown(report)
    assert "| bf16 | 2 | channels_last | 150 | 0.75 | 300 | 3.00 | 0.87 |" in text
    assert "| bf16 | 2 | contiguous | 200 | 1.00 | 100 | 1.00 | 2.62 |" in text
