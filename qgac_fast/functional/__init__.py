"""Reference JPEG operations in plain PyTorch: the specification every kernel is tested against."""

from .color import rgb_to_ycbcr, rgb_to_ycbcr_libjpeg, ycbcr_to_rgb, ycbcr_to_rgb_libjpeg
from .dct import (
    block_dct, block_idct, blockify, dct, dct_kron_matrix, dct_matrix, deblockify, fdct_islow, idct,
    idct_islow,
)
from .jpeg import SUBSAMPLING_FACTORS, coefficient_planes, decode, decode_planes, encode
from .quantize import dequantize, quantize, quantize_scaled, round_half_away_from_zero, tile_table
from .sampling import (
    dct_upsample_matrix, dct_upsample_nearest, dct_upsample_operator, downsample, pad_edges, upsample,
)

__all__ = [
    "SUBSAMPLING_FACTORS",
    "block_dct",
    "block_idct",
    "blockify",
    "coefficient_planes",
    "dct",
    "dct_kron_matrix",
    "dct_matrix",
    "dct_upsample_matrix",
    "dct_upsample_nearest",
    "dct_upsample_operator",
    "deblockify",
    "decode",
    "decode_planes",
    "dequantize",
    "downsample",
    "encode",
    "fdct_islow",
    "idct",
    "idct_islow",
    "pad_edges",
    "quantize",
    "quantize_scaled",
    "rgb_to_ycbcr",
    "rgb_to_ycbcr_libjpeg",
    "round_half_away_from_zero",
    "tile_table",
    "upsample",
    "ycbcr_to_rgb",
    "ycbcr_to_rgb_libjpeg",
]
