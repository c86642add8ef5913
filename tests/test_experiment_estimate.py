"""``experiments/estimate.py --only auto``: its files compressed once and twice, and its report."""

from __future__ import annotations

import numpy as np

from images import sample_image

from experiments import estimate as study


def test_the_auto_section_counts_primaries_on_files_compressed_once_and_twice():
    graphics = study._graphics(3)
    assert [name for name, _ in graphics][0] == "blue-square" and all(image.dtype == np.uint8 for _, image in graphics)
    photo = ("astronaut", sample_image("astronaut.png", (128, 128)))
    rows = study.auto_false_positives({"photos": [photo]}, graphics[:1], [85])
    encoders = len(study._encoders())
    assert len(rows) == 2 * (encoders + len(study.NON_IJG))
    assert all(r["primary"] is None for r in rows)  # compressed once: nothing earlier to find
    doubles = study.auto_doubles([photo], [10], [90])
    aligned = [r for r in doubles if r["kind"] == "aligned"]
    assert len(aligned) == 2 and all(r["primary"] == 10 and r["z"] >= study.MIN_PRIMARY_Z for r in aligned)
    doc = {"date": "d", "commit": "c", "command": "cmd", "cpu": "cpu", "threads": 1, "load_before": 0.0,
           "auto_tuning_kinds": ["photos"], "auto_false_positives": rows, "auto_doubles": doubles}
    text = study.markdown(doc)
    assert f"In all: {len(rows)} files, 0 flagged" in text and "| aligned | libjpeg | 10 | 90 | 1 | 1 |" in text


def test_layout_costs_are_reported_against_the_true_layout():
    rows = [{"image": name, "quality": 10, "truth": "4:4:4", "found": "4:2:0", "4:2:0": 0.5 + shift, "4:4:4": 1.5 + shift,
             "4:2:2": 1.0 + shift, "4:4:0": 1.5 + shift} for name, shift in (("a", 0.0), ("b", 0.2))]
    lines = study._layout_cost_lines(rows)
    assert "| 10 | 4:4:4 | 2 | 4:2:0, 4:2:0 | -1.000 | +0.000 | -0.500 | +0.000 |" in lines
