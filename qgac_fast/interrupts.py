"""Ctrl-C and SIGTERM stop a command the same clean way.

Python raises ``KeyboardInterrupt`` in the main thread on SIGINT (Ctrl-C); :func:`raise_on_sigterm`
makes SIGTERM raise :class:`Terminated`, a ``KeyboardInterrupt`` too, so that one handler stops on
both: a command catches it where it can still report what it did (``correct`` writes its summary
and ``--json`` report), :func:`qgac_fast.cli.main` everywhere else, and exits with
:func:`exit_status` (128 + the signal number, as a shell reports a process the signal killed:
130 for SIGINT, 143 for SIGTERM), with one line on stderr and no traceback. Files being written
are atomic (:mod:`qgac_fast.atomic`): the interrupted write's temporary file is removed.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Iterator

__all__ = ["Terminated", "describe", "exit_status", "raise_on_sigterm"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread by the handler of :func:`raise_on_sigterm`."""


def _signal(interrupt: KeyboardInterrupt) -> signal.Signals:
    return signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT


def exit_status(interrupt: KeyboardInterrupt) -> int:
    """The exit status of a command stopped by ``interrupt``: 128 + its signal's number."""
    return 128 + _signal(interrupt)


def describe(interrupt: KeyboardInterrupt) -> str:
    """The signal that stopped a command, by name (``"SIGINT"``, ``"SIGTERM"``)."""
    return _signal(interrupt).name


def _terminate(signum, frame) -> None:
    raise Terminated()


@contextmanager
def raise_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread (the previous
    handler comes back after it). Call from the main thread only, as ``signal.signal`` requires."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
