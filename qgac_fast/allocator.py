"""Which malloc the command line's heavy subcommands run on.

The model's forward allocates its activations afresh for every image. glibc's malloc serves blocks
above its mmap threshold (32 MiB at most) with fresh pages that the kernel zeroes, and unmaps them
again on free: half a second of system time per second of user time. Kept off mmap, glibc's heap
fragments instead (peak RSS +45%). gperftools' tcmalloc reuses its pages and returns them
gradually: in ``bench/results/job-cpu.md`` it takes system time from about 55% of user time to a
few percent, at no more peak memory (``docs/benchmarks.md``).

The library cannot be switched once a process runs, so :func:`reexec_with_allocator` restarts the
process (``exec``, the same process id) with the library in ``LD_PRELOAD`` before anything heavy
is imported. ``QGAC_FAST_MALLOC`` chooses:

* ``auto`` (the default): tcmalloc where the system has it (Debian and Ubuntu:
  ``apt-get install libtcmalloc-minimal4``; Fedora: ``gperftools-libs``), else glibc's malloc;
* ``system``: the C library's malloc;
* a path to a shared library (another malloc to try).

Only Linux; nothing here imports torch.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from pathlib import Path

__all__ = ["ALLOCATOR_VARIABLE", "allocator_library", "loaded_allocator", "reexec_with_allocator"]

#: The environment variable that chooses the allocator (``auto``, ``system`` or a library's path).
ALLOCATOR_VARIABLE = "QGAC_FAST_MALLOC"
#: Set in the restarted process, so that it does not restart again (its value: the library).
_RESTARTED = "QGAC_FAST_MALLOC_PRELOADED"
#: Library names tried by ``auto``, best first (the minimal build has no heap profiler).
_TCMALLOC = ("tcmalloc_minimal", "tcmalloc")
#: Where distributions put them, for systems whose ldconfig cache is not searchable.
_DIRECTORIES = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib")


def allocator_library(choice: str | None = None) -> str | None:
    """The shared library that ``choice`` (default: ``$QGAC_FAST_MALLOC``, else ``auto``) names, or
    None for the C library's malloc (``system``, or ``auto`` with no tcmalloc found).

    Raises:
        ValueError: ``choice`` is a path that is not a file.
    """
    choice = os.environ.get(ALLOCATOR_VARIABLE, "auto") if choice is None else choice
    if choice == "system":
        return None
    if choice != "auto":
        if not Path(choice).is_file():
            raise ValueError(f"{ALLOCATOR_VARIABLE}={choice}: no such library (use auto, system or a file)")
        return str(Path(choice).resolve())
    for name in _TCMALLOC:
        found = ctypes.util.find_library(name)
        if found is not None:
            for directory in _DIRECTORIES:
                if (Path(directory) / found).is_file():
                    return str(Path(directory) / found)
        for directory in _DIRECTORIES:
            candidates = sorted(Path(directory).glob(f"lib{name}.so.*")) if Path(directory).is_dir() else []
            if candidates:
                return str(candidates[0])
    return None


def loaded_allocator() -> str | None:
    """The malloc library :func:`reexec_with_allocator` preloaded into this process (its path), or
    None for the C library's (also when the loader refused the library: it is not mapped)."""
    library = os.environ.get(_RESTARTED)
    if not library:
        return None
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    return library if library in maps else None


def reexec_with_allocator() -> None:
    """Restart this process with :func:`allocator_library` preloaded, if it names one and this
    process has not been restarted so already; return without doing anything otherwise (not
    Linux, no library, a bad ``QGAC_FAST_MALLOC``, or ``exec`` refused: the process goes on with
    the malloc it has, and a bad choice is said on stderr once).

    Call it first thing in a program's entry (nothing written, no threads): ``exec`` replaces the
    process with the same command line, so nothing done before it survives.
    """
    if not sys.platform.startswith("linux") or os.environ.get(_RESTARTED) is not None:
        return
    try:
        library = allocator_library()
    except ValueError as error:
        print(f"qgac-fast: {error}; going on with the C library's malloc", file=sys.stderr)
        os.environ[_RESTARTED] = ""
        return
    os.environ[_RESTARTED] = library or ""  # the restarted process, or this one, does not try again
    if library is None:
        return
    preload = os.environ.get("LD_PRELOAD", "")
    os.environ["LD_PRELOAD"] = f"{library} {preload}".strip()
    try:
        os.execv(sys.executable, sys.orig_argv)
    except OSError:
        os.environ["LD_PRELOAD"] = preload
        os.environ[_RESTARTED] = ""
