"""The private torch names the package depends on, in one place.

torch does not promise these across releases; ``setup.py`` pins the range the package is tested
with (``torch>=2.13,<2.15``), and ``tests/test_torch_internals.py`` fails, naming the missing
name, on a torch that moved or removed one. A module that needs one imports it from here, never
from torch's private modules directly.

* :class:`EagerDispatchMode` (``torch.utils._python_dispatch.TorchDispatchMode`` with its
  ``_should_skip_dynamo`` hook off) and :func:`tree_leaves` (``torch.utils._pytree``): the engine's
  activation-memory probe (:class:`qgac_fast.inference.memory.PeakTracker`).
* :func:`has_amx_tile` and :func:`has_avx512_bf16` (``torch.cpu``'s private checks): whether the
  CPU runs bfloat16 natively (:func:`qgac_fast.cpu.has_fast_bf16`).
* :func:`fan_in` (``torch.nn.init._calculate_fan_in_and_fan_out``): the spread the model's
  initialisation draws with (:meth:`qgac_fast.model.QGAC.initial_weight_std`), which the weight
  checks of :func:`qgac_fast.model.load_model` compare with.
* :func:`dynamo_error` (``torch._dynamo.exc.TorchDynamoException``): a ``torch.compile`` that
  fails falls back to eager (:class:`qgac_fast.inference.step.CorrectionStep`).
"""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

__all__ = ["EagerDispatchMode", "dynamo_error", "fan_in", "has_amx_tile", "has_avx512_bf16", "tree_leaves"]


class EagerDispatchMode(TorchDispatchMode):
    """A ``TorchDispatchMode`` for eager code only. torch wraps a subclass's ``__torch_dispatch__``
    in ``torch._dynamo.disable`` unless ``_should_skip_dynamo()`` is False, and that wrapper's first
    call imports ``torch._dynamo`` (about 900 modules, 1.5 s of a command's start-up on the CPU).
    Nothing runs compiled under this mode, so there is nothing for the wrapper to keep dynamo out of."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False


def has_amx_tile() -> bool:
    """Whether the CPU has AMX tiles (Intel Sapphire Rapids and later)."""
    return bool(torch.cpu._is_amx_tile_supported())


def has_avx512_bf16() -> bool:
    """Whether the CPU has AVX512-BF16 instructions (AMD Zen 4, Intel Cooper Lake and later)."""
    return bool(torch.cpu._is_avx512_bf16_supported())


def fan_in(weight: torch.Tensor) -> int:
    """The fan-in ``torch.nn.init`` computes for a convolution's ``weight`` (shapes only: works on
    the meta device)."""
    return torch.nn.init._calculate_fan_in_and_fan_out(weight)[0]


def dynamo_error() -> type[Exception]:
    """``torch._dynamo.exc.TorchDynamoException``, the base of what a failed ``torch.compile``
    raises (imported on first use: importing ``torch._dynamo`` takes a second)."""
    import torch._dynamo.exc

    return torch._dynamo.exc.TorchDynamoException
