"""The trainer on tiny synthetic data: the loss falls, stages freeze, resume is exact, DDP replicas agree."""

from __future__ import annotations

import dataclasses
import json
import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from PIL import Image

from qgac_fast.model import QGAC, load_model, save_model
from qgac_fast.model.config import QGACConfig, get_config
from qgac_fast.train import TrainConfig, train
from qgac_fast.train import checkpoint, clock, loop
from qgac_fast.functional.jpeg import encode
from qgac_fast.inference.step import resolve_precision
from qgac_fast.functional.quantization import tile_table
from qgac_fast.model.inputs import planes_from_jpeg
from qgac_fast.quality import closest_quality, ijg_table
from qgac_fast.train.data import TrainingBatch, TrainingImages, TrainingSampler, collate, find_images, sample_tables

from images import synthetic_image

TINY = QGACConfig(manifold=4, block_channels=8, tile_channels=4, frequency_channels=2, fusion_channels=2,
                  dense_blocks=1, dense_layers=2, color_channels=4, init_scale=1.0, output_init_scale=0.0)


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_images")
    for seed in range(5):
        Image.fromarray(synthetic_image(48, 64, seed=seed)).save(root / f"img{seed}.png")
    return root


@pytest.fixture(scope="module")
def initial_weights(tmp_path_factory):
    """A fresh tiny model with normalisation statistics, as a weights file to start runs from."""
    torch.manual_seed(0)
    model = QGAC(TINY)
    model.mean.normal_()
    model.std.uniform_(1, 50)
    path = tmp_path_factory.mktemp("init") / "init.safetensors"
    save_model(model, path)
    return path


def _config(image_dir, out, **changes) -> TrainConfig:
    base = dict(data=[str(image_dir)], out=str(out), model=TINY, stages=["joint"], steps=[12], batch_size=2,
                crop=32, lr=2e-3, warmup=2, workers=0, val_images=1, val_every=0, log_every=1,
                checkpoint_every=1000, stats_images=4, progress=False, device="cpu")
    base.update(changes)
    return TrainConfig(**base)


def _losses(out) -> list[float]:
    lines = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return [line["loss"] for line in lines if "loss" in line]


def test_loss_falls_and_weights_are_written(tmp_path):
    # whole images as crops at one quality, luma only: the only randomness left is the flips,
    # so the loss curve is smooth enough to compare its ends
    images = tmp_path / "images"
    images.mkdir()
    for seed in range(4):
        Image.fromarray(synthetic_image(48, 48, seed=seed)).save(images / f"img{seed}.png")
    config = _config(images, tmp_path / "run", stages=["y"], steps=[120], crop=48, batch_size=4, lr=1e-3,
                     min_lr=1e-3, qualities=(10, 10), tables={"ijg": 1.0}, layouts={"4:2:0": 1.0})
    model = train(config)
    losses = _losses(tmp_path / "run")
    assert len(losses) == 120
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.003
    saved = load_model(tmp_path / "run" / "weights.safetensors")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), saved.state_dict().values()))
    validation = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()
                  if "validation" in line]
    result = validation[-1]["validation"] if validation else {}
    assert set(result) == {"jpeg_psnr", "model_psnr", "gain_db", "gain_by", "gain_by_crop"}
    # every crop is scored at every quality and layout, so the per-crop means average to the gain
    assert len(result["gain_by_crop"]) == config.val_images
    assert np.mean(result["gain_by_crop"]) == pytest.approx(result["gain_db"], abs=1e-9)
    assert set(validation[-1]["validation"]["gain_by"]) == {f"{layout} q{q}" for layout in ("4:2:0", "4:4:4", "gray")
                                                           for q in (10, 30, 50)}
    assert validation[-1]["training_mp"] == pytest.approx(120 * 4 * 48 * 48 / 1e6)


@pytest.mark.parametrize("stage, frozen", [("y", "color_net"), ("color", "y_net")])
def test_stages_freeze_the_other_network(image_dir, tmp_path, initial_weights, stage, frozen):
    before = load_model(initial_weights).state_dict()
    after = train(_config(image_dir, tmp_path / "b", stages=[stage], steps=[4], init=str(initial_weights))).state_dict()
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    assert frozen not in changed and changed


