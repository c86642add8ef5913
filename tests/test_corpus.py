"""The real-file corpus (tools/jpeg_corpus.py: files made by cjpeg and jpegtran) through every
entry point: read in strict and lax mode, the reference decode (bit-exact with djpeg), ``qgac-fast
info`` (every IJG table recognised exactly) and correction with the shipped default model."""

from __future__ import annotations

import shutil
import subprocess

import jpeg_corpus
import numpy as np
import pytest
import torch

import qgac_fast
from qgac_fast.cli import main
from qgac_fast.errors import UnsupportedJPEGError

NAMES = [entry.name for entry in jpeg_corpus.CORPUS]
# jpegtran transposes the tables with the image; the transposed IJG tables are not IJG tables.
TRANSPOSED = {entry.name for entry in jpeg_corpus.CORPUS if {"-rotate", "-transpose"} & set(entry.jpegtran_args)
              and "180" not in entry.jpegtran_args}
# Files the model refuses: RGB components, chroma sampled more finely than luma.
UNCORRECTABLE = {"rgb": "RGB components", "chroma-finer-than-luma": "chroma grid to divide the luma grid"}


@pytest.fixture(scope="module")
def files(corpus):
    return dict(zip(NAMES, corpus))


@pytest.fixture(scope="module")
def model():
    return qgac_fast.load_model("default")


def djpeg(path) -> np.ndarray:
    """libjpeg's own decode of ``path`` as uint8 (H, W, C)."""
    if shutil.which("djpeg") is None:
        pytest.skip("needs djpeg (Debian package libjpeg-turbo-progs)")
    out = subprocess.run(["djpeg", "-pnm", str(path)], capture_output=True, check=True).stdout
    kind, size, _, pixels = out.split(b"\n", 3)
    width, height = map(int, size.split())
    return np.frombuffer(pixels, np.uint8).reshape(height, width, 1 if kind == b"P5" else 3)


@pytest.mark.parametrize("name", NAMES)
def test_read_decode_info_correct(files, model, name, capsys):
    path = files[name]
    jc = qgac_fast.read_coefficients(path)
    lax = qgac_fast.read_coefficients(path, strict=False)
    assert all(torch.equal(a, b) for a, b in zip(jc.coefficients, lax.coefficients))

    rgb = qgac_fast.decode(jc)
    assert np.array_equal(rgb.permute(1, 2, 0).numpy(), djpeg(path))

    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{jc.width}x{jc.height}" in out
    if name not in TRANSPOSED:
        assert "approximate" not in out and "exact" in out

    if name in UNCORRECTABLE:
        with pytest.raises(UnsupportedJPEGError, match=UNCORRECTABLE[name]):
            qgac_fast.correct(path, model=model)
        return
    fixed = qgac_fast.correct(path, model=model)
    assert fixed.dtype == torch.uint8 and fixed.shape == rgb.shape
    # no garbage (the oneDNN one-column bug gave NaN or 1e36): the default model moves a JPEG's
    # decode by a few levels, up to 19 on average at cjpeg quality 1 (16-bit steps, clamped in the
    # conditioning), where it rebuilds most of the image; whether that is a gain is checked
    # against the originals in tests/test_table_range.py
    assert (fixed.int() - rgb.int()).abs().float().mean() < 32
