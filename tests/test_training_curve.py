"""tools/training_curve.py: the compute curve's points from run logs, and --extend, which adds a
run to the curves already saved (earlier run folders are gone by then)."""

import json

import pytest

import training_curve


def _run(folder, points):
    folder.mkdir()
    lines = [{"step": 50, "loss": 0.1}]  # a training line: no validation, not a point
    lines += [{"step": s, "training_mp": mp, "validation": {"gain_db": g}} for s, mp, g in points]
    (folder / "log.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder


def test_points_and_extend(tmp_path):
    first = _run(tmp_path / "a", [(1000, 10.0, 0.5), (2000, 20.0, 0.6)])
    data, png = tmp_path / "curve.json", tmp_path / "curve.png"
    assert training_curve.main([f"piece 1={first}", "--png", str(png), "--data", str(data)]) == 0
    assert json.loads(data.read_text()) == {"piece 1": [{"training_mp": 10.0, "gain_db": 0.5, "step": 1000},
                                                       {"training_mp": 20.0, "gain_db": 0.6, "step": 2000}]}
    first.joinpath("log.jsonl").unlink()
    second = _run(tmp_path / "b", [(1000, 30.0, 0.7)])
    assert training_curve.main([f"piece 2={second}", "--png", str(png), "--data", str(data), "--extend"]) == 0
    curves = json.loads(data.read_text())
    assert list(curves) == ["piece 1", "piece 2"] and curves["piece 2"][0]["gain_db"] == 0.7
    assert png.stat().st_size > 0
    with pytest.raises(SystemExit):
        training_curve.main([f"x={second}", "--png", str(png), "--data", str(tmp_path / "none.json"), "--extend"])
