"""Fixtures of the benchmarks (~2 MP photo-like JPEG files, the device of the kernel benchmarks),
and what every pytest-benchmark JSON written here records besides its timings."""

from __future__ import annotations

import io
import os
import shlex

import pytest
import torch
from PIL import Image

from bench.common import BENCH_SIZE, QUALITIES, SMOKE, git_commit, mosaic

#: The settings a run's command depends on, recorded with it.
_RECORDED_ENV = ("QGAC_BENCH_", "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "TRITON_INTERPRET", "CUDA_VISIBLE_DEVICES")
_LOAD_AT_START = os.getloadavg()[0]  # this conftest loads before the first case runs


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """Adds ``output_json["qgac"]``: the command with its ``QGAC_BENCH_*`` settings, the commit
    (git, else ``$QGAC_COMMIT``) and the load average when the run began (a busy machine slows every
    case: it says whether the machine was quiet). :mod:`bench.report` prints them above the tables."""
    env = {name: value for name, value in sorted(os.environ.items()) if name.startswith(_RECORDED_ENV)}
    command = " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items())
    command += (" " if command else "") + shlex.join(["python", "-m", "pytest", *config.invocation_params.args])
    output_json["qgac"] = {"command": command, "commit": git_commit(), "load_average": _LOAD_AT_START}


@pytest.fixture(scope="session", params=QUALITIES, ids=lambda q: f"q{q}")
def jpeg_file(request, tmp_path_factory):
    """(path, bytes, megapixels) of a 4:2:0 JPEG (libjpeg, accurate DCT) at the given quality."""
    height, width = BENCH_SIZE
    buffer = io.BytesIO()
    Image.fromarray(mosaic(height, width)).save(buffer, format="JPEG", quality=request.param, subsampling="4:2:0")
    data = buffer.getvalue()
    path = tmp_path_factory.mktemp("bench") / f"mosaic_q{request.param}.jpg"
    path.write_bytes(data)
    return path, data, height * width / 1e6


@pytest.fixture(scope="session")
def device() -> torch.device:
    """CUDA for the kernel benchmarks; the CPU only in smoke mode; otherwise they are skipped."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if SMOKE:
        return torch.device("cpu")
    pytest.skip("kernel benchmarks need CUDA (QGAC_BENCH_CPU_SMOKE=1 runs a CPU smoke test)")
