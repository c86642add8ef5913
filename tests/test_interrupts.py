"""Ctrl-C and SIGTERM stop the commands cleanly: no traceback, no partial file, a summary and the
--json report of what was done, exit status 128 + the signal's number."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from PIL import Image

from images import pillow_jpeg, synthetic_image
from qgac_fast.atomic import TEMPORARY_NAME
from qgac_fast.cli import main
from qgac_fast.interrupts import Terminated
from qgac_fast.model import QGAC, QGACConfig, save_model

TINY = QGACConfig(manifold=4, block_channels=8, tile_channels=4, frequency_channels=1, fusion_channels=2,
                  dense_blocks=1, dense_layers=1, color_channels=4, init_scale=1.0, output_init_scale=1.0,
                  chroma_skip="fancy")

# The console script's function in a fresh interpreter, with each input's read slowed down so that
# the run is still going when the test's signal comes.
_SLOW_ENTRY = """
import sys, time
from qgac_fast.inference import runner
load = runner.Runner.load
def slow_load(self, index, source):
    time.sleep(0.2)
    return load(self, index, source)
runner.Runner.load = slow_load
from qgac_fast.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_run_stops_correct_cleanly(tmp_path, signum):
    torch.manual_seed(0)
    weights = tmp_path / "tiny.safetensors"
    save_model(QGAC(TINY), weights, training={"hardware": "test"})
    photos, out, report = tmp_path / "photos", tmp_path / "out", tmp_path / "r.json"
    photos.mkdir()
    for i in range(40):
        (photos / f"{i:02d}.jpg").write_bytes(pillow_jpeg(synthetic_image(16, 24, seed=i), quality=30))
    # SIGINT at its default, so that Python raises KeyboardInterrupt whatever the test runner ignores
    process = subprocess.Popen(
        [sys.executable, "-c", _SLOW_ENTRY, "correct", str(photos), "-o", str(out), "--json", str(report),
         "--model", str(weights), "--device", "cpu", "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not (out.is_dir() and len([p for p in out.iterdir() if p.suffix == ".png"]) >= 2):
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.05)
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    name = signal.Signals(signum).name
    assert process.returncode == 128 + signum, err
    assert "Traceback" not in err
    assert f"qgac-fast correct: interrupted ({name}) after " in err
    assert " corrected (" in err.splitlines()[-1]  # the summary comes last
    document = json.loads(report.read_text())
    assert document["summary"]["interrupted"] == name
    written = sorted(p.name for p in out.iterdir())
    assert not any(TEMPORARY_NAME.match(p) for p in written)  # no partial file
    reported = [f["output"] for f in document["files"] if f["status"] == "ok"]
    assert 1 <= len(reported) < 40 and set(map(os.path.basename, reported)) <= set(written)
    for path in written:
        Image.open(out / path).load()  # each one complete


@pytest.mark.parametrize("interrupt, status", [(KeyboardInterrupt, 130), (Terminated, 143)])
def test_an_interrupt_in_any_command_is_one_line(tmp_path, monkeypatch, capsys, interrupt, status):
    """info (and eval, train: the same entry) stop with one line and 128 + the signal's number."""
    from qgac_fast.cli import info

    def interrupted(path):
        raise interrupt()

    monkeypatch.setattr(info, "describe_file", interrupted)
    (tmp_path / "a.jpg").write_bytes(pillow_jpeg(synthetic_image(16, 16), quality=30))
    assert main(["info", str(tmp_path / "a.jpg")]) == status
    name = "SIGINT" if status == 130 else "SIGTERM"
    assert capsys.readouterr().err == f"qgac-fast: interrupted ({name})\n"
