"""Fused JPEG decode / encode kernels against the eager reference and torch.compile(reference).

Every benchmark records the bytes it moves (read + written, the kernel's minimum: int16
coefficients, uint8 pixels) and, for the fused kernels, the bandwidth of a device-to-device copy
of the same number of bytes measured in the same run and the achieved fraction of it (the
issue's goal on an H100: >= 0.8). Needs CUDA; ``QGAC_BENCH_CPU_SMOKE=1`` (with
``TRITON_INTERPRET=1``) runs everything at a tiny size on CPU to check the code itself.
"""

from __future__ import annotations

import statistics
import time

import pytest
import torch

from bench.common import SMOKE
from qgac_fast.functional.jpeg import decode_planes, encode_planes
from qgac_fast.kernels import jpeg as kernels
from qgac_fast.quality import ijg_table

SIZES = {"b16-512x512": (16, 512, 512), "b1-2048x2048": (1, 2048, 2048)}
SMOKE_SIZES = {"b2-24x40": (2, 24, 40)}
IMPLS = ("triton", "reference", "compiled-reference")



def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device: torch.device):
    """``fn`` with a device synchronisation inside the timed region."""
    def run():
        result = fn()
        _sync(device)
        return result
    return run


def _copy_gbps(nbytes: int, device: torch.device, repeats: int = 20) -> float:
    """Median GB/s (read + written) of a device-to-device copy moving ``nbytes`` in total."""
    src = torch.empty(max(nbytes // 2, 1), dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        dst.copy_(src)
        _sync(device)
        times.append(time.perf_counter() - start)
    return 2 * src.numel() / statistics.median(times) / 1e9


def _inputs(shape, device: torch.device):
    """uint8 RGB (N, 3, H, W) noise-textured gradients, IJG q75 tables, and their 4:2:0 planes."""
    n, h, w = shape
    g = torch.Generator().manual_seed(0)
    ramp = torch.linspace(0, 255, w).expand(n, 3, h, w)
    rgb = (ramp + torch.randint(-20, 21, (n, 3, h, w), generator=g)).clamp(0, 255).to(torch.uint8).to(device)
    lt, ct = ijg_table(75).to(device), ijg_table(75, chroma=True).to(device)
    y, c = encode_planes(rgb, lt, ct, "4:2:0", dct="float")
    return rgb, lt, ct, y, c


def _runner(impl: str, reference, kernel):
    if impl == "triton":
        return kernel
    if impl == "compiled-reference":
        if SMOKE:
            pytest.skip("torch.compile is not smoke-tested on CPU")
        return torch.compile(reference)
    return reference


#: ``tool`` names for bench/report.py's tables (ratios are taken to the "qgac_fast" entry)
_TOOLS = {"triton": "qgac_fast.triton", "reference": "reference.eager", "compiled-reference": "reference.torch_compile"}


def _record(benchmark, name, impl, shape, nbytes, device):
    """extra_info for bench/report.py: sizes, bytes, GB/s, copy yardstick."""
    n, h, w = shape
    benchmark.extra_info.update(tool=_TOOLS[impl], file=name, impl=impl, batch=n, height=h, width=w, bytes_moved=nbytes,
                                megapixels=n * h * w / 1e6,
                                device=torch.cuda.get_device_name() if device.type == "cuda" else "cpu-interpreter")
    copy = _copy_gbps(nbytes, device) if impl == "triton" else None
    if benchmark.stats is None:  # --benchmark-disable: the function ran once, untimed
        return
    gbps = nbytes / benchmark.stats.stats.median / 1e9
    benchmark.extra_info["gbps"] = gbps
    if copy is not None:
        benchmark.extra_info.update(copy_gbps=copy, fraction_of_copy=gbps / copy)


def _sizes():
    return SMOKE_SIZES if SMOKE else SIZES


@pytest.mark.benchmark(group="jpeg-decode-4:2:0")
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", list(_sizes()))
def bench_decode(benchmark, device, name, impl):
    shape = _sizes()[name]
    _, lt, ct, y, c = _inputs(shape, device)
    n, h, w = shape
    nbytes = y.numel() * 2 + c.numel() * 2 + n * 3 * h * w

    def reference(y, c):
        return decode_planes(y, c, lt, ct, dtype=torch.uint8)

    def kernel(y, c):
        return kernels.decode_planes(y, c, lt, ct, size=(h, w))

    run = _runner(impl, reference, kernel)
    benchmark(_timed(lambda: run(y, c), device))
    _record(benchmark, name, impl, shape, nbytes, device)


@pytest.mark.benchmark(group="jpeg-encode-4:2:0")
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", list(_sizes()))
def bench_encode(benchmark, device, name, impl):
    shape = _sizes()[name]
    rgb, lt, ct, y, c = _inputs(shape, device)
    nbytes = rgb.numel() + y.numel() * 2 + c.numel() * 2

    def reference(rgb):
        return encode_planes(rgb, lt, ct, "4:2:0", dct="float")

    def kernel(rgb):
        return kernels.encode_planes(rgb, lt, ct, "4:2:0")

    run = _runner(impl, reference, kernel)
    benchmark(_timed(lambda: run(rgb), device))
    _record(benchmark, name, impl, shape, nbytes, device)
