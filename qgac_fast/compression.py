"""Compress pixels to JPEG bytes the way the literature's inputs are made: libjpeg with IJG
quality tables (or explicit tables), the accurate integer DCT, standard Huffman tables. The
tests' JPEGs, ``qgac-fast eval``'s inputs, the trainer's validation images and JPEG outputs come
from here; training batches are compressed on the device instead
(:func:`qgac_fast.ops.encode_planes`).

Two encoders, both libjpeg-turbo:

* ``quality=``: PyTurboJPEG (``TJFLAG_ACCURATEDCT``), which reaches every chroma subsampling.
  For 4:4:4, 4:2:2, 4:2:0 and gray its bytes equal Pillow's ``Image.save(quality=...)``.
* ``quantization=``: Pillow's ``qtables`` option (TurboJPEG's API takes no tables), so only the
  subsamplings Pillow writes: 4:4:4, 4:2:2, 4:2:0, and gray.

Example:
    >>> import numpy as np
    >>> from qgac_fast.compression import compress
    >>> from qgac_fast.quality import ijg_table
    >>> image = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (48, 1))  # (48, 64) gray
    >>> data = compress(image, 75)
    >>> data[:2], data == compress(image, quantization=ijg_table(75))
    (b'\\xff\\xd8', True)
"""

from __future__ import annotations

import io
from functools import lru_cache
from typing import Sequence, Union

import numpy as np
import torch
from PIL import Image
from .options import SUBSAMPLINGS

__all__ = ["SUBSAMPLINGS", "compress", "turbojpeg_library"]

_PILLOW_SUBSAMPLINGS = ("4:4:4", "4:2:2", "4:2:0")
_MAX_DIMENSION = 65500  # libjpeg's JPEG_MAX_DIMENSION

Tables = Union[torch.Tensor, np.ndarray, Sequence]


@lru_cache(maxsize=1)
def turbojpeg_library():
    """The PyTurboJPEG module and one ``TurboJPEG`` handle, loaded on first use (ctypes)."""
    try:
        import turbojpeg

        return turbojpeg, turbojpeg.TurboJPEG()
    except (ImportError, OSError, RuntimeError) as error:
        raise RuntimeError(
            "compress(quality=...) needs PyTurboJPEG 1.x and the libjpeg-turbo TurboJPEG library "
            f"(Debian/Ubuntu package libturbojpeg0); loading it failed: {error}") from error


def _pixels(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """The image as C-contiguous uint8 numpy ``(H, W, 3)`` (RGB) or ``(H, W)`` (gray)."""
    if isinstance(image, torch.Tensor):
        layouts = "(3, H, W) RGB, (1, H, W) or (H, W) gray torch tensor"
        if image.dim() == 3 and image.shape[0] in (1, 3):
            array = image.detach().cpu().permute(1, 2, 0).numpy()
        elif image.dim() == 2:
            array = image.detach().cpu().numpy()
        else:
            raise ValueError(f"image must be a {layouts}, got shape {tuple(image.shape)}")
    elif isinstance(image, np.ndarray):
        layouts = "(H, W, 3) RGB, (H, W, 1) or (H, W) gray numpy array"
        if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3))):
            raise ValueError(f"image must be a {layouts}, got shape {image.shape}")
        array = image
    else:
        raise TypeError(f"image must be a torch.Tensor or numpy.ndarray, got {type(image).__name__}")
    if array.dtype != np.uint8:
        raise TypeError(f"image must be uint8 (values 0..255), got {image.dtype}; scale and round to "
                        "0..255 and convert to uint8 first")
    height, width = array.shape[:2]
    if not (1 <= height <= _MAX_DIMENSION and 1 <= width <= _MAX_DIMENSION):
        raise ValueError(f"image height and width must be 1..{_MAX_DIMENSION} (JPEG's limit), got "
                         f"{height}x{width} (HxW)")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    return np.ascontiguousarray(array)


def _tables(quantization: Tables, gray: bool) -> list[list[int]]:
    """``quantization`` as 1 or 2 lists of 64 ints in natural order (luma, then chroma)."""
    expected = "an (8, 8) table or a sequence of 1 or 2 (8, 8) tables (luma, chroma)"
    def as_numpy(x) -> np.ndarray:
        return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)

    if isinstance(quantization, (torch.Tensor, np.ndarray)):
        array = as_numpy(quantization)
    else:
        try:
            array = np.stack([as_numpy(t) for t in quantization])
        except (TypeError, ValueError) as error:
            raise ValueError(f"quantization must be {expected}: {error}") from error
    # One table, whether a (8, 8) array or 8 rows of 8 values.
    array = array[None] if array.shape == (8, 8) else array
    if array.ndim != 3 or array.shape[1:] != (8, 8) or array.shape[0] not in (1, 2):
        raise ValueError(f"quantization must be {expected}, got shape {array.shape}")
    if gray and array.shape[0] != 1:
        raise ValueError("a gray image takes one quantization table, got 2 (luma and chroma)")
    if array.dtype.kind not in "iuf":
        raise ValueError(f"quantization tables must hold integers, got dtype {array.dtype}")
    if not np.array_equal(array, np.round(array)):
        raise ValueError(f"quantization tables must hold integers, got non-integer {array.dtype} values")
    if array.min() < 1 or array.max() > 255:
        raise ValueError(f"quantization steps must be 1..255 (baseline JPEG), got values "
                         f"{array.min()}..{array.max()}")
    # Pillow's qtables take natural (row-major) order, like libjpeg's jpeg_add_quant_table.
    return [table.astype(np.int64).flatten().tolist() for table in array]


