"""The blind path: decoded pixels in, the JPEG coefficients the model corrects out.

An image that is no longer a JPEG file (a PNG screenshot of a JPEG, a numpy array, a PIL image)
goes: :func:`~qgac_fast.estimate.estimate_quantization` (grid, layout, tables) -> edge padding so
that the image's grid starts at pixel (0, 0) -> libjpeg's encode with the estimated tables
(:func:`qgac_fast.functional.jpeg.encode`: on the right grid it gives back the coefficients the
JPEG had, up to rounding) -> the usual correction step -> the padding cropped off. An image with
no JPEG history found is returned as it came: correcting it could only make it worse; so are the
8x8 blocks of a decoded JPEG that were edited afterwards (off the lattice, :func:`_edited`).
A JPEG file whose first compression was on a grid shifted against its own takes the same way, on
the first grid (:func:`qgac_fast.primary.find_shifted_primary`).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import struct
import sys
import tempfile
import threading
import warnings
import zlib
from dataclasses import dataclass, replace

import torch

from .errors import ImageError
from .estimate import DEEP_SAMPLES_HINT, QuantizationEstimate, estimate_quantization, image_tensor
from .functional.checks import SUBSAMPLING_FACTORS
from .functional.color import rgb_to_ycbcr_libjpeg
from .functional.sampling import pad_edges, unfancy
from .metadata import EXIF_HEADER
from .options import DEFAULT_MAX_PIXELS, DEFAULT_MAX_PIXELS_PER_BYTE
from .sources import check_pixel_limits

__all__ = ["BlindInput", "DecodedImage", "decoded_pixels", "prepare"]

_JPEG_MAGIC = b"\xff\xd8\xff"
_PILLOW_WARNINGS = threading.Lock()  # see _quiet_pillow
_DECLIP_ROUNDS = 4
# Distance (root sum of squares over the 64 luma coefficients) from a block's DCT to the lattice
# beyond which it was not decoded from this JPEG. Blocks of decoded JPEGs without clipped pixels
# stay within a few units (rounding); on 6 BSDS500 train images at qualities 10, 30, 50 and 90 none
# came above 16, while blocks crossed by a grey line drawn after decoding are far above.
_EDITED = 16.0


@dataclass
class BlindInput:
    """One decoded image made ready for the model.

    Attributes:
        pixels: the input, uint8 ``(C, H, W)`` (C = 3 RGB or 1 gray) on the CPU.
        estimate: what :func:`~qgac_fast.estimate.estimate_quantization` found.
        coefficients: the padded image encoded with the estimated tables
            (:class:`~qgac_fast.JPEGCoefficients`), or None when nothing is to be corrected.
        crop: ``(top, left)`` padding rows and columns to cut from the corrected image.
        icc_profile: the file's ICC profile, when it had one (carried to the output).
        keep: bool ``(H, W)``, the pixels of 8x8 blocks that are not a decoded JPEG block (edited
            after decoding: text, drawn shapes) and come back as they were, or None.
        alpha: uint8 ``(1, H, W)`` transparency (:class:`DecodedImage`), appended to the output, or None.
    """

    pixels: torch.Tensor
    estimate: QuantizationEstimate
    coefficients: object | None
    crop: tuple[int, int] = (0, 0)
    icc_profile: bytes | None = None
    keep: torch.Tensor | None = None
    alpha: torch.Tensor | None = None

    def finish(self, image: torch.Tensor) -> torch.Tensor:
        """The model's output for the padded image, uint8 ``(C', H', W')`` on any device, cut back
        to the input's size, alignment and channels (edited blocks: the input's), on that device;
        with ``alpha`` appended as the last channel (RGBA, or gray + alpha) when there is one.
        ``finish(pixels)`` is the input itself, as a result."""
        top, left = self.crop
        _, height, width = self.pixels.shape
        image = image[:, top:top + height, left:left + width]
        if image.shape[0] != self.pixels.shape[0]:  # an RGB image with equal channels was corrected as gray
            image = image.expand(self.pixels.shape[0], -1, -1)
        if self.keep is not None:  # on the model's device (the engine copies the result to the host after)
            image = torch.where(self.keep.to(image.device), self.pixels.to(image.device), image)
        if self.alpha is not None:
            image = torch.cat([image, self.alpha.to(image.device)])
        return image.contiguous()


@dataclass
class DecodedImage:
    """A decoded image as the blind path takes it (:func:`decoded_pixels`).

    Attributes:
        pixels: uint8 ``(C, H, W)``, C = 3 RGB or 1 gray, on the CPU: what is corrected.
        alpha: uint8 ``(1, H, W)``, the image's transparency, copied to the output as it is; None
            when it has none or is opaque throughout.
        exif: the file's EXIF block (the TIFF structure, as :attr:`~qgac_fast.JPEGCoefficients.exif`;
            its Orientation is what ``apply_orientation`` turns by), or None.
        icc_profile: the file's ICC profile, or None.
    """

    pixels: torch.Tensor
    alpha: torch.Tensor | None = None
    exif: bytes | None = None
    icc_profile: bytes | None = None


def decoded_pixels(source, *, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                   max_pixels_per_byte: int | None = DEFAULT_MAX_PIXELS_PER_BYTE) -> DecodedImage | None:
    """The decoded image ``source`` is, or None when it is a JPEG source.

    Decoded images: numpy arrays and tensors other than the 1-D uint8 ones that hold a file's
    bytes (numpy ``(H, W, 4)``: RGBA), PIL images other than a JPEG file not yet loaded
    (:func:`~qgac_fast.sources.jpeg_source`), and the bytes of image files that are not JPEG files
    (PNG, BMP, TIFF, WebP, GIF..., anything Pillow reads). Paths and open files are read first,
    once (:func:`~qgac_fast.sources.read_source`), so that their bytes serve both this and
    :func:`~qgac_fast.read_coefficients`.

    A file's declared size is checked against ``max_pixels`` and ``max_pixels_per_byte`` (of its
    bytes; as :func:`~qgac_fast.sources.check_pixel_limits`) from its header, before its pixels are
    decoded; a PIL image not yet loaded against ``max_pixels``; pixels in memory against
    ``max_pixels``. Pillow's own decompression-bomb warning is not printed: these limits decide.

    Raises:
        TypeError: a path or an open file (read it first), or pixels of an unusable type.
        ValueError: pixels of an unusable layout, more than 8 bits per sample (16-bit PNG and TIFF,
            refused whatever their channels), or above the limits.
        qgac_fast.ImageError: a file Pillow recognises but cannot decode (truncated, corrupt, a
            header it does not support, above ``2 * PIL.Image.MAX_IMAGE_PIXELS``). A file Pillow
            cannot identify is taken as a JPEG source (None), so that libjpeg's error names what is
            wrong with it.
    """
    if isinstance(source, (str, os.PathLike)) or callable(getattr(source, "read", None)):
        raise TypeError(f"decoded_pixels takes what is in memory, not a {type(source).__name__}: read it once with "
                        "qgac_fast.sources.read_source first")
    if isinstance(source, torch.Tensor) or type(source).__module__ == "numpy":
        if source.ndim == 1 and source.dtype in (torch.uint8, "uint8"):
            return None  # a file's bytes
        alpha = None
        if type(source).__module__ == "numpy" and source.ndim == 3 and source.shape[2] == 4:
            source, alpha = source[..., :3], _opaque_none(torch.from_numpy(source[..., 3].copy())[None])
        pixels = image_tensor(source)
        check_pixel_limits(pixels.shape[2], pixels.shape[1], None, max_pixels, None)
        return DecodedImage(pixels, alpha)
    pil = sys.modules.get("PIL.Image")
    if pil is not None and isinstance(source, pil.Image):
        if getattr(source, "format", None) in ("JPEG", "MPO") and source.tile:
            return None  # the JPEG file itself, read from its file (jpeg_source)
        return _from_pil(source, None, max_pixels, None)
    if isinstance(source, memoryview) and not source.c_contiguous:
        return None  # not a file's bytes: jpeg_source says so
    if isinstance(source, (bytes, bytearray, memoryview)) and bytes(source[:3]) != _JPEG_MAGIC:
        return _open_image(source, max_pixels, max_pixels_per_byte)
    return None


def _open_image(data, max_pixels: int | None, max_pixels_per_byte: int | None) -> DecodedImage | None:
    """The image file of bytes ``data`` that Pillow reads, or None (then libjpeg says what the file is not).

    Raises:
        qgac_fast.ImageError: Pillow recognised the format but could not decode the file.
        ValueError: above the limits, or more than 8 bits per sample (:func:`_from_pil`).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with _quiet_pillow():
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        return None
    except Image.DecompressionBombError as error:  # above twice Pillow's limit: it refuses to open it
        raise ImageError(f"refusing a possible decompression bomb: {error} (PIL.Image.MAX_IMAGE_PIXELS)") from None
    except _UNDECODABLE as error:  # a plugin took the file and refused its header
        raise ImageError(f"cannot decode this image file: {error}") from None
    with image:
        return _from_pil(image, len(data), max_pixels, max_pixels_per_byte)


