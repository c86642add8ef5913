"""Test-session set-up shared by every test module.

Without a GPU, Triton kernels run in Triton's CPU interpreter; the switch has to be set before
Triton is first imported, so it happens here, before any test module imports qgac_fast. Likewise
Ray's loopback switch, before any test module imports Ray (``tests/test_ray.py``).
The package-free helpers in ``tools/`` (the JPEG corpus, the fuzz harness) are importable from
every test module.
"""

import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# Loopback only: without this, Ray swaps the node address 127.0.0.1 for the machine's network one
# and listens there (qgac_fast.ray.connect does the same for a local cluster it starts).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> list[Path]:
    """The real-file JPEG corpus of tools/jpeg_corpus.py (cjpeg, jpegtran), made once per session;
    tests using it skip when the tools are missing."""
    import jpeg_corpus

    missing = jpeg_corpus.missing_tools()
    if missing:
        pytest.skip(f"the JPEG corpus needs {', '.join(missing)} (Debian package libjpeg-turbo-progs)")
    return jpeg_corpus.make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def source_copy(tmp_path_factory) -> Path:
    """A copy of the checkout's source files (tracked, and untracked ones git does not ignore),
    without its build outputs: what builds from it depends on no stale ``build/`` folder (where an
    earlier build's packages would reach the wheel whatever setup.py lists)."""
    import shutil
    import subprocess

    root = Path(__file__).resolve().parents[1]
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                            capture_output=True, check=True).stdout.decode().split("\0")
    copy = tmp_path_factory.mktemp("source") / "qgac_fast"
    for name in filter(None, listed):
        if (root / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, copy / name)
    return copy
