"""Read and write JPEG DCT coefficients losslessly (libjpeg-turbo, via ``qgac_fast._jpeg``).

``read_coefficients`` returns the quantized coefficients exactly as the file codes them, with the
quantization tables and frame layout; ``write_coefficients`` writes them back without any
decode/encode loss. Bytes are the primitive; a path or a file is read once, to at most a byte limit
(:func:`read_input`). All libjpeg work runs without the GIL, so ``read_coefficients_many`` reads
a batch in parallel threads.

Example:
    >>> from qgac_fast.codec import read_coefficients, write_coefficients
    >>> jc = read_coefficients("photo.jpg")            # doctest: +SKIP
    >>> jc.subsampling, jc.coefficients[0].shape       # doctest: +SKIP
    ('4:2:0', torch.Size([64, 96, 8, 8]))
    >>> data = write_coefficients(jc, "copy.jpg")      # doctest: +SKIP
"""

from __future__ import annotations

import io
import os
import stat
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Iterable, Union

import torch

from . import _jpeg
from .atomic import write_atomic
from .errors import RECOVERABLE, JPEGError, UnsupportedJPEGError
from .metadata import APP2, exif_from_markers, icc_from_markers
from .options import DEFAULT_MAX_PIXELS, DEFAULT_MAX_PIXELS_PER_BYTE

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "LIBJPEG_VERSION",
    "DEFAULT_MAX_PIXELS_PER_BYTE",
    "JPEGCoefficients",
    "JPEGError",
    "UnsupportedJPEGError",
    "check_pixel_limits",
    "decode_pixels",
    "input_byte_limit",
    "jpeg_source",
    "read_coefficients",
    "read_coefficients_many",
    "read_input",
    "read_source",
    "write_coefficients",
]

#: The libjpeg-turbo version the extension was built against (``"libjpeg-turbo 2.1.5 (API 62)"``).
LIBJPEG_VERSION: str = _jpeg.LIBJPEG_VERSION

#: Most bytes per pixel of ``max_pixels`` an input is read to (:func:`input_byte_limit`): a 16-bit
#: RGBA image stored uncompressed takes 8; a JPEG of uniform noise at quality 100, 4:4:4, 4.1.
MAX_BYTES_PER_PIXEL = 8
#: Bytes an input may hold beyond its pixels' share (:func:`input_byte_limit`): EXIF, ICC
#: profiles, XMP and thumbnails.
METADATA_BYTES = 16 * 2**20
_CHUNK = 2**20  # bytes per read of a stream, whose size is not known in advance
_LIMIT_WHY = (f"{MAX_BYTES_PER_PIXEL} bytes per pixel of the pixel limit max_pixels, plus "
              f"{METADATA_BYTES // 2**20} MiB: more than an image within it takes")

#: What ``read_coefficients`` reads: the file's bytes, its path, an open binary file, or a
#: ``PIL.JpegImagePlugin.JpegImageFile`` not yet decoded (see :func:`jpeg_source`).
Source = Union[bytes, bytearray, memoryview, str, os.PathLike, IO[bytes], "PIL.Image.Image"]

_PIXELS_HINT = ("the model needs the file's DCT coefficients and quantization tables, which decoded pixels no "
                "longer carry; pass the JPEG's path, its bytes or the file opened in binary mode (qgac_fast.correct "
                "takes decoded pixels too: it estimates the quantization they came from)")

# Luma (h, v) factors of the common layouts, chroma components being 1x1.
_SUBSAMPLING_NAMES = {(1, 1): "4:4:4", (2, 1): "4:2:2", (2, 2): "4:2:0", (1, 2): "4:4:0", (4, 1): "4:1:1"}


