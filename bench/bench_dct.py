"""Blockwise DCT kernels: Triton vs the eager reference vs ``torch.compile(reference)``, on CUDA.

Usage (from the repository root, inside .venv, on a machine with a GPU)::

    python -m bench.run dct --name dct-h100

Parameters (``QGAC_BENCH_DCT_*``): ``SHAPES`` (``NxCxHxW`` tiled plane shapes; 16x3x512x512
1x1x2048x2048, smoke 1x1x16x16), ``DTYPES`` (of the plain dct/idct cases: float32, float16,
bfloat16; float32), ``OPS`` (idct dct dequantize_idct dequantize_idct_uint8 dct_quantize),
``IMPLS`` (triton eager compiled).

Ops, each at every shape: ``idct`` and ``dct`` (in each dtype), ``dequantize_idct`` (int16
coefficients + per-sample-and-channel int32 tables -> float32, and -> uint8 pixels) and
``dct_quantize`` (uint8 pixels with the level shift -> int16). Each call goes through the public ops
of :mod:`qgac_fast.ops` (``backend="triton"`` / ``"reference"``), so per-call Python overhead is
included as a caller sees it; the device is synchronised inside the timed call. Each case also
has a ``copy`` impl: a device-to-device copy of the bytes the op must move (input read + output
written + tables), the yardstick. The report (:func:`markdown`): median time, GB/s, the copy's
time over the op's ("copy %": 100% means the op runs at copy speed) and the speed-ups over the
eager reference and over torch.compile(reference).

Needs CUDA; ``QGAC_BENCH_CPU_SMOKE=1`` (with ``TRITON_INTERPRET=1``) runs the tiny shape on the CPU,
without the compiled impl, only to check that this file works.
"""

from __future__ import annotations

import pytest
import torch

from bench.common import SMOKE, setting
from bench.report import provenance

SHAPES = setting("DCT_SHAPES", "1x1x16x16" if SMOKE else "16x3x512x512 1x1x2048x2048").split()
DTYPES = setting("DCT_DTYPES", "float32").split()
OPS = setting("DCT_OPS", "idct dct dequantize_idct dequantize_idct_uint8 dct_quantize").split()
IMPLS = setting("DCT_IMPLS", "triton eager compiled").split() + ["copy"]


def _shape(text: str) -> tuple[int, int, int, int]:
    shape = tuple(int(v) for v in text.lower().split("x"))
    if len(shape) != 4:
        raise ValueError(f"shape {text!r} is not NxCxHxW")
    return shape


#: (op, dtype) of every case at one shape: the plain transforms in each dtype, the others in theirs.
OP_DTYPES = [(op, dtype) for op in OPS for dtype in (DTYPES if op in ("idct", "dct") else ["-"])]


