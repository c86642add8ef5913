"""``pip install .`` as a library: the wheel built from this checkout holds everything a user's
environment needs (the extension, the Triton kernels package, the shipped weights and samples),
installs without downloading anything (``--no-deps`` into a folder, with this environment's torch),
and corrects a JPEG from outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_installs_and_corrects(tmp_path):
    build = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    [wheel] = (tmp_path / "dist").glob("qgac_fast-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("qgac_fast/weights/default.safetensors", "qgac_fast/samples/astronaut.png",
                   "qgac_fast/kernels/jpeg.py"):
        assert needed in names
    assert any(name.startswith("qgac_fast/_jpeg") and name.endswith(".so") for name in names)

    target = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "install", "--no-deps",
                              "--no-index", "-q", "--target", str(target), str(wheel)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-3000:]
    script = ("import qgac_fast, torch; from importlib import resources; "
              "assert qgac_fast.__file__.startswith(%r), qgac_fast.__file__; "
              "import numpy as np; from PIL import Image; "
              "image = np.asarray(Image.open(resources.files('qgac_fast') / 'samples' / 'astronaut.png').convert('RGB'))"
              "[:64, :64]; "
              "out = qgac_fast.correct(qgac_fast.compress(image, 30)); "
              "assert out.shape == (3, 64, 64) and out.dtype == torch.uint8; print('ok')") % str(target)
    env = dict(os.environ, PYTHONPATH=str(target))
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-3000:]