#: What Pillow's format plugins and decoders raise on bad data once a plugin has taken the file (a
#: bad header, truncated or corrupt data); anything else is a Pillow bug and propagates.
_UNDECODABLE = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error)


def _load(image) -> None:
    """Decode a PIL image file's pixels.

    Raises:
        qgac_fast.ImageError: Pillow (or libtiff) could not decode them.
    """
    from PIL import Image

    try:
        if image.format == "TIFF":
            _load_tiff(image)
        else:
            image.load()
    except ImageError:
        raise
    except (*_UNDECODABLE, Image.DecompressionBombError) as error:
        raise ImageError(f"cannot decode this {image.format} file: {error}") from None


_STDERR = threading.Lock()  # one capture of file descriptor 2 at a time


def _load_tiff(image) -> None:
    """``image.load()`` of a TIFF image, with what libtiff prints kept off stderr.

    Pillow decodes compressed TIFF files with libtiff and leaves its error and warning handlers at
    their defaults, which print straight to file descriptor 2 (``ZIPDecode: Decoding error at
    scanline 0, ...``) while Pillow raises a bare ``OSError("decoder error -2")``. So the load runs
    with descriptor 2 sent to a temporary file: a failure raises ``ImageError`` with libtiff's
    message; after a success what was printed (warnings, or another thread's output meanwhile) is
    printed after all.
    """
    with _STDERR, tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            image.load()
            failure = None
        except OSError as error:
            failure = error
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        printed = capture.read().decode(errors="replace")
    if failure is not None:
        message = "; ".join(line.strip() for line in printed.splitlines() if line.strip()) or str(failure)
        raise ImageError(f"cannot decode this TIFF file: {message}") from None
    if printed:
        sys.stderr.write(printed)


