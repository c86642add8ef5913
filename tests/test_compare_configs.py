"""``experiments/compare_configs.py``: the paired difference between runs scored on the same images."""

from __future__ import annotations

import statistics

import pytest

from experiments.compare_configs import markdown, paired


def _row(run, images, by_crop):
    return {"run": run, "model": "default", "parameters": 1e6, "gflop_per_mp": 1.0, "steps": [1],
            "training_mp": 1.0, "wall_time_s": 60.0, "validation_images": images, "gain_by_crop": by_crop,
            "gain_db": statistics.fmean(by_crop), "gain_by": {"4:2:0 q10": 0.5}}


def test_paired_difference_and_its_standard_error():
    # a constant offset between two models reads exactly, whatever the spread between images
    first = _row("a", ["x.png", "y.png", "z.png"], [0.2, 0.9, 0.5])
    second = _row("b", ["x.png", "y.png", "z.png"], [0.25, 0.93, 0.58])
    other = _row("c", ["x.png", "w.png", "z.png"], [0.3, 0.3, 0.3])
    paired([first, second, other])
    differences = [0.05, 0.03, 0.08]
    assert second["vs_first_db"] == pytest.approx(statistics.fmean(differences))
    assert second["vs_first_se_db"] == pytest.approx(statistics.stdev(differences) / 3 ** 0.5)
    assert "vs_first_db" not in first and "vs_first_db" not in other  # other images: no pairing
    table = markdown({"cpu": "cpu", "command": "c", "commit": "x", "date": "d", "torch": "t", "size": 8,
                      "threads": 1, "repeats": 1, "rows": [first, second, other]})
    assert "+0.053 ± 0.015 dB" in table
