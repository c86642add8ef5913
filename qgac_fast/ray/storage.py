"""Where the Ray pipeline reads and writes: local paths, or any file system pyarrow opens by URI.

A location is a local path (no ``://``: the engine's own file rules, :mod:`qgac_fast.atomic`) or a
URI (``s3://bucket/prefix``, ``gs://...``, ``file:///...``) opened with
``pyarrow.fs.FileSystem.from_uri``. On such a file system a file is written the way
:func:`~qgac_fast.atomic.write_atomic` writes a local one: to a temporary name
(:func:`~qgac_fast.atomic.temporary_name`) in the destination's folder, then moved over the
destination (on object stores, where a move is a copy and a delete, an object is never visible
half-written either); the temporaries a killed writer leaves are removed by
:func:`remove_temporaries`.
"""

from __future__ import annotations

import os
import posixpath
from typing import Any, Callable, Iterable

from ..atomic import TEMPORARY_NAME, remove_stale_temporaries, temporary_name
from ..jpeg_files import IMAGE_SUFFIXES, JPEG_SUFFIXES

__all__ = ["exists", "is_uri", "join", "list_uri", "open_location", "read", "remove_temporaries", "store"]


def is_uri(text: str) -> bool:
    """Whether ``text`` names a file system by URI (``scheme://...``) rather than a local path."""
    return "://" in text


def open_location(text: str) -> tuple[Any, str]:
    """``(filesystem, path)``: None and ``text`` for a local path, else pyarrow's file system and
    its path for the URI (raises ``pyarrow.ArrowInvalid``, a ``ValueError``, for an unknown
    scheme)."""
    if not is_uri(text):
        return None, text
    from pyarrow import fs as pafs

    return pafs.FileSystem.from_uri(text)


def join(filesystem: Any, folder: str, relative: str) -> str:
    """``relative`` (a local relative path) under ``folder`` on ``filesystem``."""
    if filesystem is None:
        return os.path.join(folder, relative)
    return posixpath.join(folder, relative.replace(os.sep, "/"))


def list_uri(filesystem: Any, path: str, text: str, blind: bool = False) -> tuple[list[tuple[str, str, str]],
                                                                                   str | None]:
    """The files that the URI ``text`` (``filesystem`` and ``path``: :func:`open_location`) names:
    ``([(uri, relative_path, filesystem_path)], None)``, or ``([], reason)`` when it names nothing.
    A folder (prefix) is listed recursively for :data:`~qgac_fast.jpeg_files.JPEG_SUFFIXES` (with
    ``blind`` also :data:`~qgac_fast.jpeg_files.IMAGE_SUFFIXES`), sorted; a file is taken whatever
    its suffix, its relative path its name. No glob patterns."""
    from pyarrow import fs as pafs

    info = filesystem.get_file_info(path)
    if info.type == pafs.FileType.File:
        return [(text, posixpath.basename(path), path)], None
    if info.type != pafs.FileType.Directory:
        return [], "No such file or directory"
    suffixes = JPEG_SUFFIXES + (IMAGE_SUFFIXES if blind else ())
    base = path.rstrip("/") or "/"
    found = []
    for entry in filesystem.get_file_info(pafs.FileSelector(path, recursive=True)):
        if entry.type == pafs.FileType.File and entry.base_name.lower().endswith(suffixes):
            relative = posixpath.relpath(entry.path, base)
            found.append((f"{text.rstrip('/')}/{relative}", relative, entry.path))
    return sorted(found), None


def read(filesystem: Any, path: str) -> bytes:
    """A file's bytes (raises ``OSError``)."""
    if filesystem is None:
        with open(path, "rb") as file:
            return file.read()
    with filesystem.open_input_stream(path) as stream:
        return stream.read()


def exists(filesystem: Any, paths: list[str]) -> list[bool]:
    """Whether each path exists (one listing call on a remote file system)."""
    if filesystem is None:
        return [os.path.exists(path) for path in paths]
    from pyarrow import fs as pafs

    return [info.type != pafs.FileType.NotFound for info in filesystem.get_file_info(paths)] if paths else []


def store(filesystem: Any) -> Callable[[str, bytes], None] | None:
    """The atomic ``store(dst, data)`` of :func:`~qgac_fast.inference.outputs.write_output` for
    ``filesystem``: None (the engine's local one) for a local path."""
    if filesystem is None:
        return None

    def write(dst: str, data: bytes) -> None:
        folder, name = posixpath.split(dst)
        if folder:
            filesystem.create_dir(folder, recursive=True)
        temporary = posixpath.join(folder, temporary_name(name))
        try:
            with filesystem.open_output_stream(temporary) as stream:
                stream.write(data)
            filesystem.move(temporary, dst)
        except BaseException:
            try:
                filesystem.delete_file(temporary)
            except OSError:
                pass
            raise

    return write


def remove_temporaries(filesystem: Any, destinations: Iterable[str], before: float) -> list[str]:
    """Remove the abandoned temporary files of the atomic writes to ``destinations``; returns the
    removed paths. Local paths: :func:`~qgac_fast.atomic.remove_stale_temporaries` (those whose
    writer no longer holds their lock); other file systems have no locks: those last modified before
    ``before`` (``time.time()``). A folder that cannot be listed is skipped."""
    if filesystem is None:
        return remove_stale_temporaries(destinations)
    from pyarrow import fs as pafs

    wanted: dict[str, set[str]] = {}
    for dst in destinations:
        folder, name = posixpath.split(dst)
        wanted.setdefault(folder, set()).add(name)
    removed = []
    for folder, names in wanted.items():
        try:
            entries = filesystem.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
        except OSError:
            continue
        for entry in entries:
            match = TEMPORARY_NAME.match(entry.base_name)
            if (entry.type == pafs.FileType.File and match is not None and match["name"] in names
                    and (entry.mtime is None or entry.mtime.timestamp() < before)):
                try:
                    filesystem.delete_file(entry.path)
                    removed.append(entry.path)
                except OSError:  # removed meanwhile
                    continue
    return removed
