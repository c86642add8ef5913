"""Test-session set-up shared by every test module.

Without a GPU, Triton kernels run in Triton's CPU interpreter; the switch has to be set before
Triton is first imported, so it happens here, before any test module imports qgac_fast.
The package-free helpers in ``tools/`` (the JPEG corpus, the fuzz harness) are importable from
every test module.
"""

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
