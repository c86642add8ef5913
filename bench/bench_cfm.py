"""CFM layers at the paper's widths: Triton kernel vs the reference batched matrix product (eager and
torch.compile), with a device-to-device copy of the same bytes as the bandwidth yardstick.

Layers: CFM 1 -> 256 (K = 64), transposed CFM 256 -> 64 (Cout*64 = 4096), CFM 64 -> 256
(K = 4096); sizes: batch 16 of 256x256 and batch 1 of 2048x2048; bfloat16 and float32. Two weight
sets shared through ``table_index`` (a batch of two quality levels). ``extra_info`` records the
FLOPs (2 * P * K * Cout per sample), bytes moved (input + output + weights), TFLOP/s and GB/s from
the median, and the GPU's name; the goal on an H100 is the kernel >= 3x the eager reference.

Needs CUDA; ``QGAC_BENCH_CPU_SMOKE=1`` (with ``TRITON_INTERPRET=1``) runs tiny sizes on the CPU
only to check that this file works.
"""

from __future__ import annotations

import functools

import pytest
import torch

from bench.common import SMOKE
from qgac_fast.ops import cfm_conv, cfm_conv_transpose

# name: (transposed, Cin, Cout)
LAYERS = {"cfm_1_256": (False, 1, 256), "cfm_t_256_64": (True, 256, 64), "cfm_64_256": (False, 64, 256)}
# name: (batch, image height, image width)
SIZES = {"16x256x256": (16, 256, 256), "1x2048x2048": (1, 2048, 2048)}
SMOKE_SIZES = {"2x16x24": (2, 16, 24)}
DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}
IMPLS = ["triton", "reference", "reference_compiled", "copy"]
# bench/report.py's table names each entry by tool; its ratio column is relative to the qgac_fast kernel
TOOLS = {"triton": "qgac_fast.cfm (triton)", "reference": "torch batched matmul (eager reference)",
         "reference_compiled": "torch.compile(reference)", "copy": "device-to-device copy, same bytes"}



def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _problem(layer: str, size: tuple[int, int, int], dtype: torch.dtype, device: torch.device) -> dict:
    """Inputs of one layer on one batch, and its FLOPs and bytes."""
    transposed, cin, cout = LAYERS[layer]
    n, height, width = size
    sets = min(n, 2)
    g = torch.Generator(device=device).manual_seed(0)
    blocks = (height // 8) * (width // 8)
    if transposed:
        x = torch.randn(n, cin, height // 8, width // 8, generator=g, device=device, dtype=dtype)
        weight = torch.randn(sets, cin, cout, 8, 8, generator=g, device=device, dtype=dtype) / cin ** 0.5
        out_numel = n * cout * height * width
    else:
        x = torch.randn(n, cin, height, width, generator=g, device=device, dtype=dtype)
        weight = torch.randn(sets, cout, cin, 8, 8, generator=g, device=device, dtype=dtype) / (8 * cin ** 0.5)
        out_numel = n * cout * blocks
    bias = torch.randn(sets, cout, generator=g, device=device, dtype=dtype)
    index = torch.arange(n, device=device) % sets
    slope = torch.full((cout,), 0.25, device=device, dtype=dtype)
    item = x.element_size()
    return dict(op=cfm_conv_transpose if transposed else cfm_conv, x=x, weight=weight, bias=bias, index=index,
                slope=slope, flops=2 * n * blocks * cin * 64 * cout,
                bytes=(x.numel() + out_numel + weight.numel()) * item, out_numel=out_numel)


def _runner(impl: str, problem: dict, device: torch.device):
    """A no-argument callable running ``impl`` once and waiting for the device."""
    if impl == "copy":
        source = torch.empty(problem["bytes"] // 2, dtype=torch.int16, device=device)
        target = torch.empty_like(source)
        call = functools.partial(target.copy_, source)
    else:
        op = problem["op"]
        if impl == "reference_compiled":
            op = torch.compile(functools.partial(op, backend="reference"))
        else:
            op = functools.partial(op, backend=impl)
        call = functools.partial(op, problem["x"], problem["weight"], problem["bias"], table_index=problem["index"],
                                 prelu=problem["slope"])

    def run():
        result = call()
        _synchronize(device)
        return result

    return run


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@pytest.mark.parametrize("size", (SMOKE_SIZES if SMOKE else SIZES).values(), ids=(SMOKE_SIZES if SMOKE else SIZES).keys())
@pytest.mark.parametrize("layer", LAYERS)
def bench_cfm(benchmark, device, layer, size, dtype, impl):
    if impl == "reference_compiled" and device.type != "cuda":
        pytest.skip("torch.compile of the reference is measured on CUDA only (the CPU smoke run checks the rest)")
    problem = _problem(layer, size, dtype, device)
    run = _runner(impl, problem, device)
    run()  # compile / autotune / warm the allocator outside the timed region
    benchmark.group = f"cfm-{layer}-{'x'.join(map(str, size))}-{str(dtype).removeprefix('torch.')}"
    benchmark.extra_info.update(
        tool=TOOLS[impl], file=f"{layer} {'x'.join(map(str, size))}", megapixels=size[0] * size[1] * size[2] / 1e6,
        threads=1, layer=layer, batch=size[0], height=size[1], width=size[2], dtype=str(dtype), impl=impl,
        device=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu (interpreter smoke run)",
        torch=torch.__version__, flops=problem["flops"], bytes=problem["bytes"])
    benchmark(run)
    if benchmark.stats is None:  # --benchmark-disable: the function ran once, nothing was timed
        return
    median = benchmark.stats.stats.median
    benchmark.extra_info.update(tflops=None if impl == "copy" else problem["flops"] / median / 1e12,
                                gbps=problem["bytes"] / median / 1e9)
