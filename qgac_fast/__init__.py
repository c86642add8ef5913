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
"""

from . import functional, metrics, ops
from ._version import __version__
from .codec import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_PIXELS_PER_BYTE,
    JPEGCoefficients,
    read_coefficients,
    read_coefficients_many,
    write_coefficients,
)
from .compression import compress
from .correct import correct
from .errors import JPEGError, UnsupportedJPEGError, WeightsError
from .inference import CorrectionResult, CorrectionStep, Corrector
from .functional.jpeg import encode
from .model import QGAC, load_model
from .ops import decode, decode_planes
from .quality import closest_quality, ijg_table

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_PIXELS_PER_BYTE",
    "JPEGCoefficients",
    "CorrectionResult",
    "CorrectionStep",
    "Corrector",
    "JPEGError",
    "QGAC",
    "UnsupportedJPEGError",
    "WeightsError",
    "__version__",
    "closest_quality",
    "compress",
    "correct",
    "decode",
    "decode_planes",
    "encode",
    "functional",
    "ijg_table",
    "load_model",
    "metrics",
    "ops",
    "read_coefficients",
    "read_coefficients_many",
    "write_coefficients",
]
