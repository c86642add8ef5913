"""The one rule for where a model runs when no device is given, and the check of a given one.

Used by :func:`~qgac_fast.model.load_model`, :func:`~qgac_fast.correct`,
:class:`~qgac_fast.Corrector`, training and every ``qgac-fast`` command, so all of them agree.
"""

from __future__ import annotations

import os

import torch

__all__ = ["default_device", "resolve_device", "torchrun_ranks"]


def default_device() -> torch.device:
    """CUDA when available, else the CPU.

    Under ``torchrun`` (``LOCAL_RANK`` set) the CUDA device is ``cuda:LOCAL_RANK``, so that each
    process of a node takes its own GPU; otherwise it is ``cuda`` (torch's current device).
    """
    if not torch.cuda.is_available():
        return torch.device("cpu")
    local_rank = _environment_int("LOCAL_RANK", None)
    return torch.device("cuda", local_rank) if local_rank is not None else torch.device("cuda")


def _environment_int(name: str, default: int | None) -> int | None:
    """The environment variable ``name`` as an int >= 0, or ``default`` where it is unset."""
    text = os.environ.get(name)
    if text is None:
        return default
    if not text.strip().isdigit():
        raise ValueError(f"{name}={text!r} in the environment: expected an int >= 0 (as torchrun sets it)")
    return int(text)


def torchrun_ranks() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's environment variables ``RANK``,
    ``WORLD_SIZE`` and ``LOCAL_RANK``; ``(0, 1, 0)`` where they are unset (one process).

    Raises:
        ValueError: a value that is not an int >= 0, ``WORLD_SIZE`` 0, or ``RANK`` not below
            ``WORLD_SIZE``; the message names the variable.
    """
    rank, world, local_rank = (_environment_int(name, default)
                               for name, default in (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", 0)))
    if world < 1:
        raise ValueError(f"WORLD_SIZE={world} in the environment: expected an int >= 1")
    if rank >= world:
        raise ValueError(f"RANK={rank} in the environment is not below WORLD_SIZE={world}")
    return rank, world, local_rank


def resolve_device(device: torch.device | str | None = None) -> torch.device:
    """``device`` checked for use, or :func:`default_device` when None.

    Raises:
        ValueError: not a device name torch knows (``"gpu"``), a device type other than ``cpu``
            and ``cuda`` (``"meta"``, ``"mps"``, ``"xpu"``), CUDA asked for where this torch
            has no CUDA or sees no GPU, or a CUDA index beyond the visible devices. The message
            says which, so that a device problem is not mistaken for a model or input problem.
    """
    if device is None:
        return default_device()
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"{device!r} is not a device (use cpu, cuda or cuda:N): {error}") from None
    if device.type not in ("cpu", "cuda"):  # meta holds no data; mps, xpu... are not supported
        raise ValueError(f"device {str(device)!r}: qgac_fast runs on cpu and cuda only")
    if device.type == "cuda":
        if torch.version.cuda is None:
            raise ValueError(f"device {str(device)!r}: this torch ({torch.__version__}) was built without CUDA: "
                             "run on cpu, or install a CUDA build of torch")
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r}: CUDA is not available (no GPU visible to torch "
                             f"{torch.__version__}, CUDA {torch.version.cuda}): run on cpu")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(f"device {str(device)!r}: only {count} CUDA device(s) visible (cuda:0..cuda:{count - 1})")
    return device
