"""What a JPEG source is, and an input's bytes read once within the limits that guard against
decompression bombs.

* :func:`jpeg_source`: the one place that decides what counts as a JPEG source (bytes, a path, a
  binary file, a PIL JPEG image not yet loaded), and refuses decoded pixels with a hint.
* :func:`read_input` / :func:`read_source`: a path or an open file read once, to at most
  :func:`input_byte_limit` bytes (pipes and FIFOs too; devices are refused).
* :func:`check_pixel_limits` / :func:`check_limit`: the pixel limits (``max_pixels``,
  ``max_pixels_per_byte``) as :func:`~qgac_fast.codec.read_coefficients` applies them, for
  images of other formats and for the extension's arguments.

Plain Python and torch only: :mod:`qgac_fast.codec` hands what these give to libjpeg, and the
engine (:mod:`qgac_fast.inference.runner`), the blind path (:mod:`qgac_fast.blind`) and
``qgac-fast info`` read their inputs through here.
"""

from __future__ import annotations

import io
import os
import stat
import sys
from typing import IO, Union

import torch

__all__ = [
    "MAX_BYTES_PER_PIXEL",
    "METADATA_BYTES",
    "Source",
    "check_limit",
    "check_pixel_limits",
    "input_byte_limit",
    "jpeg_source",
    "read_input",
    "read_source",
]

#: Most bytes per pixel of ``max_pixels`` an input is read to (:func:`input_byte_limit`): a 16-bit
#: RGBA image stored uncompressed takes 8; a JPEG of uniform noise at quality 100, 4:4:4, 4.1.
MAX_BYTES_PER_PIXEL = 8
#: Bytes an input may hold beyond its pixels' share (:func:`input_byte_limit`): EXIF, ICC
#: profiles, XMP and thumbnails.
METADATA_BYTES = 16 * 2**20
_CHUNK = 2**20  # bytes per read of a stream, whose size is not known in advance
_LIMIT_WHY = (f"{MAX_BYTES_PER_PIXEL} bytes per pixel of the pixel limit max_pixels, plus "
              f"{METADATA_BYTES // 2**20} MiB: more than an image within it takes")

#: What :func:`~qgac_fast.codec.read_coefficients` reads: the file's bytes, its path, an open
#: binary file, or a ``PIL.JpegImagePlugin.JpegImageFile`` not yet decoded (see :func:`jpeg_source`).
Source = Union[bytes, bytearray, memoryview, str, os.PathLike, IO[bytes], "PIL.Image.Image"]

_PIXELS_HINT = ("the model needs the file's DCT coefficients and quantization tables, which decoded pixels no "
                "longer carry; pass the JPEG's path, its bytes or the file opened in binary mode (qgac_fast.correct "
                "takes decoded pixels too: it estimates the quantization they came from)")


def check_limit(name: str, value: int | None) -> int:
    """The pixel limit argument ``name`` (``max_pixels``, ``max_pixels_per_byte``) as the extension
    takes it: ``value`` itself, a positive int, or 0 for None (no limit).

    Raises:
        ValueError: anything else (a bool, a float, zero or less); the message names ``name``.
    """
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")
    return value


def check_pixel_limits(width: int, height: int, size: int | None, max_pixels: int | None,
                       max_pixels_per_byte: int | None) -> None:
    """The decompression-bomb guard of :func:`~qgac_fast.codec.read_coefficients` for an image of
    another format whose header declares ``width`` x ``height`` in ``size`` bytes (None: not known,
    the per-byte guard is skipped): the same limits and messages as libjpeg's reader there.

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


def input_byte_limit(max_pixels: int | None) -> int | None:
    """The most bytes an input is read to (a path, an open file) when images of at most
    ``max_pixels`` pixels are accepted: ``MAX_BYTES_PER_PIXEL`` per pixel plus
    ``METADATA_BYTES`` (2 GiB + 16 MiB at the default ``max_pixels``); None (no limit) for
    ``max_pixels=None``. Bytes beyond it cannot be an image the pixel limit accepts, so they are
    not read: a stream without end (``/dev/zero`` through a pipe) is refused after that many."""
    if max_pixels is None:
        return None
    return check_limit("max_pixels", max_pixels) * MAX_BYTES_PER_PIXEL + METADATA_BYTES


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

    The one place that decides what counts as a JPEG source
    (:func:`~qgac_fast.codec.read_coefficients`, and so :func:`~qgac_fast.correct` and
    :class:`~qgac_fast.Corrector`, all take it through here):

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
        A bytes-like object for libjpeg (the extension's ``read_buffer``), or a path for
        :func:`read_input`.

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
