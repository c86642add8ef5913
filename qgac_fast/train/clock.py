"""The training clock: seconds of training, without the time the process spent stopped."""

from __future__ import annotations

import signal
import threading
import time

__all__ = ["TrainingClock"]


class TrainingClock:
    """Seconds of training, summed over resumed pieces, that leave out stopped time.

    Each call returns the seconds so far: those given to :meth:`resume` (0 by default) plus the wall time between consecutive calls,
    except that an interval in which the process was continued after a stop (``kill -STOP`` or
    Ctrl-Z, then ``SIGCONT``) counts as zero. A stop therefore costs at most the work between the
    call before it and the stop (one training step when the loop calls once a step), and a paused
    run keeps its time limit and its learning-rate schedule.

    A context manager: entering it on the main thread installs the ``SIGCONT`` handler (elsewhere,
    or where the platform has no ``SIGCONT``, the clock is plain wall time) and leaving it restores
    the handler that was there before.
    """

    def __init__(self):
        self._total = 0.0
        self._last = time.perf_counter()
        self._continued = False
        self._installed, self._previous = False, None

    def __enter__(self) -> TrainingClock:
        if hasattr(signal, "SIGCONT") and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGCONT, self._on_continue)
            self._installed = True
        return self

    def __exit__(self, *exc) -> None:
        if self._installed:
            # None: the previous handler was not set from Python; the default action is the nearest
            signal.signal(signal.SIGCONT, signal.SIG_DFL if self._previous is None else self._previous)
            self._installed = False

    def resume(self, seconds: float) -> None:
        """Continue from ``seconds`` already trained (a resumed run's checkpointed value)."""
        self._total, self._last, self._continued = float(seconds), time.perf_counter(), False

    def _on_continue(self, signum, frame) -> None:
        self._continued = True
        if callable(self._previous):
            self._previous(signum, frame)

    def __call__(self) -> float:
        now = time.perf_counter()
        if self._continued:
            self._continued = False
        else:
            self._total += now - self._last
        self._last = now
        return self._total