@dataclass(frozen=True, eq=False, repr=False)
class JPEGCoefficients:
    """The quantized DCT coefficients of a JPEG file, with what is needed to write them back.

    Attributes:
        width, height: image size in pixels.
        color_space: the JPEG's own colour space, ``"gray"``, ``"ycbcr"`` or ``"rgb"`` (what the
            file codes; no conversion is applied).
        progressive: whether the file was progressive (coefficients are the same either way).
        coefficients: per component, int16 ``(blocks_h, blocks_w, 8, 8)``; each block in natural
            (row-major) order, row = vertical frequency, ``[..., 0, 0]`` the DC term. Quantized
            values, not multiplied by the table. The grid is the whole padded array libjpeg
            keeps: the component's size in blocks rounded up to whole MCUs
            (``ceil(height_in_blocks / v) * v`` by ``ceil(width_in_blocks / h) * h``), so the
            dummy blocks an interleaved scan codes at the right and bottom edges are included.
        quantization: per component, the int32 ``(8, 8)`` table (natural order) its
            coefficients were quantized with; components sharing a table share one tensor.
        table_indices: per component, its DQT slot (0..3).
        sampling: per component, its ``(h, v)`` sampling factors.
        markers: the file's APP1 and APP2 markers in file order, each ``(code, payload)`` with
            code ``0xE1`` / ``0xE2`` and the payload after the length field (EXIF, XMP, ICC
            profile chunks, MPF); see :attr:`exif` and :attr:`icc_profile`.

    The tensors share memory with buffers the extension allocated (no copy was made).
    """

    width: int
    height: int
    color_space: str
    progressive: bool
    coefficients: tuple[torch.Tensor, ...]
    quantization: tuple[torch.Tensor, ...]
    table_indices: tuple[int, ...]
    sampling: tuple[tuple[int, int], ...]
    markers: tuple[tuple[int, bytes], ...] = ()

    @property
    def exif(self) -> bytes | None:
        """The EXIF block: the TIFF structure after ``"Exif\\0\\0"`` (what Pillow's ``exif=``
        save option takes), or None."""
        return exif_from_markers(self.markers)

    @property
    def icc_profile(self) -> bytes | None:
        """The ICC colour profile, reassembled from its APP2 chunks, or None (also when the chunks
        are inconsistent)."""
        return icc_from_markers(self.markers)

    @property
    def num_components(self) -> int:
        """Number of colour components (1 for gray, 3 otherwise)."""
        return len(self.coefficients)

    @property
    def subsampling(self) -> str:
        """``"gray"``, ``"4:4:4"``, ``"4:2:2"``, ``"4:2:0"``, ``"4:4:0"``, ``"4:1:1"``, or
        ``"other(HxV,HxV,HxV)"`` for any other set of sampling factors."""
        if self.num_components == 1:
            return "gray"
        luma, *chroma = self.sampling
        if all(c == (1, 1) for c in chroma) and luma in _SUBSAMPLING_NAMES:
            return _SUBSAMPLING_NAMES[luma]
        return "other(" + ",".join(f"{h}x{v}" for h, v in self.sampling) + ")"

    def __repr__(self) -> str:
        shapes = ", ".join(str(tuple(c.shape)) for c in self.coefficients)
        return (f"JPEGCoefficients({self.width}x{self.height}, {self.color_space}, {self.subsampling}, "
                f"progressive={self.progressive}, table_indices={self.table_indices}, blocks=[{shapes}])")


