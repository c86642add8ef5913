"""libjpeg-turbo (through the extension ``qgac_fast._jpeg``): JPEG bytes <-> quantized DCT
coefficients, losslessly, and libjpeg's own decode of coefficients to pixels.

``read_coefficients`` returns the quantized coefficients exactly as the file codes them, with the
quantization tables and frame layout (a :class:`~qgac_fast.coefficients.JPEGCoefficients`);
``write_coefficients`` writes them back without any decode/encode loss; ``decode_pixels`` is
libjpeg's decode of them, the ``"libjpeg"`` twin of :func:`qgac_fast.decode`. Bytes are the
primitive; a path or a file is read once, to at most a byte limit (:mod:`qgac_fast.sources`).
All libjpeg work runs without the GIL, so ``read_coefficients_many`` reads a batch in parallel
threads.

Example:
    >>> from qgac_fast.codec import read_coefficients, write_coefficients
    >>> jc = read_coefficients("photo.jpg")            # doctest: +SKIP
    >>> jc.subsampling, jc.coefficients[0].shape       # doctest: +SKIP
    ('4:2:0', torch.Size([64, 96, 8, 8]))
    >>> data = write_coefficients(jc, "copy.jpg")      # doctest: +SKIP
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable

import torch

from . import _jpeg, sources
from .atomic import write_atomic
from .coefficients import JPEGCoefficients  # re-exported: what read_coefficients returns
from .deprecation import moved_names
from .errors import RECOVERABLE, JPEGError, UnsupportedJPEGError
from .functional.sampling import UPSAMPLING
from .metadata import APP2
from .options import DEFAULT_MAX_PIXELS, DEFAULT_MAX_PIXELS_PER_BYTE

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "LIBJPEG_VERSION",
    "DEFAULT_MAX_PIXELS_PER_BYTE",
    "JPEGCoefficients",
    "JPEGError",
    "UnsupportedJPEGError",
    "decode_pixels",
    "read_coefficients",
    "read_coefficients_many",
    "write_coefficients",
]

#: The libjpeg-turbo version the extension was built against (``"libjpeg-turbo 2.1.5 (API 62)"``).
LIBJPEG_VERSION: str = _jpeg.LIBJPEG_VERSION

# Names that moved to qgac_fast.sources (what a source is, inputs read within the limits); served
# from there with a DeprecationWarning for one release.
__getattr__ = moved_names(__name__, {name: f"qgac_fast.sources.{name}" for name in (
    "MAX_BYTES_PER_PIXEL", "METADATA_BYTES", "Source", "check_pixel_limits", "input_byte_limit", "jpeg_source",
    "read_input", "read_source")})


def _wrap(raw: tuple) -> JPEGCoefficients:
    width, height, color_space, progressive, coefficients, tables, slots, sampling, markers = raw
    # One tensor per distinct table object, so shared tables stay shared.
    tensors = {id(t): torch.from_numpy(t) for t in tables}
    return JPEGCoefficients(
        width=width,
        height=height,
        color_space=color_space,
        progressive=progressive,
        coefficients=tuple(torch.from_numpy(c) for c in coefficients),
        quantization=tuple(tensors[id(t)] for t in tables),
        table_indices=tuple(slots),
        sampling=tuple(sampling),
        markers=tuple(markers),
    )


def read_coefficients(src: sources.Source, *, strict: bool = True, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                      max_pixels_per_byte: int | None = DEFAULT_MAX_PIXELS_PER_BYTE) -> JPEGCoefficients:
    """Read a JPEG's quantized DCT coefficients, quantization tables and layout.

    Args:
        src: the JPEG file's bytes (``bytes``, ``bytearray``, ``memoryview`` or any contiguous
            buffer), a path (``str`` / ``os.PathLike``: :func:`~qgac_fast.sources.read_input`,
            which refuses devices), a file object opened in binary mode (read from its position),
            or a not yet loaded PIL JPEG image; see :func:`~qgac_fast.sources.jpeg_source`.
            Decoded pixels are refused (``TypeError``). A path or a file is read to at most
            :func:`~qgac_fast.sources.input_byte_limit` of ``max_pixels`` bytes.
        strict: if True, libjpeg's recoverable warnings (corrupt or premature end of data,
            extraneous bytes, bad Huffman codes, unknown JFIF revision...) raise ``JPEGError``;
            if False they are accepted and the result holds what libjpeg recovered (blocks it
            could not decode are zero).
        max_pixels: refuse images whose declared width x height exceeds this, before any large
            allocation; ``None`` disables the check.
        max_pixels_per_byte: refuse images whose declared width x height exceeds this many
            pixels per byte of ``src`` (the decompression-bomb guard, see
            ``DEFAULT_MAX_PIXELS_PER_BYTE``); ``None`` disables the check.

    Returns:
        ``JPEGCoefficients``; see its attributes for shapes and dtypes.

    Raises:
        TypeError: ``src`` is not a JPEG source (decoded pixels...; :func:`~qgac_fast.sources.jpeg_source`).
        JPEGError: not a JPEG, corrupt or truncated data (strict; when ``strict=False`` would read
            the file, the message ends with :data:`~qgac_fast.errors.RECOVERABLE`), or above
            ``max_pixels`` or ``max_pixels_per_byte``.
        ValueError: a path or file larger than :func:`~qgac_fast.sources.input_byte_limit`, or a
            device.
        UnsupportedJPEGError: CMYK/YCCK, 12-bit, lossless or hierarchical JPEGs.
        OSError: the path cannot be read (``FileNotFoundError``, ``IsADirectoryError``...).
        MemoryError: the arrays cannot be allocated.
    """
    limits = (sources.check_limit("max_pixels", max_pixels),
              sources.check_limit("max_pixels_per_byte", max_pixels_per_byte))
    max_bytes = sources.input_byte_limit(max_pixels)
    src = sources.jpeg_source(src, max_bytes=max_bytes)
    if isinstance(src, (str, os.PathLike)):
        src = sources.read_input(src, max_bytes)
    try:
        return _wrap(_jpeg.read_buffer(src, bool(strict), *limits))
    except UnsupportedJPEGError:
        raise
    except JPEGError as error:
        if not strict:
            raise
        # Only a failed file is read a second time, to say whether strict=False would read it
        # (libjpeg's message alone does not tell a warning made fatal from a fatal error).
        try:
            _jpeg.read_buffer(src, False, *limits)
        except (JPEGError, MemoryError):
            raise error from None
        raise JPEGError(f"{error}{RECOVERABLE}") from None


def read_coefficients_many(
    srcs: Iterable[sources.Source],
    *,
    workers: int | None = None,
    strict: bool = True,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    max_pixels_per_byte: int | None = DEFAULT_MAX_PIXELS_PER_BYTE,
    return_exceptions: bool = False,
) -> list:
    """Read many JPEGs in parallel threads; results come in input order.

    Args:
        srcs: sources, as for ``read_coefficients``.
        workers: number of threads; default ``min(len(srcs), os.cpu_count())``. ``1`` reads in
            the calling thread.
        strict, max_pixels, max_pixels_per_byte: as for ``read_coefficients``.
        return_exceptions: if True, an item that fails (``JPEGError`` or another ``ValueError``,
            ``TypeError`` for something that is not a JPEG source, ``OSError``) yields that
            exception object in its place; otherwise the first failure (in input order)
            is raised and reads not yet started are cancelled.

    Returns:
        list of ``JPEGCoefficients`` (or exceptions), one per source.
    """
    srcs = list(srcs)
    if workers is None:
        workers = min(len(srcs), os.cpu_count() or 1)
    elif isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int or None, got {workers!r}")
    # a bad argument fails here, not once per item
    sources.check_limit("max_pixels", max_pixels)
    sources.check_limit("max_pixels_per_byte", max_pixels_per_byte)

    def read_one(src):
        try:
            return read_coefficients(src, strict=strict, max_pixels=max_pixels, max_pixels_per_byte=max_pixels_per_byte)
        except (ValueError, TypeError, OSError) as error:  # JPEGError is a ValueError
            if return_exceptions:
                return error
            raise

    if workers <= 1 or len(srcs) <= 1:
        return [read_one(src) for src in srcs]
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qgac-jpeg")
    try:
        futures = [pool.submit(read_one, src) for src in srcs]
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _frame(jc: JPEGCoefficients) -> tuple:
    """The extension's frame arguments of ``jc`` (size, colour space, per-component arrays, table
    slots and sampling), checked as :func:`write_coefficients` documents."""
    counts = {len(jc.coefficients), len(jc.quantization), len(jc.table_indices), len(jc.sampling)}
    if len(counts) != 1:
        raise ValueError("coefficients, quantization, table_indices and sampling need one entry per component")
    coefficients = [_coefficient_array(c, i) for i, c in enumerate(jc.coefficients)]
    tables = [_table_array(q, i) for i, q in enumerate(jc.quantization)]
    return (jc.width, jc.height, jc.color_space, coefficients, tables, list(jc.table_indices),
            [tuple(s) for s in jc.sampling])


def _coefficient_array(value, index: int):
    tensor = torch.as_tensor(value)
    if tensor.dtype != torch.int16 or tensor.dim() != 4 or tuple(tensor.shape[2:]) != (8, 8):
        raise ValueError(f"coefficients[{index}] must be int16 of shape (blocks_h, blocks_w, 8, 8), "
                         f"got {tensor.dtype} of shape {tuple(tensor.shape)}")
    return tensor.detach().cpu().contiguous().numpy()


def _table_array(value, index: int):
    tensor = torch.as_tensor(value)
    if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool or tensor.numel() != 64:
        raise ValueError(f"quantization[{index}] must be an integer (8, 8) table, "
                         f"got {tensor.dtype} of shape {tuple(tensor.shape)}")
    tensor = tensor.detach().cpu().reshape(8, 8).to(torch.int64)
    low, high = int(tensor.min()), int(tensor.max())
    if low < 1 or high > 65535:
        raise ValueError(f"quantization[{index}] values must lie in 1..65535, got {low}..{high}")
    return tensor.to(torch.int32).contiguous().numpy()


def write_coefficients(jc: JPEGCoefficients, dst: str | os.PathLike | None = None, *, optimize: bool = False) -> bytes:
    """Write coefficients back to a JPEG file without loss (no DCT, no requantization).

    The output is a baseline JPEG (extended sequential if a table value exceeds 255) with the
    given colour space, sampling factors, tables and DQT slots; progressive input is written
    sequentially. MCU padding blocks are written the way libjpeg writes them (AC zero, DC
    repeating the block to their left; a single-component image codes none), so edits there are
    not kept. Files from libjpeg-based encoders already hold exactly that, so for them reading the
    result gives back identical coefficients and tables, padding included. ``jc.markers`` (EXIF,
    ICC profile, XMP) are written after the JFIF/Adobe marker, except MPF (APP2 ``"MPF\\0"``), whose
    offsets point at further images the written file does not hold.

    Args:
        jc: coefficients as returned by ``read_coefficients`` (or built to the same contract:
            int16 ``(blocks_h, blocks_w, 8, 8)`` arrays with exactly the padded block grid
            libjpeg derives from the size and sampling factors, integer ``(8, 8)`` tables with
            values 1..65535, components sharing a slot having equal tables).
        dst: optional path; the file is written atomically (temporary file + ``os.replace``).
        optimize: compute optimal Huffman tables (smaller file, slower) instead of the
            standard ones.

    Returns:
        The JPEG file as bytes (also when ``dst`` is given).

    Raises:
        ValueError: arrays or parameters that do not describe a valid frame (the message names
            the component and the expected shape).
        JPEGError: libjpeg refused to encode, e.g. a coefficient outside the range 8-bit JPEG
            can code (|AC| > 1023).
    """
    if not isinstance(jc, JPEGCoefficients):
        raise TypeError(f"write_coefficients needs a JPEGCoefficients, got {type(jc).__name__}")
    markers = [(code, bytes(payload)) for code, payload in jc.markers
               if not (code == APP2 and payload.startswith(b"MPF\0"))]
    data = _jpeg.write(*_frame(jc), bool(optimize), markers)
    if dst is not None:
        write_atomic(dst, data)
    return data


def decode_pixels(jc: JPEGCoefficients, *, upsampling: str = "fancy", dtype: torch.dtype = torch.uint8,
                  idct: str = "islow") -> torch.Tensor:
    """Decode coefficients to pixels with libjpeg itself, as a file of them would decode.

    One native call without the GIL: a lossless in-memory transcode of the coefficients (as
    :func:`write_coefficients`, baseline) read back by libjpeg's decompressor with its accurate
    integer IDCT and fancy upsampling (``"nearest"``: sample replication), so the result is what
    Pillow or any libjpeg-based decoder gives for the original file, and what the reference
    :func:`qgac_fast.functional.jpeg.decode` computes.

    Args:
        jc: coefficients to the contract of :func:`write_coefficients` (int16, the padded block
            grid libjpeg derives, tables 1..65535); every coefficient codable by 8-bit JPEG.
        upsampling: ``"fancy"`` (libjpeg's default) or ``"nearest"``.
        dtype, idct: the reference's options; only ``torch.uint8`` and ``"islow"`` are
            computed here (ValueError otherwise).

    Returns:
        uint8 ``(3, height, width)`` RGB (YCbCr and RGB files) or ``(1, height, width)`` gray,
        contiguous, on the CPU.

    Raises:
        ValueError: options, arrays or parameters libjpeg cannot take (see
            :func:`write_coefficients`).
        JPEGError: libjpeg refused the coefficients.
    """
    if dtype != torch.uint8 or idct != "islow":
        raise ValueError(f"libjpeg decodes only to dtype=torch.uint8 with idct='islow' (got dtype={dtype}, "
                         f"idct={idct!r}); use backend='reference'")
    if upsampling not in UPSAMPLING:
        raise ValueError(f"upsampling must be one of {UPSAMPLING}, got {upsampling!r}")
    if not isinstance(jc, JPEGCoefficients):
        raise TypeError(f"decode_pixels needs a JPEGCoefficients, got {type(jc).__name__}")
    pixels = _jpeg.decode_pixels(*_frame(jc), upsampling == "fancy")
    return torch.from_numpy(pixels)
