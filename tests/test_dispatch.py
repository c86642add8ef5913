"""The dispatch rule (qgac_fast.dispatch): which implementation of an op runs, and its table."""

import ast
import pkgutil
from pathlib import Path

import pytest
import torch

from qgac_fast import dispatch, ops
from qgac_fast.dispatch import BACKENDS, OPS, choose, implementation

ROOT = Path(__file__).resolve().parents[1]


def test_reference_is_always_reference():
    assert choose("dct", "reference", torch.ones(2)) == "reference"
    assert choose("decode", "reference", device="cuda") == "reference"


def test_auto_picks_reference_on_cpu_for_kernel_ops():
    for op in OPS:
        if op not in ("decode", "decode_normalized"):  # their CPU twins: libjpeg, native
            assert choose(op, "auto", torch.ones(2)) == "reference", op


def test_auto_picks_libjpeg_for_the_cpu_decode():
    assert choose("decode", "auto", torch.ones(2, dtype=torch.int16)) == "libjpeg"
    assert choose("decode", "auto", torch.ones(2), refuses=lambda name: "no") == "reference"


def test_auto_picks_native_for_the_cpu_float_decode():
    assert choose("decode_normalized", "auto", torch.ones(2)) == "native"
    assert choose("decode_normalized", "auto", torch.ones(2), refuses=lambda name: "no") == "reference"
    with pytest.raises(RuntimeError, match="native runs on the CPU"):
        choose("decode_normalized", "native", torch.ones(2), device="meta")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_auto_picks_triton_on_cuda():
    x = torch.ones(2, device="cuda")
    assert choose("dct", "auto", x) == "triton"
    assert choose("decode", "auto", torch.ones(2), device="cuda") == "triton"
    assert choose("dct", "auto", x, refuses=lambda name: "no") == "reference"


def test_auto_keeps_gradients_on_the_reference_through_forward_only_twins(monkeypatch):
    monkeypatch.setattr(dispatch, "_device_refusal", lambda backend, device, explicit: None)  # as on CUDA
    assert choose("cfm_conv", "auto", torch.ones(2), needs_grad=True) == "reference"
    assert choose("dequantize_idct", "auto", torch.ones(2), needs_grad=True) == "reference"
    assert choose("dct", "auto", torch.ones(2), needs_grad=True) == "triton"  # it has a backward
    assert choose("cfm_conv", "auto", torch.ones(2), needs_grad=False) == "triton"
    with pytest.raises(ValueError, match="forward only"):
        choose("cfm_conv", "triton", torch.ones(2), needs_grad=True)


def test_needs_grad_follows_autograd():
    leaf = torch.ones(2, requires_grad=True)
    assert dispatch.needs_grad(None, torch.ones(2), leaf)
    assert not dispatch.needs_grad(torch.ones(2), None)
    with torch.no_grad():
        assert not dispatch.needs_grad(leaf)


def test_explicit_choices_are_honoured(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert choose("dct", "triton", torch.ones(2)) == "triton"
    # refuses is for "auto" only: an explicit twin raises its own error for arguments it cannot take
    assert choose("dct", "triton", torch.ones(2), refuses=lambda name: "no") == "triton"
    assert choose("decode", "libjpeg", torch.ones(2, dtype=torch.int16), refuses=lambda name: "no") == "libjpeg"


def test_impossible_choices_are_clear_errors(monkeypatch):
    with pytest.raises(ValueError, match="backend must be one of"):
        choose("dct", "cuda", torch.ones(2))
    with pytest.raises(ValueError, match="dct has no 'libjpeg' backend"):
        choose("dct", "libjpeg", torch.ones(2))
    with pytest.raises(RuntimeError, match="libjpeg runs on the CPU"):
        choose("decode", "libjpeg", torch.ones(2), device="meta")
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        choose("dct", "triton", torch.ones(2))


def test_mixed_devices_are_an_error():
    with pytest.raises(ValueError, match="different devices"):
        choose("dct", "auto", torch.ones(2), torch.empty(2, device="meta"))


def test_public_ops_reject_unknown_backends():
    with pytest.raises(ValueError, match="backend must be one of"):
        ops.dct(torch.ones(8, 8), backend="cuda-magic")
    with pytest.raises(ValueError, match="dct_quantize has no 'libjpeg'"):
        ops.dct_quantize(torch.zeros(1, 1, 8, 8), torch.ones(8, 8), backend="libjpeg")


def test_kernels_report_why_they_cannot_run():
    with pytest.raises(RuntimeError, match=r"backend='triton' is unavailable: Triton kernels need CUDA tensors"):
        ops.dct(torch.ones(8, 8, device="meta"), backend="triton")
    assert BACKENDS == ("auto", "reference", "triton", "libjpeg", "native")


@pytest.mark.parametrize("op", list(OPS))
def test_table_pairs_twins_by_name(op):
    """Every op's reference and twins exist and carry the op's name; the public op too."""
    twins = OPS[op]
    for backend in twins.backends():
        fn = implementation(op, backend)
        assert callable(fn)
        if backend != "libjpeg":  # the twin named after libjpeg is codec.decode_pixels
            assert fn.__name__ == op, (op, backend)
    assert twins.reference == f"qgac_fast.functional.{twins.reference.split('.')[2]}.{op}"
    assert callable(getattr(ops, op))


def test_functional_imports_no_kernel_and_kernels_nothing_private():
    """The reference holds only maths (its container from qgac_fast.coefficients, not the codec);
    kernels import only public names of functional."""
    for path in (ROOT / "qgac_fast" / "functional").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not {"kernels", "dispatch", "codec"} & set((node.module or "").split(".")), path
    for path in (ROOT / "kernels").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("qgac_fast.functional"):
                assert all(not alias.name.startswith("_") for alias in node.names), (path, node.module)


def test_no_function_shadows_its_module():
    import qgac_fast.functional as functional

    for info in pkgutil.iter_modules(functional.__path__):
        assert not callable(getattr(functional, info.name, None)) or info.name.startswith("_"), info.name


def test_check_backend_takes_what_the_op_has():
    assert dispatch.check_backend("decode_normalized", "triton") == "triton"
    assert dispatch.check_backend("cfm_conv", "auto") == "auto"
    with pytest.raises(ValueError, match=r"^decode_backend must be one of \('auto', 'reference', 'triton', "
                                         r"'native'\), got 'libjpeg'$"):
        dispatch.check_backend("decode_normalized", "libjpeg", "decode_backend")
    assert dispatch.check_backend("decode", "libjpeg") == "libjpeg"


def test_table_lists_every_op():
    lines = dispatch.table().splitlines()
    assert len(lines) == len(OPS) + 1
    assert any(line.startswith("decode ") and "libjpeg: qgac_fast.codec.decode_pixels" in line for line in lines)
