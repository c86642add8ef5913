"""The one rule that decides which implementation of an operation runs.

Every public op of :mod:`qgac_fast.ops` exists as a pure-PyTorch reference in
:mod:`qgac_fast.functional` (the specification: differentiable, any device, float64-capable) and
as one or more faster twins of the same name: Triton kernels in :mod:`qgac_fast.kernels` (the
top-level ``kernels/`` folder, installed under that name), for the CPU decode of a JPEG libjpeg
itself (:func:`qgac_fast.codec.decode_pixels`), and the extension's own C++ kernels for the CPU
(:mod:`qgac_fast.native`). :data:`OPS` lists the pairs; the ops take
``backend=`` (one of :data:`BACKENDS`) and ask :func:`choose` which one to run:

* ``"reference"`` always runs the reference.
* An explicit twin (``"triton"``, ``"libjpeg"``, ``"native"``) runs that twin or fails with a
  clear error: the op has no such twin (ValueError), the twin cannot run on the device (RuntimeError), a gradient
  is needed through a forward-only twin (ValueError), or the twin refuses the arguments (its own
  TypeError / ValueError).
* ``"auto"`` runs the reference whenever a gradient is needed through a forward-only twin;
  otherwise the first twin, in :data:`OPS` order, that runs on the device without being asked
  (Triton: CUDA tensors, never the interpreter; libjpeg and native: the CPU) and takes the arguments;
  otherwise the reference.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["BACKENDS", "OPS", "Twins", "check_backend", "choose", "implementation", "needs_grad", "table"]

#: What ``backend=`` accepts.
BACKENDS = ("auto", "reference", "triton", "libjpeg", "native")


@dataclass(frozen=True)
class Twins:
    """The implementations of one op, as dotted paths of functions with the op's name.

    Attributes:
        reference: the pure-PyTorch reference in :mod:`qgac_fast.functional`.
        twins: backend name -> its implementation, in the order "auto" tries them.
        differentiable: the twins have backward formulas (else "auto" keeps gradients on the
            reference).
    """

    reference: str
    twins: tuple[tuple[str, str], ...] = ()
    differentiable: bool = False

    def backends(self) -> tuple[str, ...]:
        """The backends this op accepts besides "auto"."""
        return ("reference",) + tuple(name for name, _ in self.twins)


def _triton(module: str, name: str) -> tuple[str, str]:
    return "triton", f"qgac_fast.kernels.{module}.{name}"


def _pair(module: str, name: str, differentiable: bool = False) -> Twins:
    return Twins(f"qgac_fast.functional.{module}.{name}", (_triton(module, name),), differentiable)


#: Every public op: its reference and its twins (:func:`table` formats it).
OPS: dict[str, Twins] = {
    "dct": _pair("transform", "dct", differentiable=True),
    "idct": _pair("transform", "idct", differentiable=True),
    "block_dct": _pair("transform", "block_dct", differentiable=True),
    "block_idct": _pair("transform", "block_idct", differentiable=True),
    "dequantize_idct": _pair("transform", "dequantize_idct"),
    "dct_quantize": _pair("transform", "dct_quantize"),
    "cfm_conv": _pair("cfm", "cfm_conv"),
    "cfm_conv_transpose": _pair("cfm", "cfm_conv_transpose"),
    "decode_planes": _pair("jpeg", "decode_planes"),
    "decode_normalized": Twins("qgac_fast.functional.jpeg.decode_normalized",
                               (_triton("jpeg", "decode_normalized"), ("native", "qgac_fast.native.decode_normalized"))),
    "encode_planes": _pair("jpeg", "encode_planes"),
    "decode": Twins("qgac_fast.functional.jpeg.decode",
                    (_triton("jpeg", "decode"), ("libjpeg", "qgac_fast.codec.decode_pixels"))),
}


def check_backend(op: str, backend: str, name: str = "backend") -> str:
    """``backend`` if ``op`` takes it (``"auto"`` or one of its :meth:`Twins.backends`): the check
    of a setting stored for later calls (``decode_backend=``, ``QGAC.cfm_backend``), made where it
    is given. Whether the twin runs on the device is decided at each call (:func:`choose`).

    Raises:
        ValueError: any other value; the message names the setting ``name`` and the choices.
    """
    choices = ("auto",) + OPS[op].backends()
    if backend not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {backend!r}")
    return backend


def implementation(op: str, backend: str) -> Callable:
    """The function that runs ``op`` on the concrete ``backend`` ("reference" or a twin's name)."""
    twins = OPS[op]
    path = twins.reference if backend == "reference" else dict(twins.twins)[backend]
    module, _, name = path.rpartition(".")
    package, _, leaf = module.rpartition(".")
    if package == "qgac_fast.kernels":
        # an import statement: torch.compile traces it, but neither importlib nor a sys.modules
        # entry made during the trace (the package itself imports the references and the codec)
        from qgac_fast.kernels import cfm, jpeg, transform

        return getattr({"cfm": cfm, "jpeg": jpeg, "transform": transform}[leaf], name)
    # the lazy package may not have imported it yet (a trace always finds it: the kernels import it)
    loaded = sys.modules.get(module) or importlib.import_module(module)
    return getattr(loaded, name)


def needs_grad(*tensors: torch.Tensor | None) -> bool:
    """Whether autograd records through an op on these inputs (None entries are skipped)."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _device_refusal(backend: str, device: torch.device, explicit: bool) -> str | None:
    """None if ``backend`` runs on ``device`` (for "auto": without being asked), else why not."""
    if backend in ("libjpeg", "native"):
        return None if device.type == "cpu" else f"{backend} runs on the CPU, not on {device.type}"
    if not explicit and device.type != "cuda":
        return "auto uses Triton for CUDA tensors only"
    from qgac_fast.kernels._triton import unavailable_reason

    return unavailable_reason(device)


def choose(op: str, backend: str, *tensors: torch.Tensor, device: torch.device | str | None = None,
           needs_grad: bool = False, refuses: Callable[[str], str | None] | None = None) -> str:
    """The backend that runs ``op``: ``"reference"`` or the name of one of its twins.

    Args:
        op: a key of :data:`OPS`.
        backend: what the caller asked for, one of :data:`BACKENDS`.
        tensors: the op's tensor inputs; they must share one device.
        device: where the op runs when it is not the inputs' device (a decode to another device);
            default: the inputs' device (the CPU without inputs).
        needs_grad: a gradient must flow through the result.
        refuses: for "auto": maps a twin's name to None if it takes these arguments, else to a
            sentence saying why not (explicit choices let the twin raise its own error).

    Raises:
        ValueError: an unknown backend, one the op does not have, inputs on several devices, or
            a gradient needed through a forward-only twin chosen explicitly.
        RuntimeError: an explicit twin that cannot run on the device.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    twins = OPS[op]
    if backend == "reference":
        return "reference"
    if backend != "auto" and backend not in twins.backends():
        raise ValueError(f"{op} has no {backend!r} backend: choose one of {('auto',) + twins.backends()}")
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        raise ValueError(f"inputs are on different devices: {sorted(str(d) for d in devices)}")
    if device is None:
        device = devices.pop() if devices else torch.device("cpu")
    device = torch.device(device)
    if backend != "auto":
        reason = _device_refusal(backend, device, explicit=True)
        if reason:
            raise RuntimeError(f"backend={backend!r} is unavailable: {reason}")
        if needs_grad and not twins.differentiable:
            raise ValueError(f"{op}: the {backend} backend is forward only; use backend='reference' for gradients")
        return backend
    if needs_grad and not twins.differentiable:
        return "reference"
    for name, _ in twins.twins:
        if _device_refusal(name, device, explicit=False) is None and (refuses is None or refuses(name) is None):
            return name
    return "reference"


def table() -> str:
    """:data:`OPS` as aligned text, one op a line: its reference and its twins."""
    rows = [("op", "reference (qgac_fast.functional)", "twins")]
    for op, twins in OPS.items():
        rows.append((op, twins.reference.removeprefix("qgac_fast.functional."),
                     ", ".join(f"{name}: {path}" for name, path in twins.twins)))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return "\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}" for a, b, c in rows)