def _from_pil(image, size: int | None, max_pixels: int | None, max_pixels_per_byte: int | None) -> DecodedImage:
    """A PIL image's pixels, transparency and metadata; the limits are checked (``size``: the file's
    bytes, when known) before a not yet loaded image is decoded."""
    from PIL import Image

    width, height = image.size
    check_pixel_limits(width, height, size, max_pixels, max_pixels_per_byte)
    if getattr(image, "tile", None):  # an image file not yet decoded (not one built from pixels)
        _check_depth(image)
        # Pillow checks its limit again while decoding some formats (TIFF, GIF): keep it quiet there too
        big = Image.MAX_IMAGE_PIXELS is not None and width * height > Image.MAX_IMAGE_PIXELS
        with _quiet_pillow() if big else contextlib.nullcontext():
            _load(image)
    if image.has_transparency_data:
        import numpy

        array = numpy.asarray(image.convert("LA" if image.mode in ("1", "L", "LA", "La") else "RGBA"))
        pixels = image_tensor(numpy.ascontiguousarray(array[..., :-1] if array.shape[2] == 4 else array[..., 0]))
        alpha = _opaque_none(torch.from_numpy(array[..., -1].copy())[None])
    else:
        pixels, alpha = image_tensor(image), None
    return DecodedImage(pixels, alpha, _exif(image), image.info.get("icc_profile") or None)


def _opaque_none(alpha: torch.Tensor) -> torch.Tensor | None:
    """``alpha``, or None when every pixel is opaque (255): nothing for an output to carry."""
    return None if bool((alpha == 255).all()) else alpha


def _check_depth(image) -> None:
    """Refuse an image whose file holds more than 8 bits per sample (before it is decoded): Pillow
    would give a 16-bit gray image as mode I;16 but cut 16-bit RGB and RGBA to their high bytes, so
    both are refused alike, rather than one corrected (or written "unchanged") with its low bytes gone."""
    args = image.tile[0].args
    rawmode = args if isinstance(args, str) else args[0] if isinstance(args, tuple) and args else ""
    if image.mode.startswith(("I", "F")) or re.search(r";16[BLN]$", str(rawmode)):
        raise ValueError(f"a {image.format} image of {rawmode or image.mode} samples has more than 8 bits per sample: "
                         f"{DEEP_SAMPLES_HINT}")


