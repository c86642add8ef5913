"""How much memory one model call takes, so that batches and tiles fit a budget.

The activation memory of one forward is estimated as ``a + b * pixels`` (luma pixels, summed over
the batch) for each layout (``"gray"``, ``"420"``, ``"444"``), measured once per layout by running
the model on two small probes (:data:`PROBE_SIDES`): on CUDA the peak of
``torch.cuda.max_memory_allocated``; on the CPU the peak of the bytes held by live tensors that the
forward creates, tracked by :class:`PeakTracker` (kernels' internal scratch buffers are not seen,
hence :data:`SAFETY_FACTOR`). ``b`` is the slope between the probes and ``a`` the intercept; both
are multiplied by the factor. The estimate against measured peaks: ``docs/engine.md``.

The probes cost several times a small image's correction, so an image that fits even under
:func:`activation_bound`, a generous bound from the configuration alone, is not probed for
(:meth:`ActivationCost.fits`).
"""

from __future__ import annotations

import os
import threading
import weakref

import torch

from ..model import CoefficientPlanes, QGACConfig
from ..torch_internals import EagerDispatchMode, tree_leaves
from .step import CorrectionStep

__all__ = ["MAX_CPU_BUDGET", "SAFETY_FACTOR", "ActivationCost", "PeakTracker", "activation_bound", "default_budget",
           "probe_planes"]

#: Multiplies the measured activation memory (allocator fragmentation, kernels' scratch buffers).
SAFETY_FACTOR = 1.5
#: Probe sides (luma pixels) of the estimate, by device type. On the CPU 64 and 128 gave the slope of
#: 128 and 256 within 0.5% for the default model (bf16, factor included: 654 against 657 bytes a
#: pixel, intercepts 51 and 1 KB; float32: the same), in half the time (a layout's probes 0.19 ->
#: 0.09 s, 2 threads). CUDA keeps 128 and 256: its fixed workspaces weigh more in a small probe's
#: peak, and the smaller probes are not measured there.
PROBE_SIDES = {"cpu": (64, 128), "cuda": (128, 256)}


class PeakTracker(EagerDispatchMode):
    """Peak bytes (:attr:`peak`) of the storages created by the ops run under it and still alive.

    Example:
        >>> with PeakTracker() as tracker:
        ...     x = torch.zeros(1024)           # 4096 bytes
        >>> tracker.peak
        4096
    """

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
        inputs = {id(t.untyped_storage()) for t in tree_leaves((args, kwargs))
                  if isinstance(t, torch.Tensor)}
        for t in tree_leaves(out):
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


def probe_planes(layout: str, side: int, device: torch.device | str = "cpu") -> CoefficientPlanes:
    """Synthetic planes (a batch of one, ``side`` x ``side`` luma pixels) of one layout
    (``"gray"``, ``"420"``, ``"444"``), for the memory probes."""
    generator = torch.Generator().manual_seed(0)
    luma = torch.randn(1, 1, side, side, generator=generator) * 20
    table = torch.full((1, 8, 8), 16.0)
    chroma = chroma_table = None
    if layout != "gray":
        c = side // 2 if layout == "420" else side
        chroma = torch.randn(1, 2, c, c, generator=generator) * 10
        chroma_table = torch.full((1, 2, 8, 8), 16.0)
    return CoefficientPlanes(luma, chroma, table, chroma_table, (side, side)).to(device)


def activation_bound(config: QGACConfig) -> float:
    """A generous upper bound on one float32 forward's activation bytes per luma pixel, from the
    configuration alone (no probe): 8 bytes per channel of the widest layer, per dense layer and
    four more. The probed float32 slopes (before the safety factor) are 2x below it for the tests'
    tiny configuration, 3.5x for the former 2.2M-parameter default and 17x for ``paper``
    (``tests/test_engine.py`` checks the bound against the probes for tiny and ``default``); bf16
    halves them. At 16 bytes the bound kept today's ``default`` from correcting a 512x512 image
    whole without probing under the CPU's 2 GiB budget."""
    widest = max(config.manifold, config.block_channels, config.tile_channels, config.color_channels,
                 config.frequency_channels, config.fusion_channels)
    return 8.0 * widest * (config.dense_blocks * config.dense_layers + 4)


#: Ceiling of the default CPU budget: tiles of about 2 MP for the default model, so that a 48 MP
#: photo is corrected within 4 GB of resident memory (``tests/test_memory.py``).
MAX_CPU_BUDGET = 2 << 30


def default_budget(device: torch.device) -> int:
    """Default activation budget in bytes: half the free CUDA memory, or on the CPU a quarter of
    the physical memory, at most :data:`MAX_CPU_BUDGET`."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 2
    try:
        return min(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4, MAX_CPU_BUDGET)
    except (ValueError, OSError, AttributeError):
        return MAX_CPU_BUDGET


class ActivationCost:
    """Estimated activation memory of :class:`CorrectionStep` calls, per layout, within a budget.

    The probes depend on the model's configuration, device and precision only (not on its
    weights), so their results are shared by every estimate in the process: each layout is probed
    once per configuration, device and precision.

    Args:
        step: the step whose (eager) forward is probed.
        budget: bytes one model call may use.
    """

    _measured: dict[tuple, tuple[float, float]] = {}
    _lock = threading.Lock()

    def __init__(self, step: CorrectionStep, budget: int):
        self.step = step
        self.budget = budget

    def __call__(self, layout: str) -> tuple[float, float]:
        """``(a, b)`` for ``a + b * luma_pixels`` bytes of one call on ``layout``, safety factor
        included (probed on first use)."""
        key = (self.step.model.config, self.step.device, self.step.precision, type(self.step), layout)
        with self._lock:
            if key not in self._measured:
                sides = PROBE_SIDES.get(self.step.device.type, PROBE_SIDES["cuda"])
                peaks = [self._probe(layout, side) for side in sides]
                p1, p2 = (side * side for side in sides)
                slope = max((peaks[1] - peaks[0]) / (p2 - p1), 1.0)
                intercept = max(peaks[0] - slope * p1, 0.0)
                self._measured[key] = (SAFETY_FACTOR * intercept, SAFETY_FACTOR * slope)
            return self._measured[key]

    def fits(self, layout: str, pixels: int) -> bool:
        """Whether one call on ``pixels`` luma pixels (summed over a batch) of ``layout`` fits the
        budget; probes only when :func:`activation_bound` cannot tell."""
        if SAFETY_FACTOR * activation_bound(self.step.model.config) * pixels <= self.budget:
            return True
        return pixels <= self.max_pixels(layout)

    def max_pixels(self, layout: str) -> int:
        """Most luma pixels (summed over a batch) one model call on ``layout`` may take within the
        budget (at least 16x16)."""
        a, b = self(layout)
        return max(int((self.budget - a) / b), 16 * 16)

    def _probe(self, layout: str, side: int) -> float:
        device = self.step.device
        planes = probe_planes(layout, side, device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
            self.step.restore(planes, eager=True)
            torch.cuda.synchronize(device)
            return torch.cuda.max_memory_allocated(device) - base
        with PeakTracker() as tracker:
            self.step.restore(planes, eager=True)
        return float(tracker.peak)
