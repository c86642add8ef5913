"""Dataset evaluation in the protocol of the JPEG artifact correction literature.

For each image of a folder and each IJG quality: compress the original with libjpeg (standard
IJG tables, accurate DCT, 4:2:0 chroma for colour), decode it as libjpeg does (the JPEG row),
optionally restore it with a corrector, and measure both against the original (data range 255).
Results are means of the per-image values, as in the evaluation scripts of FBCNN and JDEC; a
mean is ``inf`` if any image's PSNR is (a restored image identical to its original).

Metrics (:mod:`qgac_fast.metrics`), computed as the evaluation code behind the published tables
(JDEC's ``test.py``, FBCNN's ``utils_image.py``) computes them:

* ``psnr``: PSNR, colour over all RGB values jointly.
* ``psnr_b``: PSNR-B of the image under test (:func:`qgac_fast.metrics.psnr_b`): for colour, the
  MSE over all RGB values plus the blocking effect factor of the test image's rounded luma; for
  gray, Yim & Bovik's with exact pair counts.
* ``ssim``: SSIM with QGAC's 8x8 uniform window (``window="uniform8"``), averaged over channels
  (JDEC's ``ssim_qg``).
* ``ssim_gaussian``: SSIM with the 11x11 Gaussian window (sigma 1.5) of Wang et al., as
  scikit-image and FBCNN's ``calculate_ssim`` compute it; in the results (JSON), not in the table.
* ``hf_ratio``: the texture measure :func:`qgac_fast.metrics.high_frequency_ratio`, high 8x8
  DCT frequency energy of the luma over the original's (below 1: smoother than the original);
  in the results (JSON), not in the table.

Ground truth:

* Colour (default): the RGB original.
* Gray (``gray=True``): one-component JPEGs of the gray ground truth, metrics on that single
  channel. A file whose pixels are gray (8-bit gray like Classic5, or R = G = B) is its own
  ground truth; a colour file's is its studio-range BT.601 luma rounded to uint8,
  ``round(16 + (65.481 R + 128.553 G + 24.966 B) / 255)`` (:func:`qgac_fast.metrics.rgb_to_y`),
  the "gray LIVE1" of the KAIR/FBCNN lineage.

How the JPEG rows compare with the published ones: ``docs/evaluation.md`` (Protocol details).

Example:
    >>> from qgac_fast.evaluate import evaluate, format_table
    >>> result = evaluate("datasets/live1", [10, 20, 30])   # doctest: +SKIP
    >>> print(format_table(result))                         # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Callable, Iterable

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from . import metrics
from .codec import read_coefficients
from .compression import compress
from .ops import decode

__all__ = ["IMAGE_EXTENSIONS", "CorrectFn", "evaluate", "format_table", "list_images", "to_json"]

#: File name endings (lower case) that ``evaluate`` reads as images.
IMAGE_EXTENSIONS = (".bmp", ".png", ".jpg", ".jpeg", ".tif", ".tiff")

#: Restores one JPEG file: its bytes -> uint8 ``(C, H, W)``, the original's shape, any device.
CorrectFn = Callable[[bytes], torch.Tensor]

_METRICS = ("psnr", "psnr_b", "ssim", "ssim_gaussian", "hf_ratio")


def list_images(dataset_dir: str | os.PathLike) -> list[str]:
    """The image files directly inside ``dataset_dir`` (``IMAGE_EXTENSIONS``), sorted by name.

    Raises:
        ValueError: ``dataset_dir`` is not a folder or holds no image.
    """
    folder = os.fspath(dataset_dir)
    if not os.path.isdir(folder):
        raise ValueError(f"dataset folder {folder!r} does not exist or is not a folder")
    names = sorted(name for name in os.listdir(folder)
                   if name.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(folder, name)))
    if not names:
        raise ValueError(f"dataset folder {folder!r} holds no image ({', '.join(IMAGE_EXTENSIONS)})")
    return [os.path.join(folder, name) for name in names]


def _load(path: str, gray: bool) -> torch.Tensor:
    """The ground truth of one image file: uint8 ``(3, H, W)`` RGB, or ``(1, H, W)`` when ``gray``."""
    with Image.open(path) as image:
        if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
            raise ValueError(f"{path}: only 8-bit images are supported, got Pillow mode {image.mode!r}")
        rgb = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).contiguous()
    if not gray:
        return rgb
    if torch.equal(rgb[0], rgb[1]) and torch.equal(rgb[0], rgb[2]):
        return rgb[:1].clone()
    return metrics.rgb_to_y(rgb).round().to(torch.uint8)


def _measure(test: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    """``_METRICS`` of uint8 ``(C, H, W)`` images (see the module docstring); blocking is measured on ``test``."""
    return {"psnr": metrics.psnr(test, reference).item(),
            "psnr_b": metrics.psnr_b(test, reference).item(),
            "ssim": metrics.ssim(test, reference, window="uniform8").item(),
            "ssim_gaussian": metrics.ssim(test, reference, window="gaussian").item(),
            "hf_ratio": metrics.high_frequency_ratio(test, reference).item()}


def _check_output(output: torch.Tensor, reference: torch.Tensor, path: str, quality: int) -> None:
    if not isinstance(output, torch.Tensor) or output.dtype != torch.uint8 or output.shape != reference.shape:
        got = (f"{output.dtype} of shape {tuple(output.shape)}" if isinstance(output, torch.Tensor)
               else type(output).__name__)
        raise ValueError(f"corrector must return a uint8 tensor of shape {tuple(reference.shape)} "
                         f"(the original's) for {path} at quality {quality}, got {got}")


def _check_qualities(qualities: Iterable[int]) -> list[int]:
    qualities = list(qualities)
    if not qualities:
        raise ValueError("give at least one JPEG quality (1..100)")
    for q in qualities:
        if isinstance(q, bool) or not isinstance(q, (int, np.integer)) or not 1 <= q <= 100:
            raise ValueError(f"JPEG qualities must be ints in 1..100, got {q!r}")
    if len(set(qualities)) != len(qualities):
        raise ValueError(f"JPEG qualities must be distinct, got {qualities}")
    return [int(q) for q in qualities]


def evaluate(dataset_dir: str | os.PathLike, qualities: Iterable[int], corrector: CorrectFn | None = None, *,
             gray: bool = False, limit: int | None = None, progress: bool = True) -> dict:
    """Measure JPEG compression (and optionally its correction) on every image of a folder.

    Each image (``list_images``) is compressed at each quality with
    ``compress(original, quality=q, subsampling="4:2:0")`` (one-component JPEG when ``gray``),
    decoded bit-exactly like libjpeg (the JPEG row) and, with a ``corrector``, restored from the
    JPEG's bytes. Metrics are taken against the original and averaged over the images.

    Args:
        dataset_dir: folder of BMP, PNG, JPEG or TIFF images (8-bit; not recursive).
        qualities: IJG qualities, ints in 1..100, distinct.
        corrector: ``corrector(jpeg_bytes)`` -> uint8 ``(C, H, W)`` of the original's shape
            (C = 3, or 1 when ``gray``), on any device. Only these calls are timed, after one
            untimed warm-up call on the first image (CUDA outputs are synchronised).
        gray: evaluate on gray ground truth (see the module docstring) instead of RGB.
        limit: evaluate only the first ``limit`` images (sorted by name).
        progress: show a tqdm bar on stderr over images x qualities.

    Returns:
        A JSON-ready dict (but for ``inf`` means, see ``to_json``)::

            {"dataset": folder name, "gray": bool, "images": n, "megapixels": total of one pass,
             "qualities": {q: {"jpeg": {"psnr", "psnr_b", "ssim", "ssim_gaussian", "hf_ratio"},
                               "corrected": {...}, "images_per_second": float}}}

        with the metrics of the module docstring, and ``"corrected"`` and ``"images_per_second"``
        only when a corrector is given.

    Raises:
        ValueError: a missing or empty folder, bad qualities or limit, an image that is not
            8-bit, smaller than SSIM's 11x11 window, or a corrector output of the wrong shape.
    """
    qualities = _check_qualities(qualities)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int or None, got {limit!r}")
    paths = list_images(dataset_dir)[:limit]
    dataset = os.path.basename(os.path.normpath(dataset_dir))
    sums = {q: {"jpeg": dict.fromkeys(_METRICS, 0.0), "corrected": dict.fromkeys(_METRICS, 0.0)} for q in qualities}
    seconds = dict.fromkeys(qualities, 0.0)
    pixels = 0
    warm = corrector is None
    with tqdm(total=len(paths) * len(qualities), desc=dataset, unit="image", disable=not progress) as bar:
        for path in paths:
            original = _load(path, gray)
            pixels += original.shape[-2] * original.shape[-1]
            for q in qualities:
                data = compress(original, quality=q, subsampling="4:2:0")
                rows = {"jpeg": decode(read_coefficients(data))}
                if corrector is not None:
                    if not warm:
                        corrector(data)
                        warm = True
                    start = time.perf_counter()
                    output = corrector(data)
                    if isinstance(output, torch.Tensor) and output.is_cuda:
                        torch.cuda.synchronize(output.device)
                    seconds[q] += time.perf_counter() - start
                    _check_output(output, original, path, q)
                    rows["corrected"] = output.cpu()
                for row, image in rows.items():
                    for metric, value in _measure(image, original).items():
                        sums[q][row][metric] += value
                bar.update()
    results = {}
    for q in qualities:
        entry = {row: {metric: total / len(paths) for metric, total in sums[q][row].items()}
                 for row in ("jpeg", "corrected") if row == "jpeg" or corrector is not None}
        if corrector is not None:
            entry["images_per_second"] = len(paths) / seconds[q] if seconds[q] > 0 else math.inf
        results[q] = entry
    return {"dataset": dataset, "gray": bool(gray), "images": len(paths),
            "megapixels": pixels / 1e6, "qualities": results}


def _cell(row: dict) -> str:
    """``PSNR | PSNR-B / SSIM`` with the bar escaped for Markdown, e.g. ``25.69 \\| 24.20 / 0.759``."""
    return f"{float(row['psnr']):.2f} \\| {float(row['psnr_b']):.2f} / {float(row['ssim']):.3f}"


def format_table(result: dict) -> str:
    """A Markdown table of one ``evaluate`` result (also as read back from ``to_json``).

    Columns: set, q, JPEG, and with a corrector: corrected, gain (corrected minus JPEG PSNR, dB)
    and images/s. Cells read ``PSNR | PSNR-B / SSIM`` (dB to 2 decimals, SSIM to 3), the layout
    and the metrics of the literature's tables: ``psnr``, ``psnr_b`` and ``ssim`` (8x8 uniform
    window); ``ssim_gaussian`` is not shown.
    """
    corrected = any("corrected" in entry for entry in result["qualities"].values())
    name = result["dataset"] + (" (gray)" if result["gray"] else "")
    header = ["set", "q", "JPEG"] + (["corrected", "gain (dB)", "images/s"] if corrected else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for quality, entry in result["qualities"].items():
        cells = [name, str(quality), _cell(entry["jpeg"])]
        if corrected:
            gain = round(float(entry["corrected"]["psnr"]) - float(entry["jpeg"]["psnr"]), 2) + 0.0  # no "-0.00"
            cells += [_cell(entry["corrected"]), f"{gain:+.2f}", f"{float(entry['images_per_second']):.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _finite(value):
    """``value`` with non-finite floats replaced by the strings ``"inf"``, ``"-inf"``, ``"nan"``."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def to_json(results) -> str:
    """Strict JSON text of ``evaluate`` results (one dict or a list of them).

    Quality keys become strings; an infinite mean (identical images) is written as the string
    ``"inf"``, which ``float()`` reads back, since JSON has no infinity.
    """
    return json.dumps(_finite(results), indent=2, allow_nan=False) + "\n"
