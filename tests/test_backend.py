"""Backend resolution: the one place that picks reference or Triton."""

import pytest
import torch

from qgac_fast.backend import BACKENDS, resolve_backend
from qgac_fast.kernels import _triton


def test_reference_is_always_reference():
    assert resolve_backend("reference", torch.ones(2)) == "reference"


def test_auto_picks_reference_on_cpu():
    assert resolve_backend("auto", torch.ones(2)) == "reference"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_auto_picks_triton_on_cuda():
    assert resolve_backend("auto", torch.ones(2, device="cuda")) == "triton"


def test_triton_on_cpu_follows_the_interpreter(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert resolve_backend("triton", torch.ones(2)) == "triton"
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        resolve_backend("triton", torch.ones(2))


def test_operation_without_kernel_refuses_triton():
    assert resolve_backend("auto", torch.ones(2), has_kernel=False) == "reference"
    with pytest.raises(ValueError, match="no Triton kernel"):
        resolve_backend("triton", torch.ones(2), has_kernel=False)


def test_unknown_backend_lists_the_choices():
    with pytest.raises(ValueError, match="backend must be one of"):
        resolve_backend("cuda", torch.ones(2))
    assert BACKENDS == ("auto", "reference", "triton")


def test_mixed_devices_are_an_error():
    meta = torch.empty(2, device="meta")
    with pytest.raises(ValueError, match="different devices"):
        resolve_backend("auto", torch.ones(2), meta)


def test_kernels_report_why_they_cannot_run():
    assert _triton.AVAILABLE
    assert _triton.unavailable_reason(torch.device("meta")) is not None
