"""The GPU session's train stage rehearsed on the CPU (``GPU_SESSION_SMOKE=1 tools/gpu_session.sh
train`` with the script's own set-up: a pack of the bundled samples, ``default`` continued
for 3 s), and the training-pack tool (``tools/training_pack.py``) that fills ``.carry/train-pack`` for it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import training_pack
from qgac_fast.model import load_model, read_metadata

#: What the device tool brings back from $OUT (its README): 8 files, 16 MiB each, plain names.
MAX_FILES, MAX_BYTES = 8, 16 * 2**20


def test_train_stage_rehearsal_brings_weights_and_log_back_within_the_limits(tmp_path, source_copy):
    # the script's own set-up, on a copy of the source as the GPU machine gets it: the package is
    # built and installed into SITE and every stage imports it from there (a wheel without a
    # subpackage fails the set-up)
    out = tmp_path / "out"
    env = dict(os.environ, GPU_SESSION_SMOKE="1", GPU_SESSION_SETUP="1", OUT=str(out), SITE=str(tmp_path / "site"),
               PYTHON=sys.executable, OMP_NUM_THREADS="1")
    done = subprocess.run(["bash", str(source_copy / "tools" / "gpu_session.sh"), "train"], env=env, cwd=source_copy,
                          capture_output=True, text=True, timeout=300)
    log = (out / "session.log").read_text()
    assert done.returncode == 0 and "train: ok" in log, log + (out / "train.log").read_text()
    assert f"modules imported from {os.path.realpath(tmp_path / 'site')}" in log
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert len(files) <= MAX_FILES and all(p.stat().st_size <= MAX_BYTES for p in files), files
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", p.name) for p in files)
    assert {p.name for p in files} == {"session.log", "train.log", "train-cpu-smoke.safetensors", "results.tar.gz"}

    weights = out / "train-cpu-smoke.safetensors"
    model = load_model(weights, device="cpu")
    meta = read_metadata(weights)
    assert meta["dtype"] == "bfloat16" and model.mean.dtype == model.std.dtype == next(model.parameters()).dtype
    training = meta["training"]
    assert training["config"]["init"] == "default" and training["steps_done"][0] >= 1
    assert model.config == load_model("default", device="cpu").config
    assert f"train: returning weights" in log
    with tarfile.open(out / "results.tar.gz") as archive:
        lines = archive.extractfile("train-cpu-smoke/log.jsonl").read().decode().splitlines()
    assert "gain_db" in json.loads(lines[-1])["validation"]


def _images(folder: Path, count: int, size=(90, 100)) -> Path:
    """``count`` noise PNGs (which PNG cannot shrink much) of ``size`` (h, w) in ``folder``."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return folder


def test_pack_respects_its_budget_is_deterministic_and_leaves_validation_out(tmp_path):
    data = _images(tmp_path / "bsds500_trainval", 4)
    pack = training_pack.make_pack([str(data)], tmp_path / "a", crop=32, max_mib=0.05, hold_out=1, seed=3)
    files = sorted((tmp_path / "a").glob("*.png"))
    assert 0 < pack["crops"] == len(files) and pack["crops"] > pack["images"] == 3  # several rounds
    assert pack["bytes"] == sum(f.stat().st_size for f in files) <= 0.05 * 2**20
    assert all(Image.open(f).size == (32, 32) for f in files)
    assert pack["held_out"] == [str(data / "img0.png")] and not any("img0" in f.name for f in files)
    again = training_pack.make_pack([str(data)], tmp_path / "b", crop=32, max_mib=0.05, hold_out=1, seed=3)
    assert again["files"] == pack["files"]
    assert all(f.read_bytes() == (tmp_path / "b" / f.name).read_bytes() for f in files)
    assert training_pack.make_pack([str(data)], tmp_path / "a", crop=32, max_mib=0.01, hold_out=1,
                                   seed=3)["crops"] < pack["crops"]  # an earlier pack is replaced
    assert len(list((tmp_path / "a").glob("*.png"))) < len(files)
    assert "crops of 32x32 (bsds500_trainval" in training_pack.summary(pack)


@pytest.mark.parametrize("case, message", [
    ("evaluation-set", "is an evaluation set"),
    ("missing", "does not exist"),
    ("foreign-out", "holds files but no pack.json"),
    ("crop", "multiple of 16"),
    ("too-small", "no training image is at least 128x128"),
])
def test_pack_tool_refuses_bad_input_in_one_line(tmp_path, capsys, case, message):
    data = _images(tmp_path / ("live1" if case == "evaluation-set" else "urban100"), 2)
    out = tmp_path / "pack"
    args = ["--data", str(data), "--out", str(out), "--max-mib", "1", "--hold-out", "0", "--crop", "32"]
    if case == "missing":
        args[1] = str(tmp_path / "nowhere")
    elif case == "foreign-out":
        out.mkdir()
        (out / "notes.txt").write_text("keep me")
    elif case == "crop":
        args[-1] = "40"
    elif case == "too-small":
        args[-1] = "128"
    assert training_pack.main(args) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("training_pack.py: ")
    if case == "foreign-out":
        assert (out / "notes.txt").read_text() == "keep me"