@pytest.mark.parametrize("gan", [False, True], ids=["regression", "gan"])
def test_resume_is_exact(image_dir, tmp_path, monkeypatch, gan):
    # GAN: the discriminator, its optimiser and schedule are in the checkpoint too
    extra = dict(gan=True, d_channels=8, texture_layers=("relu1_2",)) if gan else {}
    straight = train(_config(image_dir, tmp_path / "straight", steps=[8], checkpoint_every=4, **extra))
    saves = []
    real_save = checkpoint.save_checkpoint

    def interrupt_after_first(*args):
        real_save(*args)
        saves.append(args[4]["step"])
        if len(saves) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save_checkpoint", interrupt_after_first)
    with pytest.raises(KeyboardInterrupt):
        train(_config(image_dir, tmp_path / "resumed", steps=[8], checkpoint_every=4, **extra))
    assert saves == [4]
    monkeypatch.setattr(checkpoint, "save_checkpoint", real_save)
    resumed = train(_config(image_dir, tmp_path / "resumed", steps=[8], checkpoint_every=4, **extra))
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_an_interrupted_checkpoint_write_leaves_the_previous_one_and_no_partial_file(tmp_path, monkeypatch):
    """Ctrl-C or SIGTERM while a checkpoint is being saved: the previous checkpoint stays whole and
    nothing else is left in the folder."""
    model = QGAC(TINY)
    path = tmp_path / "checkpoint.pt"
    checkpoint.save_checkpoint(path, model, None, None, {"step": 4})
    before = path.read_bytes()
    real_save = torch.save

    def interrupted_save(obj, f):
        real_save(obj, f)  # all of it written where it goes, then the signal comes
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.torch, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_checkpoint(path, model, None, None, {"step": 8})
    assert os.listdir(tmp_path) == ["checkpoint.pt"] and path.read_bytes() == before


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, image_dir: str, out: str, init: str, gan: bool) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    extra = dict(gan=True, d_channels=8, texture_layers=("relu1_2",)) if gan else {}
    model = train(_config(image_dir, out, steps=[3], layouts={"4:2:0": 0.5, "gray": 0.5}, init=init, **extra))
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, f"{out}/rank{rank}.safetensors")
    torch.distributed.destroy_process_group()


@pytest.mark.parametrize("gan", [False, True], ids=["regression", "gan"])
def test_two_process_gloo_replicas_stay_identical(image_dir, tmp_path, initial_weights, gan):
    from safetensors.torch import load_file

    mp.spawn(_ddp_worker, args=(2, _free_port(), str(image_dir), str(tmp_path), str(initial_weights), gan), nprocs=2,
             join=True)
    zero, one = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    initial = load_model(initial_weights).state_dict()
    assert all(torch.equal(zero[k], one[k]) for k in zero)
    assert any(not torch.equal(zero[k], initial[k]) for k in zero)  # and they trained


def test_data_layouts_and_determinism(image_dir):
    dataset = TrainingImages(find_images([image_dir]), crop=32)
    sampler = iter(TrainingSampler(len(dataset), 3, {"4:2:0": 1, "4:4:4": 1, "gray": 1}, seed=5))
    again = iter(TrainingSampler(len(dataset), 3, {"4:2:0": 1, "4:4:4": 1, "gray": 1}, seed=5, start=1))
    first, second = next(sampler), next(sampler)
    assert next(again) == second
    seen = set()
    for items in (first, second, *(next(sampler) for _ in range(6))):
        batch = collate([dataset[i] for i in items])
        assert torch.equal(batch.rgb, collate([dataset[i] for i in items]).rgb)  # same description, same crop
        planes, target = batch.compress("cpu")
        layout = items[0][1]
        seen.add(layout)
        assert target.dtype == torch.uint8
        assert target.shape == ((3, 1, 32, 32) if layout == "gray" else (3, 3, 32, 32))
        assert planes.luma.shape == (3, 1, 32, 32) and planes.luma_table.shape == (3, 8, 8)
        assert planes.chroma is None if layout == "gray" else planes.chroma.shape == (
            (3, 2, 16, 16) if layout == "4:2:0" else (3, 2, 32, 32))
    assert seen == {"4:2:0", "4:4:4", "gray"}


