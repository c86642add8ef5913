"""From inputs to results: reading, batches of whole images, tiles, and retries after failures.

:class:`Runner` is the engine's work, one call per stage; :mod:`~qgac_fast.inference.pipeline`
decides when each runs (and on which thread). A bad input or a failed computation becomes a
:class:`~qgac_fast.inference.results.CorrectionResult` with ``error`` set, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Union

import torch

from ..blind import BlindInput, decoded_pixels, prepare
from ..codec import read_coefficients
from ..coefficients import JPEGCoefficients
from ..model import CoefficientPlanes, planes_from_jpeg
from ..primary import PrimaryTable, choose_table
from ..sources import Source as JPEGSource
from ..sources import input_byte_limit, read_source
from .memory import ActivationCost
from .results import CorrectionResult
from .step import CorrectionStep
from .tiles import Tile, fit_tiles, plan_tiles, restore_tiled

__all__ = ["Loaded", "Runner", "Source"]

#: What the engine corrects: a JPEG source (its bytes, path, an open binary file, a PIL JPEG image not
#: yet loaded: :func:`~qgac_fast.sources.jpeg_source`), its coefficients, or a decoded image (pixels,
#: or an image file that is not a JPEG: :func:`~qgac_fast.blind.decoded_pixels`).
Source = Union[JPEGSource, JPEGCoefficients]


@dataclass
class Loaded:
    """One read input, ready for the model (a batch of one, on the host)."""

    index: int
    source: Any
    planes: CoefficientPlanes
    subsampling: str  # the JPEG's layout (JPEGCoefficients.subsampling), kept for a JPEG output
    exif: bytes | None  # the input's metadata, carried to the result and the written file
    icc_profile: bytes | None
    # a decoded image, or a JPEG whose primary grid is shifted: the estimate, how to cut the output back
    blind: BlindInput | None = None
    primary: PrimaryTable | None = None  # a twice-compressed JPEG corrected with its first table

    @property
    def key(self) -> tuple:
        """Images with equal keys batch together (same plane shapes and layout)."""
        chroma = None if self.planes.chroma is None else tuple(self.planes.chroma.shape[-2:])
        return tuple(self.planes.luma.shape[-2:]), chroma


class Runner:
    """Reads inputs and corrects batches of them with a :class:`CorrectionStep`.

    Args:
        step: the correction step (its device is the engine's).
        batch_size: most images or tiles per model call.
        tile: ``"auto"``, None or a largest core size in pixels (see :class:`qgac_fast.Corrector`).
        overlap: tile context in 8x8 blocks (even).
        cost: the activation-memory estimate within the budget (used by ``tile="auto"``).
        strict, max_pixels, max_pixels_per_byte: as for :func:`~qgac_fast.read_coefficients`.
        table: which quantization a JPEG is corrected with (:data:`~qgac_fast.primary.TABLE_CHOICES`).
        progress: called with the megapixels of each model call's work (see :class:`qgac_fast.Corrector`).
    """

    def __init__(self, step: CorrectionStep, *, batch_size: int, tile: int | str | None, overlap: int,
                 cost: ActivationCost, strict: bool, max_pixels: int | None, max_pixels_per_byte: int | None,
                 table: str = "auto", progress: Callable[[float], None] | None = None):
        self.step, self.batch_size, self.tile, self.overlap, self.cost = step, batch_size, tile, overlap, cost
        self.progress, self.table = progress, table
        self.strict, self.max_pixels, self.max_pixels_per_byte = strict, max_pixels, max_pixels_per_byte
        self.cuda = step.device.type == "cuda"

    def load(self, index: int, source: Source) -> Loaded | CorrectionResult:
        """Coefficients -> model planes on the host (pinned for CUDA); an error is a result. A path or
        an open file is read once (:func:`~qgac_fast.sources.read_source`) and its type told from its
        bytes. A decoded image goes the blind way (:mod:`qgac_fast.blind`); one without JPEG history
        is its own result."""
        try:
            blind = decoded = None
            data = source
            if not isinstance(source, JPEGCoefficients):
                data = read_source(source, input_byte_limit(self.max_pixels))
                decoded = decoded_pixels(data, max_pixels=self.max_pixels, max_pixels_per_byte=self.max_pixels_per_byte)
            if decoded is not None:
                blind = prepare(decoded.pixels, decoded.icc_profile, alpha=decoded.alpha)
                if blind.coefficients is None:  # nothing to correct: the input as it came
                    return CorrectionResult(index, source, image=blind.finish(decoded.pixels.clone()),
                                            size=tuple(decoded.pixels.shape[1:]), subsampling=None,
                                            exif=decoded.exif, icc_profile=decoded.icc_profile,
                                            estimate=blind.estimate)
                jc = blind.coefficients
            else:
                jc = data if isinstance(data, JPEGCoefficients) else read_coefficients(
                    data, strict=self.strict, max_pixels=self.max_pixels,
                    max_pixels_per_byte=self.max_pixels_per_byte)
            if blind is not None:
                corrected, primary = jc, None
            else:  # a shifted primary goes through the pixels: blind, and reported as the primary used
                corrected, primary, blind = choose_table(jc, self.table)
            planes = planes_from_jpeg(corrected)
            if self.cuda:
                planes = planes.map(lambda t: t.pin_memory())
            if decoded is not None:
                return Loaded(index, source, planes, blind.estimate.subsampling, decoded.exif, decoded.icc_profile,
                              blind)
            return Loaded(index, source, planes, jc.subsampling, jc.exif, jc.icc_profile, blind, primary)
        except Exception as error:  # noqa: BLE001  (any bad input is that input's result)
            return CorrectionResult(index, source, error=error)

    def batch_limit(self, item: Loaded) -> int:
        """Most images like ``item`` per model call (``tile="auto"``: within the budget)."""
        if self.tile != "auto" or self.cost.fits(item.planes.layout, self.batch_size * item.planes.pixels):
            return self.batch_size
        return max(1, min(self.batch_size, self.cost.max_pixels(item.planes.layout) // item.planes.pixels))

    def tiling(self, item: Loaded) -> list[Tile] | None:
        """The tiles ``item`` is to be corrected in, or None to correct it whole: with
        ``tile="auto"`` the tiling of fewest model pixels within the budget
        (:func:`~qgac_fast.inference.tiles.fit_tiles`), with a core size its windows
        (:func:`~qgac_fast.inference.tiles.plan_tiles`)."""
        h, w = item.planes.luma.shape[-2:]
        overlap = 8 * self.overlap
        if self.tile is None:
            return None
        if self.tile == "auto":
            if self.cost.fits(item.planes.layout, h * w):
                return None
            return fit_tiles(h, w, self.cost.max_pixels(item.planes.layout), overlap)
        if h <= self.tile + 2 * overlap and w <= self.tile + 2 * overlap:
            return None
        return plan_tiles(h, w, self.tile, overlap)

    def run_batch(self, items: list[Loaded]) -> list[CorrectionResult]:
        """Correct whole images of one shape; a failed batch is retried image by image, and an
        image that runs out of memory alone is tiled (unless ``tile`` is None)."""
        try:
            return self._correct_batch(items)
        except Exception as error:  # noqa: BLE001
            failure = error
        # retried outside the handler, the failed call's tensors released first (see _release)
        if len(items) > 1:
            self._release(failure)
            return [result for item in items for result in self.run_batch([item])]
        if isinstance(failure, torch.OutOfMemoryError) and self.tile is not None:
            tiles = self._smaller(items[0], items[0].planes.pixels)
            if tiles is not None:
                self._release(failure)
                return self.run_tiled(items[0], tiles, per_call=1)
        return [CorrectionResult(items[0].index, items[0].source, error=failure, size=items[0].planes.size)]

    def _correct_batch(self, items: list[Loaded]) -> list[CorrectionResult]:
        planes = CoefficientPlanes.cat([item.planes.to(self.step.device, non_blocking=self.cuda) for item in items])
        y, chroma = self.step.restore(planes)
        results = self._finish(items, planes, y, chroma, tiles=1)
        if self.progress is not None:
            self.progress(sum(_megapixels(item) for item in items))
        return results

    def run_tiled(self, item: Loaded, tiles: list[Tile], per_call: int | None = None) -> list[CorrectionResult]:
        """Correct one image in ``tiles``, ``per_call`` windows per model call (default: the batch
        size, within the budget with ``tile="auto"``). Out of memory, the image is planned again
        within a quarter of a window's pixels (:func:`~qgac_fast.inference.tiles.fit_tiles`, cores
        down to 16 pixels: with a wide overlap the windows can hold more than that quarter) and
        corrected one window per call, until the windows no longer shrink."""
        try:
            return self._correct_tiled(item, tiles, per_call)
        except Exception as error:  # noqa: BLE001
            failure = error
        if isinstance(failure, torch.OutOfMemoryError):
            smaller = self._smaller(item, _pixels(tiles[0]))
            if smaller is not None:
                self._release(failure)
                return self.run_tiled(item, smaller, per_call=1)
        return [CorrectionResult(item.index, item.source, error=failure, size=item.planes.size)]

    def _correct_tiled(self, item: Loaded, tiles: list[Tile], per_call: int | None) -> list[CorrectionResult]:
        planes = item.planes.to(self.step.device, non_blocking=self.cuda)
        if per_call is None:
            per_call = self.batch_size
            if self.tile == "auto":
                per_call = max(1, min(per_call, self.cost.max_pixels(planes.layout) // _pixels(tiles[0])))
        done = None if self.progress is None else lambda fraction: self.progress(fraction * _megapixels(item))
        y, chroma = restore_tiled(self.step, planes, tiles, per_call, done)
        return self._finish([item], planes, y, chroma, tiles=len(tiles))

    def _finish(self, items: list[Loaded], planes: CoefficientPlanes, y: torch.Tensor,
                chroma: torch.Tensor | None, tiles: int) -> list[CorrectionResult]:
        """Decode each image at its own size; copy to the host (asynchronously from CUDA)."""
        images = self.step.decode_each(planes, y, chroma, [item.planes.size for item in items])
        results = []
        for item, image in zip(items, images):
            size = item.planes.size
            if item.blind is not None:
                image = item.blind.finish(image)
                size = tuple(image.shape[1:])
            ready = None
            if self.cuda:
                host = torch.empty(image.shape, dtype=image.dtype, pin_memory=True)
                host.copy_(image, non_blocking=True)
                ready = torch.cuda.Event()
                ready.record()
                image = host
            results.append(CorrectionResult(item.index, item.source, image=image, size=size, tiles=tiles,
                                            subsampling=item.subsampling, exif=item.exif,
                                            icc_profile=item.icc_profile, ready=ready,
                                            estimate=None if item.blind is None or item.primary is not None
                                            else item.blind.estimate,
                                            primary=item.primary))
        return results

    def _smaller(self, item: Loaded, pixels: int) -> list[Tile] | None:
        """After a call of ``pixels``-pixel windows (the whole image: its planes' pixels) ran out of
        memory: the tiles within a quarter of that (cores down to 16 pixels), or None when their
        windows would not be smaller."""
        tiles = fit_tiles(*item.planes.luma.shape[-2:], pixels // 4, 8 * self.overlap, min_core=16)
        return tiles if _pixels(tiles[0]) < pixels else None

    def _release(self, failure: BaseException) -> None:
        """Free what a failed call held before retrying it: its traceback keeps the frames, and so
        the tensors, of the call; then CUDA's cached blocks."""
        failure.__traceback__ = None
        if self.cuda:
            torch.cuda.empty_cache()


def _pixels(tile: Tile) -> int:
    """A tile window's luma pixels."""
    top, bottom, left, right = tile.window
    return (bottom - top) * (right - left)


def _megapixels(item: Loaded) -> float:
    """The image's own size (not its MCU-padded planes'), in megapixels."""
    height, width = item.planes.size
    return height * width / 1e6
