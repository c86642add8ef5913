"""Which malloc the command line's heavy subcommands run on.

The model's forward allocates its activations afresh for every image. glibc's malloc serves blocks
above its mmap threshold (32 MiB at most) with fresh pages that the kernel zeroes, and unmaps them
again on free: half a second of system time per second of user time. Kept off mmap, glibc's heap
fragments instead (peak RSS +45%). gperftools' tcmalloc reuses its pages, and with
:data:`TCMALLOC_SETTINGS` never returns them: in ``bench/results/job-cpu.md`` it takes system time
from about half of user time to a few percent (``docs/benchmarks.md``).

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

import os
import re
import sys
import sysconfig
from pathlib import Path

__all__ = ["ALLOCATOR_VARIABLE", "TCMALLOC_SETTINGS", "allocator_library", "loaded_allocator", "reexec_with_allocator"]

#: The environment variable that chooses the allocator (``auto``, ``system`` or a library's path).
ALLOCATOR_VARIABLE = "QGAC_FAST_MALLOC"
#: Set in the restarted process, so that it does not restart again (its value: the library).
_RESTARTED = "QGAC_FAST_MALLOC_PRELOADED"
#: Library names tried by ``auto``, best first (the minimal build has no heap profiler).
_TCMALLOC = ("tcmalloc_minimal", "tcmalloc")
#: tcmalloc's settings in the restarted process, where the environment does not set them: keep
#: freed pages instead of handing them back to the kernel gradually (gperftools' default), which
#: the next image's forward faults in again. On the job benchmark's folder: system time 3.0-5.0 ->
#: 1.5 s, peak RSS 2.9-3.1 -> 2.4 GB, 10% faster (``docs/benchmarks.md``).
TCMALLOC_SETTINGS = {"TCMALLOC_RELEASE_RATE": "0"}
#: A malloc library's file name (what :func:`loaded_allocator` looks for among the mapped files).
_MALLOC_NAME = re.compile(r"^lib(tc|je|mi)malloc")


def _directories() -> list[str]:
    """Where distributions put shared libraries: this interpreter's multiarch folder first."""
    multiarch = sysconfig.get_config_var("MULTIARCH")
    return ([f"/usr/lib/{multiarch}"] if multiarch else []) + ["/usr/lib64", "/usr/lib"]


def _is_shared_library(path: Path) -> bool:
    """Whether ``path`` starts like an ELF file (what the loader can preload at all)."""
    try:
        with open(path, "rb") as file:
            return file.read(4) == b"\x7fELF"
    except OSError:
        return False


def allocator_library(choice: str | None = None) -> str | None:
    """The shared library that ``choice`` (default: ``$QGAC_FAST_MALLOC``; unset or empty: ``auto``)
    names, or None for the C library's malloc (``system``, or ``auto`` with no tcmalloc found).

    Raises:
        ValueError: ``choice`` is a path that is not a shared library (ELF) file.
    """
    choice = (os.environ.get(ALLOCATOR_VARIABLE) if choice is None else choice) or "auto"
    if choice == "system":
        return None
    if choice != "auto":
        if not _is_shared_library(Path(choice)):
            raise ValueError(f"{ALLOCATOR_VARIABLE}={choice}: not a shared library (use auto, system or a "
                             "library file)")
        return os.path.realpath(choice)
    for name in _TCMALLOC:
        for directory in _directories():
            for candidate in sorted(Path(directory).glob(f"lib{name}.so.*")) if Path(directory).is_dir() else ():
                if _is_shared_library(candidate):
                    return str(candidate)
    return None


def loaded_allocator() -> str | None:
    """The malloc library mapped into this process (tcmalloc, jemalloc or mimalloc: its path), or
    None for the C library's (also on systems without ``/proc``)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():
        path = line.split(maxsplit=5)[5:]
        if path and _MALLOC_NAME.match(Path(path[0]).name):
            return path[0]
    return None


def reexec_with_allocator() -> None:
    """Restart this process with :func:`allocator_library` preloaded; return without doing anything
    where that does not apply: not Linux, no library, a malloc already preloaded (the user's
    choice stands), a process whose command line is not its own (``sys.argv`` set by a host such
    as IPython's ``%run``: restarting would rerun the host), or ``exec`` refused. The process then
    goes on with the malloc it has; a bad ``QGAC_FAST_MALLOC`` is said on stderr once.

    In the restarted process, the library leaves ``LD_PRELOAD`` again, so that the programs it
    starts (compilers, workers) run as they would have. A tcmalloc gets :data:`TCMALLOC_SETTINGS`
    where the environment has none of its own; they stay in the environment, where they matter
    only to a program that itself runs on tcmalloc.

    Call it first thing in a program's entry (nothing written, no threads): ``exec`` replaces the
    process with the same command line, so nothing done before it survives.
    """
    preloaded = os.environ.get(_RESTARTED)
    if preloaded is not None:  # restarted already, or chose not to: drop our library for children
        entries = [entry for entry in os.environ.get("LD_PRELOAD", "").split() if entry != preloaded]
        if entries:
            os.environ["LD_PRELOAD"] = " ".join(entries)
        else:
            os.environ.pop("LD_PRELOAD", None)
        return
    arguments = sys.argv[1:]
    own = not arguments or sys.orig_argv[-len(arguments):] == arguments
    if not sys.platform.startswith("linux") or not own or loaded_allocator() is not None:
        return
    try:
        library = allocator_library()
    except ValueError as error:
        print(f"qgac-fast: {error}; going on with the C library's malloc", file=sys.stderr)
        library = None
    if library is None or " " in library or ":" in library:  # LD_PRELOAD splits on both
        return
    os.environ[_RESTARTED] = library
    preload = os.environ.get("LD_PRELOAD", "")
    os.environ["LD_PRELOAD"] = f"{library} {preload}".strip()
    settings = {} if "tcmalloc" not in Path(library).name else {
        name: value for name, value in TCMALLOC_SETTINGS.items() if name not in os.environ}
    os.environ.update(settings)
    try:
        os.execv(sys.executable, sys.orig_argv)
    except OSError:
        os.environ["LD_PRELOAD"] = preload
        del os.environ[_RESTARTED]
        for name in settings:
            del os.environ[name]