def test_sample_tables_cover_every_kind():
    g = torch.Generator().manual_seed(0)
    draws = [sample_tables(g, 10, 100) for _ in range(400)]
    luma = torch.stack([d[0] for d in draws])
    assert luma.dtype == torch.int32 and int(luma.min()) >= 1
    over = [d for d in draws if int(d[0].max()) > 255]
    assert 15 <= len(over) <= 70  # "non-baseline": 10 % of draws, steps above 255
    assert all(torch.equal(d[0], ijg_table(d[2], baseline=False)) for d in over)
    exact = [closest_quality(d[0], chroma=False).exact and closest_quality(d[1], chroma=True).exact for d in draws]
    assert 30 <= exact.count(False) <= 100  # "perturbed": 15 %, tables no IJG quality gives
    only = [sample_tables(g, 20, 20, {"ijg": 1.0}) for _ in range(5)]
    assert all(torch.equal(d[0], ijg_table(20)) and torch.equal(d[1], ijg_table(20, chroma=True)) for d in only)


@pytest.mark.parametrize("layout", ["4:2:0", "4:4:4", "gray"])
def test_batch_compression_matches_libjpeg_files(layout):
    """The batched encode gives the coefficients libjpeg writes with the same tables (up to the
    float DCT's rounding differences), steps above 255 included."""
    rgb = torch.stack([torch.from_numpy(synthetic_image(48, 64, seed=s)).permute(2, 0, 1) for s in range(3)])
    luma = torch.stack([ijg_table(5, baseline=False), ijg_table(30), ijg_table(90)])
    chroma = torch.stack([ijg_table(5, chroma=True, baseline=False), ijg_table(30, True), ijg_table(90, True)])
    batch = TrainingBatch(rgb, layout, luma, chroma, torch.tensor([5, 30, 90]))
    planes, target = batch.compress("cpu")
    for i in range(3):
        image = target[i] if layout == "gray" else rgb[i]
        jc = encode(image, (luma[i], chroma[i]), "4:4:4" if layout == "gray" else layout)  # libjpeg, bit-exact
        want = planes_from_jpeg(jc)
        assert torch.equal(planes.luma_table[i], want.luma_table[0])
        for got, expected in ((planes.luma[i], want.luma[0]), (None if layout == "gray" else planes.chroma[i],
                                                               None if layout == "gray" else want.chroma[0])):
            if got is None:
                continue
            differ = (got != expected).float().mean().item()
            assert differ < 0.02, differ
            assert (got - expected).abs().max() <= tile_table(want.luma_table[0], 8, 8).max()


def test_time_limit_ends_the_run_with_weights(image_dir, tmp_path, initial_weights):
    readings = iter(range(0, 10**6, 10))  # each reading of the clock is 10 s later

    def fake_clock():
        return float(next(readings))

    config = _config(image_dir, tmp_path / "timed", steps=[1000], init=str(initial_weights), time_limit=150,
                     warmup=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clock.time, "perf_counter", fake_clock)
        train(config)
    from qgac_fast.model import read_metadata
    training = read_metadata(tmp_path / "timed" / "weights.safetensors")["training"]
    assert 1 <= training["steps_done"][0] < 20 and training["wall_time_s"] >= 150
    lrs = [json.loads(line)["lr"] for line in (tmp_path / "timed" / "log.jsonl").read_text().splitlines()
           if '"lr"' in line]
    assert lrs[-1] < 0.2 * config.lr  # decayed over the time, not over 1000 steps
    with pytest.raises(ValueError, match="time_limit"):
        TrainConfig(data=[], out="x", stages=["y", "color"], steps=[5, 5], time_limit=10)
    # a warm restart from these weights continues their count of training pixels
    train(_config(image_dir, tmp_path / "again", steps=[2], init=str(tmp_path / "timed" / "weights.safetensors")))
    again = read_metadata(tmp_path / "again" / "weights.safetensors")["training"]
    assert again["training_mp"] == pytest.approx(training["training_mp"] + 2 * 2 * 32 * 32 / 1e6, abs=1e-3)


def test_model_configuration_overrides():
    config = get_config("default:block_channels=64,manifold=32,residual_scale=0.1")
    assert (config.block_channels, config.manifold, config.residual_scale) == (64, 32, 0.1)
    assert config.tile_channels == get_config("default").tile_channels
    for bad, message in (("default:widths=2", "overrides of"), ("default:manifold=0", "manifold must be an int"),
                         ("tiny", "unknown model configuration")):
        with pytest.raises(ValueError, match=message):
            get_config(bad)


