"""Scheduling only: when inputs are read, how they are grouped into batches, and in what order
results come out. The work itself is the :class:`~qgac_fast.inference.runner.Runner`'s.

Three stages, which overlap on threads when ``workers >= 1`` (the CUDA default):

1. **read**: a pool of ``workers`` threads runs :meth:`Runner.load` (the libjpeg extension
   releases the GIL); at most ``prefetch`` inputs are in flight.
2. **compute**: one thread groups the read images by plane shape and layout into batches of at
   most :meth:`Runner.batch_limit` (tables may differ: the CFMs take one table per sample), sends
   images that need tiles to :meth:`Runner.run_tiled` and batches to :meth:`Runner.run_batch`.
   A group waits for more images only within a bounded reorder window.
3. **deliver**: results come out in input order.

With ``workers=0`` (the CPU default) there is no pool and no compute thread: the stages run one
after another in the thread that iterates, each input read when the model needs it, as in a plain
loop over :func:`qgac_fast.correct` (why this is the fastest on the CPU: ``docs/engine.md``).
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterable, Iterator, NamedTuple

from .results import CorrectionResult
from .runner import Loaded, Runner, Source

__all__ = ["run_pipeline"]

_DONE = object()


class _Failure(NamedTuple):
    error: BaseException


def run_pipeline(runner: Runner, items: Iterable[Source], *, workers: int, prefetch: int) -> Iterator[CorrectionResult]:
    """Correct ``items`` with ``runner``; yields one result per item, in input order.

    ``items`` is consumed lazily (at most ``prefetch`` ahead of the model; one at a time with
    ``workers=0``). An exception raised by the iterable itself ends the generator with that
    exception. Closing the generator early stops the pipeline.
    """
    if workers == 0:
        stages = _stages(runner, items, threading.Event(), workers=0, prefetch=1)
        try:
            yield from _in_order(stages)
        finally:
            stages.close()
        return
    out: queue.Queue = queue.Queue(maxsize=max(4, 2 * runner.batch_size))
    stop = threading.Event()
    thread = threading.Thread(target=_produce, args=(runner, items, out, stop, workers, prefetch),
                              name="qgac-engine", daemon=True)
    thread.start()
    try:
        yield from _in_order(_received(out))
    finally:
        stop.set()
        while thread.is_alive():
            try:
                out.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()


def _produce(runner: Runner, items: Iterable[Source], out: queue.Queue, stop: threading.Event, workers: int,
             prefetch: int) -> None:
    """The compute thread: run :func:`_stages`, send its result lists to ``out``."""

    def send(message) -> bool:
        while not stop.is_set():
            try:
                out.put(message, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    stages = _stages(runner, items, stop, workers=workers, prefetch=prefetch)
    try:
        for results in stages:
            if not send(results):
                break
    except BaseException as error:  # the iterable's own error, or a bug: end the generator with it
        send(_Failure(error))
    finally:
        stages.close()
        send(_DONE)


def _stages(runner: Runner, items: Iterable[Source], stop: threading.Event, *, workers: int,
            prefetch: int) -> Iterator[list[CorrectionResult]]:
    """Read (on the pool, or here with ``workers=0``), group, run; yields lists of results in
    completion order. Stops early when ``stop`` is set."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qgac-read") if workers else None
    try:
        iterator = iter(items)
        inflight: deque[Future | Loaded | CorrectionResult] = deque()
        groups: dict[tuple, list[Loaded]] = {}
        grouped = 0
        index = 0
        exhausted = False
        while not stop.is_set():
            while not exhausted and len(inflight) < prefetch:
                try:
                    source = next(iterator)
                except StopIteration:
                    exhausted = True
                    break
                inflight.append(runner.load(index, source) if pool is None else pool.submit(runner.load, index, source))
                index += 1
            if not inflight:
                break
            loaded = inflight.popleft()
            if isinstance(loaded, Future):
                loaded = loaded.result()
            if isinstance(loaded, CorrectionResult):
                yield [loaded]
                continue
            tiles = runner.tiling(loaded)
            if tiles is not None:
                yield runner.run_tiled(loaded, tiles)
                continue
            group = groups.setdefault(loaded.key, [])
            group.append(loaded)
            grouped += 1
            if len(group) >= runner.batch_limit(loaded):
                grouped -= len(group)
                yield runner.run_batch(groups.pop(loaded.key))
            # bound the reorder window: flush the group holding the oldest waiting image
            while grouped > 2 * runner.batch_size + workers:
                key = min(groups, key=lambda k: groups[k][0].index)
                grouped -= len(groups[key])
                yield runner.run_batch(groups.pop(key))
        for key in sorted(groups, key=lambda k: groups[k][0].index):
            if stop.is_set():
                break
            yield runner.run_batch(groups.pop(key))
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _received(out: queue.Queue) -> Iterator[list[CorrectionResult]]:
    """The compute thread's result lists, until it is done; its failure is raised here."""
    while True:
        message = out.get()
        if message is _DONE:
            return
        if isinstance(message, _Failure):
            raise message.error
        yield message


def _in_order(batches: Iterable[list[CorrectionResult]]) -> Iterator[CorrectionResult]:
    """Results by input index (each list holds results in completion order)."""
    waiting: dict[int, CorrectionResult] = {}
    next_index = 0
    for batch in batches:
        for result in batch:
            waiting[result.index] = result
        while next_index in waiting:
            result = waiting.pop(next_index)
            result.wait()
            yield result
            next_index += 1
