"""Atomic writes and the cleanup of the temporary files a killed writer leaves."""

from __future__ import annotations

import errno
import os
import threading
import time

import pytest

from qgac_fast import atomic
from qgac_fast.atomic import TEMPORARY_NAME, remove_stale_temporaries, write_atomic


def _temporaries(folder):
    return sorted(name for name in os.listdir(folder) if TEMPORARY_NAME.match(name))


def test_cleanup_keeps_the_temporary_file_a_writer_is_writing(tmp_path, monkeypatch):
    """The race of a resumed run's cleanup with another run's write, made deterministic: the writer
    is held inside its fsync while the cleanup runs (with every temporary file older than "now");
    the cleanup must keep the writer's file, and the write must then complete."""
    dst = tmp_path / "a.png"
    in_fsync, release = threading.Event(), threading.Event()
    real_fsync = os.fsync

    def slow_fsync(fd):
        in_fsync.set()
        assert release.wait(10)
        real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", slow_fsync)
    errors = []

    def writer():
        try:
            write_atomic(dst, b"complete")
        except BaseException as error:  # noqa: BLE001 -- reported by the assertion below
            errors.append(error)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert in_fsync.wait(10)
        (in_flight,) = _temporaries(tmp_path)
        os.utime(tmp_path / in_flight, (1_000_000_000, 1_000_000_000))  # as old as you like
        assert remove_stale_temporaries([dst]) == []
        assert _temporaries(tmp_path) == [in_flight]
    finally:
        release.set()
        thread.join(10)
    assert errors == [] and dst.read_bytes() == b"complete" and _temporaries(tmp_path) == []


def test_cleanup_removes_what_a_killed_writer_left(tmp_path):
    """A temporary file no process holds (its writer died: the kernel dropped the lock) goes,
    however new; other names, and temporaries of other destinations, stay."""
    abandoned = tmp_path / ".a.png.0123456789abcdef.tmp"
    other_destination = tmp_path / ".b.png.0123456789abcdef.tmp"
    unrelated = tmp_path / ".a.png.tmp"
    for path in (abandoned, other_destination, unrelated):
        path.write_bytes(b"partial")
    os.utime(abandoned, (time.time() + 3600,) * 2)
    assert remove_stale_temporaries([tmp_path / "a.png"]) == [str(abandoned)]
    assert not abandoned.exists() and other_destination.exists() and unrelated.exists()


def test_a_temporary_removed_before_its_writer_locked_it_is_replaced(tmp_path, monkeypatch):
    """The writer creates its file, then locks it; a cleanup between the two finds it unlocked and
    removes it. The writer must notice and start over with a new file, not write into the removed one."""
    dst = tmp_path / "a.png"
    real_flock = atomic.fcntl.flock
    calls = []

    def flock_after_a_cleanup(fd, operation):
        if not calls:
            calls.append(fd)
            assert remove_stale_temporaries([dst]) != []  # the new, still unlocked file goes
        return real_flock(fd, operation)

    monkeypatch.setattr(atomic.fcntl, "flock", flock_after_a_cleanup)
    write_atomic(dst, b"complete")
    assert dst.read_bytes() == b"complete" and _temporaries(tmp_path) == []


def test_a_failed_write_leaves_no_temporary(tmp_path, monkeypatch):
    def failing_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(tmp_path / "a.png", b"data")
    assert os.listdir(tmp_path) == []


def test_a_file_system_without_locks_writes_unlocked_and_cleans_nothing(tmp_path, monkeypatch):
    """flock failing with ENOLCK (some network file systems): writes still work, and the cleanup,
    which cannot prove any temporary abandoned there, removes none."""
    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(atomic.fcntl, "flock", no_locks)
    write_atomic(tmp_path / "a.png", b"complete")
    assert (tmp_path / "a.png").read_bytes() == b"complete"
    leftover = tmp_path / ".a.png.0123456789abcdef.tmp"
    leftover.write_bytes(b"partial")
    assert remove_stale_temporaries([tmp_path / "a.png"]) == [] and leftover.exists()
