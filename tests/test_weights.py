"""Weights files: safetensors round trip, metadata, no unpickling, the shipped weights, and one
WeightsError naming the file and the cause for every file that cannot be used."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save, save_file

import qgac_fast
from qgac_fast.errors import UncheckedWeightsWarning, WeightsError
from qgac_fast.model import QGAC, SHIPPED, load_model, read_metadata, save_model
from qgac_fast.model.config import CONFIGS
from qgac_fast.model.weights import CHECKSUM_KEY, tensors_digest, weights_path

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


def test_bfloat16_storage_halves_the_file_and_loads_as_float32(tmp_path):
    model = _model()
    full, half = tmp_path / "f32.safetensors", tmp_path / "bf16.safetensors"
    save_model(model, full)
    save_model(model, half, training={"steps": 7}, dtype=torch.bfloat16)
    assert read_metadata(full)["dtype"] == "float32" and read_metadata(half)["dtype"] == "bfloat16"
    assert half.stat().st_size < 0.55 * full.stat().st_size
    with safe_open(str(half), framework="pt") as f:
        assert f.get_slice("mean").get_dtype() == "F32" and f.get_slice("std").get_dtype() == "F32"
        assert {f.get_slice(n).get_dtype() for n, _ in model.named_parameters()} == {"BF16"}
    loaded = load_model(half, device="cpu")
    original, restored = model.state_dict(), loaded.state_dict()
    assert all(t.dtype == torch.float32 for t in restored.values())
    assert torch.equal(original["mean"], restored["mean"]) and torch.equal(original["std"], restored["std"])
    for name, _ in model.named_parameters():  # rounded to bfloat16 once, widened exactly
        assert torch.equal(restored[name], original[name].to(torch.bfloat16).float())
    again = tmp_path / "again.safetensors"  # a loaded bfloat16 model saves to the same tensors
    save_model(loaded, again, training={"steps": 7}, dtype=torch.bfloat16)
    first, second = load_file(str(half)), load_file(str(again))
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    with pytest.raises(ValueError, match="float32 or torch.bfloat16, not torch.float16"):
        save_model(model, tmp_path / "h.safetensors", dtype=torch.float16)


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
    with pytest.raises(WeightsError, match=r"other\.safetensors.*not a qgac_fast weights file"):
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
    import ship_weights  # tools/ (tests/conftest.py puts it on sys.path)

    training = read_metadata("default-gan")["training"]
    # started from the shipped regression weights, or from a run in their chain (the shipped
    # default or a piece it continues: the same command and training megapixels; shipping adds
    # notes to the record, and each piece's record holds the one it started from as init_training)
    chain, record = [], read_metadata("default")["training"]
    while record:
        chain.append(record)
        record = record.get("init_training")
    assert training["config"]["gan"]
    assert training["config"]["init"] == "default" or any(
        all(training["init_training"][key] == run.get(key) for key in ship_weights.RUN_IDENTITY) for run in chain)
    regression, gan = load_model("default").state_dict(), load_model("default-gan").state_dict()
    assert regression.keys() == gan.keys()
    assert torch.equal(regression["mean"], gan["mean"])  # same normalisation statistics
    assert any(not torch.equal(regression[k], gan[k]) for k in regression)


def _edited(tmp_path, state_edit=None, config_edit=None, metadata_edit=None):
    """A copy of a saved SMALL model with its tensors, config or metadata edited."""
    path = tmp_path / "good.safetensors"
    save_model(_model(), path)
    state = load_file(str(path))
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    if state_edit:
        state_edit(state)
    if config_edit:
        config = json.loads(metadata["config"])
        config_edit(config)
        metadata["config"] = json.dumps(config)
    if state_edit:  # a consistent checksum: the edit itself is what must be refused
        metadata[CHECKSUM_KEY] = tensors_digest(state)
    if metadata_edit:
        metadata_edit(metadata)
    out = tmp_path / "bad.safetensors"
    out.write_bytes(save(state, metadata=metadata))
    return out


def _set_first(value):
    def edit(state):
        name = sorted(state)[0]
        state[name] = state[name].clone()
        state[name].view(-1)[0] = value
    return edit


def _cast_first(state):
    name = sorted(state)[0]
    state[name] = state[name].double()


def _cast_first_to_bfloat16(state):  # a parameter (the first name sorts before mean/std)
    name = sorted(state)[0]
    state[name] = state[name].to(torch.bfloat16)


def _drop_first(state):
    del state[sorted(state)[0]]


@pytest.mark.parametrize("edit, cause", [
    (dict(config_edit=lambda c: c.update(block_channels=10**9)), r"block_channels must be an int in 1\.\.512"),
    (dict(config_edit=lambda c: c.update(manifold="wide")), r"manifold must be an int"),
    (dict(config_edit=lambda c: c.update(init_scale=float("nan"))), r"init_scale must be a finite positive"),
    (dict(config_edit=lambda c: c.update(block_channels=9)), r"tensor '.*' is F32 \(.*\); its config needs F32"),
    (dict(metadata_edit=lambda m: m.update(config="{")), r"bad metadata: Expecting property name"),
    (dict(metadata_edit=lambda m: m.update(config="[1]")), r"a QGACConfig is a JSON object"),
    (dict(metadata_edit=lambda m: m.update(training="[" * 100_000 + "]" * 100_000)), r"JSON nested too deeply"),
    (dict(metadata_edit=lambda m: m.pop("config")), r"no config metadata"),
    (dict(state_edit=_set_first(float("nan"))), r"holds NaN or infinite values"),
    (dict(state_edit=_set_first(float("inf"))), r"holds NaN or infinite values"),
    (dict(state_edit=_cast_first), r"is F64 .*; its config needs F32"),
    (dict(state_edit=_drop_first), r"missing tensors"),
    (dict(state_edit=_cast_first_to_bfloat16), r"is BF16 .*; its config needs F32"),
    (dict(state_edit=_cast_first_to_bfloat16, metadata_edit=lambda m: m.update(dtype="bfloat16")),
     r"tensor '.*' is F32 .*; its config needs BF16"),
    (dict(metadata_edit=lambda m: m.update(dtype="float16")), r"dtype 'float16' is not one of"),
    (dict(state_edit=lambda s: s.update(extra=torch.zeros(1))), r"unexpected tensors extra"),
], ids=["huge-config", "config-type", "nan-config", "config-shape-mismatch", "bad-json", "json-list", "deep-json",
        "no-config", "nan-weight", "inf-weight", "float64", "missing-tensor", "bf16-in-f32-file", "f32-in-bf16-file",
    "bad-dtype", "extra-tensor"])
def test_unusable_weights_raise_one_error_naming_file_and_cause(tmp_path, edit, cause):
    path = _edited(tmp_path, **edit)
    with pytest.raises(WeightsError, match=f"weights file '{path}': .*{cause}"):
        load_model(path)


@pytest.mark.parametrize("data", [b"", b"not weights at all", b"\xff" * 8 + b"{}"], ids=["empty", "text", "header"])
def test_non_safetensors_files_raise_weights_error(tmp_path, data):
    path = tmp_path / "w.safetensors"
    path.write_bytes(data)
    with pytest.raises(WeightsError, match="not a safetensors file"):
        load_model(path)
    good = tmp_path / "good.safetensors"
    save_model(_model(), good)
    path.write_bytes(good.read_bytes()[:-100])  # truncated
    with pytest.raises(WeightsError, match="not a safetensors file"):
        load_model(path)


def test_weights_error_is_a_value_error_exported_by_the_package():
    assert issubclass(WeightsError, ValueError) and qgac_fast.WeightsError is WeightsError


def test_ship_weights_keeps_the_chain_and_writes_the_sidecar(tmp_path):
    """tools/ship_weights.py: the run's metadata plus its init's training (read before anything
    is overwritten), the launch line and notes; stored in bf16; the sidecar names the evaluation."""
    import ship_weights  # tools/ (tests/conftest.py puts it on sys.path)

    parent = tmp_path / "parent.safetensors"
    save_model(_model(), parent, training={"command": "qgac-fast train --out a", "training_mp": 1.0})
    run = tmp_path / "run"
    save_model(_model(), run / "weights.safetensors",
               training={"command": "qgac-fast train --out b", "training_mp": 2.0, "config": {"init": str(parent)}})
    report = [{"dataset": "set", "qualities": {"10": {
        "jpeg": {"psnr": 25.123}, "corrected": {"psnr": 26.456, "psnr_b": 26.0, "ssim": 0.81234, "hf_ratio": 0.4}}}}]
    (tmp_path / "eval.json").write_text(json.dumps(report))
    folder = tmp_path / "shipped"
    folder.mkdir()
    ship_weights.main([str(run), "--name", "default", "--launch", "torchrun ...", "--notes", "piece 3",
                       "--eval", f"set (bf16)={tmp_path / 'eval.json'}", "--eval-command", "qgac-fast eval set",
                       "--folder", str(folder)])
    meta = read_metadata(folder / "default.safetensors")
    assert meta["dtype"] == "bfloat16"
    training = meta["training"]
    assert training["init_training"] == {"command": "qgac-fast train --out a", "training_mp": 1.0}
    assert (training["launch"], training["notes"], training["stored"]) == ("torchrun ...", "piece 3", "bfloat16")
    sidecar = json.loads((folder / "default.json").read_text())
    assert sidecar["training"] == training and sidecar["weights"] == "default.safetensors"
    assert sidecar["evaluation"] == {"set (bf16)": {"10": {"jpeg_psnr": 25.12, "psnr": 26.46, "psnr_b": 26.0,
                                                           "ssim": 0.812, "hf_ratio": 0.4}}}
    assert sidecar["evaluation_commands"] == ["qgac-fast eval set"]
    assert torch.allclose(load_model(folder / "default.safetensors").mean, _model().mean)
    # shipped again from a run whose --init names the file it replaced: the chain is kept
    (run / "weights.safetensors").unlink()
    save_model(_model(), run / "weights.safetensors", training={
        "command": "qgac-fast train --out b", "training_mp": 2.0, "config": {"init": str(folder / "default.safetensors")}})
    ship_weights.main([str(run), "--name", "default", "--launch", "torchrun ...", "--notes", "again",
                       "--folder", str(folder)])
    again = read_metadata(folder / "default.safetensors")["training"]
    assert again["init_training"] == {"command": "qgac-fast train --out a", "training_mp": 1.0}
    assert "evaluation" not in json.loads((folder / "default.json").read_text())


def test_ship_weights_names_the_training_data_by_name_and_content(tmp_path, monkeypatch):
    """A new record holds no path of the machine that trained: each data folder by name and
    content hash, ``DATASETS`` in the command and launch lines; found again under
    ``$QGAC_FAST_DATASETS`` when the recorded paths are gone; a second shipping keeps the chain."""
    import ship_weights  # tools/ (tests/conftest.py puts it on sys.path)
    from qgac_fast.train.provenance import describe_data

    datasets = tmp_path / "machine" / "datasets"
    for name in ("set_a", "set_b"):
        (datasets / name / "sub").mkdir(parents=True)
        (datasets / name / "sub" / "x.png").write_bytes(name.encode())
    paths = [str(datasets / "set_a"), str(datasets / "set_b")]
    parent = tmp_path / "parent.safetensors"
    save_model(_model(), parent, training={"command": "qgac-fast train --out a", "training_mp": 1.0})
    run = tmp_path / "run" / "weights.safetensors"
    command = f"qgac-fast train --out run --data {paths[0]} {paths[1]}"
    save_model(_model(), run, training={"command": command, "training_mp": 2.0,
                                        "config": {"data": paths, "init": str(parent)}})
    folder = tmp_path / "shipped"
    folder.mkdir()
    argv = [str(run), "--name", "default", "--notes", "n", "--folder", str(folder),
            "--launch", f"QGAC_FAST_DATASETS={datasets} torchrun -m qgac_fast train"]
    ship_weights.main(argv)
    text = (folder / "default.json").read_text()
    training = json.loads(text)["training"]
    records = describe_data(paths)
    assert training["config"]["data"] == records and [r["name"] for r in records] == ["set_a", "set_b"]
    assert training["command"] == "qgac-fast train --out run --data DATASETS/set_a DATASETS/set_b"
    assert training["launch"] == "QGAC_FAST_DATASETS=DATASETS torchrun -m qgac_fast train"
    assert str(tmp_path / "machine") not in text
    # the recorded paths are gone: the folders of the same names under $QGAC_FAST_DATASETS
    datasets.rename(tmp_path / "moved")
    monkeypatch.delenv("QGAC_FAST_DATASETS", raising=False)
    with pytest.raises(FileNotFoundError, match="set QGAC_FAST_DATASETS to the folder that holds set_a"):
        ship_weights.main(argv)
    monkeypatch.setenv("QGAC_FAST_DATASETS", str(tmp_path / "moved"))
    ship_weights.main(argv)
    assert json.loads((folder / "default.json").read_text())["training"]["config"]["data"] == records
    # shipped again from the same run, its --init now naming the shipped file: the same run,
    # though its record still holds the paths
    save_model(_model(), run, training={"command": command, "training_mp": 2.0,
                                        "config": {"data": paths, "init": str(folder / "default.safetensors")}})
    ship_weights.main(argv)
    again = read_metadata(folder / "default.safetensors")["training"]
    assert again["init_training"] == {"command": "qgac-fast train --out a", "training_mp": 1.0}


def _rewritten(tmp_path, model: QGAC, edit) -> "os.PathLike":
    """``model`` saved by ``save_model`` (so with a matching checksum), its float32 tensors
    passed through ``edit(name, tensor) -> tensor`` first."""
    edited = QGAC(model.config)
    edited.load_state_dict({name: edit(name, tensor) for name, tensor in model.state_dict().items()})
    path = tmp_path / "edited.safetensors"
    save_model(edited, path)
    return path


@pytest.mark.parametrize("edit, cause", [
    (lambda name, t: torch.full_like(t, float(t.mean())), r"has a spread of .* below 0\.001 of the"),
    (lambda name, t: torch.zeros_like(t) if name != "std" else t, r"has a spread of 0, below 0\.001 of the"),
    (lambda name, t: t / t.std().clamp_min(1e-30) * 1e-38 if t.numel() > 1 and name not in ("mean", "std") else t,
     r"has a spread of .* below 0\.001 of the"),
    (lambda name, t: t * 1e30, r"holds a value of magnitude .*e\+\d+, above the 10000"),
    (lambda name, t: t * 1e-30 if name == "std" else t, r"holds a normalisation spread of [0-9.]+e-30, below the 0\.01"),
], ids=["constant", "zero", "spread-1e-38", "times-1e30", "std-vanishing"])
def test_weights_that_no_training_produces_are_refused_naming_the_tensor(tmp_path, edit, cause):
    """Degenerate values that a checksum cannot catch (the file says what it was saved with)."""
    path = _rewritten(tmp_path, _model(), edit)
    with pytest.raises(WeightsError, match=f"weights file '{path}': tensor '[a-z_.0-9]+' {cause}"):
        load_model(path)


def test_fresh_and_trained_models_load(tmp_path):
    """A freshly initialised model of each configuration loads (zero-initialised output layers
    included), and so does a briefly trained one."""
    for config in (SMALL, dataclasses.replace(SMALL, output_init_scale=0.5, init_scale=0.01)):
        path = tmp_path / "fresh.safetensors"
        fresh = QGAC(config)
        save_model(fresh, path)
        load_model(path)
        # the spreads the plausibility check scales from are those the initialisation draws
        weights = {name: tensor.detach() for name, tensor in fresh.named_parameters()}
        for name, std in fresh.initial_weight_std().items():
            if std == 0:
                assert not weights[name].any(), name
            elif weights[name].numel() >= 256:
                assert 0.8 < float(weights[name].std()) / std < 1.25, name
    torch.manual_seed(0)
    model = QGAC(SMALL)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    planes = torch.randn(2, 1, 32, 32) * 20
    table = torch.full((2, 8, 8), 8.0)
    for _ in range(3):
        restored, _ = model(planes, table)
        loss = (restored - model.normalize(planes, 0)).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    path = tmp_path / "trained.safetensors"
    save_model(model, path)
    loaded = load_model(path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))


def test_saved_weights_carry_a_checksum_that_loading_verifies(tmp_path):
    path = tmp_path / "w.safetensors"
    save_model(_model(), path)
    assert read_metadata(path)[CHECKSUM_KEY] == tensors_digest(load_file(str(path)))
    # one parameter changed by one bit, the metadata as saved: refused as corrupt
    changed = _edited(tmp_path, metadata_edit=lambda m: None)  # the same file, rewritten
    state = load_file(str(changed))
    with safe_open(str(changed), framework="pt") as f:
        metadata = f.metadata()
    name = sorted(state)[0]
    state[name].view(-1).view(torch.int32)[0] ^= 1
    changed.write_bytes(save(state, metadata=metadata))
    with pytest.raises(WeightsError, match=f"'{changed}': its tensors do not match their tensors_sha256 checksum"):
        load_model(changed)
    # a file without a checksum (written elsewhere) loads, with a warning
    metadata.pop(CHECKSUM_KEY)
    state[name].view(-1).view(torch.int32)[0] ^= 1
    changed.write_bytes(save(state, metadata=metadata))
    with pytest.warns(UncheckedWeightsWarning, match="has no tensors_sha256 checksum"):
        load_model(changed)


def test_shipped_weights_carry_a_valid_checksum():
    import warnings

    for name in SHIPPED:
        assert read_metadata(name)[CHECKSUM_KEY] is not None
        with warnings.catch_warnings():
            warnings.simplefilter("error", UncheckedWeightsWarning)
            load_model(name)
