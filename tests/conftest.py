"""Test-session set-up shared by every test module.

Without a GPU, Triton kernels run in Triton's CPU interpreter; the switch has to be set before
Triton is first imported, so it happens here, before any test module imports qgac_fast.
"""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
