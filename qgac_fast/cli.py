"""The ``qgac-fast`` command line (also ``python -m qgac_fast``): the process setup, then the
subcommands of :mod:`qgac_fast.commands`.

This module imports nothing heavy (nor does the lazy ``qgac_fast`` package), because the setup has
to happen before torch loads its OpenMP runtime: libgomp reads ``OMP_WAIT_POLICY`` once, when it is
loaded. Its default, spinning for a while after each parallel region, made the model 1.7x slower
with a busy loop on one of 2 cores, and up to 8x under heavier contention; passive waiting cost
nothing on the idle machine (``bench/results/shared-cpu.md``). A policy the user set is kept.
"""

from __future__ import annotations

import os
import sys

from .interrupts import describe, exit_status, raise_on_sigterm

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Usage errors and ``--help`` exit through ``SystemExit`` as argparse does (status 2 and 0).
    Ctrl-C and SIGTERM stop any command with one line on stderr and status 130 or 143
    (:mod:`qgac_fast.interrupts`).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with raise_on_sigterm():
        try:
            from .commands import main as run_command

            return run_command(argv)
        except KeyboardInterrupt as interrupt:
            print(f"qgac-fast: interrupted ({describe(interrupt)})", file=sys.stderr)
            return exit_status(interrupt)
