"""Exceptions raised by the JPEG codec (``qgac_fast.codec``).

Both derive from ``ValueError``: a bad JPEG is bad input. The native extension raises these very
classes, so ``except JPEGError`` catches every failure libjpeg reports.
"""

from __future__ import annotations

__all__ = ["JPEGError", "UnsupportedJPEGError"]


class JPEGError(ValueError):
    """libjpeg rejected the data: not a JPEG, truncated, corrupt (or, in strict mode, data that
    libjpeg could only recover with a warning), or above the caller's pixel limit. ``str(error)``
    is libjpeg's own formatted message, e.g. ``"Not a JPEG file: starts with 0x89 0x50"``."""


class UnsupportedJPEGError(JPEGError):
    """A valid JPEG that this codec cannot read: CMYK or YCCK colour, a precision other than 8
    bits, lossless or hierarchical coding, or a height defined by a DNL marker."""
