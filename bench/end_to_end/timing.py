"""Timing helpers of the end-to-end benchmark: device synchronisation, the matmul peak every row is
compared with, and the run's time budget."""

from __future__ import annotations

import gc
import math
import statistics
import time

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def measure_peak(device: torch.device, n: int) -> dict:
    """Peak TFLOP/s of an n^3 matrix product in bf16 and in float32 (median of 20)."""
    out = {"matmul_n": n, "bf16_tflops": None, "float32_tflops": None,
           "timer": "CUDA events, median of 20 after 3 warm-ups" if device.type == "cuda"
           else "wall clock, median of 5 (CPU smoke run: not a peak)"}
    for key, dtype in (("bf16_tflops", torch.bfloat16), ("float32_tflops", torch.float32)):
        try:
            g = torch.Generator(device=device).manual_seed(0)
            a = torch.randn(n, n, device=device, dtype=dtype, generator=g)
            b = torch.randn(n, n, device=device, dtype=dtype, generator=g)
            times = []
            if device.type == "cuda":
                for _ in range(3):
                    a @ b
                for _ in range(20):
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    a @ b
                    end.record()
                    end.synchronize()
                    times.append(start.elapsed_time(end) / 1e3)
            else:
                a @ b
                for _ in range(5):
                    t0 = time.perf_counter()
                    a @ b
                    times.append(time.perf_counter() - t0)
            out[key] = 2 * n ** 3 / statistics.median(times) / 1e12
            del a, b
        except Exception as error:  # noqa: BLE001
            out[key + "_error"] = short(error)
    release(device)
    return out


def short(error: BaseException, limit: int = 400) -> str:
    """``Type: message`` of ``error``, its first line, at most ``limit`` characters: a row's reason."""
    text = f"{type(error).__name__}: {error}".strip()
    first = text.splitlines()[0] if text else type(error).__name__
    return first[:limit]


class Budget:
    """The run's wall-clock budget (``seconds``, None: none) and whether a signal interrupted it."""

    def __init__(self, seconds: float | None):
        self.end = None if seconds is None else time.monotonic() + seconds
        self.interrupted = False

    def left(self) -> float:
        return math.inf if self.end is None else self.end - time.monotonic()

    def allows(self, estimate: float) -> bool:
        return not self.interrupted and self.left() > estimate
