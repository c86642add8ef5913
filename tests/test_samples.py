"""The bundled samples, reachable by name wherever the package is (``qgac_fast.samples``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PIL import Image

from qgac_fast import samples


def test_samples_by_name():
    assert samples.names() == ["astronaut", "chelsea"]
    for name, size in (("astronaut", (512, 512)), ("chelsea", (451, 300))):
        path = samples.path(name)
        assert os.path.isabs(path) and os.path.basename(path) == f"{name}.png"
        with Image.open(path) as image:
            assert image.size == size and image.mode == "RGB"


def test_an_unknown_sample_names_the_known_ones():
    with pytest.raises(ValueError, match="no bundled sample named 'lena'; the samples are astronaut, chelsea"):
        samples.path("lena")


def test_samples_is_a_name_of_the_package():
    """``import qgac_fast`` then ``qgac_fast.samples``, in a fresh interpreter (here the test's own
    import has already set the attribute)."""
    code = "import qgac_fast, sys; print(qgac_fast.samples.path('astronaut')); assert 'samples' in qgac_fast.__all__"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == samples.path("astronaut")


def test_the_path_does_not_depend_on_the_working_directory(tmp_path, monkeypatch):
    expected = samples.path("chelsea")
    monkeypatch.chdir(tmp_path)
    assert samples.path("chelsea") == expected and os.path.isfile(expected)
