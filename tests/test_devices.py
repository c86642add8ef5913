"""One default-device rule (``qgac_fast.devices``) for the API and every command, and device errors that
name the device: ``--device cuda`` on a torch without CUDA is one line, exit status 2, in correct, eval, train."""

from __future__ import annotations

import pytest
import torch

from qgac_fast import devices
from qgac_fast.cli import main
from qgac_fast.devices import default_device, resolve_device
from qgac_fast.model import QGAC, QGACConfig, load_model, save_model

from images import pillow_jpeg, synthetic_image

TINY = QGACConfig(manifold=4, block_channels=8, tile_channels=4, frequency_channels=1, fusion_channels=2,
                  dense_blocks=1, dense_layers=1, color_channels=4, init_scale=1.0, output_init_scale=1.0)


@pytest.fixture
def cpu_only_torch(monkeypatch):
    """A torch built without CUDA, whatever this machine has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)


@pytest.fixture
def weights(tmp_path):
    path = tmp_path / "tiny.safetensors"
    save_model(QGAC(TINY), path)
    return str(path)


def test_default_device_is_cuda_when_available_else_cpu(monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert default_device() == torch.device("cpu") == resolve_device(None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_device() == torch.device("cuda")
    monkeypatch.setenv("LOCAL_RANK", "3")  # under torchrun: this process's GPU
    assert default_device() == torch.device("cuda", 3)


def test_load_model_correct_and_corrector_share_the_rule(weights, monkeypatch):
    from qgac_fast import Corrector

    calls = []
    monkeypatch.setattr(devices, "default_device", lambda: calls.append(1) or torch.device("cpu"))
    assert load_model(weights).mean.device.type == "cpu" and len(calls) == 1
    assert Corrector(weights).device.type == "cpu" and len(calls) == 2


def test_resolve_device_names_the_problem(cpu_only_torch):
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="'cuda'.*built without CUDA"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="'gpu' is not a device"):
        resolve_device("gpu")
    with pytest.raises(ValueError, match="built without CUDA"):
        load_model("default", device="cuda")  # the device, not the weights, is blamed


def test_cuda_not_available_on_a_cuda_build(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda:0")


def _one_line_device_error(capsys, command):
    err = capsys.readouterr().err
    assert err.startswith(f"qgac-fast {command}: --device: device 'cuda': this torch") and "built without CUDA" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "model" not in err


def test_commands_name_a_missing_cuda_as_a_device_problem(cpu_only_torch, weights, tmp_path, capsys):
    image = tmp_path / "a.jpg"
    image.write_bytes(pillow_jpeg(synthetic_image(16, 16), quality=50))
    assert main(["correct", str(image), "-o", str(tmp_path / "out"), "--model", weights, "--device", "cuda"]) == 2
    _one_line_device_error(capsys, "correct")
    assert main(["eval", str(tmp_path), "--quality", "10", "--model", weights, "--device", "cuda", "--quiet"]) == 2
    _one_line_device_error(capsys, "eval")
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--device", "cuda"]) == 2
    _one_line_device_error(capsys, "train")


@pytest.mark.parametrize("name", ["meta", "mps", "xpu"])
def test_devices_other_than_cpu_and_cuda_are_device_errors(weights, tmp_path, capsys, name):
    """meta holds no data and mps/xpu are not supported: refused as a device problem, before the
    weights are read and before any file is (exit 2, not a model error or a failure per file)."""
    with pytest.raises(ValueError, match=f"device '{name}': qgac_fast runs on cpu and cuda only"):
        resolve_device(name)
    with pytest.raises(ValueError, match="runs on cpu and cuda only"):
        load_model(weights, device=name)
    image = tmp_path / "a.jpg"
    image.write_bytes(pillow_jpeg(synthetic_image(16, 16), quality=50))
    assert main(["correct", str(image), "-o", str(tmp_path / "out"), "--model", weights, "--device", name]) == 2
    expected = f"qgac-fast correct: --device: device '{name}': qgac_fast runs on cpu and cuda only\n"
    assert capsys.readouterr().err == expected


@pytest.mark.parametrize("environment, message", [
    ({"RANK": "abc"}, "RANK='abc' in the environment: expected an int >= 0 (as torchrun sets it)"),
    ({"WORLD_SIZE": "0"}, "WORLD_SIZE=0 in the environment: expected an int >= 1"),
    ({"RANK": "3", "WORLD_SIZE": "2"}, "RANK=3 in the environment is not below WORLD_SIZE=2"),
    ({"LOCAL_RANK": "-1"}, "LOCAL_RANK='-1' in the environment: expected an int >= 0 (as torchrun sets it)"),
], ids=["rank-text", "world-0", "rank-beyond-world", "local-rank-negative"])
def test_a_bad_torchrun_environment_is_one_line_usage_error(weights, tmp_path, monkeypatch, capsys, environment,
                                                            message):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        devices.torchrun_ranks()
    image = tmp_path / "a.jpg"
    image.write_bytes(pillow_jpeg(synthetic_image(16, 16), quality=50))
    assert main(["correct", str(image), "-o", str(tmp_path / "out"), "--model", weights, "--device", "cpu"]) == 2
    assert capsys.readouterr().err == f"qgac-fast correct: {message}\n"
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--device", "cpu"]) == 2
    assert capsys.readouterr().err == f"qgac-fast train: {message}\n"
    assert not (tmp_path / "out").exists()