def _exif(image) -> bytes | None:
    """The image file's own EXIF block (PNG eXIf, WebP EXIF chunk) byte for byte, as a TIFF
    structure (without ``"Exif\\0\\0"``), or None. A TIFF's Orientation is a tag of its own, which
    Pillow applies to the pixels as it decodes them: they come upright, with nothing to carry."""
    exif = image.info.get("exif")
    if not exif:
        return None
    return bytes(exif[len(EXIF_HEADER):] if exif.startswith(EXIF_HEADER) else exif)


@contextlib.contextmanager
def _quiet_pillow():
    """Pillow's ``DecompressionBombWarning`` silenced: :func:`decoded_pixels` checks its own limits
    instead (Pillow's ``DecompressionBombError``, at twice its limit, still comes). ``catch_warnings``
    changes the process's warning filters, so one thread at a time."""
    from PIL import Image

    with _PILLOW_WARNINGS, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield




def prepare(pixels: torch.Tensor, icc_profile: bytes | None = None,
            estimate: QuantizationEstimate | None = None, *, find_edited: bool = True,
            alpha: torch.Tensor | None = None) -> BlindInput:
    """Estimate the quantization of ``pixels`` (uint8 ``(C, H, W)``) and encode them on its grid
    (``alpha``, uint8 ``(1, H, W)`` or None, is carried to :meth:`BlindInput.finish`).

    The image is padded by edge replication at the top and left so that its 8x8 grid (16 pixels
    along an axis that a subsampled layout halves) starts at pixel (0, 0), then encoded as libjpeg does with the estimated
    tables and layout. With no JPEG history found, ``coefficients`` is None. ``find_edited``: look
    for blocks edited after decoding (:func:`_edited`); off for pixels compressed again after (a
    shifted primary, :mod:`qgac_fast.primary`), whose every block is off the lattice by that rounding.
    """
    from .functional.jpeg import encode

    estimate = estimate or estimate_quantization(pixels)
    if not estimate.found:
        return BlindInput(pixels, estimate, None, icc_profile=icc_profile, alpha=alpha)
    fx, fy = SUBSAMPLING_FACTORS.get(estimate.subsampling, (1, 1))  # gray: (1, 1)
    my, mx = estimate.mcu_offset
    top, left = (8 * fy - my) % (8 * fy), (8 * fx - mx) % (8 * fx)
    _, height, width = pixels.shape
    rows = torch.arange(-top, height).clamp_(min=0)
    cols = torch.arange(-left, width).clamp_(min=0)
    padded = pixels.index_select(1, rows).index_select(2, cols)
    tables = [estimate.luma] if estimate.chroma is None else [estimate.luma, estimate.chroma]
    if estimate.subsampling == "gray":
        # equal channels: Y is that channel (libjpeg's weights sum to one)
        coefficients = _declip(encode(padded[:1], tables, "gray"), padded)
    else:
        coefficients = encode(_samples(padded, estimate.subsampling), tables, estimate.subsampling, ycbcr=True)
        coefficients = _declip(coefficients, padded)
    keep = _edited(coefficients, padded, top, left) if find_edited else None
    keep = None if keep is None else keep[top:top + pixels.shape[1], left:left + pixels.shape[2]]
    return BlindInput(pixels, estimate, coefficients, (top, left), icc_profile, keep, alpha)


def _samples(rgb: torch.Tensor, subsampling: str) -> torch.Tensor:
    """uint8 ``(3, H, W)`` Y, Cb, Cr of the padded image (grid at (0, 0)) for the encoder. For a
    subsampled layout (4:2:0, 4:2:2, 4:4:0) the chroma is libjpeg's fancy upsampling undone along the
    halved axes, then doubled by replication: the encoder's box filter then gives back the chroma
    samples the JPEG had, where averaging the upsampled samples would blur them (its mean of each
    pair is a [1, 6, 1] / 8 filter)."""
    ycc = rgb_to_ycbcr_libjpeg(rgb)
    fx, fy = SUBSAMPLING_FACTORS[subsampling]
    if (fx, fy) == (1, 1):
        return ycc
    height, width = ycc.shape[1:]
    half = ycc[1:].to(torch.float32)
    if fx == 2:
        half = unfancy(half, -1)
    if fy == 2:
        half = unfancy(half, -2)
    half = half.round().clamp(0, 255).to(torch.uint8).repeat_interleave(fy, 1).repeat_interleave(fx, 2)
    chroma = pad_edges(half, height, width)[:, :height, :width]  # an odd last row or column: replicated
    return torch.cat([ycc[:1], chroma])