def _limit(name: str, value: int | None) -> int:
    """A pixel limit argument as the extension takes it: a positive int, or 0 for None (no limit)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")
    return value


def check_pixel_limits(width: int, height: int, size: int | None, max_pixels: int | None,
                       max_pixels_per_byte: int | None) -> None:
    """The decompression-bomb guard of :func:`read_coefficients` for an image of another format
    whose header declares ``width`` x ``height`` in ``size`` bytes (None: not known, the per-byte
    guard is skipped): the same limits and messages as libjpeg's reader here.

    Raises:
        ValueError: above ``max_pixels`` or ``max_pixels_per_byte`` (None: no limit).
    """
    pixels = width * height
    if max_pixels is not None and pixels > max_pixels:
        raise ValueError(f"image of {width}x{height} = {pixels} pixels exceeds the pixel limit of {max_pixels} "
                         "(max_pixels)")
    if max_pixels_per_byte is not None and size is not None and pixels > max_pixels_per_byte * size:
        raise ValueError(f"image of {width}x{height} = {pixels} pixels in {size} bytes exceeds the limit of "
                         f"{max_pixels_per_byte} pixels per byte of input (max_pixels_per_byte): a likely "
                         "decompression bomb")


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


def input_byte_limit(max_pixels: int | None) -> int | None:
    """The most bytes an input is read to (a path, an open file) when images of at most
    ``max_pixels`` pixels are accepted: ``MAX_BYTES_PER_PIXEL`` per pixel plus
    ``METADATA_BYTES`` (2 GiB + 16 MiB at the default ``max_pixels``); None (no limit) for
    ``max_pixels=None``. Bytes beyond it cannot be an image the pixel limit accepts, so they are
    not read: a stream without end (``/dev/zero`` through a pipe) is refused after that many."""
    if max_pixels is None:
        return None
    return _limit("max_pixels", max_pixels) * MAX_BYTES_PER_PIXEL + METADATA_BYTES


def read_input(src: str | os.PathLike | IO[bytes], max_bytes: int | None) -> bytes:
    """The bytes of a file named by a path, or of an open binary file from its position, read once.

    A path is opened once and its type taken from the open file: a regular file (refused before
    any read when larger than ``max_bytes``), a pipe or FIFO (``/dev/stdin`` of ``cat x.jpg |``,
    read to its end), or a socket; other files (character and block devices such as ``/dev/zero``,
    a terminal) are refused. Opening a FIFO waits for a writer, as any reader of it does.

    Args:
        src: a path (``str`` / ``os.PathLike``) or a file object whose ``read(n)`` returns bytes.
        max_bytes: the most bytes read (:func:`input_byte_limit`); None: no limit.

    Returns:
        The bytes, at most ``max_bytes`` of them.

    Raises:
        ValueError: more than ``max_bytes`` bytes (the message says which limit), or a device.
        TypeError: ``read`` returned something other than bytes (a text-mode file).
        OSError: the path cannot be opened or read (``FileNotFoundError``, ``IsADirectoryError``...).
    """
    if not isinstance(src, (str, os.PathLike)):
        return _read_bounded(src, max_bytes, None)
    with open(src, "rb", buffering=0) as file:
        info = os.fstat(file.fileno())
        if stat.S_ISREG(info.st_mode):
            if max_bytes is not None and info.st_size > max_bytes:
                raise ValueError(f"{info.st_size} bytes exceeds the input limit of {max_bytes} bytes "
                                 f"({_LIMIT_WHY})")
            return _read_bounded(file, max_bytes, info.st_size)
        if stat.S_ISFIFO(info.st_mode) or stat.S_ISSOCK(info.st_mode):
            return _read_bounded(file, max_bytes, None)
        kind = ("a character device" if stat.S_ISCHR(info.st_mode) else "a block device" if stat.S_ISBLK(info.st_mode)
                else "a special file")
        raise ValueError(f"{kind}, not a regular file or a pipe")



def _read_bounded(file, max_bytes: int | None, size: int | None) -> bytes:
    """What ``file.read`` gives up to its end, at most ``max_bytes`` (ValueError beyond). ``size``:
    the regular file's size, read in one call (one byte more to see its end); streams in
    ``_CHUNK``-byte reads, so memory follows what arrives."""
    chunks, total = [], 0
    want = size + 1 if size is not None else _CHUNK
    while True:
        if max_bytes is not None:
            want = min(want, max_bytes + 1 - total)
        chunk = file.read(want)
        if not chunk:
            break
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise TypeError(f"{type(file).__name__}.read() returned {type(chunk).__name__}, not bytes: open the file "
                            "in binary mode ('rb')")
        chunks.append(chunk)
        total += len(chunk)
        if max_bytes is not None and total > max_bytes:
            raise ValueError(f"more than {max_bytes} bytes, the input limit ({_LIMIT_WHY})")
        want = _CHUNK
    return chunks[0] if len(chunks) == 1 and isinstance(chunks[0], bytes) else b"".join(chunks)


def read_source(src, max_bytes: int | None):
    """``src`` with a path or an open binary file replaced by its bytes (:func:`read_input`, so
    that it is opened and read once), any other source (bytes, pixels, a PIL image,
    coefficients) as it is. The engine and ``qgac-fast info`` read each input through here, then
    tell its type from the bytes.

    Raises:
        what :func:`read_input` and, for a file object, :func:`jpeg_source` raise.
    """
    if isinstance(src, (str, os.PathLike)):
        return read_input(src, max_bytes)
    pil = sys.modules.get("PIL.Image")
    if callable(getattr(src, "read", None)) and not (pil is not None and isinstance(src, pil.Image)):
        return jpeg_source(src, max_bytes=max_bytes)
    return src


def jpeg_source(src: Source, *, max_bytes: int | None = None) -> bytes | bytearray | memoryview | str | os.PathLike:
    """What a source of a JPEG file is, as the bytes or the path that libjpeg reads.

    The one place that decides what counts as a JPEG source (:func:`read_coefficients`, and so
    :func:`~qgac_fast.correct` and :class:`~qgac_fast.Corrector`, all take it through here):

    * ``bytes``, ``bytearray``, ``memoryview``, other buffers, and 1-D uint8 numpy arrays or CPU
      tensors (``numpy.fromfile``, ``torchvision.io.read_file``): the file's bytes, as they are.
    * ``str`` / ``os.PathLike``: a path, as it is.
    * a binary file object (``open(path, "rb")``, ``io.BytesIO``...): read from its current
      position to its end, at most ``max_bytes`` (:func:`read_input`).
    * a ``PIL.JpegImagePlugin.JpegImageFile`` (``Image.open`` of a JPEG) whose pixels were not
      loaded yet: its file's bytes, from the start (its open file, else its ``filename``).

    Refused with ``TypeError``, the message saying why and what to pass instead: decoded pixels
    (other numpy arrays and tensors, PIL images that are not a JPEG file, and JPEG images whose
    pixels were loaded, reduced by ``draft`` or moved to another frame, since they may no longer
    be what the file holds), text-mode files, and anything else.

    Returns:
        A bytes-like object for ``_jpeg.read_buffer``, or a path for :func:`read_input`.

    Raises:
        TypeError: ``src`` is none of the above, a non-contiguous buffer, or a 1-D uint8 tensor that
            is not a dense CPU tensor (meta, sparse, CUDA).
        ValueError: a file object with nothing left to read (e.g. a ``BytesIO`` just written to:
            ``seek(0)`` first), or with more than ``max_bytes``.
    """
    if isinstance(src, (bytes, bytearray, str, os.PathLike)):
        return src
    if isinstance(src, memoryview):
        return _contiguous(src)
    kind = type(src).__name__
    if isinstance(src, torch.Tensor) and src.ndim == 1 and src.dtype == torch.uint8:
        if src.device.type != "cpu" or src.layout != torch.strided:  # meta holds no data; sparse has no buffer
            raise TypeError(f"got a uint8 tensor with layout {src.layout} on {src.device}: the file's bytes as a "
                            "tensor must be a dense CPU tensor (.cpu(), .to_dense())")
        return src.numpy()  # the file's bytes as a tensor
    if _is_numpy(src) and src.ndim == 1 and src.dtype == "uint8":
        return src  # the file's bytes as an array
    if isinstance(src, torch.Tensor) or _is_numpy(src):
        raise TypeError(f"got {kind} {src.dtype} {tuple(src.shape)}, which looks like decoded pixels: "
                        f"{_PIXELS_HINT}")
    pil = sys.modules.get("PIL.Image")  # a PIL image exists only if Pillow was imported
    if pil is not None and isinstance(src, pil.Image):
        return _pil_jpeg_source(src, max_bytes)
    if isinstance(src, io.TextIOBase):  # its read() would decode the JPEG's bytes as text
        raise TypeError(f"got a file opened in text mode ({kind}): open the JPEG in binary mode ('rb')")
    if callable(getattr(src, "read", None)):
        position = _tell(src)
        data = _read_bounded(src, max_bytes, None)
        if not data and position:
            raise ValueError(f"the {kind} is at its end (position {position}), nothing left to read: seek(0) first")
        return data
    try:
        view = memoryview(src)  # any other object exposing the buffer protocol (array.array, mmap...)
    except TypeError:
        raise TypeError(f"cannot read a JPEG from an object of type {kind}: pass the JPEG's path, its bytes or "
                        "the file opened in binary mode") from None
    return _contiguous(view)


def _contiguous(view: memoryview) -> memoryview:
    """``view``, refused with a ``TypeError`` unless its bytes are one contiguous run (libjpeg reads a
    buffer's memory as it lies; a strided view such as ``memoryview(data)[::2]`` skips bytes)."""
    if not view.c_contiguous:
        raise TypeError("got a non-contiguous buffer (a strided memoryview): pass bytes(view) or a contiguous buffer")
    return view


def _is_numpy(src) -> bool:
    numpy = sys.modules.get("numpy")  # no array exists unless numpy was imported
    return numpy is not None and isinstance(src, numpy.ndarray)


def _tell(file) -> int | None:
    try:
        return file.tell()
    except (AttributeError, OSError, ValueError):  # unseekable (a pipe, a socket) or closed
        return None


def _pil_jpeg_source(image, max_bytes: int | None) -> bytes | str:
    """The JPEG file behind a Pillow image while its pixels are still the file's (:func:`jpeg_source`)."""
    kind, fmt = type(image).__name__, getattr(image, "format", None)
    if fmt not in ("JPEG", "MPO"):  # MPO: a multi-picture JPEG (camera files), frame 0 is the JPEG
        source = f"a {fmt} file" if fmt else "decoded or generated pixels"
        raise TypeError(f"got a PIL image of {source} ({kind}, mode {image.mode}): {_PIXELS_HINT}")
    filename = getattr(image, "filename", "") or ""
    # Loading empties tile (and Pillow then closes a file it opened itself); from then on the
    # pixels can be changed in place (paste, putpixel, ImageDraw) with nothing to tell, so the
    # file's bytes might not be this image. draft() and seek() change it before any loading.
    if not image.tile:
        why = "its pixels were already loaded, and may have been changed since"
    elif getattr(image, "decoderconfig", ()):
        why = "draft() changed its size or mode"
    elif image.tell() != 0:
        why = f"it is frame {image.tell()} of the file, not the JPEG itself"
    else:
        why = None
    if why is not None:
        hint = f" (here {filename!r})" if filename else ""
        raise TypeError(f"got a PIL JPEG image whose pixels may not be its file's: {why}; {_PIXELS_HINT}{hint}")
    fp = getattr(image, "fp", None)
    if fp is not None and not getattr(fp, "closed", False):
        position = fp.tell()
        try:
            fp.seek(0)  # Image.open reads a file object from its start
            return _read_bounded(fp, max_bytes, None)
        finally:
            fp.seek(position)  # where Pillow reads on from when the image loads
    if filename:
        return filename
    raise TypeError(f"got a PIL JPEG image whose file is closed and that has no filename: {_PIXELS_HINT}")


def read_coefficients(src: Source, *, strict: bool = True, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                      max_pixels_per_byte: int | None = DEFAULT_MAX_PIXELS_PER_BYTE) -> JPEGCoefficients:
    """Read a JPEG's quantized DCT coefficients, quantization tables and layout.

    Args:
        src: the JPEG file's bytes (``bytes``, ``bytearray``, ``memoryview`` or any contiguous
            buffer), a path (``str`` / ``os.PathLike``: :func:`read_input`, which refuses devices),
            a file object opened in binary mode (read from its position), or a not yet loaded PIL
            JPEG image; see :func:`jpeg_source`. Decoded pixels are refused (``TypeError``). A path
            or a file is read to at most :func:`input_byte_limit` of ``max_pixels`` bytes.
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
        TypeError: ``src`` is not a JPEG source (decoded pixels...; :func:`jpeg_source`).
        JPEGError: not a JPEG, corrupt or truncated data (strict; when ``strict=False`` would read
            the file, the message ends with :data:`~qgac_fast.errors.RECOVERABLE`), or above
            ``max_pixels`` or ``max_pixels_per_byte``.
        ValueError: a path or file larger than :func:`input_byte_limit`, or a device.
        UnsupportedJPEGError: CMYK/YCCK, 12-bit, lossless or hierarchical JPEGs.
        OSError: the path cannot be read (``FileNotFoundError``, ``IsADirectoryError``...).
        MemoryError: the arrays cannot be allocated.
    """
    limits = _limit("max_pixels", max_pixels), _limit("max_pixels_per_byte", max_pixels_per_byte)
    max_bytes = input_byte_limit(max_pixels)
    src = jpeg_source(src, max_bytes=max_bytes)
    if isinstance(src, (str, os.PathLike)):
        src = read_input(src, max_bytes)
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
    srcs: Iterable[Source],
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
    _limit("max_pixels", max_pixels)
    _limit("max_pixels_per_byte", max_pixels_per_byte)

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
    if upsampling not in ("fancy", "nearest"):
        raise ValueError(f"upsampling must be 'fancy' or 'nearest', got {upsampling!r}")
    if not isinstance(jc, JPEGCoefficients):
        raise TypeError(f"decode_pixels needs a JPEGCoefficients, got {type(jc).__name__}")
    pixels = _jpeg.decode_pixels(*_frame(jc), upsampling == "fancy")
    return torch.from_numpy(pixels)
