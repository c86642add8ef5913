"""qgac_fast: fast Quantization Guided JPEG Artifact Correction.

The package reads and writes JPEG DCT coefficients through a libjpeg-turbo extension
(:mod:`qgac_fast.codec`), holds the pure-PyTorch reference path for every JPEG operation
(:mod:`qgac_fast.functional`, the ground truth for the Triton kernels in ``qgac_fast.kernels``),
the public ops that dispatch between them (:mod:`qgac_fast.ops`, rule in :mod:`qgac_fast.dispatch`),
the image-quality metrics of the JPEG artifact correction literature (:mod:`qgac_fast.metrics`),
the QGAC model (:mod:`qgac_fast.model`), its training (:mod:`qgac_fast.train`), and inference:
the correction step and the :class:`Corrector` engine (:mod:`qgac_fast.inference`).

Example:
    >>> import qgac_fast
    >>> jc = qgac_fast.read_coefficients("photo.jpg")   # doctest: +SKIP
    >>> rgb = qgac_fast.decode(jc)                      # doctest: +SKIP  uint8 (3, H, W)
    >>> fixed = qgac_fast.correct("photo.jpg")          # doctest: +SKIP  uint8 (3, H, W), shipped weights
    >>> fixed = qgac_fast.correct("screenshot.png")     # doctest: +SKIP  blind: quantization estimated
"""

import importlib

from ._version import __version__

# Bound now, not lazily: the function shares its module's name, and the first import of the module
# qgac_fast.correct (by anyone) would otherwise set the package's ``correct`` to the module. The
# module imports torch only when the function runs.
from .correct import correct

# Public names and the modules that define them, imported on first use (PEP 562): the package itself
# imports no torch, so that the command line (``qgac_fast.cli``) can set the process up before torch
# loads.
_LAZY = {
    "DEFAULT_MAX_PIXELS": ".options",
    "DEFAULT_MAX_PIXELS_PER_BYTE": ".options",
    "JPEGCoefficients": ".coefficients",
    "read_coefficients": ".codec",
    "read_coefficients_many": ".codec",
    "write_coefficients": ".codec",
    "compress": ".compression",
    "ImageError": ".errors",
    "JPEGError": ".errors",
    "UnsupportedJPEGError": ".errors",
    "WeightsError": ".errors",
    "CorrectionResult": ".inference",
    "CorrectionStep": ".inference",
    "Corrector": ".inference",
    "encode": ".functional.jpeg",
    "QuantizationEstimate": ".estimate",
    "estimate_quantization": ".estimate",
    "QGAC": ".model",
    "load_model": ".model",
    "decode": ".ops",
    "decode_planes": ".ops",
    "closest_quality": ".quality",
    "ijg_table": ".quality",
}
_SUBMODULES = ("functional", "metrics", "ops", "samples")

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_PIXELS_PER_BYTE",
    "JPEGCoefficients",
    "CorrectionResult",
    "CorrectionStep",
    "Corrector",
    "ImageError",
    "JPEGError",
    "QGAC",
    "QuantizationEstimate",
    "UnsupportedJPEGError",
    "WeightsError",
    "__version__",
    "closest_quality",
    "compress",
    "correct",
    "decode",
    "decode_planes",
    "encode",
    "estimate_quantization",
    "functional",
    "ijg_table",
    "load_model",
    "metrics",
    "ops",
    "read_coefficients",
    "read_coefficients_many",
    "samples",
    "write_coefficients",
]


def __getattr__(name: str):
    if name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
