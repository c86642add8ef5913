"""Exceptions for bad input: JPEG files (``qgac_fast.codec``) and model weights files
(``qgac_fast.model.weights``).

All derive from ``ValueError``: a bad file is bad input. The native extension raises the JPEG
classes themselves, so ``except JPEGError`` catches every failure libjpeg reports.
"""

from __future__ import annotations

__all__ = ["JPEGError", "UncheckedWeightsWarning", "UnsupportedJPEGError", "WeightsError"]


class JPEGError(ValueError):
    """libjpeg rejected the data: not a JPEG, truncated, corrupt (or, in strict mode, data that
    libjpeg could only recover with a warning), or above the caller's pixel limits (``max_pixels``,
    ``max_pixels_per_byte``: a likely decompression bomb). ``str(error)``
    is libjpeg's own formatted message, e.g. ``"Not a JPEG file: starts with 0x89 0x50"``."""


class UnsupportedJPEGError(JPEGError):
    """A valid JPEG that this codec cannot read: CMYK or YCCK colour, a precision other than 8
    bits, lossless or hierarchical coding, or a height defined by a DNL marker."""


class WeightsError(ValueError):
    """A model weights file that cannot be used: not a safetensors file, not written by
    ``save_model``, a configuration outside ``QGACConfig``'s limits, tensors missing, extra or of
    the wrong shape or dtype for that configuration, values no training produces (NaN/infinite,
    huge, or a layer with no spread), or tensors that do not match the file's checksum.
    ``str(error)`` names the file and the cause."""


class UncheckedWeightsWarning(UserWarning):
    """A weights file without a ``tensors_sha256`` checksum (not written by ``save_model``) was
    loaded: its tensors could not be verified."""
