"""What trained weights record about their training: the run's record in the weights' metadata
and the training pixels behind weights."""

from __future__ import annotations

import dataclasses
import platform
import sys

import torch

from ..model import read_metadata
from .config import TrainConfig

__all__ = ["training_pixels", "training_record"]


def training_record(config: TrainConfig, world: int, device: torch.device, state: dict, bf16: bool) -> dict:
    """The ``training`` metadata of a run's weights: ``command`` (``qgac-fast`` and this process's
    arguments), ``config`` (the settings, ``progress`` left out; the data as the paths given),
    ``processes``, ``hardware`` (the GPU's name, or the CPU and its torch threads), ``precision``,
    ``wall_time_s`` and ``training_mp`` (summed over resumed pieces and the ``init`` weights'
    training), ``steps_done`` (per stage) and ``torch`` (its version).

    Args:
        world: processes in the run; device: this process's device; bf16: trained under bf16
            autocast; state: the checkpoint's progress (:func:`~qgac_fast.train.checkpoint.new_state`).
    """
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
    return {"command": " ".join(["qgac-fast", *sys.argv[1:]]) if sys.argv else "",
            "config": {k: v for k, v in dataclasses.asdict(config).items() if k not in ("progress",)},
            "processes": world, "hardware": hardware, "precision": "bf16" if bf16 else "float32",
            "wall_time_s": round(state["elapsed"], 1), "training_mp": round(state.get("pixels", 0) / 1e6, 3),
            "steps_done": state.get("steps_done"),
            "torch": torch.__version__}


def training_pixels(init: str | None) -> int:
    """Training pixels behind the weights ``init`` (name or path): their provenance's ``training_mp``, or for files
    written before it was recorded, steps x batch x crop^2 x processes of their run (0 if unknown)."""
    if init is None:
        return 0
    training = read_metadata(init).get("training") or {}
    if "training_mp" in training:
        return int(training["training_mp"] * 1e6)
    config = training.get("config") or {}
    try:
        return int(sum(config["steps"]) * config["batch_size"] * config["crop"] ** 2 * training.get("processes", 1))
    except (KeyError, TypeError):
        return 0

