"""``qgac_fast.correct``: correct one JPEG (or one decoded image, blind) with a QGAC model.

The module imports torch only when :func:`correct` runs: the package binds the function at import
(``qgac_fast/__init__.py``), which has to stay free of torch.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from .coefficients import JPEGCoefficients
    from .sources import Source
    from .model import QGAC

__all__ = ["correct"]


@functools.lru_cache(maxsize=4)
def _shipped(name: str, device: str) -> QGAC:
    from .model import load_model

    return load_model(name, device=device)


def correct(jpeg: Source | JPEGCoefficients, model: QGAC | str | None = None,
            device: torch.device | str | None = None, *, precision: str = "auto", constrain: bool = True,
            decode_backend: str = "auto", table: str = "auto", strict: bool = True, flips: int = 1,
            backend: str | None = None) -> torch.Tensor:
    """Correct the artifacts of one JPEG, or of an image that was one.

    Args:
        jpeg: the JPEG file's bytes, its path, the file opened in binary mode (``open(path, "rb")``,
            ``io.BytesIO``), a ``PIL`` JPEG image not yet loaded (``Image.open(path)``; see
            :func:`~qgac_fast.sources.jpeg_source`), or its :class:`~qgac_fast.JPEGCoefficients`.
            Or a decoded image: uint8 pixels (numpy ``(H, W, 3)`` / ``(H, W, 4)`` RGBA /
            ``(H, W)``, torch ``(3, H, W)`` / ``(1, H, W)``), a PIL image, or the path, open file or
            bytes of a PNG, BMP, TIFF, WebP... file. Its quantization is estimated
            (:func:`~qgac_fast.estimate_quantization`) and the image corrected on the grid found,
            then cut back to its own size; an image with no JPEG history found comes back unchanged
            (:mod:`qgac_fast.blind`). A path or file is read once (a pipe too, not a device).
        model: a :class:`~qgac_fast.model.QGAC` (used on the device it is on), a shipped
            weights name or a weights path (loaded once and cached), or None for ``"default"``.
        device: where to run a model given by name; default
            :func:`~qgac_fast.devices.default_device` (CUDA when available, else the CPU).
        precision: ``"auto"`` (bf16 autocast on CUDA and on CPUs with native bf16, else
            float32), ``"float32"``, ``"bf16"`` or ``"fp16"`` (CUDA); see
            :class:`~qgac_fast.inference.CorrectionStep`.
        constrain: keep the restored luma coefficients inside the file's quantization bins
            (:func:`qgac_fast.functional.quantization.clamp_to_bins`), and the decode's chroma for chroma
            tables outside the trained family (:data:`qgac_fast.inference.step.UNTRAINED_CHROMA_SPREAD`).
        decode_backend: the final decode's backend: ``"auto"`` (the Triton kernel on CUDA, the
            C++ one on the CPU), ``"reference"``, ``"triton"`` or ``"native"``; see
            :class:`~qgac_fast.inference.CorrectionStep`. The model's CFMs run on its own
            :attr:`~qgac_fast.model.QGAC.cfm_backend`.
        table: the quantization a JPEG is corrected with: ``"auto"`` (the first, coarser table of
            a twice-compressed file when one is found, its grid aligned or shifted, else the file's),
            ``"file"``, or ``"primary"`` (ValueError when none is found); see :mod:`qgac_fast.primary`.
        strict: as for :func:`~qgac_fast.read_coefficients`: False corrects what libjpeg recovers
            from a truncated or corrupt JPEG (what viewers show) instead of raising.
        flips: 1, 2 or 4: correct the image in that many orientations (its flips) and average the
            outputs turned back, for ``flips`` times the model's time
            (:class:`~qgac_fast.inference.CorrectionStep`).
        backend: deprecated name of ``decode_backend`` (warns; removed in the next release).

    Images whose activations would not fit the engine's memory budget are corrected in tiles, as
    by :class:`~qgac_fast.Corrector` (``tile="auto"``).

    Returns:
        uint8 ``(3, H, W)`` RGB (``(1, H, W)`` for a grayscale JPEG or gray pixels) on the CPU, the
        input's size; a decoded image with transparency has its alpha channel appended, unchanged
        (``(4, H, W)`` / ``(2, H, W)``).

    Raises:
        TypeError, ValueError: ``jpeg`` is no image at all, or pixels of the wrong dtype or layout,
            more than 8 bits per sample, above the pixel or byte limits, or a device file; the
            message says what to pass. ValueError also for a bad option (``decode_backend``, ``flips``...),
            TypeError for both ``backend`` and ``decode_backend``.
        qgac_fast.JPEGError: unreadable or unsupported JPEG (including RGB-coded files); for data
            ``strict=False`` would read, the message says so.
        qgac_fast.ImageError: an image file Pillow recognises but cannot decode.
    """
    from .deprecation import renamed_argument
    from .devices import resolve_device
    from .inference import Corrector
    from .model import QGAC

    decode_backend = renamed_argument("backend", backend, "decode_backend", decode_backend, "auto")
    net = model if isinstance(model, QGAC) else _shipped(str(model or "default"), str(resolve_device(device)))
    corrector = Corrector(net, precision=precision, constrain=constrain, decode_backend=decode_backend, batch_size=1,
                          workers=0, table=table, strict=strict, flips=flips)
    return corrector.correct(jpeg)