def _case(op: str, dtype_name: str, shape, device: torch.device):
    """``({impl: no-argument callable}, bytes the op must move)``."""
    from qgac_fast import ops as F
    from qgac_fast.quality import ijg_table

    n, c, h, w = shape
    g = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    tables = torch.stack([torch.stack([ijg_table(10 + 20 * ((i + j) % 5), chroma=j > 0) for j in range(c)])
                          for i in range(n)]).to(torch.int32).to(device)
    if op in ("idct", "dct"):
        x = pixels.float() - 128
        if op == "idct":
            x = F.dct(x, backend="reference")
        x = x.to(getattr(torch, dtype_name)).to(device)
        fn = getattr(F, op)
        impls = {"triton": lambda: fn(x, backend="triton"), "eager": lambda: fn(x, backend="reference")}
        compiled = torch.compile(lambda v: fn(v, backend="reference"))
        impls["compiled"] = lambda: compiled(x)
        moved = 2 * x.numel() * x.element_size()
    elif op.startswith("dequantize_idct"):
        as_pixels = op.endswith("uint8")
        q = F.dct_quantize(pixels, tables.cpu(), level_shift=True, backend="reference").to(device)
        fn = F.dequantize_idct
        impls = {"triton": lambda: fn(q, tables, pixels=as_pixels, backend="triton"),
                 "eager": lambda: fn(q, tables, pixels=as_pixels, backend="reference")}
        compiled = torch.compile(lambda v, t: fn(v, t, pixels=as_pixels, backend="reference"))
        impls["compiled"] = lambda: compiled(q, tables)
        moved = q.numel() * (2 + (1 if as_pixels else 4)) + tables.numel() * 4
    elif op == "dct_quantize":
        x = pixels.to(device)
        fn = F.dct_quantize
        impls = {"triton": lambda: fn(x, tables, level_shift=True, backend="triton"),
                 "eager": lambda: fn(x, tables, level_shift=True, backend="reference")}
        compiled = torch.compile(lambda v, t: fn(v, t, level_shift=True, backend="reference"))
        impls["compiled"] = lambda: compiled(x, tables)
        moved = x.numel() * (1 + 2) + tables.numel() * 4
    else:
        raise ValueError(f"unknown op {op!r}")
    source = torch.empty(max(1, moved // 2), dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    impls["copy"] = lambda: target.copy_(source)
    return impls, moved


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("op, dtype", OP_DTYPES, ids=[f"{op}-{dtype}" for op, dtype in OP_DTYPES])
@pytest.mark.parametrize("shape", SHAPES)
def bench_dct(benchmark, device, shape, op, dtype, impl):
    if impl == "compiled" and device.type != "cuda":
        pytest.skip("torch.compile of the reference is measured on CUDA only (the CPU smoke run checks the rest)")
    impls, moved = _case(op, dtype, _shape(shape), device)
    call = impls[impl]

    def run():
        result = call()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return result

    run()  # compile / autotune outside the timing
    benchmark(run)
    benchmark.extra_info.update(op=op, dtype=dtype, shape=shape, impl=impl, bytes=moved,
                                device=torch.cuda.get_device_name(device) if device.type == "cuda"
                                else "CPU, Triton interpreter (smoke run)", torch=torch.__version__)


def markdown(benchmarks: list[dict], run: dict) -> str:
    """The report's table of this module's cases (:mod:`bench.report`): per (shape, op, dtype), each
    impl against the copy of the same bytes, the eager reference and the compiled reference."""
    median = {tuple(b["extra_info"][k] for k in ("shape", "op", "dtype", "impl")): b["stats"]["median"]
              for b in benchmarks}
    lines = ["# Blockwise DCT kernels", "", provenance(run), "",
             f"Device: {benchmarks[0]['extra_info']['device']}; torch {benchmarks[0]['extra_info']['torch']}.", "",
             "GB/s = bytes the op must move (input + output + tables) / median time. Copy % = time of a "
             "device-to-device copy of the same bytes / the op's time. x eager, x compiled: speed-up of this entry "
             "over the eager reference and over torch.compile(reference).", "",
             "| op | dtype | shape | impl | median ms | GB/s | copy % | x eager | x compiled |",
             "|---|---|---|---|---|---|---|---|---|"]
    for bench in benchmarks:
        info = bench["extra_info"]
        if info["impl"] == "copy":
            continue
        key = (info["shape"], info["op"], info["dtype"])
        own = bench["stats"]["median"]

        def over(impl, key=key, own=own):
            other = median.get((*key, impl))
            return "n/a" if other is None else f"{other / own:.2f}"

        copy = median.get((*key, "copy"))
        lines.append(f"| {info['op']} | {info['dtype']} | {info['shape']} | {info['impl']} | {own * 1e3:.3f} | "
                     f"{info['bytes'] / own / 1e9:.1f} | {'n/a' if copy is None else f'{copy / own:.0%}'} | "
                     f"{over('eager')} | {over('compiled')} |")
    return "\n".join(lines) + "\n"
