"""What the engine returns: one :class:`CorrectionResult` per input, one :class:`FileResult` per file."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from ..options import DEFAULT_PNG_LEVEL
from .encoding import encode_image, format_of, hwc, jpeg_subsampling

__all__ = ["CorrectionResult", "FileResult", "display", "reason", "source_path"]


@dataclass
class CorrectionResult:
    """The correction of one input.

    Attributes:
        index: position in the input sequence.
        source: the input as given (path, bytes or coefficients).
        image: uint8 ``(3, H, W)`` RGB (``(1, H, W)`` gray) on the CPU, or None on failure; a
            decoded image with transparency has its alpha appended, unchanged: ``(4, H, W)`` RGBA
            (``(2, H, W)`` gray + alpha).
        error: the exception that stopped this input (``JPEGError``, ``OSError``...), or None.
        size: ``(height, width)`` when known.
        tiles: number of model windows the image took (1: whole; 0: not corrected).
        subsampling: the input JPEG's layout (:attr:`~qgac_fast.JPEGCoefficients.subsampling`,
            e.g. ``"4:2:0"``, ``"gray"``) when it was read; a JPEG output keeps it.
        exif, icc_profile: the input's EXIF block (TIFF structure) and ICC profile
            (:attr:`~qgac_fast.JPEGCoefficients.exif`, ``.icc_profile``; a decoded image's:
            :class:`~qgac_fast.blind.DecodedImage`), None when it has none;
            written files carry them. ``image`` is as stored in the file: the EXIF Orientation
            is not applied (:func:`~qgac_fast.metadata.apply_orientation`).
        estimate: for a decoded image (the blind path), what
            :func:`~qgac_fast.estimate_quantization` found; when it found no JPEG history,
            ``image`` is the input unchanged (``tiles`` 0). None for JPEG inputs.
        primary: for a twice-compressed JPEG corrected with its first, coarser quantization
            (``table="auto"`` or ``"primary"``), that table
            (:class:`~qgac_fast.primary.PrimaryTable`); None when the file's table was used.
    """

    index: int
    source: Any
    image: torch.Tensor | None = None
    error: BaseException | None = None
    size: tuple[int, int] | None = None
    tiles: int = 0
    subsampling: str | None = None
    exif: bytes | None = field(default=None, repr=False)
    icc_profile: bytes | None = field(default=None, repr=False)
    ready: Any = field(default=None, repr=False, compare=False)  # CUDA event of the async copy to the host
    estimate: Any = field(default=None, repr=False)
    primary: Any = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def megapixels(self) -> float:
        return 0.0 if self.size is None else self.size[0] * self.size[1] / 1e6

    @property
    def reason(self) -> str | None:
        """The error as a short human-readable reason (``OSError``: its strerror)."""
        return None if self.error is None else reason(self.error)

    def pil(self):
        """The image as a ``PIL.Image.Image`` (mode ``"RGB"``, ``"L"`` for gray, ``"RGBA"`` and
        ``"LA"`` with alpha) carrying the input's metadata: ``info["exif"]`` (so ``getexif()`` reads
        its Orientation) and ``info["icc_profile"]`` when the input has them. The pixels are as
        stored (see ``exif``); :meth:`save` writes them with the metadata.

        Raises:
            the input's ``error`` when it failed.
        """
        if self.error is not None:
            raise self.error
        picture = Image.fromarray(hwc(self.image))
        if self.exif:
            picture.info["exif"] = self.exif
        if self.icc_profile:
            picture.info["icc_profile"] = self.icc_profile
        return picture

    def save(self, path: str | os.PathLike, format: str | None = None, *, jpeg_quality: int = 95,
             subsampling: str | None = None, webp_quality: int | None = None, png_level: int = DEFAULT_PNG_LEVEL,
             apply_orientation: bool = False) -> None:
        """Write the image to ``path`` with the input's EXIF and ICC profile, atomically, as
        :meth:`Corrector.correct_files <qgac_fast.Corrector.correct_files>` writes its outputs
        (:func:`~qgac_fast.inference.encoding.encode_image`, whose options these are).

        Args:
            format: ``"png"``, ``"jpeg"`` or ``"webp"``; default: from the suffix of ``path``
                (``.png``, ``.jpg`` or ``.jpeg``, ``.webp``, any case).
            subsampling: chroma subsampling of a JPEG; default: the input's own
                (:func:`~qgac_fast.inference.encoding.jpeg_subsampling`).

        Raises:
            the input's ``error`` when it failed; ``ValueError`` for a format that is neither given
            nor known from the suffix, or a bad option; ``OSError`` when the file cannot be written
            (nothing is left at ``path`` then).
        """
        if self.error is not None:
            raise self.error
        from ..atomic import write_atomic

        format = format_of(path) if format is None else format
        data = encode_image(self.image, format, jpeg_quality=jpeg_quality,
                            subsampling=subsampling or jpeg_subsampling(self.subsampling),
                            webp_quality=webp_quality, exif=self.exif, icc_profile=self.icc_profile,
                            png_level=png_level, apply_orientation=apply_orientation)
        write_atomic(os.fspath(path), data)

    def wait(self) -> None:
        """Block until ``image`` has arrived on the host (it is copied asynchronously from CUDA)."""
        if self.ready is not None:
            self.ready.synchronize()
            self.ready = None


@dataclass
class FileResult:
    """What :meth:`Corrector.correct_files` did with one input file.

    Attributes:
        input, output: the paths.
        status: ``"ok"`` (written), ``"skipped"`` (output existed, ``skip_existing``),
            ``"failed"`` (also a file not attempted because an earlier write to its output folder
            failed in a way this one would: ``not attempted: <that error>``), or ``"not_done"``
            (not attempted: an earlier write failed in a way every write would, such as a full disk).
        error: the reason of a failure (or why it was not done), else None.
        size: ``(height, width)`` when known.
        tiles: model windows used (see :class:`CorrectionResult`).
        stops: what the failure stops: ``"run"`` (every later file,
            :data:`~qgac_fast.inference.outputs.FATAL_WRITE_ERRORS`), ``"folder"`` (the later files
            bound for the same output folder, :data:`~qgac_fast.inference.outputs.FOLDER_WRITE_ERRORS`)
            or None.
        estimate: for a decoded image, the estimate's JSON
            (:meth:`~qgac_fast.estimate.QuantizationEstimate.to_json`), else None.
        table: for a JPEG, which table it was corrected with: ``{"used": "file"}``, or
            ``{"used": "primary", ...}`` with :meth:`~qgac_fast.primary.PrimaryTable.to_json`.
    """

    input: str
    output: str
    status: str
    error: str | None = None
    size: tuple[int, int] | None = None
    tiles: int = 0
    stops: str | None = field(default=None, compare=False)
    estimate: dict | None = None
    table: dict | None = None

    @property
    def megapixels(self) -> float:
        return 0.0 if self.size is None else self.size[0] * self.size[1] / 1e6

    def to_json(self) -> dict:
        return {"input": self.input, "output": self.output, "status": self.status, "error": self.error,
                "width": None if self.size is None else self.size[1],
                "height": None if self.size is None else self.size[0], "tiles": self.tiles,
                **({} if self.estimate is None else {"estimate": self.estimate}),
                **({} if self.table is None else {"table": self.table})}



def reason(error: BaseException) -> str:
    """An error as a short human-readable reason (``OSError``: its strerror)."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error)
    return text if text else type(error).__name__


def source_path(source: Any) -> str | None:
    """The file an input names: a path as given, the file name of an open file (``.name``) or of a
    PIL image (``.filename``); None for bytes, coefficients and unnamed files (``BytesIO``)."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    name = getattr(source, "name", None) or getattr(source, "filename", None)  # open files; PIL images
    if isinstance(name, (str, os.PathLike)) and os.fspath(name):
        return os.fspath(name)
    return None


def display(source: Any) -> str:
    """How an input is named in reports: the file it names (:func:`source_path`), or ``<type>``."""
    path = source_path(source)
    return f"<{type(source).__name__}>" if path is None else path
