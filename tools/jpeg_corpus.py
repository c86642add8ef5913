"""The real-file JPEG corpus: small files made by libjpeg-turbo's own tools (cjpeg, jpegtran)
that cover the layouts a reader meets in the wild: baseline and progressive, restart markers,
arithmetic coding, every sampling (including Cb and Cr sampled differently), odd sizes,
optimized Huffman tables, an embedded ICC profile, lossless rotation, non-baseline tables at low
quality, grayscale and RGB-coded files. It is the seed set of the fuzz harness (tools/fuzz.py) and
what tests/test_corpus.py reads, decodes, describes and corrects.

Usage:
    python tools/jpeg_corpus.py OUTDIR     # writes OUTDIR/<name>.jpg for every entry of CORPUS

Package-free (numpy only) so the fuzz harness and the tests can import it; the tools come from
Debian's libjpeg-turbo-progs (``tools/ensure_system_deps.sh``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = ["CORPUS", "TOOLS", "Entry", "cjpeg", "make_corpus", "missing_tools", "photo", "pnm"]

#: The libjpeg-turbo programs the corpus needs.
TOOLS = ("cjpeg", "jpegtran")


class Entry(NamedTuple):
    """One corpus file: ``photo(height, width)`` (gray for ``-grayscale``) encoded by ``cjpeg
    cjpeg_args``, then transformed by ``jpegtran jpegtran_args`` when those are given; ``{icc}``
    in the arguments stands for an ICC profile file."""

    name: str
    height: int
    width: int
    cjpeg_args: tuple[str, ...]
    jpegtran_args: tuple[str, ...] = ()


# Odd sizes everywhere: partial MCUs at the right and bottom edges are where layouts differ.
CORPUS: tuple[Entry, ...] = (
    Entry("baseline-420", 45, 67, ("-quality", "75")),
    Entry("baseline-444", 45, 67, ("-quality", "90", "-sample", "1x1")),
    Entry("baseline-422", 45, 67, ("-quality", "75", "-sample", "2x1")),
    Entry("baseline-440", 45, 67, ("-quality", "75", "-sample", "1x2")),
    Entry("baseline-411", 45, 67, ("-quality", "75", "-sample", "4x1")),
    Entry("mixed-2x2-2x1-1x1", 45, 67, ("-quality", "75", "-sample", "2x2,2x1,1x1")),
    Entry("mixed-2x2-1x2-2x1", 45, 67, ("-quality", "75", "-sample", "2x2,1x2,2x1")),
    Entry("chroma-finer-than-luma", 45, 67, ("-quality", "75", "-sample", "1x1,2x2,1x1")),
    Entry("gray", 45, 67, ("-quality", "75", "-grayscale")),
    Entry("rgb", 45, 67, ("-quality", "75", "-rgb")),
    Entry("progressive", 45, 67, ("-quality", "75", "-progressive")),
    Entry("progressive-gray", 45, 67, ("-quality", "60", "-progressive", "-grayscale")),
    Entry("optimized", 45, 67, ("-quality", "85", "-optimize")),
    Entry("restart-rows", 45, 67, ("-quality", "75", "-restart", "1")),
    Entry("restart-blocks", 45, 67, ("-quality", "75", "-restart", "2B")),
    Entry("restart-progressive", 45, 67, ("-quality", "75", "-restart", "1", "-progressive")),
    Entry("arithmetic", 45, 67, ("-quality", "75", "-arithmetic")),
    Entry("arithmetic-progressive", 45, 67, ("-quality", "75", "-arithmetic", "-progressive")),
    Entry("arithmetic-restart", 45, 67, ("-quality", "75", "-arithmetic", "-restart", "2B")),
    Entry("quality-5-non-baseline", 45, 67, ("-quality", "5")),
    Entry("quality-1-non-baseline", 45, 67, ("-quality", "1", "-progressive")),
    Entry("quality-5-baseline", 45, 67, ("-quality", "5", "-baseline")),
    Entry("quality-100", 45, 67, ("-quality", "100")),
    Entry("icc", 45, 67, ("-quality", "75", "-icc", "{icc}")),
    Entry("rotate-90", 45, 67, ("-quality", "75"), ("-rotate", "90")),
    Entry("rotate-270-trim", 45, 67, ("-quality", "75"), ("-rotate", "270", "-trim")),
    Entry("transpose-progressive", 45, 67, ("-quality", "75"), ("-transpose", "-progressive")),
    Entry("one-pixel", 1, 1, ("-quality", "75")),
    Entry("one-row", 1, 37, ("-quality", "75", "-sample", "2x2,2x1,1x1")),
    Entry("tall", 77, 3, ("-quality", "75", "-progressive")),
)


def missing_tools() -> list[str]:
    """The programs of ``TOOLS`` not on PATH (empty when the corpus can be made)."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def photo(height: int, width: int, gray: bool = False, seed: int = 0) -> np.ndarray:
    """A photo-like uint8 ``(height, width, 3)`` (or ``(height, width)`` when ``gray``) image:
    smooth gradients, a hard edge and noise, so every DCT frequency carries something."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    planes = []
    for c in range(1 if gray else 3):
        fx, fy = rng.uniform(0.05, 0.4, size=2)
        plane = 128 + 70 * np.sin(fx * x + c) * np.cos(fy * y - c) + 40 * (x > width / 2)
        planes.append(plane + rng.normal(0, 10, size=(height, width)))
    image = np.clip(np.stack(planes, axis=-1), 0, 255).round().astype(np.uint8)
    return image[..., 0] if gray else image


def pnm(image: np.ndarray) -> bytes:
    """uint8 ``(H, W)`` or ``(H, W, 3)`` as a binary PGM / PPM file (what cjpeg reads)."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    kind = b"P5" if image.ndim == 2 else b"P6"
    return kind + b"\n%d %d\n255\n" % (image.shape[1], image.shape[0]) + image.tobytes()


def _run(argv: list[str], data: bytes) -> bytes:
    done = subprocess.run(argv, input=data, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
    return done.stdout


def cjpeg(image: np.ndarray, *args: str) -> bytes:
    """``image`` (uint8 ``(H, W)`` or ``(H, W, 3)``) encoded by libjpeg-turbo's cjpeg with ``args``."""
    return _run(["cjpeg", *args], pnm(image))


def _encode(entry: Entry, icc: Path) -> bytes:
    args = [str(icc) if a == "{icc}" else a for a in entry.cjpeg_args]
    data = cjpeg(photo(entry.height, entry.width, "-grayscale" in args), *args)
    if entry.jpegtran_args:
        data = _run(["jpegtran", "-copy", "all", *entry.jpegtran_args], data)
    return data


def make_corpus(folder: str | Path) -> list[Path]:
    """Write every entry of ``CORPUS`` to ``folder/<name>.jpg``; returns the paths in CORPUS order.

    Raises:
        RuntimeError: a tool is missing or failed.
    """
    missing = missing_tools()
    if missing:
        raise RuntimeError(f"the JPEG corpus needs {', '.join(missing)} (Debian: libjpeg-turbo-progs)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # An ICC profile is opaque to JPEG: any bytes do. 70,000 of them need two APP2 markers.
        icc = Path(tmp) / "profile.icc"
        icc.write_bytes(np.random.default_rng(1).integers(0, 256, 70_000, dtype=np.uint8).tobytes())
        paths = []
        for entry in CORPUS:
            path = folder / f"{entry.name}.jpg"
            path.write_bytes(_encode(entry, icc))
            paths.append(path)
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} OUTDIR")
    for written in make_corpus(sys.argv[1]):
        print(written)
