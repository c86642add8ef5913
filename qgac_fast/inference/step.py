"""The correction step: a batch of coefficient planes on the device in, corrected pixels out.

:class:`CorrectionStep` is the one place that runs a QGAC model for correction: the forward in
the chosen precision (optionally through ``torch.compile``), then the quantization-bin clamp of
the restored luma and the decode of the normalised output to pixels in one op
(:func:`~qgac_fast.functional.jpeg.decode_normalized` with ``bins``: the Triton kernel on CUDA,
the C++ one on the CPU, which clamps inside its pass over each block), and optionally a test-time
ensemble over the image's flips (``flips``). :func:`qgac_fast.correct`, the
:class:`~qgac_fast.Corrector` engine, the trainer's validation and the benchmarks all call it.

**Precision.** ``"auto"`` (the default everywhere) is bf16 autocast on CUDA (where the GPU has
bf16) and on CPUs that compute bf16 natively (:func:`qgac_fast.cpu.has_fast_bf16`), float32
elsewhere; ``"float32"``, ``"bf16"`` and ``"fp16"`` (CUDA only) on request. Measured accuracy and
speed of bf16 against float32: ``bench/results/precision-cpu.md``.

**Batches on the CPU** run image by image: oneDNN picks convolution algorithms by batch size, so a
batched forward differs from a single one in the last bits and is not faster there
(``bench/results/engine-cpu-1thread.md``); every image is then corrected bit for bit as alone.
"""

from __future__ import annotations

import dataclasses
import warnings
from contextlib import nullcontext
from typing import Callable

import torch

from ..cpu import flush_denormals, has_fast_bf16
from ..deprecation import renamed_argument, warn_deprecated
from ..dispatch import check_backend
from ..ops import decode_normalized
from ..model import QGAC, CoefficientPlanes
from ..quality import table_spread
from ..torch_internals import dynamo_error
from ..model.orientation import ORIENTATIONS, orient, oriented
from ..options import COMPILE_MODES, FLIPS, PRECISIONS

__all__ = ["COMPILE_MODES", "PRECISIONS", "UNTRAINED_CHROMA_SPREAD", "CorrectionStep", "compile_networks", "resolve_precision"]

