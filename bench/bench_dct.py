"""Blockwise DCT kernels: Triton vs the eager reference vs ``torch.compile(reference)``, on CUDA.

Usage (from the repository root, inside .venv, on a machine with a GPU)::

    python bench/bench_dct.py [--shapes 16x3x512x512 1x1x2048x2048] [--name dct-h100]

Ops, each at every shape: ``idct`` and ``dct`` (float32, and float16/bfloat16 with ``--dtypes``),
``dequantize_idct`` (int16 coefficients + per-sample-and-channel int32 tables -> float32, and ->
uint8 pixels) and ``dct_quantize`` (uint8 pixels with the level shift -> int16).

Timing: ``triton.testing.do_bench`` (CUDA events around each call, L2 flushed before each; the
median and the 20th/80th percentiles over ~100 ms of calls). Each call goes through the public
ops of :mod:`qgac_fast.ops` (``backend="triton"`` / ``"reference"``), so per-call Python overhead is included
as a caller sees it. GB/s counts the bytes each op must move (input read + output written +
tables); "copy %" is the time of a device-to-device copy of that many bytes (measured the same
way, ``dst.copy_(src)`` on uint8 buffers of half the bytes each) over the op's time: 100% means
the op runs at copy speed.

Writes ``bench/results/<name>.json`` (every timing, the GPU, versions, commit and command) and
``bench/results/<name>.md`` (the table), and prints the table. ``--device cpu`` runs everything on
the CPU under Triton's interpreter with a wall-clock timer: a smoke test of this script, not a
measurement.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from conftest import git_commit  # noqa: E402  (bench/conftest.py)

RESULTS = Path(__file__).parent / "results"
DEFAULT_SHAPES = ("16x3x512x512", "1x1x2048x2048")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=list(DEFAULT_SHAPES), help="NxCxHxW tiled plane shapes")
    parser.add_argument("--dtypes", nargs="+", default=["float32"], choices=["float32", "float16", "bfloat16"],
                        help="dtypes of the plain dct/idct cases")
    parser.add_argument("--ops", nargs="+", default=["idct", "dct", "dequantize_idct", "dequantize_idct_uint8",
                                                     "dct_quantize"])
    parser.add_argument("--impls", nargs="+", default=["triton", "eager", "compiled"],
                        choices=["triton", "eager", "compiled"])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--name", default=None, help="basename under bench/results/ (default: dct-<gpu>)")
    parser.add_argument("--no-save", action="store_true", help="print only")
    return parser.parse_args(argv)




def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.device == "cpu":
        os.environ.setdefault("TRITON_INTERPRET", "1")  # before Triton is first imported
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA device (use --device cpu for a smoke run under Triton's interpreter)", file=sys.stderr)
        return 2
    import triton
    import triton.testing

    from qgac_fast import ops as F
    from qgac_fast.quality import ijg_table

    device = torch.device(args.device)

    def timer(fn):
        """(median, p20, p80) seconds per call."""
        if device.type == "cuda":
            ms = triton.testing.do_bench(fn, warmup=25, rep=100, quantiles=[0.5, 0.2, 0.8])
            return tuple(m / 1e3 for m in ms)
        fn()
        times = []
        for _ in range(3):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        times.sort()
        return statistics.median(times), times[0], times[-1]

    def copy_time(nbytes):
        src = torch.empty(max(1, nbytes // 2), dtype=torch.uint8, device=device)
        dst = torch.empty_like(src)
        return timer(lambda: dst.copy_(src))[0]

    def make_case(op, dtype, shape):
        """(inputs, {impl: callable}, bytes moved)."""
        n, c, h, w = shape
        g = torch.Generator().manual_seed(0)
        pixels = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
        tables = torch.stack([torch.stack([ijg_table(10 + 20 * ((i + j) % 5), chroma=j > 0) for j in range(c)])
                              for i in range(n)]).to(torch.int32).to(device)
        if op in ("idct", "dct"):
            x = (pixels.float() - 128)
            if op == "idct":
                x = F.dct(x, backend="reference")
            x = x.to(dtype).to(device)
            fn = getattr(F, op)
            impls = {name: (lambda b=backend: fn(x, backend=b)) for name, backend in
                     (("triton", "triton"), ("eager", "reference"))}
            compiled = torch.compile(lambda v: fn(v, backend="reference"))
            impls["compiled"] = lambda: compiled(x)
            moved = 2 * x.numel() * x.element_size()
        elif op.startswith("dequantize_idct"):
            as_pixels = op.endswith("uint8")
            q = F.dct_quantize(pixels, tables.cpu(), level_shift=True, backend="reference").to(device)
            fn = F.dequantize_idct
            impls = {name: (lambda b=backend: fn(q, tables, pixels=as_pixels, backend=b)) for name, backend in
                     (("triton", "triton"), ("eager", "reference"))}
            compiled = torch.compile(lambda v, t: fn(v, t, pixels=as_pixels, backend="reference"))
            impls["compiled"] = lambda: compiled(q, tables)
            moved = q.numel() * (2 + (1 if as_pixels else 4)) + tables.numel() * 4
        elif op == "dct_quantize":
            x = pixels.to(device)
            fn = F.dct_quantize
            impls = {name: (lambda b=backend: fn(x, tables, level_shift=True, backend=b)) for name, backend in
                     (("triton", "triton"), ("eager", "reference"))}
            compiled = torch.compile(lambda v, t: fn(v, t, level_shift=True, backend="reference"))
            impls["compiled"] = lambda: compiled(x, tables)
            moved = x.numel() * (1 + 2) + tables.numel() * 4
        else:
            raise SystemExit(f"unknown op {op!r}")
        return impls, moved

    rows = []
    for text in args.shapes:
        shape = tuple(int(v) for v in text.lower().split("x"))
        if len(shape) != 4:
            raise SystemExit(f"shape {text!r} is not NxCxHxW")
        cases = []
        for op in args.ops:
            for dtype_name in (args.dtypes if op in ("idct", "dct") else ["-"]):
                cases.append((op, dtype_name))
        for op, dtype_name in cases:
            dtype = getattr(torch, dtype_name) if dtype_name != "-" else None
            impls, moved = make_case(op, dtype, shape)
            t_copy = copy_time(moved)
            results = {}
            for impl in args.impls:
                fn = impls[impl]
                fn()  # compile / autotune outside the timing
                if device.type == "cuda":
                    torch.cuda.synchronize()
                results[impl] = timer(fn)
            for impl, (median, p20, p80) in results.items():
                rows.append({
                    "op": op, "dtype": dtype_name, "shape": list(shape), "impl": impl,
                    "median_ms": median * 1e3, "p20_ms": p20 * 1e3, "p80_ms": p80 * 1e3,
                    "bytes": moved, "gb_per_s": moved / median / 1e9,
                    "copy_ms": t_copy * 1e3, "copy_fraction": t_copy / median,
                    "speedup_vs_eager": results["eager"][0] / median if "eager" in results else None,
                    "speedup_vs_compiled": results["compiled"][0] / median if "compiled" in results else None,
                })
                print(f"{op:22s} {dtype_name:9s} {text:16s} {impl:9s} {median * 1e3:9.3f} ms "
                      f"{moved / median / 1e9:8.1f} GB/s  copy {t_copy / median:6.1%}", flush=True)

    if device.type == "cuda":
        gpu = torch.cuda.get_device_name(device)
    else:
        gpu = f"CPU ({platform.processor() or 'unknown'}), Triton interpreter"
    meta = {
        "gpu": gpu, "torch": torch.__version__, "triton": triton.__version__, "python": platform.python_version(),
        "commit": git_commit(), "datetime": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "command": shlex.join(["python", "bench/bench_dct.py", *(sys.argv[1:] if argv is None else argv)]),
        "timer": "triton.testing.do_bench median, L2 flushed" if device.type == "cuda" else "wall clock (smoke run)",
    }
    table = markdown(meta, rows)
    print(table)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        name = args.name or "dct-" + "".join(ch if ch.isalnum() else "-" for ch in gpu.lower()).strip("-")
        (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "results": rows}, indent=1) + "\n")
        (RESULTS / f"{name}.md").write_text(table)
        print(f"wrote {RESULTS / name}.json and .md")
    return 0


def markdown(meta: dict, rows: list[dict]) -> str:
    lines = [
        "# Blockwise DCT kernels", "",
        f"Command: `{meta['command']}`", "",
        f"{meta['gpu']}; torch {meta['torch']}, triton {meta['triton']}, Python {meta['python']}; "
        f"commit {meta['commit']}; {meta['datetime']}; timer: {meta['timer']}.", "",
        "GB/s = bytes the op must move (input + output + tables) / median time. Copy % = time of a "
        "device-to-device copy of the same bytes / the op's time. x eager, x compiled: speed-up of this entry "
        "over the eager reference and over torch.compile(reference).", "",
        "| op | dtype | shape | impl | median ms | GB/s | copy % | x eager | x compiled |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
        lines.append(f"| {r['op']} | {r['dtype']} | {'x'.join(map(str, r['shape']))} | {r['impl']} | "
                     f"{r['median_ms']:.3f} | {r['gb_per_s']:.1f} | {r['copy_fraction']:.0%} | "
                     f"{ratio(r['speedup_vs_eager'])} | {ratio(r['speedup_vs_compiled'])} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
