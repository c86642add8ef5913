"""Training data: random crops of clean images, compressed in batches on the training device.

Every batch has one layout (all samples must stack): 4:2:0 colour, 4:4:4 colour or grayscale,
drawn per batch with the configured probabilities. Each sample gets its own crop, flips and
quantization tables (:func:`sample_tables`: mostly IJG tables at a quality weighted toward low
ones, some non-baseline tables with steps above 255, some non-IJG tables). The batch is then
encoded on the training device by :func:`qgac_fast.ops.encode_planes` (libjpeg's colour
conversion, downsampling and quantization, with the orthonormal float DCT: the fused kernel on
CUDA), so DataLoader workers only crop, and the model trains on the coefficients a libjpeg file
with those tables holds (up to a rounding difference in a small fraction of fine-step
coefficients, where libjpeg's integer DCT and the float one disagree).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..functional.color import rgb_to_ycbcr_libjpeg
from ..model.inputs import CoefficientPlanes
from ..ops import encode_planes
from ..quality import ijg_table
from .config import LAYOUTS, TABLE_KINDS, check_probabilities

__all__ = ["EVALUATION_SETS", "LAYOUTS", "TrainingBatch", "TrainingImages", "TrainingSampler", "collate",
           "TABLE_KINDS", "check_probabilities", "find_images", "load_rgb", "sample_quality", "sample_tables", "split_validation",
           "validation_crops"]

IMAGE_SUFFIXES = (".bmp", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".ppm", ".webp")

#: Evaluation sets that must never be trained on (their folder names).
EVALUATION_SETS = ("live1", "bsds500_test", "classic5", "mcmaster")



def find_images(roots: Sequence[str | os.PathLike]) -> list[Path]:
    """Image files under ``roots`` (recursively), sorted; refuses the evaluation sets.

    Raises:
        ValueError: a root is (inside) an evaluation set, or no image was found.
        FileNotFoundError: a root does not exist.
    """
    files: list[Path] = []
    for root in roots:
        root = Path(root)
        if not root.exists():
            raise FileNotFoundError(f"training data folder {str(root)!r} does not exist")
        resolved = root.resolve()
        if any(part in EVALUATION_SETS for part in resolved.parts):
            raise ValueError(f"{str(root)!r} is an evaluation set ({', '.join(EVALUATION_SETS)}); never train on it")
        found = [root] if root.is_file() else [p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
        files.extend(sorted(found))
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {[str(r) for r in roots]}")
    return files


def split_validation(files: Sequence[Path], count: int) -> tuple[list[Path], list[Path]]:
    """``(train, validation)``: ``count`` images held back from ``files`` (every k-th one, so the
    validation spans the folders) and the rest.

    Raises:
        ValueError: ``count`` would leave no training image.
    """
    if count >= len(files):
        raise ValueError(f"holding back {count} validation images (--val-images) leaves no training image "
                         f"out of {len(files)}")
    stride = max(1, len(files) // max(1, count))
    held = files[::stride][:count] if count else []
    return [f for f in files if f not in set(held)], held


def load_rgb(path: str | os.PathLike) -> np.ndarray:
    """An image file as uint8 ``(H, W, 3)`` RGB."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).copy()


def sample_quality(generator: torch.Generator, low: int = 10, high: int = 100) -> int:
    """A JPEG quality in ``[low, high]``, weighted toward low qualities: ``low + (high - low) u^2``
    with ``u`` uniform on [0, 1] (about half the samples fall below 30 for 10..100)."""
    u = torch.rand((), generator=generator).item()
    return int(round(low + (high - low) * u * u))


#: Spread (standard deviation of the log factor) of the per-frequency noise of "perturbed" tables.
PERTURBATION = 0.35


