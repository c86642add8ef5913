"""``Corrector``: correct many JPEGs fast, in input order, with nothing lost on bad files.

The engine is a :class:`~qgac_fast.inference.step.CorrectionStep` (the model, precision,
compilation, clamp and decode), a :class:`~qgac_fast.inference.runner.Runner` (reading, batches,
tiles, retries) and the scheduling of :func:`~qgac_fast.inference.pipeline.run_pipeline`; this
module holds the options and the public entry points. Measurements behind the defaults (threads
on the CPU, the memory estimate, torch.compile): ``docs/engine.md``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator

import torch

from ..atomic import remove_stale_temporaries
from ..deprecation import renamed_argument, warn_deprecated
from ..devices import resolve_device
from ..jpeg_files import find_jpegs
from ..model import QGAC, load_model
from ..options import (DEFAULT_MAX_PIXELS, DEFAULT_MAX_PIXELS_PER_BYTE, DEFAULT_PNG_LEVEL, TABLE_CHOICES, check_overlap,
                       check_tile)
from .memory import ActivationCost, default_budget
from .outputs import check_output_options, refusals, write_result
from .pipeline import run_pipeline
from .results import CorrectionResult, FileResult, display
from .runner import Runner, Source
from .step import CorrectionStep
from .tiles import default_overlap

__all__ = ["Corrector", "EngineOptions"]


@dataclasses.dataclass(frozen=True)
class EngineOptions:
    """How :class:`Corrector` runs; None means the device's default.

    Attributes:
        batch_size: most images (or tiles) per model call; default 8 on CUDA, 1 on the CPU
            (where a batch runs image by image anyway: :class:`CorrectionStep`).
        precision, compile, constrain, decode_backend, flips: the :class:`CorrectionStep` settings
            (precision ``"auto"``: bf16 autocast on CUDA and on CPUs with native bf16;
            decode_backend ``"auto"``, ``"reference"``, ``"triton"`` or ``"native"``; flips 1, 2
            or 4: a test-time ensemble over the image's flips, that many forwards per image;
            checked when the :class:`Corrector` is made). The CFMs run on the model's own
            :attr:`~qgac_fast.model.QGAC.cfm_backend`.
        tile: ``"auto"`` (tile only what does not fit ``memory_budget``, in the windows that read
            the fewest pixels: :func:`~qgac_fast.inference.tiles.fit_tiles`), a largest core size
            in pixels (a multiple of 16, at least 16: windows of at most that plus the overlap on
            each side, :func:`~qgac_fast.inference.tiles.plan_tiles`), or None (never tile).
        overlap: context around each tile core, in 8x8 blocks (rounded up to even); default
            :func:`~qgac_fast.inference.tiles.default_overlap`.
        workers: reader threads, and writer threads of :meth:`Corrector.correct_files` (at
            least one); default ``min(4, os.cpu_count())`` on CUDA and 0 on the CPU (no reader
            pool and no compute thread: the fastest there, see ``docs/engine.md``).
        prefetch: most inputs read ahead of the model; default ``4 * max(batch_size, workers)``
            (not used with ``workers=0``).
        memory_budget: bytes of activations one model call may use (``tile="auto"``); default
            half the free CUDA memory at construction, or a quarter of the physical memory, at
            most 2 GiB (:func:`~qgac_fast.inference.memory.default_budget`).
        strict, max_pixels, max_pixels_per_byte: as for :func:`~qgac_fast.read_coefficients`
            (the limits refuse an image before reading it: a ``JPEGError`` result).
        table: the quantization a JPEG is corrected with: ``"auto"`` (a twice-compressed file's
            first, coarser table when one is found, its grid aligned or shifted, else the file's),
            ``"file"``, or ``"primary"`` (a file with no primary table found fails); see :mod:`qgac_fast.primary`.
        backend: deprecated name of ``decode_backend``, as a constructor argument and an
            attribute (warns; removed in the next release).

    Raises:
        TypeError: both ``backend`` and ``decode_backend``.
    """

    batch_size: int | None = None
    precision: str = "auto"
    compile: str | None = None
    constrain: bool = True
    decode_backend: str = "auto"
    flips: int = 1
    tile: int | str | None = "auto"
    overlap: int | None = None
    workers: int | None = None
    prefetch: int | None = None
    memory_budget: int | None = None
    strict: bool = True
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    max_pixels_per_byte: int | None = DEFAULT_MAX_PIXELS_PER_BYTE
    table: str = "auto"

    @property
    def backend(self) -> str:
        """Deprecated name of :attr:`decode_backend` (warns; removed in the next release)."""
        warn_deprecated("EngineOptions.backend", "EngineOptions.decode_backend", stacklevel=3)
        return self.decode_backend


def _taking_backend(init: Callable) -> Callable:
    """The dataclass's generated ``__init__``, also taking ``backend=``, the deprecated name of
    ``decode_backend=``. Wrapped rather than declared as a field so that ``dataclasses.replace``,
    which passes every field on, never sees the old name."""

    @functools.wraps(init)
    def __init__(self, *args, backend: str | None = None, **kwargs) -> None:
        if backend is not None:
            kwargs["decode_backend"] = renamed_argument("backend", backend, "decode_backend",
                                                        kwargs.get("decode_backend", "auto"), "auto")
        init(self, *args, **kwargs)

    return __init__


EngineOptions.__init__ = _taking_backend(EngineOptions.__init__)

_STEP_SETTINGS = ("precision", "compile", "constrain", "decode_backend", "flips")


def _count(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _choice(value: str, choices: tuple, name: str) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def _normalized(device: torch.device) -> torch.device:
    """``cuda`` as ``cuda:<current index>``; other devices as they are."""
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


class Corrector:
    """Correct many JPEGs with a QGAC model.

    Args:
        model: a :class:`~qgac_fast.model.QGAC` (used on its device, in eval mode), a
            :class:`CorrectionStep` (its model and settings; ``precision``, ``compile``,
            ``constrain``, ``decode_backend`` and ``flips`` are then its own), or a shipped weights name or
            ``.safetensors`` path (loaded on ``device``).
        device: where the model runs; default: the given model's device, else
            :func:`~qgac_fast.devices.default_device` (CUDA when available, else the CPU).
        options: an :class:`EngineOptions`; keyword arguments override its fields
            (``Corrector("default", batch_size=4)``).
        progress: called after each model call with the megapixels it corrected (the images of a
            batch, or the share of a tiled image its tiles cover), on the thread that runs the model,
            so that a progress bar moves during a large image's tiles. A tiled image that runs out
            of memory midway is retried in smaller tiles, which report its whole area again.

    The resolved settings are attributes (``batch_size``, ``workers``, ``tile``, ``overlap``,
    ``prefetch``, ``memory_budget``; ``step`` holds the precision and the rest).

    Example:
        >>> corrector = Corrector("default", device="cpu")            # doctest: +SKIP
        >>> for result in corrector.correct_many(["a.jpg", "b.jpg"]):  # doctest: +SKIP
        ...     print(result.index, result.reason or tuple(result.image.shape))
    """

    def __init__(self, model: QGAC | CorrectionStep | str | os.PathLike = "default",
                 device: torch.device | str | None = None,
                 options: EngineOptions | None = None, *, progress: Callable[[float], None] | None = None,
                 **overrides):
        if "backend" in overrides:
            overrides["decode_backend"] = renamed_argument("backend", overrides.pop("backend"), "decode_backend",
                                                           overrides.get("decode_backend", "auto"), "auto")
        options = dataclasses.replace(options or EngineOptions(), **overrides)
        step = model if isinstance(model, CorrectionStep) else None
        if step is not None:
            if any(getattr(options, name) != getattr(EngineOptions, name) for name in _STEP_SETTINGS):
                raise ValueError(f"{', '.join(_STEP_SETTINGS)} are the given CorrectionStep's; set them there")
            model = step.model
        if isinstance(model, QGAC):
            if device is not None and _normalized(torch.device(device)) != _normalized(model.mean.device):
                raise ValueError(f"the model is on {model.mean.device}, not on device={device!r}; move it first "
                                 "(model.to(device)) or leave device out")
        else:
            model = load_model(model, device=resolve_device(device))
        self.device = _normalized(model.mean.device)
        cuda = self.device.type == "cuda"
        self.step = step or CorrectionStep(model, precision=options.precision, compile=options.compile,
                                           constrain=options.constrain, decode_backend=options.decode_backend,
                                           flips=options.flips)
        default = lambda value, fallback: fallback if value is None else value  # noqa: E731
        self.batch_size = _count(default(options.batch_size, 8 if cuda else 1), "batch_size", 1)
        self.tile = check_tile(options.tile)
        self.overlap = check_overlap(default(options.overlap, default_overlap(model.config)))
        self.workers = _count(default(options.workers, min(4, os.cpu_count() or 1) if cuda else 0), "workers", 0)
        self.prefetch = _count(default(options.prefetch, 4 * max(self.batch_size, self.workers)), "prefetch", 1)
        self.memory_budget = default(options.memory_budget, default_budget(self.device))
        self.cost = ActivationCost(self.step, self.memory_budget)
        self._runner = Runner(self.step, batch_size=self.batch_size, tile=self.tile, overlap=self.overlap,
                              cost=self.cost, strict=options.strict, max_pixels=options.max_pixels,
                              max_pixels_per_byte=options.max_pixels_per_byte,
                              table=_choice(options.table, TABLE_CHOICES, "table"), progress=progress)

    @property
    def model(self) -> QGAC:
        return self.step.model

    def correct(self, item: Source) -> torch.Tensor:
        """Correct one JPEG or decoded image: uint8 ``(C, H, W)`` on the CPU; raises what stopped it."""
        if isinstance(item, (str, os.PathLike)) and os.path.isdir(item):
            raise IsADirectoryError(f"{os.fspath(item)!r} is a folder: correct one file, or use correct_many")
        result = next(iter(self.correct_many([item])))
        if result.error is not None:
            raise result.error
        return result.image

    def correct_many(self, items: Iterable[Source]) -> Iterator[CorrectionResult]:
        """Correct a stream of JPEGs; yields one :class:`CorrectionResult` per item, in order.

        An item is anything :func:`~qgac_fast.sources.jpeg_source` takes (a path, bytes, a binary
        file object, a PIL JPEG image not yet loaded), :class:`~qgac_fast.JPEGCoefficients`, or a
        decoded image (uint8 pixels, a PIL image, a PNG/BMP/TIFF/WebP file's path, open file or
        bytes), which goes the blind way (:mod:`qgac_fast.blind`; its result's ``estimate`` says
        what was found); anything else is that item's failed result (``TypeError``). A path or an
        open file is read once, to at most :func:`~qgac_fast.sources.input_byte_limit` bytes (a pipe
        or FIFO too; a device is refused), and its type told from the bytes.

        A folder among ``items`` (a ``str`` or path-like naming a directory) stands for its JPEG
        files (:func:`~qgac_fast.jpeg_files.find_jpegs`), each a result of its own whose ``source``
        is the file's path and whose ``index`` counts the files.

        ``items`` is consumed lazily (at most ``prefetch`` ahead of the model; one at a time with
        ``workers=0``). A failure of one item is its result's ``error``; an exception raised by the
        iterable itself ends the generator with that exception. Closing the generator early stops
        the pipeline.
        """
        return run_pipeline(self._runner, _expand_folders(items), workers=self.workers, prefetch=self.prefetch)

    def correct_files(self, pairs: Iterable[tuple[Source, str | os.PathLike]], *, format: str = "png",
                      jpeg_quality: int = 95, subsampling: str | None = None, webp_quality: int | None = None,
                      png_level: int = DEFAULT_PNG_LEVEL, skip_existing: bool = False, apply_orientation: bool = False,
                      writing: Callable[[str], None] | None = None) -> Iterator[FileResult]:
        """Correct JPEG files and write the results; yields a :class:`FileResult` per pair, in order.

        Args:
            pairs: ``(input, output_path)``; parent folders are created.
            format: ``"png"``, ``"jpeg"`` (``jpeg_quality``, ``subsampling``) or ``"webp"``
                (``webp_quality``); see :func:`~qgac_fast.inference.encoding.encode_image`. Gray
                inputs give gray PNG and JPEG files.
            subsampling: chroma subsampling of JPEG outputs (``"4:4:4"``, ``"4:2:2"``,
                ``"4:2:0"``, ``"4:4:0"``, ``"4:1:1"``); default None: each input's own
                (:func:`~qgac_fast.inference.encoding.jpeg_subsampling`).
            webp_quality: lossy WebP quality 1..100; default None: lossless.
            png_level: zlib level of PNG outputs, 0 (fastest) to 9 (smallest); default
                :data:`~qgac_fast.options.DEFAULT_PNG_LEVEL`.
            skip_existing: an existing output is kept and the input not read (``"skipped"``):
                writes are atomic, so an existing output is complete. The temporary files that a
                killed earlier run left beside the outputs (:mod:`qgac_fast.atomic`) are removed.
            apply_orientation: turn each image upright per its EXIF Orientation tag and write the
                EXIF with Orientation 1; default False: the pixels stay as the JPEG stores them and
                the tag is kept, so viewers turn them.
            writing: called with an output's path as its encoding and write start, on the writer
                thread (a progress display: a large PNG takes seconds to write).

        Every output carries its input's EXIF block and ICC profile (PNG, JPEG and WebP alike), and
        a decoded image's alpha channel (PNG, WebP; a JPEG output of one fails: JPEG has no alpha).
        Outputs are written atomically: a failure leaves no partial file. An output path that is
        one of the input files (same path or same file, also the file behind an input given as an
        open file or a PIL image) is refused (``"failed"``), as is a second input
        with the same output (:func:`~qgac_fast.inference.outputs.refusals`). After a write fails
        in a way every write would (a full disk), the remaining inputs are neither read nor
        corrected: their status is ``"not_done"``. After one fails in a way every write to its
        folder would (a read-only mount, no permission), the remaining inputs bound for that folder
        are ``"failed"`` unread (``not attempted: <that error>``) and the others go on.

        Raises:
            KeyboardInterrupt: Ctrl-C (or SIGTERM turned into it, :mod:`qgac_fast.interrupts`)
                during a correction, once the results of the pairs before it, their writes
                finished, have been yielded.
        """
        check_output_options(format, subsampling, webp_quality, png_level)
        pairs = [(src, os.fspath(dst)) for src, dst in pairs]
        decided = {i: FileResult(display(pairs[i][0]), pairs[i][1], "failed", why)
                   for i, why in refusals(pairs).items()}
        if skip_existing:  # resuming: what a killed earlier run left half-written goes
            remove_stale_temporaries(dst for _, dst in pairs)
        for i, (src, dst) in enumerate(pairs):
            if i not in decided and skip_existing and os.path.exists(dst):
                decided[i] = FileResult(display(src), dst, "skipped")
        todo = [i for i in range(len(pairs)) if i not in decided]
        results = self.correct_many(pairs[i][0] for i in todo)
        pending: deque[FileResult | Future] = deque()
        stop: str | None = None  # why the remaining files are not done
        closed: dict[str, str] = {}  # output folders a write failed in, with that error
        writer_count = max(1, self.workers)
        with ThreadPoolExecutor(max_workers=writer_count, thread_name_prefix="qgac-write") as writers:
            interrupted: KeyboardInterrupt | None = None
            try:
                for i, (src, dst) in enumerate(pairs):
                    # finished writes are reported before the next correction, which may take long
                    while pending and (_settled(pending[0]) or len(pending) > 2 * writer_count + self.prefetch):
                        done = _file_result(pending.popleft())
                        stop = stop or _failures([done], closed)
                        yield done
                    stop = stop or _failures(pending, closed)
                    if i in decided:
                        pending.append(decided[i])
                    elif stop is not None:
                        pending.append(FileResult(display(src), dst, "not_done", f"not done: {stop}"))
                    elif os.path.dirname(dst) in closed:
                        pending.append(FileResult(display(src), dst, "failed",
                                                  f"not attempted: {closed[os.path.dirname(dst)]}"))
                    else:
                        try:
                            result = next(results)
                        except KeyboardInterrupt as stopped:  # Ctrl-C, SIGTERM: report the writes begun
                            interrupted = stopped
                            break
                        pending.append(writers.submit(
                            write_result, result, src, dst, format, jpeg_quality, subsampling=subsampling,
                            webp_quality=webp_quality, png_level=png_level, apply_orientation=apply_orientation,
                            writing=writing)
                            if result.error is None
                            else FileResult(display(src), dst, "failed", result.reason, result.size))
                while pending:
                    yield _file_result(pending.popleft())
                if interrupted is not None:
                    raise interrupted
            finally:
                results.close()
                for item in pending:
                    if isinstance(item, Future):
                        item.cancel()


def _failures(pending, closed: dict[str, str]) -> str | None:
    """The error of a finished write in ``pending`` that every later write would meet, if any;
    adds the output folders of those every later write to the same folder would meet to ``closed``."""
    for item in pending:
        if _settled(item) and (result := _file_result(item)).stops == "folder":
            closed.setdefault(os.path.dirname(result.output), result.error)
    for item in pending:
        if _settled(item) and (result := _file_result(item)).stops == "run":
            return result.error
    return None


def _expand_folders(items: Iterable[Source]) -> Iterator[Source]:
    """``items`` with each folder replaced by its JPEG files (lazily)."""
    for item in items:
        if isinstance(item, (str, os.PathLike)) and os.path.isdir(item):
            yield from find_jpegs(item)
        else:
            yield item


def _settled(item) -> bool:
    return not isinstance(item, Future) or item.done()


def _file_result(item) -> FileResult:
    return item.result() if isinstance(item, Future) else item
