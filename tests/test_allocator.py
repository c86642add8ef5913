"""The command line's choice of malloc (:mod:`qgac_fast.allocator`): which library each setting
names, the restart that preloads it, and what the command line does with a bad setting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qgac_fast import allocator
from qgac_fast.allocator import ALLOCATOR_VARIABLE, allocator_library

ROOT = Path(__file__).resolve().parents[1]


def test_system_and_paths(tmp_path):
    assert allocator_library("system") is None
    library = tmp_path / "libother.so"
    library.write_bytes(b"")
    assert allocator_library(str(library)) == str(library.resolve())
    with pytest.raises(ValueError, match="no such library"):
        allocator_library(str(tmp_path / "missing.so"))


def test_auto_finds_tcmalloc_or_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(allocator.ctypes.util, "find_library", lambda name: None)
    monkeypatch.setattr(allocator, "_DIRECTORIES", (str(tmp_path),))
    assert allocator_library("auto") is None
    (tmp_path / "libtcmalloc_minimal_debug.so.4").write_bytes(b"")  # a debug build is not taken
    assert allocator_library("auto") is None
    (tmp_path / "libtcmalloc_minimal.so.4").write_bytes(b"")
    assert allocator_library("auto") == str(tmp_path / "libtcmalloc_minimal.so.4")
    monkeypatch.setenv(ALLOCATOR_VARIABLE, "system")
    assert allocator_library() is None


def _mapped(name: str) -> str:
    """The path of a shared library this process has mapped whose name starts with ``name``."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        path = line.split()[-1]
        if Path(path).name.startswith(name):
            return path
    pytest.skip(f"no {name} mapped")


#: Prints its process id and what it runs on, before and after asking for the restart.
_CHILD = """
import os
from qgac_fast.allocator import loaded_allocator, reexec_with_allocator
print("before", os.getpid(), flush=True)
reexec_with_allocator()
print("after", os.getpid(), loaded_allocator(), os.environ.get("LD_PRELOAD"), flush=True)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="LD_PRELOAD and exec: Linux only")
def test_restart_preloads_the_library_once():
    # libm: a real library that every Python process may preload harmlessly
    library = _mapped("libm.so")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QGAC_FAST_MALLOC") and k != "LD_PRELOAD"}
    run = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, cwd=ROOT, timeout=60,
                         env=env | {ALLOCATOR_VARIABLE: library})
    assert run.returncode == 0, run.stderr
    lines = [line.split() for line in run.stdout.splitlines()]
    # the same process, restarted once: "before" twice, "after" once, with the library preloaded
    assert [line[0] for line in lines] == ["before", "before", "after"], lines
    assert lines[0][1] == lines[1][1] == lines[2][1]
    assert lines[2][2:] == [str(Path(library).resolve()), str(Path(library).resolve())]
    # the C library's malloc: no restart
    run = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, cwd=ROOT, timeout=60,
                         env=env | {ALLOCATOR_VARIABLE: "system"})
    assert [line.split()[:3:2] for line in run.stdout.splitlines()] == [["before"], ["after", "None"]]


def test_command_line_says_a_bad_setting_and_goes_on(tmp_path):
    import torch

    from qgac_fast import compress
    from qgac_fast.model import QGAC, QGACConfig, save_model

    tiny = QGACConfig(manifold=4, block_channels=8, tile_channels=4, frequency_channels=1, fusion_channels=2,
                      dense_blocks=1, dense_layers=1, color_channels=4)
    save_model(QGAC(tiny), tmp_path / "tiny.safetensors")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jpg").write_bytes(compress(torch.full((3, 16, 16), 100, dtype=torch.uint8), 50))
    env = {k: v for k, v in os.environ.items() if not k.startswith("QGAC_FAST_MALLOC")}
    env[ALLOCATOR_VARIABLE] = str(tmp_path / "missing.so")
    command = ["correct", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model",
               str(tmp_path / "tiny.safetensors"), "--quiet", "--json", str(tmp_path / "run.json")]
    run = subprocess.run([sys.executable, "-m", "qgac_fast", *command], capture_output=True, text=True, cwd=ROOT,
                         timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stderr.count(f"{ALLOCATOR_VARIABLE}={tmp_path / 'missing.so'}: no such library") == 1, run.stderr
    assert json.loads((tmp_path / "run.json").read_text())["summary"]["malloc"] == "system"
