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

import io
import os
import struct
import sys
import tempfile
import threading
import zlib
from dataclasses import dataclass, replace

import torch

from .errors import ImageError
from .estimate import QuantizationEstimate, estimate_quantization, image_tensor
from .functional.checks import SUBSAMPLING_FACTORS
from .functional.color import rgb_to_ycbcr_libjpeg
from .functional.sampling import pad_edges, unfancy

__all__ = ["BlindInput", "decoded_pixels", "prepare"]

_JPEG_MAGIC = b"\xff\xd8\xff"
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
    """

    pixels: torch.Tensor
    estimate: QuantizationEstimate
    coefficients: object | None
    crop: tuple[int, int] = (0, 0)
    icc_profile: bytes | None = None
    keep: torch.Tensor | None = None

    def finish(self, image: torch.Tensor) -> torch.Tensor:
        """The model's output for the padded image, uint8 ``(C', H', W')`` on any device, cut back
        to the input's size, alignment and channels (edited blocks: the input's), on that device."""
        top, left = self.crop
        _, height, width = self.pixels.shape
        image = image[:, top:top + height, left:left + width]
        if image.shape[0] != self.pixels.shape[0]:  # an RGB image with equal channels was corrected as gray
            image = image.expand(self.pixels.shape[0], -1, -1)
        if self.keep is not None:  # on the model's device (the engine copies the result to the host after)
            image = torch.where(self.keep.to(image.device), self.pixels.to(image.device), image)
        return image.contiguous()


def decoded_pixels(source) -> tuple[torch.Tensor, bytes | None] | None:
    """``(pixels, icc_profile)`` when ``source`` is a decoded image, else None (a JPEG source).

    Decoded images: numpy arrays and tensors other than the 1-D uint8 ones that hold a file's
    bytes, PIL images other than a JPEG file not yet loaded (:func:`~qgac_fast.codec.jpeg_source`),
    and paths or bytes of image files that are not JPEG files (PNG, BMP, TIFF, WebP..., anything
    Pillow reads). Pixels are uint8 ``(3, H, W)`` RGB or ``(1, H, W)`` gray
    (:func:`~qgac_fast.estimate.image_tensor`).

    Raises:
        TypeError, ValueError: pixels of an unusable type or layout (the message says what to
            pass); ``OSError``: an unreadable path. A file Pillow does not recognise is taken as a
            JPEG source (None), so that libjpeg's error names what is wrong with it.
        qgac_fast.ImageError: a file Pillow recognises but cannot decode (truncated, corrupt, a
            header it does not support, above its decompression-bomb limit).
    """
    if isinstance(source, torch.Tensor) or type(source).__module__ == "numpy":
        if source.ndim == 1 and source.dtype in (torch.uint8, "uint8"):
            return None  # a file's bytes
        return image_tensor(source), None
    pil = sys.modules.get("PIL.Image")
    if pil is not None and isinstance(source, pil.Image):
        if getattr(source, "format", None) in ("JPEG", "MPO") and source.tile:
            return None  # the JPEG file itself, read from its file (jpeg_source)
        return image_tensor(source), source.info.get("icc_profile")
    if isinstance(source, (str, os.PathLike)) and not os.path.isdir(source):
        with open(source, "rb") as file:
            if file.read(3) == _JPEG_MAGIC:
                return None
        return _open_image(source)
    if isinstance(source, memoryview) and not source.c_contiguous:
        return None  # not a file's bytes: jpeg_source says so
    if isinstance(source, (bytes, bytearray, memoryview)) and bytes(source[:3]) != _JPEG_MAGIC:
        return _open_image(io.BytesIO(source))
    return None


def _open_image(file) -> tuple[torch.Tensor, bytes | None] | None:
    """The pixels and ICC profile of an image file Pillow reads, or None (then libjpeg says what the
    file is not).

    Raises:
        qgac_fast.ImageError: Pillow recognised the format but could not decode the file.
    """
    from PIL import Image, UnidentifiedImageError

    # What Pillow's format plugins and decoders raise on bad data, once a plugin has taken the file
    # (a bad header, truncated or corrupt data, a bomb); anything else is a Pillow bug and propagates.
    undecodable = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, Image.DecompressionBombError)
    try:
        image = Image.open(file)
    except UnidentifiedImageError:
        return None
    except Image.DecompressionBombError as error:
        raise ImageError(f"refusing a possible decompression bomb: {error}") from None
    except undecodable as error:  # a plugin took the file and refused its header
        raise ImageError(f"cannot decode this image file: {error}") from None
    with image:
        try:
            if image.format == "TIFF":
                _load_tiff(image)
            else:
                image.load()
        except ImageError:
            raise
        except undecodable as error:
            raise ImageError(f"cannot decode this {image.format} file: {error}") from None
        return image_tensor(image), image.info.get("icc_profile")


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


def prepare(pixels: torch.Tensor, icc_profile: bytes | None = None,
            estimate: QuantizationEstimate | None = None, *, find_edited: bool = True) -> BlindInput:
    """Estimate the quantization of ``pixels`` (uint8 ``(C, H, W)``) and encode them on its grid.

    The image is padded by edge replication at the top and left so that its 8x8 grid (16 pixels
    along an axis that a subsampled layout halves) starts at pixel (0, 0), then encoded as libjpeg does with the estimated
    tables and layout. With no JPEG history found, ``coefficients`` is None. ``find_edited``: look
    for blocks edited after decoding (:func:`_edited`); off for pixels compressed again after (a
    shifted primary, :mod:`qgac_fast.primary`), whose every block is off the lattice by that rounding.
    """
    from .functional.jpeg import encode

    estimate = estimate or estimate_quantization(pixels)
    if not estimate.found:
        return BlindInput(pixels, estimate, None, icc_profile=icc_profile)
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
    return BlindInput(pixels, estimate, coefficients, (top, left), icc_profile, keep)


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
