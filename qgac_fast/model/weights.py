"""Model weights on disk: safetensors (never pickle) with a JSON header.

A weights file holds the model's state dict (parameters and the ``mean``/``std`` normalisation
buffers) and string metadata: ``format`` (``"qgac_fast"``), ``config`` (the
:class:`~qgac_fast.model.config.QGACConfig` as JSON) and ``training`` (free-form JSON: command,
steps, wall time, hardware). Named weights ship inside the package (``qgac_fast/weights``).
"""

from __future__ import annotations

import json
import os
import uuid
from importlib import resources
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save

from .._version import __version__
from .config import QGACConfig
from .networks import QGAC

__all__ = ["SHIPPED", "load_model", "read_metadata", "save_model", "weights_path"]

#: Names of the weights that ship with the package.
SHIPPED = ("default", "default-gan")

_FORMAT = "qgac_fast"


def weights_path(name_or_path: str | os.PathLike) -> Path:
    """The file behind a shipped name (``"default"``) or a path.

    Raises:
        FileNotFoundError: neither a shipped name nor an existing file.
    """
    if isinstance(name_or_path, str) and name_or_path in SHIPPED:
        return Path(str(resources.files("qgac_fast") / "weights" / f"{name_or_path}.safetensors"))
    path = Path(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file {str(path)!r}; shipped weights: {', '.join(SHIPPED)}")
    return path


def save_model(model: QGAC, path: str | os.PathLike, training: dict | None = None) -> None:
    """Write ``model``'s weights and configuration to ``path`` (safetensors), atomically.

    Args:
        model: the model (any device; tensors are copied to the CPU).
        training: JSON-serialisable facts about how the weights were made, stored as metadata.
    """
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    metadata = {"format": _FORMAT, "qgac_fast_version": __version__, "config": model.config.to_json(),
                "training": json.dumps(training or {}, sort_keys=True)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a unique name in the target folder (same filesystem, so the rename is atomic), opened by
    # Python so it gets the usual permissions (safetensors' save_file creates its files 0600)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(save(state, metadata=metadata))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_metadata(name_or_path: str | os.PathLike) -> dict:
    """The metadata of a weights file: ``config`` and ``training`` decoded from JSON."""
    path = weights_path(name_or_path)
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
    if metadata.get("format") != _FORMAT:
        raise ValueError(f"{str(path)!r} is not a qgac_fast weights file (no format={_FORMAT!r} metadata)")
    return {"path": str(path), "qgac_fast_version": metadata.get("qgac_fast_version"),
            "config": json.loads(metadata["config"]), "training": json.loads(metadata.get("training", "{}"))}


def load_model(name_or_path: str | os.PathLike = "default", device: torch.device | str | None = None) -> QGAC:
    """Load a QGAC model in eval mode.

    Args:
        name_or_path: a shipped name (``"default"``) or a ``.safetensors`` file written by
            :func:`save_model`.
        device: where to put it (default CPU).

    Returns:
        :class:`~qgac_fast.model.networks.QGAC` in ``eval()`` mode with gradients disabled.
    """
    metadata = read_metadata(name_or_path)
    model = QGAC(QGACConfig.from_json(json.dumps(metadata["config"])))
    state = load_file(metadata["path"])
    model.load_state_dict(state, strict=True)
    model.requires_grad_(False)
    return model.eval().to(device)
