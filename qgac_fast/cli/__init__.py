"""The ``qgac-fast`` command line (also ``python -m qgac_fast``): the process setup (:func:`main`),
then one subcommand (:func:`run`).

Subcommands, one module each, registered in :mod:`.parser`:
    info FILE...   layout and quantization tables of JPEG files (:mod:`.info`).
    eval DIR...    JPEG (and corrected) PSNR, PSNR-B and SSIM of image folders (:mod:`.eval`).
    correct INPUT... [-o OUTDIR]   correct JPEG files, folders and globs with a QGAC model (:mod:`.correct`).
    train --out DIR   train QGAC weights, also under torchrun (:mod:`.train`).
Their option types are :mod:`.argtypes`; the files they take and where outputs go, :mod:`.files`.

This package imports nothing heavy (nor does the lazy ``qgac_fast`` package), because the setup has
to happen before torch loads its native libraries, which read their settings from the environment
once (:data:`NATIVE_ENVIRONMENT`); a value the user set is kept. ``correct`` and ``eval`` first
restart the process on tcmalloc where the system has it (:mod:`qgac_fast.allocator`,
``QGAC_FAST_MALLOC``). Building the parser, ``--help`` and usage errors load no torch either: the
subcommands import it in their run functions.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
from typing import NoReturn

from ..allocator import reexec_with_allocator
from ..interrupts import describe, exit_status, raise_on_sigterm

__all__ = ["NATIVE_ENVIRONMENT", "CommandError", "freeze_collector", "main", "run"]

#: Environment defaults for torch's native libraries, set before torch loads them:
#:
#: * ``OMP_WAIT_POLICY``: libgomp's default, spinning for a while after each parallel region, made
#:   the model 1.7x slower with a busy loop on one of 2 cores, and up to 8x under heavier
#:   contention; passive waiting cost nothing on the idle machine (``bench/results/shared-cpu.md``).
#: * ``GOMP_SPINCOUNT``: under the passive policy libgomp puts a thread to sleep (a futex) at the
#:   end of every parallel region, and wakes it at the next: ``eval``'s metrics run tens of thousands
#:   of small regions (SSIM in cache-sized strips). 1000 spins first (tens of microseconds) keep
#:   back-to-back regions awake: ``eval`` of 12 MP 16.3-16.5 -> 13.6-14.1 s, system time 2.2 ->
#:   1.2-1.4 s; ``correct`` with a busy loop on one of 2 cores 11.1-12.5 -> 11.0-11.4 s (not slower),
#:   where the default 300,000 spins made it 1.7x slower (``bench/results/spin-count-cpu.md``).
#:   Set only with the passive policy set here: a policy from the environment keeps libgomp's count.
#: * ``ONEDNN_PRIMITIVE_CACHE_CAPACITY`` and ``LRU_CACHE_CAPACITY`` (oneDNN's primitive cache and
#:   ideep's cache of convolution computations, 1024 entries each by default): both keep entries
#:   for every distinct input shape, so a process correcting images of many sizes grew without
#:   visible bound (800 sizes: 326 MB to 2.6 GB of resident memory). One image size takes 70
#:   primitives with the ``default`` model, 89 with ``paper``; 256 keep two sizes' worth (tiles and
#:   the shorter last tiles alternate); 32 ideep entries made no difference to the speed of a
#:   repeated size. With both bounded, the ``default`` model's resident memory stayed within 25 MB
#:   over 150 new sizes (bf16, 1 thread), against 1.5 MB more per new size before
#:   (``tests/test_memory.py`` checks a bound). Neither may be 0: ideep crashes with an empty cache.
NATIVE_ENVIRONMENT = {
    "OMP_WAIT_POLICY": "PASSIVE",
    "GOMP_SPINCOUNT": "1000",
    "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "256",
    "LRU_CACHE_CAPACITY": "32",
}


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Usage errors and ``--help`` exit through ``SystemExit`` as argparse does (status 2 and 0).
    Ctrl-C and SIGTERM stop any command with one line on stderr and status 130 or 143
    (:mod:`qgac_fast.interrupts`). As the process's own entry (``argv`` None), ``correct`` and
    ``eval`` end the process when they return (:func:`_end_process`), instead of returning.
    """
    own_process = argv is None and _runs_the_model(sys.argv[1:])
    if own_process:
        reexec_with_allocator()  # the process's own entry only: a caller's process is not replaced
    own_policy = "OMP_WAIT_POLICY" in os.environ
    for name, value in NATIVE_ENVIRONMENT.items():
        if name == "GOMP_SPINCOUNT" and own_policy:
            continue  # the spin count belongs with the passive policy; a user's policy keeps libgomp's
        os.environ.setdefault(name, value)
    with raise_on_sigterm():
        try:
            status = run(argv)
        except KeyboardInterrupt as interrupt:
            print(f"qgac-fast: interrupted ({describe(interrupt)})", file=sys.stderr)
            status = exit_status(interrupt)
    if own_process:
        _end_process(status)
    return status


def _end_process(status: int) -> NoReturn:
    """End the process with ``status`` once its work is done and written (outputs, reports: every
    writer has returned), without the interpreter's teardown: the exit handlers run and the
    standard streams are flushed, but the model, torch's caches and the heap are not freed object by
    object, which took 0.3-0.4 s after a folder of 50 MP (``docs/benchmarks.md``)."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader gone away, or a stream closed: nothing left to say
            pass
    os._exit(status)


#: Subcommands that restart on a better malloc first (:mod:`qgac_fast.allocator`): the ones that
#: correct many images in this process. ``train`` and ``correct --ray`` (whose Ray processes would
#: inherit the preload) are not measured with it yet.
_MODEL_COMMANDS = ("correct", "eval")


def _runs_the_model(argv: list[str]) -> bool:
    """Whether ``argv`` runs one of :data:`_MODEL_COMMANDS` here (not its help, not on Ray)."""
    return (bool(argv) and argv[0] in _MODEL_COMMANDS and not {"-h", "--help"} & set(argv)
            and not any(arg.startswith("--ray") for arg in argv))


def run(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run its subcommand; returns the exit status.
    :func:`main` sets the process up first: the command line's entry is that.

    Usage errors and ``--help`` exit through ``SystemExit`` as argparse does (status 2 and 0).
    """
    from .parser import parse

    args = parse(sys.argv[1:] if argv is None else argv)
    # A subcommand may freeze the collector's objects once its model is loaded (freeze_collector);
    # what it froze is handed back when it returns, so that a caller running main() again (tests,
    # a program embedding the command line) can collect the first run's garbage
    owns_freeze = gc.get_freeze_count() == 0
    try:
        return args.run(args)
    except CommandError as error:
        print(f"qgac-fast {args.command}: {error}", file=sys.stderr)
        return error.status
    except BrokenPipeError:
        # The reader went away (`qgac-fast info *.jpg | head`): stop quietly like other Unix tools;
        # pointing stdout at devnull keeps the interpreter's final flush from raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        if owns_freeze:
            gc.unfreeze()


class CommandError(Exception):
    """What stops a subcommand before its work, often a library check's error in the option's words:
    :func:`run` says ``qgac-fast COMMAND: <message>`` on stderr, one line, and returns ``status``
    (2 a usage error, 1 anything else)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def freeze_collector() -> None:
    """Move every object alive now (torch's modules, the loaded model) out of the garbage
    collector's generations, unless the process already froze some (then its choice stands): a
    full collection in the per-image loop then scans only what the images made, not 300,000
    objects (0.17 s each; 0.50 -> 0.11 s of collections over an 8 MP folder). :func:`run`
    unfreezes them when the subcommand returns."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
