"""The training clock leaves out the time a run spends stopped (``kill -STOP``)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from qgac_fast.train.clock import TrainingClock

# the child reads the clock every TICK seconds for TICKS ticks and prints its reading and the wall time
TICK, TICKS, STOPPED = 0.02, 60, 1.5
CHILD = f"""
import json, sys, time
from qgac_fast.train.clock import TrainingClock
with TrainingClock() as clock:
    clock.resume(10.0)
    start = time.perf_counter()
    print("ready", flush=True)
    for _ in range({TICKS}):
        time.sleep({TICK})
        clock()
    print(json.dumps({{"clock": clock(), "wall": time.perf_counter() - start}}), flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs POSIX job control signals")
def test_stopped_time_is_not_counted():
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(TICK * TICKS / 3)
        os.kill(child.pid, signal.SIGSTOP)
        time.sleep(STOPPED)
        os.kill(child.pid, signal.SIGCONT)
        result = json.loads(child.stdout.readline())
    finally:
        child.kill()
        child.wait()
    trained = result["clock"] - 10.0
    assert result["wall"] >= TICK * TICKS + STOPPED
    # every tick but the one the stop fell in counts, and each lasts at least its sleep; the whole
    # stop falls in one tick, which counts as zero (0.1 s: the gap between the parent's two signals
    # and the child's view of them)
    assert TICK * (TICKS - 1) <= trained <= result["wall"] - STOPPED + 0.1


def test_plain_wall_time_without_stops_and_handler_restored():
    before = signal.getsignal(signal.SIGCONT)
    with TrainingClock() as clock:
        start = time.perf_counter()
        clock.resume(5.0)
        time.sleep(0.05)
        reading = clock()
        assert 5.05 <= reading <= 5.0 + (time.perf_counter() - start)
        assert clock() >= reading  # monotonic
    assert signal.getsignal(signal.SIGCONT) == before
