"""Training data: random crops of clean images, compressed on the fly through libjpeg.

Every batch has one layout (all samples must stack): 4:2:0 colour, 4:4:4 colour or grayscale,
drawn per batch with the configured probabilities. Each sample gets its own crop, flips and JPEG
quality (10..100, weighted toward low qualities), is compressed with libjpeg through
:func:`qgac_fast.compression.compress` and read back through the codec, so the model trains on
exactly the coefficients real files hold.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..codec import read_coefficients
from ..compression import compress
from ..functional.color import rgb_to_ycbcr_libjpeg
from ..model.inputs import CoefficientPlanes, planes_from_jpeg

__all__ = ["EVALUATION_SETS", "LAYOUTS", "TrainingBatch", "TrainingImages", "TrainingSampler", "collate",
           "find_images", "load_rgb", "sample_quality", "validation_crops"]

IMAGE_SUFFIXES = (".bmp", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".ppm", ".webp")

#: Evaluation sets that must never be trained on (folder names in ../shared/datasets).
EVALUATION_SETS = ("live1", "bsds500_test", "classic5", "mcmaster")

#: Batch layouts: JPEG subsampling of the batch, or "gray" (one-component JPEGs of the luma).
LAYOUTS = ("4:2:0", "4:4:4", "gray")


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


def load_rgb(path: str | os.PathLike) -> np.ndarray:
    """An image file as uint8 ``(H, W, 3)`` RGB."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).copy()


def sample_quality(generator: torch.Generator, low: int = 10, high: int = 100) -> int:
    """A JPEG quality in ``[low, high]``, weighted toward low qualities: ``low + (high - low) u^2``
    with ``u`` uniform on [0, 1] (about half the samples fall below 30 for 10..100)."""
    u = torch.rand((), generator=generator).item()
    return int(round(low + (high - low) * u * u))


@dataclass
class TrainingBatch:
    """A batch: the JPEGs in the model's input layout, the clean targets and their qualities.

    Attributes:
        planes: :class:`~qgac_fast.model.inputs.CoefficientPlanes` of the compressed crops.
        target: uint8 ``(N, 3, H, W)`` RGB crops (``(N, 1, H, W)`` luma for gray batches).
        quality: int64 ``(N,)`` the IJG quality of each sample.
    """

    planes: CoefficientPlanes
    target: torch.Tensor
    quality: torch.Tensor


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
        unknown = set(layouts) - set(LAYOUTS)
        if unknown or not layouts or any(p < 0 for p in layouts.values()) or sum(layouts.values()) <= 0:
            raise ValueError(f"layouts must map some of {LAYOUTS} to non-negative probabilities, got {layouts}")
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
        qualities: ``(low, high)`` range of the JPEG quality.
    """

    def __init__(self, files: Sequence[Path], crop: int, qualities: tuple[int, int] = (10, 100)):
        if crop < 16 or crop % 16:
            raise ValueError(f"crop must be a positive multiple of 16, got {crop}")
        low, high = qualities
        if not 1 <= low <= high <= 100:
            raise ValueError(f"qualities must satisfy 1 <= low <= high <= 100, got {qualities}")
        self.crop, self.qualities = crop, (low, high)
        images = [load_rgb(f) for f in files]
        self.images = [im for im in images if min(im.shape[:2]) >= crop]
        self.skipped = len(images) - len(self.images)
        if not self.images:
            raise ValueError(f"no image is at least {crop}x{crop}")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item: tuple[int, str, int]) -> tuple[CoefficientPlanes, torch.Tensor, int]:
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
        crop = crop.contiguous()
        quality = sample_quality(g, *self.qualities)
        if layout == "gray":
            target = rgb_to_ycbcr_libjpeg(crop)[:1].to(torch.uint8)
            jpeg = compress(target, quality=quality)
        else:
            target = crop
            jpeg = compress(crop, quality=quality, subsampling=layout)
        return planes_from_jpeg(read_coefficients(jpeg)), target, quality


def collate(samples: list[tuple[CoefficientPlanes, torch.Tensor, int]]) -> TrainingBatch:
    """Stack samples of one layout into a :class:`TrainingBatch`."""
    planes = [s[0] for s in samples]
    return TrainingBatch(CoefficientPlanes.cat(planes), torch.stack([s[1] for s in samples]), torch.tensor([s[2] for s in samples]))


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
