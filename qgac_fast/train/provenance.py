"""What trained weights record about their training: the run's record in the weights' metadata,
the training pixels behind weights, and the training data by name and content hash."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from ..model import read_metadata
from .config import TrainConfig
from .data import find_images

__all__ = ["data_folders", "describe_data", "training_pixels", "training_record"]


def training_record(config: TrainConfig, world: int, device: torch.device, state: dict, bf16: bool) -> dict:
    """The ``training`` metadata of a run's weights: ``command`` (``qgac-fast`` and this process's
    arguments), ``config`` (the settings, ``progress`` left out; the data as the paths given),
    ``processes``, ``hardware`` (the GPU's name, or the CPU and its torch threads), ``precision``,
    ``wall_time_s`` and ``training_mp`` (summed over resumed pieces and the ``init`` weights'
    training; ``wall_time_s`` is the training clock's: wall time without the time stopped,
    :class:`~qgac_fast.train.clock.TrainingClock`), ``steps_done (per stage) and ``torch`` (its version).

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


def describe_data(roots: Sequence[str | os.PathLike]) -> list[dict]:
    """The training data by name and content, as a record that does not depend on where the data
    lies: one ``{"name", "images", "sha256"}`` per root (a folder, or one image file).

    ``name`` is the root's own name and ``images`` the number of images
    :func:`~qgac_fast.train.data.find_images` finds under it. ``sha256`` is the SHA-256 (hex) of
    the root's manifest: a line ``<file's SHA-256>  <its path under the root, '/'-separated>``
    per image, sorted by path: the text ``sha256sum`` writes, so for a folder with a
    ``SHA256SUMS`` file listing exactly its images in sorted order, ``sha256sum SHA256SUMS``.

    Raises:
        FileNotFoundError: a root does not exist.
        ValueError: a root is an evaluation set or holds no image.
    """
    records = []
    for root in map(Path, roots):
        files = {(p.name if root.is_file() else p.relative_to(root).as_posix()): p for p in find_images([root])}
        manifest = "".join(f"{hashlib.sha256(files[name].read_bytes()).hexdigest()}  {name}\n"
                           for name in sorted(files))
        records.append({"name": root.resolve().name, "images": len(files),
                        "sha256": hashlib.sha256(manifest.encode()).hexdigest()})
    return records


def data_folders(recorded: Sequence[str | dict]) -> list[str]:
    """The folders behind a training record's ``config["data"]``: paths as they are, data recorded
    by name (:func:`describe_data`) as ``$QGAC_FAST_DATASETS/<name>``.

    Raises:
        ValueError: data recorded by name while ``QGAC_FAST_DATASETS`` is not set.
    """
    root = os.environ.get("QGAC_FAST_DATASETS")
    names = [entry["name"] for entry in recorded if isinstance(entry, dict)]
    if names and not root:
        raise ValueError(f"the training data is recorded by name ({', '.join(names)}): set QGAC_FAST_DATASETS to "
                         "the folder that holds it")
    return [os.path.join(root, entry["name"]) if isinstance(entry, dict) else entry for entry in recorded]
