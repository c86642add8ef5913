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
from qgac_fast.cli import _runs_the_model

ROOT = Path(__file__).resolve().parents[1]


def _library(name: str) -> Path:
    """A shared library of the system whose file name starts with ``name`` (skips without one)."""
    for directory in allocator._directories():
        for path in sorted(Path(directory).glob(f"{name}*")) if Path(directory).is_dir() else ():
            if allocator._is_shared_library(path):
                return path
    pytest.skip(f"no {name} library here")


def test_system_and_paths(tmp_path, monkeypatch):
    assert allocator_library("system") is None
    library = _library("libturbojpeg.so")  # CI installs it: the extension's build needs it
    assert allocator_library(str(library)) == os.path.realpath(library)
    (tmp_path / "empty.so").write_bytes(b"")
    for bad in (tmp_path / "missing.so", tmp_path / "empty.so"):
        with pytest.raises(ValueError, match="not a shared library"):
            allocator_library(str(bad))
    monkeypatch.setenv(ALLOCATOR_VARIABLE, "")  # empty: auto
    monkeypatch.setattr(allocator, "_directories", lambda: [str(tmp_path)])
    assert allocator_library() is None


def test_auto_takes_the_first_tcmalloc(tmp_path, monkeypatch):
    elf = _library("libturbojpeg.so").read_bytes()
    monkeypatch.setattr(allocator, "_directories", lambda: [str(tmp_path)])
    assert allocator_library("auto") is None
    (tmp_path / "libtcmalloc_minimal_debug.so.4").write_bytes(elf)  # a debug build is not taken
    (tmp_path / "libtcmalloc_minimal.so.4").write_bytes(b"not ELF")  # nor a file the loader refuses
    assert allocator_library("auto") is None
    (tmp_path / "libtcmalloc.so.4").write_bytes(elf)
    assert allocator_library("auto") == str(tmp_path / "libtcmalloc.so.4")
    (tmp_path / "libtcmalloc_minimal.so.4").write_bytes(elf)
    assert allocator_library("auto") == str(tmp_path / "libtcmalloc_minimal.so.4")
    monkeypatch.setenv(ALLOCATOR_VARIABLE, "system")
    assert allocator_library() is None


@pytest.mark.parametrize("argv, runs", [
    (["correct", "a.jpg"], True), (["eval", "dir", "--quality", "10"], True), (["correct", "--help"], False),
    (["correct", "dir", "--ray"], False), (["correct", "dir", "--ray-address", "auto"], False),
    (["train", "--out", "x"], False), (["info", "a.jpg"], False), ([], False)])
def test_which_commands_restart(argv, runs):
    assert _runs_the_model(argv) is runs


#: Prints its process id, before and after asking for the restart; after it, whether the library
#: is mapped and what LD_PRELOAD holds.
_CHILD = """
import os, sys
from qgac_fast.allocator import reexec_with_allocator
print("before", os.getpid(), flush=True)
reexec_with_allocator()
mapped = any(os.path.realpath(sys.argv[1]) in line for line in open("/proc/self/maps"))
print("after", os.getpid(), mapped, repr(os.environ.get("LD_PRELOAD")), flush=True)
print("settings", os.environ.get("TCMALLOC_RELEASE_RATE"), flush=True)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="LD_PRELOAD and exec: Linux only")
def test_restart_preloads_the_library_once():
    # libturbojpeg: a real library that a bare Python process does not map, preloaded harmlessly
    library = str(_library("libturbojpeg.so"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("QGAC_FAST_MALLOC", "TCMALLOC_")) and k != "LD_PRELOAD"}
    run = subprocess.run([sys.executable, "-c", _CHILD, library], capture_output=True, text=True, cwd=ROOT,
                         timeout=60, env=env | {ALLOCATOR_VARIABLE: library})
    assert run.returncode == 0, run.stderr
    lines = [line.split() for line in run.stdout.splitlines()]
    # the same process, restarted once: "before" twice, "after" once, with the library mapped and
    # gone from LD_PRELOAD again (the programs it starts run as they would have)
    assert [line[0] for line in lines] == ["before", "before", "after", "settings"], lines
    assert lines[0][1] == lines[1][1] == lines[2][1]
    assert lines[2][2:] == ["True", "None"], lines
    assert lines[3][1] == "None", "tcmalloc's settings are tcmalloc's alone"
    # the C library's malloc: no restart, nothing mapped
    run = subprocess.run([sys.executable, "-c", _CHILD, library], capture_output=True, text=True, cwd=ROOT,
                         timeout=60, env=env | {ALLOCATOR_VARIABLE: "system"})
    assert [line.split()[::2] for line in run.stdout.splitlines()] == [["before"], ["after", "False"], ["settings"]]
    # a host's own sys.argv (not the process's command line): no restart
    host = "import sys; sys.argv = ['prog', 'correct', 'x']\n" + _CHILD.replace("sys.argv[1]", repr(library))
    run = subprocess.run([sys.executable, "-c", host], capture_output=True, text=True, cwd=ROOT, timeout=60,
                         env=env | {ALLOCATOR_VARIABLE: library})
    assert [line.split()[::2] for line in run.stdout.splitlines()] == [["before"], ["after", "False"], ["settings"]]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="LD_PRELOAD and exec: Linux only")
def test_a_restart_on_tcmalloc_sets_its_settings_unless_given(tmp_path):
    # a tcmalloc stand-in: a real library the loader accepts, under tcmalloc's name
    library = tmp_path / "libtcmalloc_minimal.so.4"
    library.write_bytes(_library("libturbojpeg.so").read_bytes())
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("QGAC_FAST_MALLOC", "TCMALLOC_")) and k != "LD_PRELOAD"}
    for given, expected in (({}, allocator.TCMALLOC_SETTINGS["TCMALLOC_RELEASE_RATE"]),
                            ({"TCMALLOC_RELEASE_RATE": "5"}, "5")):
        run = subprocess.run([sys.executable, "-c", _CHILD, str(library)], capture_output=True, text=True, cwd=ROOT,
                             timeout=60, env=env | given | {ALLOCATOR_VARIABLE: str(library)})
        lines = [line.split() for line in run.stdout.splitlines()]
        assert lines[-2][2] == "True" and lines[-1] == ["settings", expected], (lines, run.stderr)


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
    assert run.stderr.count(f"{ALLOCATOR_VARIABLE}={tmp_path / 'missing.so'}: not a shared library") == 1, run.stderr
    assert json.loads((tmp_path / "run.json").read_text())["summary"]["malloc"] == "system"