def _check_quality(quality: int) -> int:
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise ValueError(f"quality must be an int in 1..100, got {quality!r}")
    return int(quality)


def compress(
    image: torch.Tensor | np.ndarray,
    quality: int | None = None,
    *,
    quantization: Tables | None = None,
    subsampling: str = "4:2:0",
    progressive: bool = False,
) -> bytes:
    """Compress an image to a JPEG file's bytes (JFIF, standard Huffman tables, accurate integer DCT).

    Args:
        image: uint8, values 0..255. Torch: ``(3, H, W)`` RGB, ``(1, H, W)`` or ``(H, W)`` gray
            (any device). Numpy: ``(H, W, 3)`` RGB, ``(H, W, 1)`` or ``(H, W)`` gray.
        quality: IJG quality 1..100 (``ijg_table(quality)`` and its chroma twin, clamped to
            baseline). Exactly one of ``quality`` and ``quantization``.
        quantization: explicit tables, natural order, integer steps 1..255: one ``(8, 8)``
            table (used by every component), or a sequence / ``(k, 8, 8)`` array of ``k = 1``
            or 2 tables (luma, chroma; a gray image takes one).
        subsampling: chroma subsampling of a colour image, one of ``SUBSAMPLINGS`` (only
            4:4:4, 4:2:2, 4:2:0 with ``quantization``). Not used for gray images, which are
            coded as one-component JPEGs.
        progressive: write a progressive JPEG (same coefficients, different scan layout).

    Returns:
        The JPEG file's bytes.

    Raises:
        TypeError: ``image`` is not a uint8 tensor or array.
        ValueError: a bad shape, quality, table or subsampling, or neither / both of
            ``quality`` and ``quantization``.
        RuntimeError: ``quality`` was given but libjpeg-turbo's TurboJPEG library is missing.
    """
    if (quality is None) == (quantization is None):
        raise ValueError("give exactly one of quality (IJG 1..100) and quantization (explicit tables), "
                         f"got quality={quality!r} and quantization={'None' if quantization is None else 'tables'}")
    if subsampling not in SUBSAMPLINGS:
        raise ValueError(f"subsampling must be one of {', '.join(SUBSAMPLINGS)}, got {subsampling!r}")
    if not isinstance(progressive, (bool, np.bool_)):
        raise TypeError(f"progressive must be a bool, got {type(progressive).__name__}")
    pixels = _pixels(image)
    gray = pixels.ndim == 2
    if quality is not None:
        return _compress_turbo(pixels, _check_quality(quality), subsampling, bool(progressive))
    tables = _tables(quantization, gray)
    if not gray and subsampling not in _PILLOW_SUBSAMPLINGS:
        raise ValueError(f"explicit quantization tables are written with Pillow, which supports "
                         f"subsampling {', '.join(_PILLOW_SUBSAMPLINGS)} only, got {subsampling!r}; "
                         "use quality= for 4:4:0 and 4:1:1")
    return _compress_pillow(pixels, tables, subsampling, bool(progressive))


def _compress_turbo(pixels: np.ndarray, quality: int, subsampling: str, progressive: bool) -> bytes:
    tj, handle = turbojpeg_library()
    flags = tj.TJFLAG_ACCURATEDCT | (tj.TJFLAG_PROGRESSIVE if progressive else 0)
    if pixels.ndim == 2:
        return handle.encode(pixels[..., None], quality=quality, pixel_format=tj.TJPF_GRAY,
                             jpeg_subsample=tj.TJSAMP_GRAY, flags=flags)
    samp = {"4:4:4": tj.TJSAMP_444, "4:2:2": tj.TJSAMP_422, "4:2:0": tj.TJSAMP_420,
            "4:4:0": tj.TJSAMP_440, "4:1:1": tj.TJSAMP_411}[subsampling]
    # PyTurboJPEG's default pixel format is BGR; ours is RGB.
    return handle.encode(pixels, quality=quality, pixel_format=tj.TJPF_RGB, jpeg_subsample=samp, flags=flags)


def _compress_pillow(pixels: np.ndarray, tables: list[list[int]], subsampling: str, progressive: bool) -> bytes:
    buffer = io.BytesIO()
    options = {"qtables": tables, "progressive": progressive}
    if pixels.ndim == 3:
        options["subsampling"] = subsampling
    # Without quality=, Pillow adds the tables at scale 100 %, i.e. exactly as given; with one
    # table it points every component at it.
    Image.fromarray(pixels).save(buffer, format="JPEG", **options)
    return buffer.getvalue()
