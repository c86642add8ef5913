"""The end-to-end benchmark's options; the defaults of the size-related ones depend on the device
(a GPU run, or the CPU smoke run)."""

from __future__ import annotations

import argparse
import os
import sys

import torch

import bench.end_to_end
from bench.common import RESULTS, SMOKE
from qgac_fast.inference import COMPILE_MODES

PIPELINES = ("forward", "stream", "engine", "files")
COMPILED_PIPELINES = ("forward", "stream")
PRECISIONS = ("bf16", "float32")


def parse_args(argv):
    """Arguments; the defaults of the size-related ones depend on the device (``apply_defaults``)."""
    parser = argparse.ArgumentParser(prog="python -m bench.end_to_end",
                                     description=bench.end_to_end.__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available, else the CPU "
                        "in smoke mode only)")
    parser.add_argument("--configs", nargs="+", default=["default", "paper"], choices=["default", "paper"])
    parser.add_argument("--sizes", nargs="+", type=int, help="square image sides, pixels (512 2048; smoke 32 64)")
    parser.add_argument("--batches", nargs="+", type=int, help="batch sizes (1 16; smoke 1 2)")
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    parser.add_argument("--pipelines", nargs="+", default=list(PIPELINES), choices=PIPELINES)
    parser.add_argument("--no-eager", action="store_true", help="leave out the eager-loop baseline")
    parser.add_argument("--no-compile", action="store_true", help="leave out the torch.compile rows")
    parser.add_argument("--compile-backend", help="torch.compile backend (inductor; smoke: eager, dynamo tracing only)")
    parser.add_argument("--quality", type=int, default=30)
    parser.add_argument("--min-images", type=int, help="least images per pass (8; smoke 1); a pass has "
                        "max(this, batches-per-pass x batch)")
    parser.add_argument("--batches-per-pass", type=int, help="batches per pass (2, so reading overlaps the "
                        "model; smoke 1)")
    parser.add_argument("--eager-images", type=int, help="images per eager-loop pass (4; smoke 1)")
    parser.add_argument("--compile-modes", nargs="+", choices=COMPILE_MODES,
                        help="torch.compile modes of the compiled rows (default reduce-overhead; smoke: default)")
    parser.add_argument("--compile-configs", nargs="+", choices=["default", "paper"],
                        help="configs with torch.compile rows (all of --configs; smoke: default)")
    parser.add_argument("--flops-size", type=int, help="image side of the FLOP count (256; smoke 64)")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1),
                        help="reader threads (stream, engine, reader check) and writer threads (files)")
    parser.add_argument("--file-format", default="png", choices=["png", "jpeg", "webp"])
    parser.add_argument("--min-time", type=float, help="timed seconds per row after the warm-up (0.5; smoke 0)")
    parser.add_argument("--min-repeats", type=int, help="least timed passes per row (2; smoke 1)")
    parser.add_argument("--max-repeats", type=int, help="most timed passes per row (20; smoke 1)")
    parser.add_argument("--matmul-n", type=int, help="peak matmul side (8192; smoke 128)")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="wall-clock budget: rows that would not finish in it are skipped")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--name", default=None, help="basename of the outputs (default: e2e-<gpu>, e2e-cpu-smoke)")
    parser.add_argument("--out-dir", default=str(RESULTS), help="folder of the JSON, Markdown and PNG")
    return parser.parse_args(argv)


#: (GPU default, CPU smoke default) of the arguments whose scale depends on the device
SCALED_DEFAULTS = {"sizes": ([512, 2048], [32, 64]), "batches": ([1, 16], [1, 2]),
                   "compile_backend": ("inductor", "eager"),
                   "compile_modes": (["default", "reduce-overhead"], ["default"]),
                   "min_images": (8, 1), "eager_images": (4, 1),
                   "batches_per_pass": (2, 1), "compile_configs": (None, ["default"]), "flops_size": (256, 64),
                   "min_time": (0.5, 0.0), "min_repeats": (2, 1), "max_repeats": (20, 1), "matmul_n": (8192, 128)}


def apply_defaults(args, smoke: bool):
    for name, (gpu, cpu) in SCALED_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, cpu if smoke else gpu)
    if any(v < 1 for v in args.sizes + args.batches):
        raise SystemExit("error: --sizes and --batches must be positive")
    args.max_repeats = max(args.max_repeats, args.min_repeats, 1)
    if args.compile_configs is None:
        args.compile_configs = list(args.configs)
    return args


def pick_device(requested: str | None) -> torch.device | None:
    """The kernel benchmarks' rule (``bench/conftest.py``): CUDA when available; the CPU only in smoke mode."""
    if requested is not None:
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            return None
        if device.type == "cpu" and not SMOKE:
            print("note: --device cpu without QGAC_BENCH_CPU_SMOKE=1: sizes as given", file=sys.stderr)
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if SMOKE:
        return torch.device("cpu")
    return None
