"""The inference engine: correct many JPEGs fast, in input order, with nothing lost on bad files.

:class:`Corrector` runs a QGAC model over a stream of JPEGs (paths, bytes or
:class:`~qgac_fast.JPEGCoefficients`; a folder stands for its JPEG files, found recursively by
:func:`~qgac_fast.jpeg_files.find_jpegs`) as a pipeline of three stages, which overlap on threads
when ``workers >= 1`` (the default on CUDA):

1. **read**: a pool of ``workers`` threads reads the coefficients (the libjpeg extension releases
   the GIL) and builds the model's input planes (:func:`~qgac_fast.model.planes_from_jpeg`), in
   pinned host memory when the model is on CUDA. At most ``prefetch`` items are in flight.
2. **compute**: one thread groups the images by plane shape and layout (gray, 4:2:0, chroma on
   the luma grid) into batches (tables may differ: the CFMs take one table per sample), copies
   them to the device (``non_blocking``), runs the model under :func:`torch.inference_mode`
   (autocast in bf16 or fp16 on CUDA when asked), clamps the restored luma to the file's
   quantization bins and decodes with :func:`~qgac_fast.functional.jpeg.decode_normalized`
   (the Triton kernel on CUDA, the reference on the CPU). Results go to a bounded queue.
3. **deliver**: :meth:`Corrector.correct_many` yields one :class:`CorrectionResult` per input,
   in input order (a bounded reorder window); :meth:`Corrector.correct_files` encodes and
   writes them atomically on writer threads.

With ``workers=0``, the default on the CPU, there is no reader pool and no compute thread: the
same stages run one after another in the thread that iterates :meth:`Corrector.correct_many`,
each input read when the model needs it, as in a plain loop over :func:`qgac_fast.correct`
(see **Threads on the CPU**); :meth:`Corrector.correct_files` still encodes and writes on one
writer thread.

A bad input (not a JPEG, truncated, unsupported, above ``max_pixels``) or a failed computation
becomes a result with ``error`` set; the other inputs go on.

**Batches on the CPU.** On the CPU each image of a batch is run through the model on its own:
oneDNN chooses convolution algorithms by batch size, so a batched forward differs from a single
one in the last bits, and it is not faster there (``bench/results/engine-cpu-1thread.md``: the
default model's forward on 512x512 images, one thread, 0.59 MP/s in batches of 4 vs 0.74 MP/s one
by one). The CPU result is therefore bit-identical to :func:`qgac_fast.correct`. On CUDA batches
are real.

**Threads on the CPU.** Reading is cheap next to the model on the CPU (512x512 4:2:0, one
thread: 2.6 ms to read the file and build the planes, 371 ms for the forward), so reading ahead on
other threads has nothing to gain there. Running torch on threads other than the caller's costs
time instead: torch's CPU kernels run on OpenMP (libgomp), every thread that runs a parallel
torch op gets its own team of OpenMP threads, and once a process holds more OpenMP threads than
CPUs, libgomp cuts the spin-wait of idle team threads to a throttled count, so between the
model's many short parallel regions they sleep and must be woken. On 2 idle cores with 2 torch
threads (8 JPEGs 512x512, median of 5 rounds, two runs): a plain loop over
:func:`qgac_fast.correct` took 2.05 and 2.10 s; the same loop on a second thread ran at 0.94x
and 0.92x of it, the threaded engine (2 readers and a compute thread) at 0.97x and 0.95x (0.85x
in the first ``bench/results/engine-cpu-2threads.md``, commit 6da2ae8; 1.03x with ``workers=0``
in its rerun), the engine with ``workers=0`` at 1.02x; with
``GOMP_SPINCOUNT=1000`` (the throttled count for every thread) all of them took 2.17 to 2.26 s.
The writer threads of :meth:`Corrector.correct_files` run no torch ops (:func:`encode_image`
converts with numpy). Where the cores are shared with other work, libgomp's full spin-wait is
far worse, for a plain loop and ``workers=0`` alike: with one of 2 cores busy, 2 torch threads
took 11.4 s for 4 such JPEGs, against 1.8 s for the threaded engine (whose extra threads
throttle the spin) or for any of them with ``OMP_WAIT_POLICY=passive``. Use at most as many
torch threads as free cores, or set ``OMP_WAIT_POLICY=passive``.

**Large images** are corrected in tiles (:func:`plan_tiles`): windows on the 16-pixel grid, each
a core plus ``overlap`` 8x8 blocks of context on every side that has neighbours, shifted inside
the image so that all windows of an image have one size (and batch together). The restored
normalised planes of the cores are stitched in the coefficient domain, then the whole image is
clamped and decoded at once, as an untiled one (the decode never sees a tile edge). With an
overlap as wide as the model's receptive field (:func:`receptive_field`) the tiled result equals
the whole-image one up to float rounding; the default overlap (:func:`default_overlap`) is
narrower, see there.

**Automatic tile size.** With ``tile="auto"`` the activation memory of one forward is estimated
as ``a + b * pixels`` (luma pixels, summed over the batch) for each layout, measured once per
layout by running the model on two small probes (128x128 and 256x256): on CUDA the peak of
``torch.cuda.max_memory_allocated``; on the CPU the peak of the bytes held by live tensors that
the forward creates, tracked by a :class:`~torch.utils._python_dispatch.TorchDispatchMode`
(kernels' internal scratch buffers are not seen, hence the safety factor; for the default
model, 610 MB estimated before the factor vs 614 MB of peak resident memory growth for a
1024x1024 forward, 2441 vs 2568 MB at 2048x2048). ``b`` is the slope
between the probes and ``a`` the intercept; both are multiplied by :data:`SAFETY_FACTOR`. A batch
of whole images is limited to ``memory_budget`` (default: half the free CUDA memory, or a quarter
of the physical memory on the CPU); an image above it alone is tiled with the largest square
window that fits. The final decode runs on the whole image (not tiled).

**torch.compile** (``compile=MODE``): the model's networks (:meth:`~qgac_fast.model.QGAC.networks`,
everything but the table deduplication, whose data-dependent size inductor cannot compile) go
through :func:`torch.compile` with that mode, ``"reduce-overhead"`` adding CUDA graphs on CUDA.
The first call of each new input shape compiles (about a minute for the default model on 2 CPU
cores); from the second shape on, torch compiles one graph with symbolic sizes, so varying image
sizes do not recompile each time. The memory probes of ``tile="auto"`` run the eager model (no
compilation at probe sizes). If compilation fails, the engine warns once and goes on eagerly.
On 2 CPU threads (default model, 4:2:0 q30, ``bench/results/engine-cpu-2threads-compile-*.md``)
the compiled engine ran at 1.06x the eager one on 512x512 images only, but at 0.86x (512x512)
and 0.95x (1024x1024) once both sizes had been seen and the graph had symbolic sizes.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import warnings
import weakref
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Union

import numpy as np
import torch
import torch.utils._python_dispatch
import torch.utils._pytree

from .codec import DEFAULT_MAX_PIXELS, JPEGCoefficients, read_coefficients, write_atomic
from .ops import decode_normalized
from .jpeg_files import find_jpegs
from .model import QGAC, CoefficientPlanes, QGACConfig, load_model, planes_from_jpeg
from .model.constraint import constrain_luma

__all__ = [
    "COMPILE_MODES",
    "FORMATS",
    "PRECISIONS",
    "SAFETY_FACTOR",
    "CorrectionResult",
    "Corrector",
    "FileResult",
    "Tile",
    "compile_networks",
    "default_overlap",
    "encode_image",
    "plan_tiles",
    "receptive_field",
]

Source = Union[bytes, bytearray, memoryview, str, os.PathLike, JPEGCoefficients]

#: Model precisions: float32 everywhere; bf16 and fp16 are autocast, CUDA only.
PRECISIONS = {"float32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
#: ``torch.compile`` modes of :class:`Corrector`'s ``compile`` (``"reduce-overhead"``: CUDA graphs).
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
#: Output file formats of :meth:`Corrector.correct_files` and their file suffixes.
FORMATS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}
#: Multiplies the measured activation memory (allocator fragmentation, kernels' scratch buffers).
SAFETY_FACTOR = 1.5
#: Default ceiling on the overlap, in 8x8 blocks (see :func:`default_overlap`).
MAX_DEFAULT_OVERLAP = 8
#: Probe sides (luma pixels) of the memory estimate.
_PROBE_SIDES = (128, 256)
_MIN_CORE = 64  # smallest automatic tile core, pixels


# --------------------------------------------------------------------------------------------
# torch.compile


def compile_networks(model: QGAC, mode: str = "default", *, backend: str = "inductor") -> Callable:
    """``torch.compile`` of ``model.networks``, to pass as ``model.restore(planes, networks=...)``.

    Args:
        model: the model (its parameters are read at each call, not copied).
        mode: one of :data:`COMPILE_MODES`.
        backend: the ``torch.compile`` backend (``"eager"`` traces with dynamo only; for tests).

    Shapes are static at first and symbolic after the first recompilation (torch's
    ``dynamic=None``). In the CUDA-graph modes (``reduce-overhead``, ``max-autotune``) each call
    on CUDA starts a new graph step and returns copies of the outputs, which the next replay
    would overwrite.
    """
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile mode must be one of {COMPILE_MODES}, got {mode!r}")
    compiled = torch.compile(model.networks, mode=mode, backend=backend)
    if mode not in ("reduce-overhead", "max-autotune"):
        return compiled

    def replay(y: torch.Tensor, *args):
        if not y.is_cuda:
            return compiled(y, *args)
        torch.compiler.cudagraph_mark_step_begin()
        restored_y, chroma = compiled(y, *args)
        return restored_y.clone(), None if chroma is None else chroma.clone()

    return replay


# --------------------------------------------------------------------------------------------
# receptive field and tiles


def receptive_field(config: QGACConfig) -> int:
    """How far, in 8x8 luma blocks, an output coefficient of the model can see: the radius of the
    receptive field of the restored Y and Cb, Cr blocks, whichever is larger.

    Counted from the architecture: CFMs are block-local; each 3x3 convolution on the block grid
    adds one block (an RRDB of ``dense_blocks`` x ``dense_layers`` convolutions adds that many:
    the dense connections' longest path goes through all of them); the Y network is two
    BlockNets, a FrequencyNet (RRDBs plus two per-frequency convolutions) and three fusion
    convolutions; the colour network adds its own RRDBs on the luma grid to the restored Y's
    field, and on the 4:2:0 chroma grid one chroma block is two luma blocks (plus two for the
    learned 2x upsampling and the fancy skip path).

    Example:
        >>> from qgac_fast.model import CONFIGS
        >>> receptive_field(CONFIGS["default"]), receptive_field(CONFIGS["paper"])
        (21, 65)
    """
    rrdb = config.rrdb_blocks * config.dense_blocks * config.dense_layers
    color = config.color_rrdb_blocks * config.dense_blocks * config.dense_layers
    luma = 2 * rrdb + (rrdb + 2) + 3
    chroma_from_luma = luma + color
    chroma_from_chroma = 2 * color + 2 + color
    return max(luma, chroma_from_luma, chroma_from_chroma, 2)


def default_overlap(config: QGACConfig) -> int:
    """The default tile overlap in 8x8 blocks: the receptive field, at most
    :data:`MAX_DEFAULT_OVERLAP` (64 pixels), rounded up to an even count (the 16-pixel grid).

    A model's influence fades well inside its receptive field (21 blocks for ``default``, 65 for
    ``paper``): with the ``default`` configuration and non-trivial weights, 8 blocks of overlap
    change the result by a small fraction of a level (see ``tests/test_engine.py``), while the full
    field would multiply the work of 512-pixel tiles by up to 2.7 (``paper``: 9). Pass
    ``overlap=receptive_field(config)`` for a result equal to the whole-image one up to rounding.
    """
    blocks = min(receptive_field(config), MAX_DEFAULT_OVERLAP)
    return blocks + blocks % 2


class Tile(NamedTuple):
    """One window of a tiled image, in luma pixels of the (MCU-padded) planes.

    ``window`` ``(top, bottom, left, right)`` is what the model reads; ``core`` (same form, inside
    the window) is the part of its result that is kept.
    """

    window: tuple[int, int, int, int]
    core: tuple[int, int, int, int]


def _spans(length: int, core: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """1-D tiling: ``(window_start, window_end, core_start, core_end)`` per tile."""
    window = core + 2 * overlap
    if length <= window:
        return [(0, length, 0, length)]
    spans = []
    for start in range(0, length, core):
        end = min(start + core, length)
        first = min(max(start - overlap, 0), length - window)
        spans.append((first, first + window, start, end))
    return spans


def plan_tiles(height: int, width: int, core: int, overlap: int) -> list[Tile]:
    """Tiles covering a ``height`` x ``width`` plane (pixels, multiples of 8).

    Cores of ``core`` pixels (the last of a row or column may be shorter) partition the plane;
    each window adds ``overlap`` pixels on both sides, shifted to stay inside the plane, so every
    window has the same size, ``min(length, core + 2 * overlap)`` per dimension, and every core
    edge has at least ``overlap`` pixels of context, or all the plane has on that side.

    Args:
        core, overlap: pixels, multiples of 16 (``overlap`` may be 0). Every window and core
            then starts and ends on the 8x8 block grid, and on the 16-pixel grid (that of 4:2:0
            chroma blocks) when the plane's sides are multiples of 16, as 4:2:0 planes are.

    Example:
        >>> [(t.window[:2], t.core[:2]) for t in plan_tiles(96, 40, 32, 16)]  # rows; 40 columns fit
        [((0, 64), (0, 32)), ((16, 80), (32, 64)), ((32, 96), (64, 96))]
    """
    if core < 16 or core % 16 or overlap < 0 or overlap % 16:
        raise ValueError(f"tile core must be a positive multiple of 16 and overlap a multiple of 16 pixels, "
                         f"got core={core}, overlap={overlap}")
    if height % 8 or width % 8 or height < 8 or width < 8:
        raise ValueError(f"plane size must be positive multiples of 8, got {height}x{width}")
    rows, cols = _spans(height, core, overlap), _spans(width, core, overlap)
    return [Tile((r[0], r[1], c[0], c[1]), (r[2], r[3], c[2], c[3])) for r in rows for c in cols]


# --------------------------------------------------------------------------------------------
# results


@dataclass
class CorrectionResult:
    """The correction of one input.

    Attributes:
        index: position in the input sequence.
        source: the input as given (path, bytes or coefficients).
        image: uint8 ``(3, H, W)`` RGB (``(1, H, W)`` gray) on the CPU, or None on failure.
        error: the exception that stopped this input (``JPEGError``, ``OSError``...), or None.
        size: ``(height, width)`` when known.
        tiles: number of model windows the image took (1: whole; 0: not corrected).
    """

    index: int
    source: Any
    image: torch.Tensor | None = None
    error: BaseException | None = None
    size: tuple[int, int] | None = None
    tiles: int = 0
    _ready: Any = field(default=None, repr=False, compare=False)  # CUDA event of the async copy

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def megapixels(self) -> float:
        return 0.0 if self.size is None else self.size[0] * self.size[1] / 1e6

    @property
    def reason(self) -> str | None:
        """The error as a short human-readable reason (``OSError``: its strerror)."""
        return None if self.error is None else _reason(self.error)

    def pil(self):
        """The image as a ``PIL.Image.Image`` (mode ``"RGB"``, or ``"L"`` for gray).

        Raises:
            the input's ``error`` when it failed.
        """
        if self.error is not None:
            raise self.error
        from PIL import Image

        return Image.fromarray(_hwc(self.image))

    def _wait(self) -> None:
        if self._ready is not None:
            self._ready.synchronize()
            self._ready = None


@dataclass
class FileResult:
    """What :meth:`Corrector.correct_files` did with one input file.

    Attributes:
        input, output: the paths.
        status: ``"ok"`` (written), ``"skipped"`` (output existed, ``skip_existing``) or ``"failed"``.
        error: the reason of a failure, else None.
        size: ``(height, width)`` when known.
        tiles: model windows used (see :class:`CorrectionResult`).
    """

    input: str
    output: str
    status: str
    error: str | None = None
    size: tuple[int, int] | None = None
    tiles: int = 0

    @property
    def megapixels(self) -> float:
        return 0.0 if self.size is None else self.size[0] * self.size[1] / 1e6

    def to_json(self) -> dict:
        return {"input": self.input, "output": self.output, "status": self.status, "error": self.error,
                "width": None if self.size is None else self.size[1],
                "height": None if self.size is None else self.size[0], "tiles": self.tiles}


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error)
    return text if text else type(error).__name__


# --------------------------------------------------------------------------------------------
# output files


def encode_image(image: torch.Tensor, format: str = "png", *, jpeg_quality: int = 95) -> bytes:
    """Encode uint8 ``(3, H, W)`` RGB or ``(1, H, W)`` gray as a file's bytes.

    Args:
        format: ``"png"``, ``"jpeg"`` (libjpeg through :func:`qgac_fast.compress`, IJG quality
            ``jpeg_quality``, 4:2:0 for colour) or ``"webp"`` (lossless; WebP has no gray mode,
            so gray is stored as three equal channels).
    """
    if format == "jpeg":
        from .compression import compress

        return compress(image, jpeg_quality)
    if format not in FORMATS:
        raise ValueError(f"format must be one of {sorted(FORMATS)}, got {format!r}")
    import io

    from PIL import Image

    array = _hwc(image)
    buffer = io.BytesIO()
    if format == "png":
        Image.fromarray(array).save(buffer, format="PNG")
    else:
        Image.fromarray(array).save(buffer, format="WEBP", lossless=True)
    return buffer.getvalue()


def _hwc(image: torch.Tensor) -> np.ndarray:
    """uint8 ``(C, H, W)`` -> numpy ``(H, W, 3)`` or ``(H, W)`` for one channel (Pillow's layout)."""
    array = image.detach().cpu().numpy()
    # numpy, not torch, for the HWC copy: a torch copy this large would start an OpenMP team on the
    # writer thread (see the module docstring, "Threads on the CPU")
    return array[0] if array.shape[0] == 1 else np.ascontiguousarray(array.transpose(1, 2, 0))


def _file_identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


# --------------------------------------------------------------------------------------------
# memory estimate


class _PeakTracker(torch.utils._python_dispatch.TorchDispatchMode):
    """Peak bytes of the storages created by the ops run under it and still alive."""

    def __init__(self):
        super().__init__()
        self.live = 0
        self.peak = 0
        self._seen: set[int] = set()

    def _free(self, key: int, nbytes: int) -> None:
        self._seen.discard(key)
        self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {id(t.untyped_storage()) for t in torch.utils._pytree.tree_leaves((args, kwargs))
                  if isinstance(t, torch.Tensor)}
        for t in torch.utils._pytree.tree_leaves(out):
            if not isinstance(t, torch.Tensor):
                continue
            storage = t.untyped_storage()
            key = id(storage)
            if key in self._seen or key in inputs:
                continue
            nbytes = storage.nbytes()
            self._seen.add(key)
            self.live += nbytes
            self.peak = max(self.peak, self.live)
            weakref.finalize(storage, self._free, key, nbytes)
        return out


def _probe_planes(kind: str, side: int, device: torch.device) -> CoefficientPlanes:
    """Synthetic planes of one layout (``gray``, ``420``, ``444``) for the memory probe."""
    generator = torch.Generator().manual_seed(0)
    luma = torch.randn(1, 1, side, side, generator=generator) * 20
    table = torch.full((1, 8, 8), 16.0)
    chroma = chroma_table = None
    if kind != "gray":
        c = side // 2 if kind == "420" else side
        chroma = torch.randn(1, 2, c, c, generator=generator) * 10
        chroma_table = torch.full((1, 2, 8, 8), 16.0)
    return CoefficientPlanes(luma, chroma, table, chroma_table, (side, side)).to(device)


def _kind(planes: CoefficientPlanes) -> str:
    if planes.chroma is None:
        return "gray"
    return "444" if planes.chroma.shape[-2:] == planes.luma.shape[-2:] else "420"


# --------------------------------------------------------------------------------------------
# the engine


@dataclass
class _Loaded:
    """One read input, ready for the model."""

    index: int
    source: Any
    planes: CoefficientPlanes

    @property
    def key(self) -> tuple:
        chroma = None if self.planes.chroma is None else tuple(self.planes.chroma.shape[-2:])
        return tuple(self.planes.luma.shape[-2:]), chroma

    @property
    def pixels(self) -> int:
        return self.planes.luma.shape[-2] * self.planes.luma.shape[-1]


_DONE = object()


class _Failure(NamedTuple):
    error: BaseException


class Corrector:
    """Correct many JPEGs with a QGAC model (see the module docstring for the pipeline).

    Args:
        model: a :class:`~qgac_fast.model.QGAC` (used on its device, in eval mode), or a shipped
            weights name or ``.safetensors`` path (loaded on ``device``).
        device: where the model runs; default: the given model's device, else CUDA when
            available, else the CPU.
        batch_size: most images (or tiles) per model call; default 8 on CUDA, 1 on the CPU
            (where images are run one at a time anyway, see the module docstring).
        precision: ``"float32"``, or ``"bf16"`` / ``"fp16"`` autocast (CUDA only).
        tile: ``"auto"`` (tile only what does not fit ``memory_budget``), a core size in pixels
            (a multiple of 16, at least 16: images larger than one window are tiled), or None
            (never tile).
        overlap: context around each tile core, in 8x8 blocks (rounded up to even); default
            :func:`default_overlap`.
        workers: reader threads, and writer threads of :meth:`correct_files` (at least one);
            default ``min(4, os.cpu_count())`` on CUDA and 0 on the CPU. 0: no reader pool and no
            compute thread, the whole pipeline runs in the thread that iterates
            :meth:`correct_many`, each input read when the model needs it (on the CPU this is as
            fast as a plain loop over :func:`qgac_fast.correct`, and threads were slower: see
            the module docstring).
        memory_budget: bytes of activations one model call may use (``tile="auto"``); default
            half the free CUDA memory at construction, or a quarter of the physical memory.
        constrain: clamp the restored luma to the file's quantization bins (as
            :func:`qgac_fast.correct`).
        backend: the final decode's backend, ``"auto"`` (Triton on CUDA), ``"reference"``, ``"triton"``.
        strict, max_pixels: as for :func:`~qgac_fast.read_coefficients` (``max_pixels`` refuses
            larger images before reading them: a ``JPEGError`` result).
        prefetch: most inputs read ahead of the model; default ``4 * max(batch_size, workers)``
            (not used with ``workers=0``, which reads one input at a time).
        compile: None (eager), or a :data:`COMPILE_MODES` mode for ``torch.compile`` of the
            model's networks (see **torch.compile** in the module docstring).

    Example:
        >>> corrector = Corrector("default", device="cpu")            # doctest: +SKIP
        >>> for result in corrector.correct_many(["a.jpg", "b.jpg"]):  # doctest: +SKIP
        ...     print(result.index, result.reason or tuple(result.image.shape))
    """

    def __init__(self, model: QGAC | str | os.PathLike = "default", device: torch.device | str | None = None, *,
                 batch_size: int | None = None, precision: str = "float32", tile: int | str | None = "auto",
                 overlap: int | None = None, workers: int | None = None, memory_budget: int | None = None,
                 constrain: bool = True, backend: str = "auto", strict: bool = True,
                 max_pixels: int | None = DEFAULT_MAX_PIXELS, prefetch: int | None = None,
                 compile: str | None = None):
        if isinstance(model, QGAC):
            model_device = model.mean.device
            if device is not None and _normalized(torch.device(device)) != _normalized(model_device):
                raise ValueError(f"the model is on {model_device}, not on device={device!r}; move it first "
                                 "(model.to(device)) or leave device out")
            self.model = model.eval()
            self.device = model_device
        else:
            self.device = torch.device(device) if device is not None else torch.device(
                "cuda" if torch.cuda.is_available() else "cpu")
            self.model = load_model(model, device=self.device)
        self.device = _normalized(self.device)
        self.cuda = self.device.type == "cuda"
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        if precision != "float32" and not self.cuda:
            raise ValueError(f"precision={precision!r} is autocast on CUDA only; the CPU runs float32")
        self.precision = precision
        self.batch_size = _positive_int(batch_size if batch_size is not None else (8 if self.cuda else 1),
                                        "batch_size")
        if not (tile is None or tile == "auto" or isinstance(tile, int) and not isinstance(tile, bool)
                and tile >= 16 and tile % 16 == 0):
            raise ValueError(f"tile must be 'auto', None or a positive multiple of 16 (pixels), got {tile!r}")
        self.tile = tile
        blocks = default_overlap(self.model.config) if overlap is None else overlap
        if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 0:
            raise ValueError(f"overlap must be an int >= 0 (8x8 blocks), got {overlap!r}")
        self.overlap = blocks + blocks % 2
        if workers is None:
            workers = min(4, os.cpu_count() or 1) if self.cuda else 0
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise ValueError(f"workers must be an int >= 0, got {workers!r}")
        self.workers = workers
        self.prefetch = _positive_int(prefetch if prefetch is not None else 4 * max(self.batch_size, self.workers),
                                      "prefetch")
        self.memory_budget = memory_budget if memory_budget is not None else self._default_budget()
        self.constrain, self.backend, self.strict, self.max_pixels = constrain, backend, strict, max_pixels
        self.compile = compile
        self._networks = None if compile is None else compile_networks(self.model, compile)
        self._costs: dict[str, tuple[float, float]] = {}
        self._cost_lock = threading.Lock()

    # ---------------------------------------------------------------- public API

    def correct(self, item: Source) -> torch.Tensor:
        """Correct one JPEG: uint8 ``(C, H, W)`` on the CPU; raises what stopped it."""
        if isinstance(item, (str, os.PathLike)) and os.path.isdir(item):
            raise IsADirectoryError(f"{os.fspath(item)!r} is a folder: correct one file, or use correct_many")
        result = next(iter(self.correct_many([item])))
        if result.error is not None:
            raise result.error
        return result.image

    def correct_many(self, items: Iterable[Source]) -> Iterator[CorrectionResult]:
        """Correct a stream of JPEGs; yields one :class:`CorrectionResult` per item, in order.

        A folder among ``items`` (a ``str`` or path-like naming a directory) stands for its JPEG
        files (:func:`~qgac_fast.jpeg_files.find_jpegs`), each a result of its own whose ``source``
        is the file's path and whose ``index`` counts the files.

        ``items`` is consumed lazily (at most ``prefetch`` ahead of the model; one at a time with
        ``workers=0``). A failure of one item is its result's ``error``; an exception raised by the
        iterable itself ends the generator with that exception. Closing the generator early stops
        the pipeline.
        """
        items = _expand_folders(items)
        if self.workers == 0:  # everything in the caller's thread (the CPU default, see the module docstring)
            stages = self._stages(items, threading.Event())
            try:
                yield from _in_order(stages)
            finally:
                stages.close()
            return
        out: queue.Queue = queue.Queue(maxsize=max(4, 2 * self.batch_size))
        stop = threading.Event()
        worker = threading.Thread(target=self._produce, args=(items, out, stop), name="qgac-engine", daemon=True)
        worker.start()
        try:
            yield from _in_order(_received(out))
        finally:
            stop.set()
            while worker.is_alive():
                try:
                    out.get(timeout=0.05)
                except queue.Empty:
                    pass
            worker.join()

    def correct_files(self, pairs: Iterable[tuple[Source, str | os.PathLike]], *, format: str = "png",
                      jpeg_quality: int = 95, skip_existing: bool = False) -> Iterator[FileResult]:
        """Correct JPEG files and write the results; yields a :class:`FileResult` per pair, in order.

        Args:
            pairs: ``(input, output_path)``; parent folders are created.
            format: ``"png"``, ``"jpeg"`` (``jpeg_quality``) or ``"webp"`` (lossless); see
                :func:`encode_image`.
            skip_existing: an existing output is kept and the input not read (``"skipped"``):
                writes are atomic, so an existing output is complete.

        Outputs are written atomically (a temporary name in the same folder, then ``os.replace``):
        a failure leaves no partial file. An output path that is one of the inputs (same path or
        same file) is refused (``"failed"``), as is a second input with the same output.
        """
        if format not in FORMATS:
            raise ValueError(f"format must be one of {sorted(FORMATS)}, got {format!r}")
        pairs = [(src, os.fspath(dst)) for src, dst in pairs]
        input_names = {os.path.realpath(src) for src, _ in pairs if isinstance(src, (str, os.PathLike))}
        input_ids = {_file_identity(os.fspath(src)) for src, _ in pairs if isinstance(src, (str, os.PathLike))}
        input_ids.discard(None)
        decided: dict[int, FileResult] = {}
        owners: dict[str, str] = {}
        todo = []
        for i, (src, dst) in enumerate(pairs):
            name = _display(src)
            real = os.path.realpath(dst)
            identity = _file_identity(dst)
            if real in input_names or (identity is not None and identity in input_ids):
                decided[i] = FileResult(name, dst, "failed", "refusing to overwrite an input file with the output")
            elif real in owners:
                decided[i] = FileResult(name, dst, "failed", f"same output path as {owners[real]}")
            else:
                owners[real] = name
                if skip_existing and os.path.exists(dst):
                    decided[i] = FileResult(name, dst, "skipped")
                else:
                    todo.append(i)
        results = self.correct_many(pairs[i][0] for i in todo)
        pending: deque[tuple[int, FileResult | Future]] = deque()
        todo_set = set(todo)
        writer_count = max(1, self.workers)
        with ThreadPoolExecutor(max_workers=writer_count, thread_name_prefix="qgac-write") as writers:
            try:
                for i, (src, dst) in enumerate(pairs):
                    if i in todo_set:
                        result = next(results)
                        if result.error is None:
                            pending.append((i, writers.submit(_write_output, result, src, dst, format, jpeg_quality)))
                        else:
                            pending.append((i, FileResult(_display(src), dst, "failed", result.reason, result.size)))
                    else:
                        pending.append((i, decided[i]))
                    while pending and (_settled(pending[0][1]) or len(pending) > 2 * writer_count + self.prefetch):
                        yield _file_result(pending.popleft()[1])
                while pending:
                    yield _file_result(pending.popleft()[1])
            finally:
                results.close()
                for _, item in pending:
                    if isinstance(item, Future):
                        item.cancel()

    # ---------------------------------------------------------------- pipeline

    def _produce(self, items: Iterable[Source], out: queue.Queue, stop: threading.Event) -> None:
        """The compute thread (``workers >= 1``): run :meth:`_stages`, send its result lists to ``out``."""

        def send(message) -> bool:
            while not stop.is_set():
                try:
                    out.put(message, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        stages = self._stages(items, stop)
        try:
            for results in stages:
                if not send(results):
                    break
        except BaseException as error:  # the iterable's own error, or a bug: end the generator with it
            send(_Failure(error))
        finally:
            stages.close()
            send(_DONE)

    def _stages(self, items: Iterable[Source], stop: threading.Event) -> Iterator[list[CorrectionResult]]:
        """Read (on the pool, or here with ``workers=0``), batch, run; yields lists of results in
        completion order. Stops early when ``stop`` is set."""
        # workers=0: no pool, each input is read here when the model needs it
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="qgac-read") if self.workers else None
        lookahead = self.prefetch if pool is not None else 1
        try:
            iterator = iter(items)
            inflight: deque[tuple[int, Future | _Loaded | CorrectionResult]] = deque()
            groups: dict[tuple, list[_Loaded]] = {}
            grouped = 0
            index = 0
            exhausted = False
            while not stop.is_set():
                while not exhausted and len(inflight) < lookahead:
                    try:
                        source = next(iterator)
                    except StopIteration:
                        exhausted = True
                        break
                    inflight.append((index, self._load(index, source) if pool is None
                                     else pool.submit(self._load, index, source)))
                    index += 1
                if not inflight:
                    break
                loaded = inflight.popleft()[1]
                if isinstance(loaded, Future):
                    loaded = loaded.result()
                if isinstance(loaded, CorrectionResult):
                    yield [loaded]
                    continue
                plan = self._plan(loaded)
                if plan is not None:
                    yield self._run_tiled(loaded, *plan)
                    continue
                group = groups.setdefault(loaded.key, [])
                group.append(loaded)
                grouped += 1
                if len(group) >= self._batch_limit(loaded):
                    grouped -= len(group)
                    yield self._run_batch(groups.pop(loaded.key))
                # bound the reorder window: flush the group holding the oldest waiting image
                while grouped > 2 * self.batch_size + self.workers:
                    key = min(groups, key=lambda k: groups[k][0].index)
                    grouped -= len(groups[key])
                    yield self._run_batch(groups.pop(key))
            for key in sorted(groups, key=lambda k: groups[k][0].index):
                if stop.is_set():
                    break
                yield self._run_batch(groups.pop(key))
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _load(self, index: int, source: Source) -> _Loaded | CorrectionResult:
        """A reader thread (``workers=0``: the thread running :meth:`_stages`): coefficients -> model
        planes (pinned for CUDA); an error is a result."""
        try:
            jc = source if isinstance(source, JPEGCoefficients) else read_coefficients(
                source, strict=self.strict, max_pixels=self.max_pixels)
            planes = planes_from_jpeg(jc)
            if self.cuda:
                planes = _map_planes(planes, lambda t: t.pin_memory())
            return _Loaded(index, source, planes)
        except Exception as error:  # noqa: BLE001  (any bad input is that input's result)
            return CorrectionResult(index, source, error=error)

    def _batch_limit(self, item: _Loaded) -> int:
        if self.tile != "auto":
            return self.batch_size
        return max(1, min(self.batch_size, self._max_pixels(_kind(item.planes)) // item.pixels))

    def _plan(self, item: _Loaded) -> tuple[int, int] | None:
        """``(core, overlap)`` pixels when ``item`` is to be tiled, else None."""
        h, w = item.planes.luma.shape[-2:]
        overlap = 8 * self.overlap
        if self.tile is None:
            return None
        if self.tile == "auto":
            limit = self._max_pixels(_kind(item.planes))
            if h * w <= limit:
                return None
            side = max(int(math.isqrt(limit)) // 16 * 16, _MIN_CORE + 2 * overlap)
            return side - 2 * overlap, overlap
        if h <= self.tile + 2 * overlap and w <= self.tile + 2 * overlap:
            return None
        return self.tile, overlap

    # ---------------------------------------------------------------- compute

    def _run_batch(self, items: list[_Loaded]) -> list[CorrectionResult]:
        """Correct whole images of one shape; a failed batch is retried image by image."""
        try:
            return self._whole(items)
        except Exception as error:  # noqa: BLE001
            if len(items) > 1:
                self._release()
                return [result for item in items for result in self._run_batch([item])]
            if _is_oom(error) and self.tile is not None:
                self._release()
                h, w = items[0].planes.luma.shape[-2:]
                core = max(16, (max(h, w) // 2) // 16 * 16)
                return self._run_tiled(items[0], core, 8 * self.overlap)
            return [CorrectionResult(items[0].index, items[0].source, error=error, size=items[0].planes.size)]

    def _run_tiled(self, item: _Loaded, core: int, overlap: int) -> list[CorrectionResult]:
        try:
            return [self._tiled(item, core, overlap)]
        except Exception as error:  # noqa: BLE001
            if _is_oom(error) and core > 16:
                self._release()
                return self._run_tiled(item, max(16, core // 2 // 16 * 16), overlap)
            return [CorrectionResult(item.index, item.source, error=error, size=item.planes.size)]

    def _release(self) -> None:
        if self.cuda:
            torch.cuda.empty_cache()

    def _to_device(self, planes: CoefficientPlanes) -> CoefficientPlanes:
        return planes.to(self.device, non_blocking=self.cuda)

    def _autocast(self):
        dtype = PRECISIONS[self.precision]
        return torch.autocast("cuda", dtype=dtype) if dtype is not None else nullcontext()

    def _restore(self, planes: CoefficientPlanes, *, eager: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Model forward: restored normalised float32 planes. One image at a time on the CPU.
        ``eager``: leave out ``torch.compile`` (memory probes)."""
        if not self.cuda and planes.luma.shape[0] > 1:
            parts = [self._restore(_select(planes, slice(i, i + 1)), eager=eager)
                     for i in range(planes.luma.shape[0])]
            return (torch.cat([p[0] for p in parts]),
                    None if parts[0][1] is None else torch.cat([p[1] for p in parts]))
        if not self.cuda:
            torch.set_flush_denormal(True)  # denormal activations make CPU convolutions ~20x slower
        networks = None if eager else self._networks
        with torch.inference_mode(), self._autocast():
            if networks is None:
                y, chroma = self.model.restore(planes)
            else:
                y, chroma = self._restore_compiled(planes, networks)
        return y.float(), None if chroma is None else chroma.float()

    def _restore_compiled(self, planes: CoefficientPlanes, networks: Callable):
        try:
            return self.model.restore(planes, networks=networks)
        except torch._dynamo.exc.TorchDynamoException as error:
            # BackendCompilerFailed, InductorError, Unsupported: the model cannot be compiled here
            reason = _reason(error).splitlines()[0]
            warnings.warn(f"torch.compile(mode={self.compile!r}) failed, running eagerly: {reason}", RuntimeWarning,
                          stacklevel=2)
            self._networks = None
            return self.model.restore(planes)

    def _whole(self, items: list[_Loaded]) -> list[CorrectionResult]:
        planes = _cat_planes([self._to_device(item.planes) for item in items])
        y, chroma = self._restore(planes)
        return self._finish(items, planes, y, chroma, tiles=1)

    def _tiled(self, item: _Loaded, core: int, overlap: int) -> CorrectionResult:
        planes = self._to_device(item.planes)
        h, w = planes.luma.shape[-2:]
        half = planes.chroma is not None and planes.chroma.shape[-1] != w
        tiles = plan_tiles(h, w, core, overlap)
        window = tiles[0].window
        window_pixels = (window[1] - window[0]) * (window[3] - window[2])
        per_call = self.batch_size
        if self.tile == "auto":
            per_call = max(1, min(per_call, self._max_pixels(_kind(planes)) // window_pixels))
        with torch.inference_mode():
            y_out = torch.empty_like(planes.luma)
            chroma_out = None if planes.chroma is None else torch.empty(1, 2, h, w, device=self.device)
            for first in range(0, len(tiles), per_call):
                chunk = tiles[first:first + per_call]
                crops = [_crop(planes, tile.window, half) for tile in chunk]
                y, chroma = self._restore(_cat_planes(crops))
                for j, tile in enumerate(chunk):
                    top, bottom, left, right = tile.core
                    dy, dx = tile.window[0], tile.window[2]
                    y_out[..., top:bottom, left:right] = y[j, :, top - dy:bottom - dy, left - dx:right - dx]
                    if chroma_out is not None:
                        chroma_out[..., top:bottom, left:right] = chroma[j, :, top - dy:bottom - dy,
                                                                         left - dx:right - dx]
        return self._finish([item], planes, y_out, chroma_out, tiles=len(tiles))[0]

    def _finish(self, items: list[_Loaded], planes: CoefficientPlanes, y: torch.Tensor,
                chroma: torch.Tensor | None, tiles: int) -> list[CorrectionResult]:
        """Constrain, decode (one call per distinct real size; per image on the CPU), copy out."""
        net = self.model
        with torch.inference_mode():
            if self.constrain:
                y = constrain_luma(net, y, planes)
            mean, std = (net.mean[:1], net.std[:1]) if chroma is None else (net.mean, net.std)
            by_size: dict[tuple[int, int], list[int]] = {}
            for i, item in enumerate(items):
                key = item.planes.size if self.cuda else (i,)
                by_size.setdefault(key, []).append(i)
            images: dict[int, torch.Tensor] = {}
            for members in by_size.values():
                index = torch.tensor(members, device=y.device) if len(members) > 1 else slice(members[0],
                                                                                              members[0] + 1)
                pixels = decode_normalized(y[index], None if chroma is None else chroma[index], mean, std,
                                           size=items[members[0]].planes.size, backend=self.backend)
                for j, i in enumerate(members):
                    images[i] = pixels[j]
        results = []
        for i, item in enumerate(items):
            image, ready = images[i], None
            if self.cuda:
                host = torch.empty(image.shape, dtype=image.dtype, pin_memory=True)
                host.copy_(image, non_blocking=True)
                ready = torch.cuda.Event()
                ready.record()
                image = host
            else:
                image = image.clone() if len(items) > 1 else image
            results.append(CorrectionResult(item.index, item.source, image=image, size=item.planes.size,
                                            tiles=tiles, _ready=ready))
        return results

    # ---------------------------------------------------------------- memory

    def _default_budget(self) -> int:
        if self.cuda:
            free, _ = torch.cuda.mem_get_info(self.device)
            return free // 2
        try:
            return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
        except (ValueError, OSError, AttributeError):
            return 8 << 30

    def activation_cost(self, kind: str) -> tuple[float, float]:
        """Estimated activation bytes of one model call on layout ``kind`` (``"gray"``, ``"420"``,
        ``"444"``): ``(a, b)`` for ``a + b * luma_pixels``, safety factor included (measured once;
        see the module docstring)."""
        with self._cost_lock:
            if kind not in self._costs:
                peaks = [self._probe(kind, side) for side in _PROBE_SIDES]
                p1, p2 = (side * side for side in _PROBE_SIDES)
                slope = max((peaks[1] - peaks[0]) / (p2 - p1), 1.0)
                intercept = max(peaks[0] - slope * p1, 0.0)
                self._costs[kind] = (SAFETY_FACTOR * intercept, SAFETY_FACTOR * slope)
            return self._costs[kind]

    def _max_pixels(self, kind: str) -> int:
        """Most luma pixels (summed over a batch) one model call may take within the budget."""
        a, b = self.activation_cost(kind)
        return max(int((self.memory_budget - a) / b), 16 * 16)

    def _probe(self, kind: str, side: int) -> float:
        planes = _probe_planes(kind, side, self.device)
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            base = torch.cuda.memory_allocated(self.device)
            self._restore(planes, eager=True)
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device) - base
        with _PeakTracker() as tracker:
            self._restore(planes, eager=True)
        return float(tracker.peak)


# --------------------------------------------------------------------------------------------
# helpers


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _expand_folders(items: Iterable[Source]) -> Iterator[Source]:
    """``items`` with each folder replaced by its JPEG files (lazily)."""
    for item in items:
        if isinstance(item, (str, os.PathLike)) and os.path.isdir(item):
            yield from find_jpegs(item)
        else:
            yield item


def _normalized(device: torch.device) -> torch.device:
    """``cuda`` as ``cuda:<current index>``; other devices as they are."""
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


def _is_oom(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError)


def _display(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return f"<{type(source).__name__}>"


def _map_planes(planes: CoefficientPlanes, fn: Callable[[torch.Tensor], torch.Tensor]) -> CoefficientPlanes:
    apply = lambda t: None if t is None else fn(t)  # noqa: E731
    return CoefficientPlanes(apply(planes.luma), apply(planes.chroma), apply(planes.luma_table),
                             apply(planes.chroma_table), planes.size)


def _select(planes: CoefficientPlanes, index: slice) -> CoefficientPlanes:
    return _map_planes(planes, lambda t: t[index])


def _cat_planes(parts: list[CoefficientPlanes]) -> CoefficientPlanes:
    if len(parts) == 1:
        return parts[0]
    cat = lambda name: None if getattr(parts[0], name) is None else torch.cat(  # noqa: E731
        [getattr(p, name) for p in parts])
    return CoefficientPlanes(cat("luma"), cat("chroma"), cat("luma_table"), cat("chroma_table"), parts[0].size)


def _crop(planes: CoefficientPlanes, window: tuple[int, int, int, int], half: bool) -> CoefficientPlanes:
    top, bottom, left, right = window
    chroma = planes.chroma
    if chroma is not None:
        chroma = (chroma[..., top // 2:bottom // 2, left // 2:right // 2] if half
                  else chroma[..., top:bottom, left:right]).contiguous()
    return CoefficientPlanes(planes.luma[..., top:bottom, left:right].contiguous(), chroma, planes.luma_table,
                             planes.chroma_table, (bottom - top, right - left))


def _write_output(result: CorrectionResult, source: Any, dst: str, format: str, jpeg_quality: int) -> FileResult:
    """Writer thread: encode and write atomically; an error is a failed result, no file left."""
    try:
        data = encode_image(result.image, format, jpeg_quality=jpeg_quality)
        folder = os.path.dirname(dst)
        if folder:
            os.makedirs(folder, exist_ok=True)
        write_atomic(dst, data)
    except Exception as error:  # noqa: BLE001
        return FileResult(_display(source), dst, "failed", _reason(error), result.size, result.tiles)
    return FileResult(_display(source), dst, "ok", None, result.size, result.tiles)


def _received(out: queue.Queue) -> Iterator[list[CorrectionResult]]:
    """The compute thread's result lists, until it is done; its failure is raised here."""
    while True:
        message = out.get()
        if message is _DONE:
            return
        if isinstance(message, _Failure):
            raise message.error
        yield message


def _in_order(batches: Iterable[list[CorrectionResult]]) -> Iterator[CorrectionResult]:
    """Results by input index (each list holds results in completion order)."""
    waiting: dict[int, CorrectionResult] = {}
    next_index = 0
    for batch in batches:
        for result in batch:
            waiting[result.index] = result
        while next_index in waiting:
            result = waiting.pop(next_index)
            result._wait()
            yield result
            next_index += 1


def _settled(item) -> bool:
    return not isinstance(item, Future) or item.done()


def _file_result(item) -> FileResult:
    return item.result() if isinstance(item, Future) else item