def test_evaluation_sets_and_bad_settings_are_refused(tmp_path):
    live1 = tmp_path / "live1"
    live1.mkdir()
    with pytest.raises(ValueError, match="evaluation set"):
        find_images([live1])
    with pytest.raises(FileNotFoundError):
        find_images([tmp_path / "missing"])
    with pytest.raises(ValueError, match="one positive step count per stage"):
        TrainConfig(data=[], out="x", stages=["y", "color"], steps=[5])
    with pytest.raises(ValueError, match="stages"):
        TrainConfig(data=[], out="x", stages=["pixels"], steps=[5])


def test_train_command_line(image_dir, tmp_path, initial_weights, capsys):
    from qgac_fast.cli import main
    from qgac_fast.model import read_metadata

    out = tmp_path / "cli"
    status = main(["train", "--data", str(image_dir), "--out", str(out), "--init", str(initial_weights),
                   "--stages", "joint", "--steps", "2", "--workers", "0", "--val-images", "1", "--crop", "32",
                   "--batch-size", "2", "--device", "cpu", "--weights-dtype", "bfloat16", "--quiet"])
    assert status == 0 and "weights.safetensors" in capsys.readouterr().out
    assert read_metadata(out / "weights.safetensors")["dtype"] == "bfloat16"
    training = read_metadata(out / "weights.safetensors")["training"]
    assert training["config"]["steps"] == [2] and training["processes"] == 1 and training["wall_time_s"] > 0
    assert training["precision"] == resolve_precision("auto", "cpu")  # the one actually used, recorded


def test_bf16_training_runs_and_records_it(image_dir, tmp_path, initial_weights):
    before = load_model(initial_weights).state_dict()
    after = train(_config(image_dir, tmp_path / "bf16", steps=[3], init=str(initial_weights), precision="bf16"))
    assert all(torch.isfinite(v).all() for v in after.state_dict().values())
    assert any(not torch.equal(before[k], v) for k, v in after.state_dict().items())
    from qgac_fast.model import read_metadata
    assert read_metadata(tmp_path / "bf16" / "weights.safetensors")["training"]["precision"] == "bf16"


@pytest.mark.parametrize("case", ["missing-data", "evaluation-set", "init-not-weights", "init-missing", "bad-steps",
                                  "too-many-val", "bad-tables", "bad-model", "no-data-named", "bad-crop"])
