"""The run's checkpoint, ``OUT/checkpoint.pt``: everything a resumed run needs to continue as if it
had never stopped.

The file is a ``torch.save`` dict of tensors and plain containers (read back with
``weights_only=True``, never unpickling objects):

* ``"model"``: the model's state dict;
* ``"optimizer"``, ``"scheduler"``: the AdamW and LambdaLR state dicts of the stage in progress
  (None once every stage is done);
* ``"adversary"``: :meth:`~qgac_fast.train.adversary.Adversary.state_dict` in GAN runs, else None;
* ``"ema"``: ``{str(decay): AveragedModel state dict}``, one per weight average (empty: none);
* ``"state"``: the run's progress, :func:`new_state`'s keys.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from ..atomic import write_atomic

__all__ = ["CHECKPOINT_NAME", "load_checkpoint", "new_state", "save_checkpoint"]

#: The checkpoint's file name in the run folder.
CHECKPOINT_NAME = "checkpoint.pt"


def new_state(pixels: int) -> dict:
    """The progress of a run that has not started: ``"stage"`` (index of the stage in progress;
    the number of stages once all are done), ``"step"`` (its steps done), ``"elapsed"`` (training
    seconds, summed over resumed pieces), ``"pixels"`` (training pixels, starting from ``pixels``,
    those behind the initial weights) and ``"steps_done"`` (the steps each finished stage ran)."""
    return {"stage": 0, "step": 0, "elapsed": 0.0, "pixels": pixels, "steps_done": []}


def save_checkpoint(path: Path, model, optimizer, scheduler, state: dict, adversary=None,
                    averages: dict | None = None) -> None:
    """Write the checkpoint (the module docstring's format) to ``path``, replacing the previous
    one atomically: an interrupt (Ctrl-C, SIGTERM) or a full disk leaves the previous checkpoint
    and no partial file.

    Args:
        optimizer, scheduler: of the stage in progress, or None.
        adversary: the GAN side (:class:`~qgac_fast.train.adversary.Adversary`), or None.
        averages: ``{decay: AveragedModel}``, or None for none.
    """
    buffer = io.BytesIO()  # serialized in memory first, so the file is written in one go
    torch.save({"model": model.state_dict(), "optimizer": None if optimizer is None else optimizer.state_dict(),
                "scheduler": None if scheduler is None else scheduler.state_dict(), "state": state,
                "adversary": None if adversary is None else adversary.state_dict(),
                "ema": {str(d): a.state_dict() for d, a in (averages or {}).items()}}, buffer)
    write_atomic(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict | None:
    """The checkpoint at ``path`` (tensors on the CPU), or None when there is none."""
    return torch.load(path, map_location="cpu", weights_only=True) if path.exists() else None
