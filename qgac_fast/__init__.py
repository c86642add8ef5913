"""qgac_fast: fast Quantization Guided JPEG Artifact Correction.

The package reads and writes JPEG DCT coefficients through a libjpeg-turbo extension
(:mod:`qgac_fast.codec`), holds the pure-PyTorch reference path for every JPEG operation
(:mod:`qgac_fast.functional`, the ground truth for the Triton kernels in ``qgac_fast.kernels``)
and the image-quality metrics of the JPEG artifact correction literature (:mod:`qgac_fast.metrics`).

Example:
    >>> import qgac_fast
    >>> jc = qgac_fast.read_coefficients("photo.jpg")   # doctest: +SKIP
    >>> rgb = qgac_fast.decode(jc)                      # doctest: +SKIP  uint8 (3, H, W)
"""

__version__ = "0.1.0"

from . import functional, metrics
from .codec import (
    DEFAULT_MAX_PIXELS,
    JPEGCoefficients,
    read_coefficients,
    read_coefficients_many,
    write_coefficients,
)
from .compression import compress
from .errors import JPEGError, UnsupportedJPEGError
from .functional.jpeg import decode, decode_planes, encode
from .quality import closest_quality, ijg_table

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "JPEGCoefficients",
    "JPEGError",
    "UnsupportedJPEGError",
    "__version__",
    "closest_quality",
    "compress",
    "decode",
    "decode_planes",
    "encode",
    "functional",
    "ijg_table",
    "metrics",
    "read_coefficients",
    "read_coefficients_many",
    "write_coefficients",
]