def sample_tables(generator: torch.Generator, low: int = 10, high: int = 100,
                  kinds: dict[str, float] = TABLE_KINDS) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Luma and chroma quantization tables for one training sample, and the IJG quality they derive from.

    Kinds, drawn with the probabilities ``kinds`` (default :data:`TABLE_KINDS`):

    * ``"ijg"``: libjpeg's baseline tables (steps 1..255) at a quality from :func:`sample_quality`;
    * ``"non-baseline"``: cjpeg's default tables below quality 25 (quality uniform in 1..24), whose
      steps go above 255 (up to 6050 at quality 1), so the model sees the steps it only gets
      clamped conditioning for (:data:`~qgac_fast.model.layers.MAX_CONDITIONING_STEP`);
    * ``"perturbed"``: a baseline IJG table at a :func:`sample_quality` quality with every step
      multiplied by its own log-normal factor (:data:`PERTURBATION`), luma and chroma
      independently: tables no IJG quality produces, as other encoders write.

    Returns:
        ``(luma, chroma, quality)``: int32 ``(8, 8)`` tables in natural order and an int.
    """
    names = list(kinds)
    kind = names[int(torch.multinomial(torch.tensor([float(kinds[k]) for k in names]), 1, generator=generator))]
    if kind == "non-baseline":
        quality = int(torch.randint(1, 25, (), generator=generator))
        return ijg_table(quality, baseline=False), ijg_table(quality, chroma=True, baseline=False), quality
    quality = sample_quality(generator, low, high)
    luma, chroma = ijg_table(quality), ijg_table(quality, chroma=True)
    if kind == "perturbed":
        noise = torch.exp(PERTURBATION * torch.randn((2, 8, 8), generator=generator, dtype=torch.float64))
        luma, chroma = ((t * n).round().clamp(1, 255).to(torch.int32) for t, n in zip((luma, chroma), noise))
    return luma, chroma, quality


@dataclass
class TrainingBatch:
    """A batch of clean crops of one layout with the tables to compress each with.

    Attributes:
        rgb: uint8 ``(N, 3, H, W)`` RGB crops.
        layout: one of :data:`LAYOUTS` for the whole batch.
        luma_table, chroma_table: int32 ``(N, 8, 8)`` quantization steps (natural order) of each sample.
        quality: int64 ``(N,)`` the IJG quality each sample's tables derive from.
    """

    rgb: torch.Tensor
    layout: str
    luma_table: torch.Tensor
    chroma_table: torch.Tensor
    quality: torch.Tensor

    def compress(self, device: torch.device | str) -> tuple[CoefficientPlanes, torch.Tensor]:
        """The JPEGs and the targets on ``device``.

        Returns:
            ``(planes, target)``: :class:`~qgac_fast.model.inputs.CoefficientPlanes` of the
            compressed crops (gray batches: the libjpeg luma as one-component JPEGs), and uint8
            ``(N, 3, H, W)`` RGB targets (``(N, 1, H, W)`` luma for gray batches).
        """
        rgb = self.rgb.to(device, non_blocking=True)
        luma_table = self.luma_table.to(device, non_blocking=True)
        chroma_table = None if self.layout == "gray" else self.chroma_table.to(device, non_blocking=True)
        luma, chroma = encode_planes(rgb, luma_table, chroma_table, self.layout, dct="float")
        target = rgb_to_ycbcr_libjpeg(rgb)[:, :1] if self.layout == "gray" else rgb
        return CoefficientPlanes.from_quantized(luma, chroma, luma_table, chroma_table, tuple(rgb.shape[-2:])), target


class TrainingSampler:
    """An endless stream of batches' worth of sample descriptions ``(image, layout, seed)``.

    Each rank of a data-parallel run uses its own ``seed`` (so ranks draw different samples);
    the stream is deterministic given the seed and resumes at any batch with ``start``.

    Args:
        num_images: size of the image list.
        batch_size: samples per batch.
        layouts: ``{layout: probability}`` over :data:`LAYOUTS`.
        seed: base seed of this stream.
        start: index of the first batch to yield (resuming).
    """

    def __init__(self, num_images: int, batch_size: int, layouts: dict[str, float], seed: int, start: int = 0):
        check_probabilities("layouts", layouts, LAYOUTS)
        self.num_images, self.batch_size, self.seed, self.start = num_images, batch_size, seed, start
        self.names = list(layouts)
        self.weights = torch.tensor([layouts[k] for k in self.names], dtype=torch.float64)

    def __iter__(self) -> Iterator[list[tuple[int, str, int]]]:
        batch = self.start
        while True:
            g = torch.Generator().manual_seed(hash((self.seed, batch)) & 0x7FFF_FFFF_FFFF)
            layout = self.names[int(torch.multinomial(self.weights, 1, generator=g))]
            images = torch.randint(self.num_images, (self.batch_size,), generator=g).tolist()
            seeds = torch.randint(2**62, (self.batch_size,), generator=g).tolist()
            yield [(i, layout, s) for i, s in zip(images, seeds)]
            batch += 1


class TrainingImages(torch.utils.data.Dataset):
    """Clean images, indexed by ``(image, layout, seed)`` descriptions from a :class:`TrainingSampler`.

    Images are decoded once (in the main process, so DataLoader workers share them).

    Args:
        files: image paths (:func:`find_images`); every image must be at least ``crop`` on
            both sides (smaller ones are dropped with a count in ``skipped``).
        crop: crop side in pixels, a multiple of 16.
        qualities: ``(low, high)`` range of the IJG quality of "ijg" and "perturbed" tables.
        tables: ``{kind: probability}`` over :data:`TABLE_KINDS` (see :func:`sample_tables`).
    """

    def __init__(self, files: Sequence[Path], crop: int, qualities: tuple[int, int] = (10, 100),
                 tables: dict[str, float] = TABLE_KINDS):
        if crop < 16 or crop % 16:
            raise ValueError(f"crop must be a positive multiple of 16, got {crop}")
        low, high = qualities
        if not 1 <= low <= high <= 100:
            raise ValueError(f"qualities must satisfy 1 <= low <= high <= 100, got {qualities}")
        check_probabilities("tables", tables, TABLE_KINDS)
        self.crop, self.qualities, self.tables = crop, (low, high), dict(tables)
        images = [load_rgb(f) for f in files]
        self.images = [im for im in images if min(im.shape[:2]) >= crop]
        self.skipped = len(images) - len(self.images)
        if not self.images:
            raise ValueError(f"no image is at least {crop}x{crop}")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item: tuple[int, str, int]) -> tuple[torch.Tensor, str, torch.Tensor, torch.Tensor, int]:
        """``(crop, layout, luma_table, chroma_table, quality)``: uint8 ``(3, crop, crop)`` RGB and
        the :func:`sample_tables` draw of sample ``item = (image, layout, seed)``."""
        index, layout, seed = item
        g = torch.Generator().manual_seed(seed)
        image = self.images[index]
        h, w = image.shape[:2]
        top = int(torch.randint(h - self.crop + 1, (), generator=g))
        left = int(torch.randint(w - self.crop + 1, (), generator=g))
        crop = torch.from_numpy(image[top:top + self.crop, left:left + self.crop]).permute(2, 0, 1)
        if torch.rand((), generator=g) < 0.5:
            crop = crop.flip(-1)
        if torch.rand((), generator=g) < 0.5:
            crop = crop.flip(-2)
        return (crop.contiguous(), layout, *sample_tables(g, *self.qualities, self.tables))


def collate(samples: list[tuple[torch.Tensor, str, torch.Tensor, torch.Tensor, int]]) -> TrainingBatch:
    """Stack samples of one layout into a :class:`TrainingBatch`."""
    crops, layouts, luma, chroma, quality = zip(*samples)
    return TrainingBatch(torch.stack(crops), layouts[0], torch.stack(luma), torch.stack(chroma), torch.tensor(quality))


def validation_crops(files: Sequence[Path], size: int = 256) -> list[torch.Tensor]:
    """Centre crops (``size``, or the largest multiple of 16 that fits) of held-back images as
    uint8 ``(3, h, w)``, for validation."""
    crops = []
    for f in files:
        image = torch.from_numpy(load_rgb(f)).permute(2, 0, 1)
        h, w = (min(size, image.shape[1]) // 16) * 16, (min(size, image.shape[2]) // 16) * 16
        top, left = (image.shape[1] - h) // 2, (image.shape[2] - w) // 2
        crops.append(image[:, top:top + h, left:left + w].contiguous())
    return crops
