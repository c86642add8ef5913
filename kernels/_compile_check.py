"""Ahead-of-time compile check: compiles every kernel variant for a GPU target without a GPU.

Triton's interpreter (what CI runs on CPU) accepts code that the GPU compiler rejects (``tl.dot``
with a dimension below 16, unsupported dtype mixes...). Each kernel module lists its launch
variants in ``COMPILE_CHECKS = [(kernel, signature, constexprs[, options]), ...]`` (``options``:
the launch's ``num_warps`` / ``num_stages``); this compiles all of them
to a cubin for the target architecture (ptxas ships with Triton, so no GPU or driver is needed).

Run without ``TRITON_INTERPRET`` (under the interpreter ``@triton.jit`` yields functions the
compiler cannot take)::

    python -m qgac_fast.kernels._compile_check [--arch 90]
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time

import qgac_fast.kernels as kernels
from qgac_fast.kernels._triton import interpreting, triton


def compile_checks() -> list[tuple[str, object, dict, dict, dict]]:
    """(module name, kernel, signature, constexprs, options) of every kernel module's COMPILE_CHECKS."""
    entries = []
    for info in pkgutil.iter_modules(kernels.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{kernels.__name__}.{info.name}")
        for kernel, signature, constexprs, *options in getattr(module, "COMPILE_CHECKS", ()):
            entries.append((info.name, kernel, signature, constexprs, options[0] if options else {}))
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, default=90, help="CUDA compute capability, e.g. 90 (Hopper), 80 (Ampere)")
    args = parser.parse_args(argv)
    if interpreting():
        print("error: unset TRITON_INTERPRET: the interpreter's kernels cannot be compiled", file=sys.stderr)
        return 2
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    target = GPUTarget("cuda", args.arch, 32)
    entries = compile_checks()
    failures = 0
    for module, kernel, signature, constexprs, options in entries:
        settings = {**constexprs, **options}
        name = f"{module}.{kernel.__name__}({', '.join(f'{k}={v}' for k, v in settings.items())})"
        start = time.perf_counter()
        try:
            triton.compile(ASTSource(fn=kernel, signature=signature, constexprs=constexprs), target=target,
                           options=options)
        except Exception as error:  # report every failing variant, not only the first
            failures += 1
            print(f"FAIL {name}: {type(error).__name__}: {error}")
        else:
            print(f"ok   {name} ({time.perf_counter() - start:.1f} s)")
    print(f"sm_{args.arch}: {len(entries) - failures} compiled, {failures} failed")
    return 1 if failures or not entries else 0


if __name__ == "__main__":
    raise SystemExit(main())
