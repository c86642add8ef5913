"""The one place that decides which implementation of an operation runs.

Every public operation takes ``backend="auto" | "reference" | "triton"``:

* ``"reference"``: the pure-PyTorch path (differentiable, any device, float64-capable): the
  specification every kernel is tested against.
* ``"triton"``: the Triton kernels of ``qgac_fast.kernels`` (CUDA tensors, or CPU tensors under
  Triton's interpreter); forward only.
* ``"auto"``: Triton for CUDA tensors when Triton is available, the reference otherwise.
"""

from __future__ import annotations

import torch

BACKENDS = ("auto", "reference", "triton")


def resolve_backend(backend: str, *tensors: torch.Tensor, has_kernel: bool = True) -> str:
    """Return the concrete backend, ``"reference"`` or ``"triton"``, for ``backend`` and the inputs.

    Args:
        backend: one of :data:`BACKENDS`.
        tensors: the operation's tensor inputs; their device decides what "auto" picks and
            whether "triton" can run.
        has_kernel: False for operations without a Triton twin: "auto" then always resolves to
            the reference and "triton" is an error.

    Raises:
        ValueError: ``backend`` is not one of :data:`BACKENDS`, or "triton" for an operation
            without a kernel.
        RuntimeError: ``backend="triton"`` but the kernels cannot run on the inputs' device.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "reference":
        return "reference"
    if not has_kernel:
        if backend == "triton":
            raise ValueError("this operation has no Triton kernel: use backend='reference' or 'auto'")
        return "reference"
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        raise ValueError(f"inputs are on different devices: {sorted(str(d) for d in devices)}")
    device = devices.pop() if devices else torch.device("cpu")
    if backend == "auto":
        if device.type != "cuda":
            return "reference"
        from qgac_fast.kernels._triton import unavailable_reason

        return "reference" if unavailable_reason(device) else "triton"
    from qgac_fast.kernels._triton import unavailable_reason

    reason = unavailable_reason(device)
    if reason:
        raise RuntimeError(f"backend='triton' is unavailable: {reason}")
    return "triton"
