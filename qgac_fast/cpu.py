"""What this process's CPU can do for the model, and the CPU setting its convolutions need.

* :func:`has_fast_bf16`: whether the CPU computes bfloat16 natively (AMX-BF16 or AVX512-BF16),
  which is when ``precision="auto"`` picks bf16 autocast on the CPU.
* :func:`flush_denormals`: a context manager that flushes denormal floats to zero for the calls
  inside it. Denormal activations make the model's CPU convolutions and their backward pass about
  20x slower; the setting is the calling thread's, so it is scoped to the work that needs it
  instead of being left on for the whole process.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from typing import Iterator

import torch

from .torch_internals import has_amx_tile, has_avx512_bf16

__all__ = ["flush_denormals", "has_fast_bf16"]


@functools.lru_cache(maxsize=None)
def has_fast_bf16() -> bool:
    """True when the CPU has AMX-BF16 tiles or AVX512-BF16 instructions (oneDNN then runs
    bfloat16 convolutions and matrix products natively)."""
    return has_amx_tile() or has_avx512_bf16()


_depth = threading.local()


@contextlib.contextmanager
def flush_denormals() -> Iterator[None]:
    """Flush denormal floats to zero inside the block (this thread), then turn flushing off again.

    Nested blocks keep flushing on until the outermost one ends. torch offers no way to read the
    previous setting, so a process that turned flushing on itself should not use this: it would
    find it off afterwards.
    """
    depth = getattr(_depth, "value", 0)
    if depth == 0:
        torch.set_flush_denormal(True)
    _depth.value = depth + 1
    try:
        yield
    finally:
        _depth.value = depth
        if depth == 0:
            torch.set_flush_denormal(False)
