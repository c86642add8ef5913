"""Files written whole or not at all, and the temporary files a killed writer leaves behind.

:func:`write_atomic` writes through a temporary file in the destination's folder, named
``.NAME.<16 hex digits>.tmp``, then renames it over the destination: a reader sees the old file or
the complete new one, never a partial one. A process killed between the two leaves the temporary
file; :func:`remove_stale_temporaries` removes such leftovers of earlier runs.

A temporary file is provably abandoned when no process holds its lock: the writer holds an
exclusive ``flock`` on it from before it writes until after the rename, and the kernel releases
the lock when the writer dies, however it dies. So the cleanup never removes a file another
process (another run, another rank, another machine on a file system with ``flock``) is writing
now, whatever its age. On a file system without locks, writes go on unlocked and the cleanup
removes nothing there (it cannot prove a file abandoned). POSIX only (``fcntl``).
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import secrets
from typing import Iterable

__all__ = ["TEMPORARY_NAME", "remove_stale_temporaries", "temporary_name", "write_atomic"]

#: The name of :func:`write_atomic`'s temporary files; group ``name`` is the destination's name.
TEMPORARY_NAME = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{16}\.tmp$")
#: errno values of a ``flock`` on a file system without locks (some network and FUSE ones).
_NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS})


def _names_file(path: str, fd: int) -> bool:
    """``path`` is still the file open as ``fd`` (not removed or replaced since it was opened)."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _locked_temporary(folder: str, name: str) -> tuple[str, int]:
    """Create a new temporary file for ``name`` in ``folder``; returns its path and a descriptor
    holding its exclusive lock (none on a file system without locks)."""
    while True:
        temporary = os.path.join(folder, temporary_name(name))
        # Not tempfile.mkstemp: its 0o600 mode would stick to the final file; 0o666 minus the umask
        # is what a plain open() would give.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException as error:
            if isinstance(error, OSError) and error.errno in _NO_LOCKS:
                return temporary, fd  # no cleanup can lock it either, so none removes it
            os.close(fd)
            os.unlink(temporary)
            raise
        # Between the create and the lock a cleanup may have found the file unlocked and removed
        # it (it unlinks while it holds the lock, so once we hold it that is settled): start over.
        if _names_file(temporary, fd):
            return temporary, fd
        os.close(fd)


def temporary_name(name: str) -> str:
    """A fresh temporary file name (:data:`TEMPORARY_NAME`) for the destination file ``name``; the
    same rule serves other file systems' atomic writes (:mod:`qgac_fast.ray`)."""
    return f".{name}.{secrets.token_hex(8)}.tmp"


def write_atomic(dst: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``dst`` through a temporary file in the same folder and ``os.replace``,
    so ``dst`` is either its old self or the complete new file, never a partial one. The
    temporary file is locked until it is renamed (or removed, on failure)."""
    path = os.fspath(dst)
    folder, name = os.path.split(path)
    temporary, fd = _locked_temporary(folder, name)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
            os.replace(temporary, path)  # before the close that releases the lock
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


def _remove_if_abandoned(path: str) -> bool:
    """Remove the temporary file ``path`` if no writer holds its lock; True if removed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # gone, or not ours to read: leave it
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a writer is at work (EWOULDBLOCK), or no locks here: nothing is proven
            return False
        # Renamed by a writer that finished between the listing and the lock: no longer a temporary.
        if not _names_file(path, fd):
            return False
        os.unlink(path)
        return True
    finally:
        os.close(fd)


def remove_stale_temporaries(destinations: Iterable[str | os.PathLike]) -> list[str]:
    """Remove the abandoned temporary files of :func:`write_atomic` for ``destinations``: those
    whose writer no longer holds their lock (it was killed). Returns the removed paths.

    Only regular files with names of this exact form next to a destination are touched; one that
    a process is writing now is kept, and so is a folder that cannot be listed.
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
                regular = entry.is_file(follow_symlinks=False)
            except OSError:
                continue
            if regular and _remove_if_abandoned(entry.path):
                removed.append(entry.path)
    return removed