def _declip(jc, rgb: torch.Tensor, rounds: int = _DECLIP_ROUNDS):
    """``jc`` with the luma of the blocks that hold clipped pixels (0 or 255 in a channel of ``rgb``,
    uint8 ``(C, H, W)``) made consistent with both the lattice and the clipping.

    The decoder clipped values the JPEG's coefficients put outside 0..255, so such a block's
    samples are off the lattice and re-quantize to other coefficients than the file's. Alternating
    projections recover them: decode the block without clipping, bring each sample back into what
    the pixel allows (its own value where no channel clipped, at least that where one clipped at
    255, at most where one clipped at 0), transform and quantize again.
    """
    from .functional.quantization import round_half_away_from_zero
    from .functional.transform import block_dct, block_idct, blockify

    luma = jc.coefficients[0]
    height, width = rgb.shape[1:]
    hb, wb = height // 8, width // 8  # whole blocks inside the image (edge blocks were padded by the encoder)
    high, low = (rgb == 255).any(0)[:8 * hb, :8 * wb], (rgb == 0).any(0)[:8 * hb, :8 * wb]
    touched = blockify(high | low).flatten(-2).any(-1)  # (hb, wb)
    if not bool(touched.any()):
        return jc
    where = touched.nonzero(as_tuple=True)
    y = rgb.to(torch.int32) if rgb.shape[0] == 1 else rgb_to_ycbcr_libjpeg(rgb)
    observed = blockify(y[0, :8 * hb, :8 * wb].to(torch.float64))[where]
    high, low = blockify(high)[where], blockify(low)[where]
    low_bound = torch.where(low, -torch.inf, observed - 0.5)  # a channel clipped at 0: Y may be lower
    high_bound = torch.where(high, torch.inf, observed + 0.5)  # one clipped at 255: Y may be higher
    table = jc.quantization[0].to(torch.float64)
    q = luma[where].to(torch.float64)
    for _ in range(rounds):
        samples = block_idct(q * table) + 128
        samples = torch.maximum(torch.minimum(samples, high_bound), low_bound)
        q = round_half_away_from_zero(block_dct(samples - 128) / table)
    luma = luma.clone()
    luma[where] = q.clamp(-1024, 1023).to(luma.dtype)
    return replace(jc, coefficients=(luma, *jc.coefficients[1:]))


def _edited(jc, rgb: torch.Tensor, top: int, left: int) -> torch.Tensor | None:
    """bool ``(H, W)`` over ``rgb`` (uint8 ``(C, H, W)``, the padded image ``jc`` encodes, ``top``
    rows and ``left`` columns of it padding): the pixels of the whole 8x8 blocks whose luma is too
    far from the lattice (``_EDITED``) to be a decoded JPEG block, except those with clipped or
    padding pixels (which explain their distance); None when there are none. Correcting such a block
    would re-quantize what was drawn on it."""
    from .functional.transform import block_dct, blockify

    height, width = rgb.shape[1:]
    hb, wb = height // 8, width // 8
    y = rgb[0] if rgb.shape[0] == 1 else rgb_to_ycbcr_libjpeg(rgb)[0]
    coefficients = block_dct(blockify(y[:8 * hb, :8 * wb].to(torch.float64) - 128))
    lattice = jc.coefficients[0][:hb, :wb].to(torch.float64) * jc.quantization[0].to(torch.float64)
    distance = (coefficients - lattice).square().sum((-1, -2)).sqrt()
    clipped = blockify(((rgb == 0) | (rgb == 255)).any(0)[:8 * hb, :8 * wb]).flatten(-2).any(-1)
    edited = (distance > _EDITED) & ~clipped
    edited[:-(-top // 8)] = False  # blocks holding padding rows or columns
    edited[:, :-(-left // 8)] = False
    if not bool(edited.any()):
        return None
    mask = torch.zeros(height, width, dtype=torch.bool)
    mask[:8 * hb, :8 * wb] = edited.repeat_interleave(8, 0).repeat_interleave(8, 1)
    return mask