def test_train_command_line_errors_are_one_line(image_dir, tmp_path, capsys, monkeypatch, case):
    from qgac_fast.cli import main

    monkeypatch.delenv("QGAC_FAST_DATASETS", raising=False)

    (tmp_path / "not-weights.safetensors").write_text("not a safetensors file\n")
    (tmp_path / "live1").mkdir()
    data, extra, status, message = {
        "missing-data": (tmp_path / "missing", [], 1, "training data folder"),
        "evaluation-set": (tmp_path / "live1", [], 1, "is an evaluation set"),
        "init-not-weights": (image_dir, ["--init", tmp_path / "not-weights.safetensors"], 1, "not-weights.safetensors"),
        "init-missing": (image_dir, ["--init", tmp_path / "nope.safetensors"], 1, "no weights file"),
        "bad-steps": (image_dir, ["--stages", "y", "color", "--steps", "5"], 2, "one positive step count per stage"),
        "too-many-val": (image_dir, ["--val-images", "5"], 1, "leaves no training image out of 5"),
        "bad-tables": (image_dir, ["--tables", "ijg=1,jpegli=1"], 2, "tables must map some of"),
        "bad-model": (image_dir, ["--model", "default:block_channels=wide"], 2, "QGACConfig.block_channels must be int"),
        "no-data-named": (None, [], 2, "no training data: pass --data DIR [DIR ...], or set QGAC_FAST_DATASETS"),
        "bad-crop": (image_dir, ["--crop", "20"], 1, "crop must be a positive multiple of 16"),  # train()'s check
    }[case]
    argv = ["train", *(["--data", data] if data else []), "--out", tmp_path / "run", "--device", "cpu", "--quiet",
            "--val-images", "1", "--crop", "32", "--workers", "0", *extra]  # a later --val-images wins
    assert main([str(a) for a in argv]) == status
    err = capsys.readouterr().err
    assert err.startswith("qgac-fast train: ") and message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_weight_averages_are_written_validated_and_resume_exactly(image_dir, tmp_path, monkeypatch):
    straight = _config(image_dir, tmp_path / "straight", steps=[8], checkpoint_every=4, ema=(1e-9, 0.9), val_every=8)
    model = train(straight)
    # a decay of ~0 follows the weights; 0.9 lags behind them
    follow = load_model(tmp_path / "straight" / "weights-ema1e-09.safetensors").state_dict()
    lag = load_model(tmp_path / "straight" / "weights-ema0.9.safetensors").state_dict()
    for key, value in model.state_dict().items():
        assert torch.allclose(follow[key], value, rtol=1e-6, atol=1e-7), key
    assert any(not torch.allclose(lag[key], value) for key, value in model.state_dict().items())
    validation = [json.loads(line) for line in (tmp_path / "straight" / "log.jsonl").read_text().splitlines()
                  if "validation" in line][-1]
    assert set(validation["validation_ema"]) == {"1e-09", "0.9"}
    assert validation["validation_ema"]["1e-09"]["gain_db"] == pytest.approx(validation["validation"]["gain_db"],
                                                                             abs=1e-3)
    real_save = checkpoint.save_checkpoint

    def interrupt_after_first(*args, **kwargs):
        real_save(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save_checkpoint", interrupt_after_first)
    with pytest.raises(KeyboardInterrupt):
        train(dataclasses.replace(straight, out=str(tmp_path / "resumed")))
    monkeypatch.setattr(checkpoint, "save_checkpoint", real_save)
    train(dataclasses.replace(straight, out=str(tmp_path / "resumed")))
    resumed = load_model(tmp_path / "resumed" / "weights-ema0.9.safetensors").state_dict()
    for key, value in lag.items():
        assert torch.equal(value, resumed[key]), key


def test_data_is_described_by_name_and_content(image_dir, tmp_path, monkeypatch):
    import hashlib
    import shutil

    from qgac_fast.train.provenance import data_folders, describe_data

    (record,) = describe_data([image_dir])
    manifest = "".join(f"{hashlib.sha256((image_dir / f'img{s}.png').read_bytes()).hexdigest()}  img{s}.png\n"
                       for s in range(5))  # sha256sum's lines, sorted by path
    assert record == {"name": image_dir.name, "images": 5, "sha256": hashlib.sha256(manifest.encode()).hexdigest()}
    # the same images under another folder: the same record; one byte changed: another hash
    copy = tmp_path / "elsewhere" / image_dir.name
    shutil.copytree(image_dir, copy)
    assert describe_data([copy]) == [record]
    (copy / "img3.png").write_bytes((copy / "img3.png").read_bytes() + b"\0")
    assert describe_data([copy])[0]["sha256"] != record["sha256"]
    (single,) = describe_data([image_dir / "img0.png"])
    assert (single["name"], single["images"]) == ("img0.png", 1)
    # and back to folders: by name under $QGAC_FAST_DATASETS, paths as they are
    monkeypatch.setenv("QGAC_FAST_DATASETS", str(tmp_path / "elsewhere"))
    assert data_folders([record, "other/folder"]) == [str(copy), "other/folder"]
    monkeypatch.delenv("QGAC_FAST_DATASETS")
    assert data_folders(["other/folder"]) == ["other/folder"]
    with pytest.raises(ValueError, match=f"recorded by name \\({image_dir.name}\\): set QGAC_FAST_DATASETS"):
        data_folders([record])


def test_names_moved_out_of_the_loop_still_work_and_warn():
    import importlib

    import qgac_fast.train

    for name, module in (("Objective", "objective"), ("regression_loss", "objective"), ("validate", "validation"),
                         ("VALIDATION_QUALITIES", "validation"), ("VALIDATION_LAYOUTS", "validation"),
                         ("training_pixels", "provenance"), ("PRECISIONS", "config"), ("STAGES", "config")):
        with pytest.warns(DeprecationWarning, match=f"^qgac_fast.train.loop.{name} is deprecated .*; use qgac_fast.train.{module}.{name}$"):
            assert getattr(loop, name) is getattr(importlib.import_module(f"qgac_fast.train.{module}"), name)
    with pytest.warns(DeprecationWarning):
        from qgac_fast.train.loop import validate  # noqa: F401
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        loop.nothing  # noqa: B018
    # the package's own names are where they are now, without a warning
    assert qgac_fast.train.Objective is importlib.import_module("qgac_fast.train.objective").Objective
    assert qgac_fast.train.validate is importlib.import_module("qgac_fast.train.validation").validate
