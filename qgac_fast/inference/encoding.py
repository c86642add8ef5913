"""Encoding a corrected image as a file: the output formats, the format a path names, the chroma
subsampling of JPEG outputs, metadata carried along. Pure functions of the image: the results
(:mod:`.results`) and the output rules (:mod:`.outputs`) both use them.
"""

from __future__ import annotations

import io
import os

import numpy as np
import torch
# at import, in the caller's thread: a first import of Pillow in two worker threads at once (reader
# and writer) can leave one of them with a partially initialised PIL.Image
from PIL import Image

from .. import metadata
from ..compression import compress
from ..options import DEFAULT_PNG_LEVEL, FORMATS, check_output_options

__all__ = ["encode_image", "format_of", "hwc", "jpeg_subsampling"]

#: The format of an output path's suffix (lower case): :data:`FORMATS`' suffixes, and ``.jpeg``.
_SUFFIX_FORMATS = {**{suffix: format for format, suffix in FORMATS.items()}, ".jpeg": "jpeg"}


def format_of(path: str | os.PathLike) -> str:
    """The output format a path's suffix names (``.png``, ``.jpg`` / ``.jpeg``, ``.webp``, any case).

    Raises:
        ValueError: another suffix (the message lists the known ones).
    """
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in _SUFFIX_FORMATS:
        raise ValueError(f"cannot tell the format of {os.fspath(path)!r} from its suffix: use "
                         f"{', '.join(sorted(_SUFFIX_FORMATS))}, or pass format= ({', '.join(FORMATS)})")
    return _SUFFIX_FORMATS[suffix]


def jpeg_subsampling(layout: str | None) -> str:
    """The chroma subsampling a JPEG output of an input with this layout is written with: the
    input's own when :func:`~qgac_fast.compress` can write it (4:4:4, 4:2:2, 4:2:0, 4:4:0, 4:1:1),
    else (unusual sampling factors, or not known) libjpeg's default 4:2:0. A gray image is
    written as a one-component JPEG whatever this says."""
    from ..compression import SUBSAMPLINGS

    return layout if layout in SUBSAMPLINGS else "4:2:0"


def encode_image(image: torch.Tensor, format: str = "png", *, jpeg_quality: int = 95, subsampling: str = "4:2:0",
                 webp_quality: int | None = None, png_level: int = DEFAULT_PNG_LEVEL, exif: bytes | None = None,
                 icc_profile: bytes | None = None, apply_orientation: bool = False) -> bytes:
    """Encode uint8 ``(3, H, W)`` RGB or ``(1, H, W)`` gray, with alpha ``(4, H, W)`` RGBA or
    ``(2, H, W)`` gray + alpha, as a file's bytes.

    Args:
        format: ``"png"`` (gray stays gray: mode L, LA), ``"jpeg"`` (libjpeg through
            :func:`qgac_fast.compress`: IJG quality ``jpeg_quality``, chroma ``subsampling``
            for colour; gray is a one-component JPEG; no alpha: an image with alpha is refused)
            or ``"webp"`` (lossy at ``webp_quality`` 1..100, lossless when None; WebP has no gray
            mode, so gray is stored as three equal channels).
        png_level: zlib level of ``"png"``, 0 (stored) to 9 (smallest, slowest); the default
            :data:`~qgac_fast.options.DEFAULT_PNG_LEVEL`.
        exif: an EXIF block (TIFF structure, :attr:`~qgac_fast.JPEGCoefficients.exif`) the file
            carries (PNG eXIf chunk, JPEG APP1, WebP EXIF chunk); None: none.
        icc_profile: an ICC profile the file carries (PNG iCCP, JPEG APP2 chunks, WebP ICCP); None: none.
        apply_orientation: turn ``image`` upright per the EXIF Orientation tag and write the EXIF
            with Orientation 1 (:func:`~qgac_fast.metadata.apply_orientation`); otherwise the
            pixels stay as stored and the tag is kept, so viewers turn them.

    Raises:
        ValueError: bad options, or an image with alpha for ``"jpeg"``.
    """
    check_output_options(format, subsampling, webp_quality, png_level)
    if format == "jpeg" and image.shape[0] in (2, 4):
        raise ValueError("the image has transparency (an alpha channel), which JPEG cannot hold: write png or webp "
                         "to keep it")
    pixels = hwc(image)
    if apply_orientation:
        pixels, exif = metadata.apply_orientation(pixels, exif)
        pixels = np.ascontiguousarray(pixels)
    if format == "jpeg":
        data = compress(pixels, jpeg_quality, subsampling=subsampling)
        return metadata.insert_markers(data, metadata.metadata_markers(exif, icc_profile))
    buffer = io.BytesIO()
    picture = Image.fromarray(pixels)
    # Pillow leaves a chunk out for an empty value, and only for that
    options = {"exif": exif or b"", "icc_profile": icc_profile or b""}
    if format == "png":
        picture.save(buffer, format="PNG", compress_level=png_level, **options)
    elif webp_quality is None:  # exact: libwebp would otherwise drop the colour of transparent pixels
        picture.save(buffer, format="WEBP", lossless=True, exact=True, **options)
    else:
        picture.save(buffer, format="WEBP", quality=webp_quality, exact=True, **options)
    return buffer.getvalue()


def hwc(image: torch.Tensor) -> np.ndarray:
    """uint8 ``(C, H, W)`` -> numpy ``(H, W, C)``, or ``(H, W)`` for one channel (Pillow's layout)."""
    array = image.detach().cpu().numpy()
    if array.shape[0] == 1:
        return array[0]
    # numpy, not torch, for the HWC copy: a torch copy this large would start an OpenMP team on the
    # writer thread (docs/engine.md, "Threads on the CPU"). One channel at a time: numpy copies a
    # contiguous plane into a stride-C view 3 times as fast as it gathers the transposed array
    # (24 MP RGB: 0.027 against 0.087 s)
    out = np.empty((*array.shape[1:], array.shape[0]), dtype=array.dtype)
    for channel, plane in enumerate(array):
        out[..., channel] = plane
    return out
