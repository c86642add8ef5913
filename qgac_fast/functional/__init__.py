"""Reference JPEG operations in plain PyTorch: the specification every kernel is tested against.

Only maths lives here (no backend choice, no kernel import): :mod:`qgac_fast.ops` holds the public
ops that dispatch between these and the Triton kernels of :mod:`qgac_fast.kernels`, and
:mod:`qgac_fast.functional.checks` the argument checks both sides share.
"""

from .cfm import TableWeightCache, cfm_conv, cfm_conv_transpose, fold_dequantize_normalize, unique_tables
from .checks import SUBSAMPLING_FACTORS
from .color import rgb_to_ycbcr, rgb_to_ycbcr_libjpeg, ycbcr_to_rgb, ycbcr_to_rgb_libjpeg
from .jpeg import coefficient_planes, decode, decode_normalized, decode_planes, encode, encode_planes
from .quantization import clamp_to_bins, dequantize, quantize, quantize_scaled, round_half_away_from_zero, tile_table
from .sampling import (
    dct_upsample_matrix, dct_upsample_nearest, dct_upsample_operator, downsample, pad_edges, upsample,
)
from .transform import (
    block_dct, block_idct, blockify, dct, dct_kron_matrix, dct_matrix, dct_quantize, deblockify, dequantize_idct,
    fdct_islow, idct, idct_islow,
)

__all__ = [
    "block_dct",
    "block_idct",
    "blockify",
    "cfm_conv",
    "cfm_conv_transpose",
    "clamp_to_bins",
    "coefficient_planes",
    "dct",
    "dct_kron_matrix",
    "dct_matrix",
    "dct_quantize",
    "dct_upsample_matrix",
    "dct_upsample_nearest",
    "dct_upsample_operator",
    "deblockify",
    "decode",
    "decode_normalized",
    "decode_planes",
    "dequantize",
    "dequantize_idct",
    "downsample",
    "encode",
    "encode_planes",
    "fdct_islow",
    "fold_dequantize_normalize",
    "idct",
    "idct_islow",
    "pad_edges",
    "quantize",
    "quantize_scaled",
    "rgb_to_ycbcr",
    "rgb_to_ycbcr_libjpeg",
    "round_half_away_from_zero",
    "SUBSAMPLING_FACTORS",
    "TableWeightCache",
    "tile_table",
    "unique_tables",
    "upsample",
    "ycbcr_to_rgb",
    "ycbcr_to_rgb_libjpeg",
]
