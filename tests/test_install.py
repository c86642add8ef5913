"""``pip install .`` as a library: the wheel built from this checkout holds every package file of the
checkout (built from a copy of its source files: the extension, the Triton kernels package, the shipped weights and samples), installs
without downloading anything (``--no-deps`` into a folder, with this environment's torch), and runs
the demo and a correction from outside the checkout, importing nothing from it.

The installed copy is run by an interpreter started with ``-S`` (no site processing: no ``.pth``
file, so no editable-install finder that would quietly supply a module the wheel lacks from the
checkout) and ``-P`` (the working directory is not on ``sys.path``), with an explicit ``sys.path``:
the installed folder, then this environment's site-packages for torch, numpy and Pillow.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

#: Package data shipped beside the modules (setup.py's package_data).
DATA_SUFFIXES = (".png", ".safetensors", ".json")


def _package_files(root: Path) -> set[str]:
    """The package files of the source tree ``root`` as wheel paths: ``qgac_fast/**`` and ``kernels/**`` (installed as
    ``qgac_fast/kernels/**``), modules and shipped data, without caches or built extensions."""
    files = set()
    for top, prefix in (("qgac_fast", "qgac_fast"), ("kernels", "qgac_fast/kernels")):
        for path in (root / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and (
                    path.suffix == ".py" or path.suffix in DATA_SUFFIXES or path.name == "NOTICE"):
                files.add(f"{prefix}/{path.relative_to(root / top).as_posix()}")
    return files


def _run_installed(target: Path, cwd: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -S -P`` with ``sys.path`` = the installed folder + this environment's site-packages."""
    path = os.pathsep.join([str(target), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | {"PYTHONPATH": path}
    return subprocess.run([sys.executable, "-S", "-P", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


#: Run by the installed copy: the demo, a correction, then a check that every qgac_fast module it
#: imported came from the installed folder.
CHECK = """
import sys
from qgac_fast.demo import main
assert main(["--quality", "30"]) == 0
import numpy as np, qgac_fast, torch
from PIL import Image
image = np.asarray(Image.open(qgac_fast.samples.path("astronaut")).convert("RGB"))[:64, :64]
out = qgac_fast.correct(qgac_fast.compress(image, 30))
assert out.shape == (3, 64, 64) and out.dtype == torch.uint8
import qgac_fast.cli, qgac_fast.inference, qgac_fast.train.loop, qgac_fast.kernels
target = sys.argv[1]
strays = [name for name, module in sys.modules.items() if name.split(".")[0] == "qgac_fast"
          and getattr(module, "__file__", None) and not module.__file__.startswith(target)]
assert not strays, [(name, sys.modules[name].__file__) for name in strays]
print("ok")
"""


def test_wheel_holds_the_package_installs_and_corrects(tmp_path, source_copy):
    build = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(source_copy)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    [wheel] = (tmp_path / "dist").glob("qgac_fast-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = _package_files(source_copy) - names
    assert not missing, f"the wheel lacks {sorted(missing)}"
    assert any(name.startswith("qgac_fast/_jpeg") and name.endswith(".so") for name in names)

    target = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "install", "--no-deps",
                              "--no-index", "-q", "--target", str(target), str(wheel)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-3000:]
    work = tmp_path / "elsewhere"
    work.mkdir()
    run = _run_installed(target, work, "-c", CHECK, str(target))
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stdout[-2000:] + run.stderr[-3000:]
    assert "gain" in run.stdout and (work / "demo_out" / "astronaut_q30_corrected.png").is_file()
    # the console script's module, as `qgac-fast --help` runs it
    cli = _run_installed(target, work, "-m", "qgac_fast", "--help")
    assert cli.returncode == 0 and "correct" in cli.stdout, cli.stderr[-3000:]
