"""The quantized DCT coefficients of one JPEG file: :class:`JPEGCoefficients`.

The container every layer of the JPEG path passes around: :func:`~qgac_fast.codec.read_coefficients`
returns it, :func:`~qgac_fast.codec.write_coefficients` writes it, the reference
:func:`~qgac_fast.functional.jpeg.encode` builds it and :func:`~qgac_fast.decode` decodes it. It
needs torch only (and :mod:`qgac_fast.metadata` for the EXIF and ICC views of its markers), so
the pure-PyTorch reference imports it without the libjpeg extension.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .metadata import exif_from_markers, icc_from_markers

__all__ = ["JPEGCoefficients"]

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

    As :func:`~qgac_fast.codec.read_coefficients` returns it, the tensors share memory with
    buffers the extension allocated (no copy was made).
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

