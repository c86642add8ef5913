"""The ``qgac-fast`` command line (also ``python -m qgac_fast``): the process setup, then the
subcommands of :mod:`qgac_fast.commands`.

This module imports nothing heavy (nor does the lazy ``qgac_fast`` package), because the setup has
to happen before torch loads its native libraries, which read their settings from the environment
once (:data:`NATIVE_ENVIRONMENT`). A value the user set is kept.
"""

from __future__ import annotations

import os
import sys

from .interrupts import describe, exit_status, raise_on_sigterm

__all__ = ["NATIVE_ENVIRONMENT", "main"]

#: Environment defaults for torch's native libraries, set before torch loads them:
#:
#: * ``OMP_WAIT_POLICY``: libgomp's default, spinning for a while after each parallel region, made
#:   the model 1.7x slower with a busy loop on one of 2 cores, and up to 8x under heavier
#:   contention; passive waiting cost nothing on the idle machine (``bench/results/shared-cpu.md``).
#: * ``ONEDNN_PRIMITIVE_CACHE_CAPACITY`` and ``LRU_CACHE_CAPACITY`` (oneDNN's primitive cache and
#:   ideep's cache of convolution computations, 1024 entries each by default): both keep entries
#:   for every distinct input shape, so a process correcting images of many sizes grew without
#:   visible bound (800 sizes: 326 MB to 2.6 GB of resident memory). One image size takes 70
#:   primitives with the ``default`` model, 89 with ``paper``; 256 keep two sizes' worth (tiles and
#:   the shorter last tiles alternate); 32 ideep entries made no difference to the speed of a
#:   repeated size. With both bounded, the ``default`` model's resident memory stayed within 25 MB
#:   over 150 new sizes (bf16, 1 thread), against 1.5 MB more per new size before
#:   (``tests/test_memory.py`` checks a bound). Neither may be 0: ideep crashes with an empty cache.
#: * ``THP_MEM_ALLOC_ENABLE``: torch's CPU allocator aligns buffers of 2 MiB and more to 2 MiB and
#:   asks Linux for transparent huge pages on them (where THP is ``always`` or ``madvise``). A
#:   forward of ``default`` allocates about 3.7 GB of temporaries per megapixel, most in buffers of
#:   1 to 512 MiB that glibc maps afresh and the kernel zeroes page by page on first touch: with
#:   huge pages a folder's page faults fell 60-fold and ``correct`` ran 1.2x faster at the same peak
#:   memory (``bench/results/job-cpu.md``).
NATIVE_ENVIRONMENT = {
    "OMP_WAIT_POLICY": "PASSIVE",
    "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "256",
    "LRU_CACHE_CAPACITY": "32",
    "THP_MEM_ALLOC_ENABLE": "1",
}


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Usage errors and ``--help`` exit through ``SystemExit`` as argparse does (status 2 and 0).
    Ctrl-C and SIGTERM stop any command with one line on stderr and status 130 or 143
    (:mod:`qgac_fast.interrupts`).
    """
    for name, value in NATIVE_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    with raise_on_sigterm():
        try:
            from .commands import main as run_command

            return run_command(argv)
        except KeyboardInterrupt as interrupt:
            print(f"qgac-fast: interrupted ({describe(interrupt)})", file=sys.stderr)
            return exit_status(interrupt)
