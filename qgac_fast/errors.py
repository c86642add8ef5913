"""Exceptions for bad input: JPEG files (``qgac_fast.codec``), other image files (the blind path,
``qgac_fast.blind``) and model weights files (``qgac_fast.model.weights``).

All derive from ``ValueError``: a bad file is bad input. The native extension raises the JPEG
classes themselves, so ``except JPEGError`` catches every failure libjpeg reports.
"""

from __future__ import annotations

__all__ = ["RECOVERABLE", "ImageError", "JPEGError", "UncheckedWeightsWarning", "UnsupportedJPEGError", "WeightsError"]

#: How a strict read's ``JPEGError`` ends when libjpeg can recover the data (a truncated or corrupt
#: file that viewers show): the way out, in the API's words; ``qgac-fast correct`` names its
#: ``--no-strict`` in its place.
RECOVERABLE = " (strict=False reads what libjpeg can recover)"


class JPEGError(ValueError):
    """libjpeg rejected the data: not a JPEG, truncated, corrupt (or, in strict mode, data that
    libjpeg could only recover with a warning), or above the caller's pixel limits (``max_pixels``,
    ``max_pixels_per_byte``: a likely decompression bomb). ``str(error)``
    is libjpeg's own formatted message, e.g. ``"Not a JPEG file: starts with 0x89 0x50"``; a
    strict read of data libjpeg can recover adds :data:`RECOVERABLE`."""


class UnsupportedJPEGError(JPEGError):
    """A valid JPEG that this codec cannot read: CMYK or YCCK colour, a precision other than 8
    bits, lossless or hierarchical coding, or a height defined by a DNL marker."""


class ImageError(ValueError):
    """An image file that is not a JPEG (PNG, BMP, TIFF, WebP, GIF...) whose format Pillow
    recognises but that it cannot decode: truncated or corrupt data, a header it does not support,
    or more pixels than Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``).
    ``str(error)`` names the format and gives Pillow's reason."""


class WeightsError(ValueError):
    """A model weights file that cannot be used: not a safetensors file, not written by
    ``save_model``, a configuration outside ``QGACConfig``'s limits, tensors missing, extra or of
    the wrong shape or dtype for that configuration, values no training produces (NaN/infinite,
    huge, or a layer with no spread), or tensors that do not match the file's checksum.
    ``str(error)`` names the file and the cause."""


class UncheckedWeightsWarning(UserWarning):
    """A weights file without a ``tensors_sha256`` checksum (not written by ``save_model``) was
    loaded: its tensors could not be verified."""