_AUTOCAST = {"float32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
#: Chroma tables farther than this from the IJG family (:func:`~qgac_fast.quality.table_spread`)
#: get the plain decode's chroma under ``constrain``: the models train on IJG tables and on IJG
#: tables with per-step log-normal noise of spread 0.35, whose spread reached 0.45 in 2000 draws;
#: uniformly random steps measure 0.9 to 1.1, a flat table of 8 or six times IJG quality 50's 0.51.
UNTRAINED_CHROMA_SPREAD = 0.6


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """The concrete precision (``"float32"``, ``"bf16"`` or ``"fp16"``) for ``precision`` on ``device``.

    Raises:
        ValueError: an unknown precision, or fp16 off CUDA.
    """
    device = torch.device(device)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "float32"
        return "bf16" if device.type == "cpu" and has_fast_bf16() else "float32"
    if precision == "fp16" and device.type != "cuda":
        raise ValueError(f"precision='fp16' is autocast on CUDA only; on {device} use 'bf16' or 'float32'")
    return precision


def compile_networks(model: QGAC, mode: str = "default", *, backend: str = "inductor") -> Callable:
    """``torch.compile`` of ``model.networks``, to pass as ``model.restore(planes, networks=...)``.

    Args:
        model: the model (its parameters are read at each call, not copied).
        mode: one of :data:`COMPILE_MODES`.
        backend: the ``torch.compile`` backend (``"eager"`` traces with dynamo only; for tests).

    The networks are everything but the table deduplication, whose data-dependent size inductor
    cannot compile. Shapes are static at first and symbolic after the first recompilation
    (torch's ``dynamic=None``). In the CUDA-graph modes each call on CUDA starts a new graph step
    and returns copies of the outputs, which the next replay would overwrite.
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


class CorrectionStep:
    """A model with its correction settings, applied to batches of planes on its device.

    Args:
        model: the QGAC model (put in eval mode; it stays on its device).
        precision: one of :data:`PRECISIONS`; resolved for the model's device at construction
            (:attr:`precision` holds the concrete one).
        compile: None (eager) or a :data:`COMPILE_MODES` mode. The first call of each new input
            shape compiles (about a minute for the default model on 2 CPU cores); if compilation
            fails, the step warns once and runs eagerly from then on.
        constrain: clamp the restored luma to the input's quantization bins, and keep the plain
            decode's chroma for chroma tables outside the trained family (``_guard_chroma``).
        decode_backend: the backend of the final decode (:func:`qgac_fast.ops.decode_normalized`):
            ``"auto"`` (the default: the Triton kernel on CUDA, the C++ one on the CPU:
            :mod:`qgac_fast.native`), ``"reference"``, ``"triton"`` (CUDA, or
            ``TRITON_INTERPRET=1``) or ``"native"`` (the CPU). The model's CFMs run on its own
            :attr:`~qgac_fast.model.QGAC.cfm_backend`.
        compile_backend: the ``torch.compile`` backend (``"eager"``: dynamo tracing only, for tests).
        flips: one of :data:`~qgac_fast.options.FLIPS`: correct each image in that many
            orientations (the first ``flips`` of :data:`~qgac_fast.model.orientation.ORIENTATIONS`:
            the image, its left-right flip, its top-bottom flip, both) and average the de-normalised
            outputs turned back (exact: no rounding in the turns). ``flips`` forwards per image;
            on held-back training crops 4 flips gained +0.066 dB over 1
            (``bench/results/flip-ensemble.md``).
        backend: deprecated name of ``decode_backend`` (warns; removed in the next release).

    Raises:
        ValueError: an unknown ``precision``, ``compile`` mode, ``decode_backend`` or ``flips``.
        TypeError: both ``backend`` and ``decode_backend``.

    Example:
        >>> import qgac_fast
        >>> from qgac_fast.inference import CorrectionStep
        >>> from qgac_fast.model import planes_from_jpeg
        >>> step = CorrectionStep(qgac_fast.load_model("default"), precision="float32")  # doctest: +SKIP
        >>> planes = planes_from_jpeg(qgac_fast.read_coefficients(jpeg_bytes))  # doctest: +SKIP
        >>> step(planes).shape                                                  # doctest: +SKIP
        torch.Size([1, 3, 512, 512])
    """

    #: Most luma pixels per image that one decode call takes (see :meth:`decode`).
    decode_strip_pixels = 1 << 20

    def __init__(self, model: QGAC, *, precision: str = "auto", compile: str | None = None, constrain: bool = True,
                 decode_backend: str = "auto", compile_backend: str = "inductor", flips: int = 1,
                 backend: str | None = None):
        decode_backend = renamed_argument("backend", backend, "decode_backend", decode_backend, "auto")
        self.model = model.eval()
        self.device = model.mean.device
        self.precision = resolve_precision(precision, self.device)
        self.compile = compile
        self.constrain = constrain
        self.decode_backend = check_backend("decode_normalized", decode_backend, "decode_backend")
        if isinstance(flips, bool) or not isinstance(flips, int) or flips not in FLIPS:
            raise ValueError(f"flips must be one of {FLIPS}, got {flips!r}")
        self.flips = flips
        self._networks = None if compile is None else compile_networks(model, compile, backend=compile_backend)

    @property
    def backend(self) -> str:
        """Deprecated name of :attr:`decode_backend` (warns; removed in the next release)."""
        warn_deprecated("CorrectionStep.backend", "CorrectionStep.decode_backend", stacklevel=3)
        return self.decode_backend

    @property
    def compiled(self) -> bool:
        """Whether the forward runs compiled (False when eager, or after a failed compilation)."""
        return self._networks is not None

    def __call__(self, planes: CoefficientPlanes) -> torch.Tensor:
        """Correct a batch: uint8 ``(N, 3, H, W)`` RGB (``(N, 1, H, W)`` gray) on the device, at
        ``planes.size`` (every sample is decoded at that size)."""
        return self.decode(planes, *self.restore(planes))

    def restore(self, planes: CoefficientPlanes, *, eager: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The model's forward: normalised float32 Y ``(N, 1, H, W)`` and Cb, Cr on the luma grid
        ``(N, 2, H, W)`` (None for gray), the chroma guarded under ``constrain`` (:meth:`_guard_chroma`:
        it needs the whole image's chroma, so it is applied here, not in the strip-wise :meth:`decode`).
        With ``flips`` > 1, the mean over the orientations. ``eager``: without ``torch.compile``
        (memory probes)."""
        cpu = self.device.type == "cpu"
        if cpu and planes.batch_size > 1:
            parts = [self.restore(planes.select(slice(i, i + 1)), eager=eager) for i in range(planes.batch_size)]
            return (torch.cat([p[0] for p in parts]),
                    None if parts[0][1] is None else torch.cat([p[1] for p in parts]))
        y, chroma = self._forward(planes, eager) if self.flips == 1 else self._ensemble(planes, eager)
        if chroma is None or not self.constrain:
            return y, chroma
        return y, self._guard_chroma(planes, chroma)

    def _ensemble(self, planes: CoefficientPlanes, eager: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The mean of :meth:`_forward` over the first :attr:`flips` orientations, each turned back
        (in de-normalised coefficients: a flip negates coefficients, not normalised values)."""
        model, y_sum, chroma_sum = self.model, None, None
        for orientation in ORIENTATIONS[:self.flips]:
            y, chroma = self._forward(oriented(planes, orientation), eager)
            with torch.inference_mode():
                y = orient(model.denormalize(y, 0), orientation, inverse=True)
                y_sum = y if y_sum is None else y_sum.add_(y)
                if chroma is not None:
                    chroma = orient(model.denormalize(chroma, slice(1, 3)), orientation, inverse=True)
                    chroma_sum = chroma if chroma_sum is None else chroma_sum.add_(chroma)
        with torch.inference_mode():
            y = model.normalize(y_sum / self.flips, 0)
            return y, None if chroma_sum is None else model.normalize(chroma_sum / self.flips, slice(1, 3))

    def _forward(self, planes: CoefficientPlanes, eager: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One forward of the model: float32 normalised Y and chroma (None for gray)."""
        cpu = self.device.type == "cpu"
        dtype = _AUTOCAST[self.precision]
        autocast = torch.autocast(self.device.type, dtype=dtype) if dtype is not None else nullcontext()
        networks = None if eager else self._networks
        with torch.inference_mode(), autocast, flush_denormals() if cpu else nullcontext():
            y, chroma = (self.model.restore(planes) if networks is None
                         else self._restore_compiled(planes, networks))
        return y.float(), None if chroma is None else chroma.float()

    def _guard_chroma(self, planes: CoefficientPlanes, chroma: torch.Tensor) -> torch.Tensor:
        """``chroma`` with the samples whose chroma tables lie outside the trained family
        (:func:`~qgac_fast.quality.table_spread` above :data:`UNTRAINED_CHROMA_SPREAD`) replaced by
        the plain decode's chroma (the model's skip path: libjpeg's upsampling). Unlike the luma,
        the chroma has no quantization-bin clamp, and on such tables the colour network can make
        it worse than the decode (astronaut, uniformly random steps 1..255: chroma MSE 58 -> 85)."""
        outside = (table_spread(planes.chroma_table, chroma=True) > UNTRAINED_CHROMA_SPREAD).any(-1)
        if not bool(outside.any()):
            return chroma
        with torch.inference_mode():
            skip = self.model.chroma_skip(self.model.normalize(planes.chroma, slice(1, 3)), chroma.shape[-2:])
        return torch.where(outside[:, None, None, None], skip.float(), chroma)

    def decode(self, planes: CoefficientPlanes, y: torch.Tensor, chroma: torch.Tensor | None) -> torch.Tensor:
        """Clamp (``constrain``) and decode :meth:`restore`'s output for ``planes``: uint8
        ``(N, C, H, W)`` at ``planes.size``.

        Images above :attr:`decode_strip_pixels` are decoded in strips of rows: with Cb, Cr on the
        luma grid the decode is local to each 8x8 block, so the pixels are the same, and the
        decode's float temporaries stay the size of one strip."""
        height, width = planes.size
        rows = max(16, self.decode_strip_pixels // y.shape[-1] // 16 * 16)
        if rows >= y.shape[-2]:
            return self._decode(planes, y, chroma)
        out = torch.empty(y.shape[0], 1 if chroma is None else 3, height, width, dtype=torch.uint8, device=y.device)
        for top in range(0, height, rows):
            bottom = min(top + rows, y.shape[-2])
            strip = dataclasses.replace(planes.crop((top, bottom, 0, y.shape[-1])),
                                        size=(min(bottom, height) - top, width))
            out[..., top:top + strip.size[0], :] = self._decode(
                strip, y[..., top:bottom, :], None if chroma is None else chroma[..., top:bottom, :])
        return out

    def _decode(self, planes: CoefficientPlanes, y: torch.Tensor, chroma: torch.Tensor | None) -> torch.Tensor:
        net = self.model
        with torch.inference_mode():
            mean, std = (net.mean[:1], net.std[:1]) if chroma is None else (net.mean, net.std)
            bins = (planes.luma, planes.luma_table) if self.constrain else None
            return decode_normalized(y, chroma, mean, std, size=planes.size, bins=bins, backend=self.decode_backend)

    def decode_each(self, planes: CoefficientPlanes, y: torch.Tensor, chroma: torch.Tensor | None,
                    sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
        """:meth:`decode` of a batch whose samples have different real ``sizes`` (one per sample,
        all within the planes): one decode per distinct size on CUDA, per sample on the CPU.
        Returns uint8 ``(C, h, w)`` per sample, on the device."""
        groups: dict[tuple, list[int]] = {}
        for i, size in enumerate(sizes):
            groups.setdefault(size if self.device.type == "cuda" else (i,), []).append(i)
        images: list[torch.Tensor | None] = [None] * len(sizes)
        for members in groups.values():
            index = (slice(members[0], members[0] + 1) if len(members) == 1
                     else torch.tensor(members, device=y.device))
            part = dataclasses.replace(planes.select(index), size=sizes[members[0]])
            pixels = self.decode(part, y[index], None if chroma is None else chroma[index])
            for j, i in enumerate(members):
                images[i] = pixels[j]
        return images

    def _restore_compiled(self, planes: CoefficientPlanes, networks: Callable):
        try:
            return self.model.restore(planes, networks=networks)
        except dynamo_error() as error:
            # BackendCompilerFailed, InductorError, Unsupported: the model cannot be compiled here
            text = str(error) or type(error).__name__
            warnings.warn(f"torch.compile(mode={self.compile!r}) failed, running eagerly: {text.splitlines()[0]}",
                          RuntimeWarning, stacklevel=3)
            self._networks = None
            return self.model.restore(planes)
