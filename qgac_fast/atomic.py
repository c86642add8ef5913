"""Files written whole or not at all, and the temporary files a killed writer leaves behind.

:func:`write_atomic` writes through a temporary file in the destination's folder, named
``.NAME.<16 hex digits>.tmp``, then renames it over the destination: a reader sees the old file or
the complete new one, never a partial one. A process killed between the two leaves the temporary
file; :func:`remove_stale_temporaries` removes such leftovers of earlier runs.
"""

from __future__ import annotations

import os
import re
import secrets
from typing import Iterable

__all__ = ["TEMPORARY_NAME", "remove_stale_temporaries", "temporary_name", "write_atomic"]

#: The name of :func:`write_atomic`'s temporary files; group ``name`` is the destination's name.
TEMPORARY_NAME = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{16}\.tmp$")


def temporary_name(name: str) -> str:
    """A fresh temporary file name (:data:`TEMPORARY_NAME`) for the destination file ``name``; the
    same rule serves other file systems' atomic writes (:mod:`qgac_fast.ray`)."""
    return f".{name}.{secrets.token_hex(8)}.tmp"


def write_atomic(dst: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``dst`` through a temporary file in the same folder and ``os.replace``,
    so ``dst`` is either its old self or the complete new file, never a partial one."""
    path = os.fspath(dst)
    folder, name = os.path.split(path)
    # Not tempfile.mkstemp: its 0o600 mode would stick to the final file; 0o666 minus the umask
    # is what a plain open() would give.
    temporary = os.path.join(folder, temporary_name(name))
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


def remove_stale_temporaries(destinations: Iterable[str | os.PathLike], before: float) -> list[str]:
    """Remove the temporary files of :func:`write_atomic` for ``destinations`` that were last
    modified before ``before`` (a ``time.time()`` value: the start of the current run, so that
    files other processes of the same run are writing now are kept). Returns the removed paths.

    Only names of this exact form next to a destination are touched; a folder that cannot be
    listed is skipped.
    """
    wanted: dict[str, set[str]] = {}
    for dst in destinations:
        folder, name = os.path.split(os.fspath(dst))
        wanted.setdefault(folder, set()).add(name)
    removed = []
    for folder, names in wanted.items():
        try:
            entries = list(os.scandir(folder or "."))
        except OSError:
            continue
        for entry in entries:
            match = TEMPORARY_NAME.match(entry.name)
            if match is None or match["name"] not in names:
                continue
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < before:
                    os.unlink(entry.path)
                    removed.append(entry.path)
            except FileNotFoundError:  # another process removed it first
                continue
    return removed
