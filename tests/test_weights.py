"""Weights files: safetensors round trip, metadata, no unpickling, the shipped weights."""

from __future__ import annotations

import dataclasses
import os
import pickle

import pytest
import torch
from safetensors.torch import save_file

from qgac_fast.model import QGAC, SHIPPED, load_model, read_metadata, save_model
from qgac_fast.model.config import CONFIGS
from qgac_fast.model.weights import weights_path

SMALL = dataclasses.replace(CONFIGS["default"], block_channels=8, tile_channels=4, color_channels=4)


def _model() -> QGAC:
    torch.manual_seed(3)
    model = QGAC(SMALL)
    model.mean.normal_()
    model.std.uniform_(1, 2)
    return model


def test_round_trip_is_bit_exact(tmp_path):
    model = _model()
    path = tmp_path / "w.safetensors"
    save_model(model, path, training={"steps": 7})
    loaded = load_model(path)
    assert loaded.config == SMALL and not loaded.training
    original, restored = model.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    assert all(torch.equal(original[k], restored[k]) for k in original)
    meta = read_metadata(path)
    assert meta["training"] == {"steps": 7} and meta["config"]["block_channels"] == 8
    assert not any(p.requires_grad for p in loaded.parameters())
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # readable by others, like any new file


def test_save_leaves_no_partial_file_on_failure(tmp_path, monkeypatch):
    import qgac_fast.model.weights as weights

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(weights, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        save_model(_model(), tmp_path / "w.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_loading_never_unpickles(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    save_model(_model(), path)

    def refuse(*args, **kwargs):
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    load_model(path)


def test_foreign_and_missing_files_are_refused(tmp_path):
    foreign = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(2)}, str(foreign))
    with pytest.raises(ValueError, match="not a qgac_fast weights file"):
        load_model(foreign)
    with pytest.raises(FileNotFoundError, match="shipped weights: default"):
        load_model(tmp_path / "missing.safetensors")


def test_shipped_weights_load_and_fit_the_size_limit():
    for name in SHIPPED:
        path = weights_path(name)
        assert path.stat().st_size <= 16 * 2**20
        model = load_model(name)
        meta = read_metadata(name)
        assert meta["training"]["command"].startswith("qgac-fast train")
        assert float(model.std.min()) > 0 and not torch.equal(model.std, torch.ones_like(model.std))


def test_gan_weights_are_a_fine_tuning_of_the_regression_weights():
    training = read_metadata("default-gan")["training"]
    assert training["config"]["gan"] and training["config"]["init"] == "default"
    regression, gan = load_model("default").state_dict(), load_model("default-gan").state_dict()
    assert regression.keys() == gan.keys()
    assert torch.equal(regression["mean"], gan["mean"])  # same normalisation statistics
    assert any(not torch.equal(regression[k], gan[k]) for k in regression)
