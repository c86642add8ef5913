"""Argument checks and constants shared by the reference ops and their Triton twins.

Both sides import these, so a malformed call fails with the same message whichever backend runs;
:mod:`qgac_fast.kernels` imports nothing else of :mod:`qgac_fast.functional` but public reference
maths.
"""

from __future__ import annotations

import torch

__all__ = [
    "BLOCK",
    "SUBSAMPLING_FACTORS",
    "cfm_result_dtype",
    "check_bins",
    "check_conv_args",
    "check_conv_transpose_args",
    "check_fused_coefficients",
    "check_plane",
    "normalize_table",
]

#: Side of a DCT block, in samples.
BLOCK = 8

#: Luma (h, v) sampling factors of each named subsampling; chroma is always (1, 1).
SUBSAMPLING_FACTORS = {"4:4:4": (1, 1), "4:2:2": (2, 1), "4:2:0": (2, 2), "4:4:0": (1, 2), "4:1:1": (4, 1)}


def check_plane(x: torch.Tensor, name: str = "input") -> None:
    """Raise ValueError unless ``x`` is a tiled plane ``(..., H, W)`` with H and W multiples of 8."""
    if x.dim() < 2:
        raise ValueError(f"{name} must have shape (..., H, W), got {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if h % BLOCK or w % BLOCK:
        raise ValueError(f"{name} height and width must be multiples of 8, got {h}x{w}; pad the plane first")


# --------------------------------------------------------------------------------------------
# Fused (de)quantization: dequantize_idct and dct_quantize


def normalize_table(table: torch.Tensor, n: int, c: int, name: str = "table") -> torch.Tensor:
    """A quantization table for ``(N, C, H, W)`` planes as a 4-D view broadcastable to
    ``(n, c, 8, 8)``: ``(8, 8)`` (one table), ``(N, 8, 8)`` (one per sample, shared by its
    channels), ``(N, 1, 8, 8)`` or ``(N, C, 8, 8)``; a leading 1 broadcasts.

    Raises:
        ValueError: any other shape, or N / C that do not match the planes'.
    """
    if table.dim() == 2:
        table = table.reshape(1, 1, *table.shape)
    elif table.dim() == 3:
        table = table.unsqueeze(1)
    if (table.dim() != 4 or table.shape[-2:] != (BLOCK, BLOCK) or table.shape[0] not in (1, n)
            or table.shape[1] not in (1, c)):
        raise ValueError(f"{name} must be (8, 8), (N, 8, 8) or (N, C, 8, 8) with N = {n}, C = {c} "
                         f"(or 1 in either), got {tuple(table.shape)}")
    return table


def check_fused_coefficients(x: torch.Tensor, table: torch.Tensor, name: str = "coefficients") -> None:
    """Shape, dtype and device checks of the fused ops' ``(N, C, H, W)`` planes and their table."""
    if not isinstance(table, torch.Tensor):
        raise TypeError(f"table must be a tensor, got {type(table).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got {tuple(x.shape)}")
    check_plane(x, name)
    if x.dtype == torch.bool or x.dtype.is_complex:
        raise TypeError(f"{name} must be a real number tensor, got {x.dtype}")
    if table.dtype == torch.bool or table.dtype.is_complex:
        raise TypeError(f"table must be a real number tensor, got {table.dtype}")
    if table.device != x.device:
        raise ValueError(f"inputs are on different devices: {name} on {x.device}, table on {table.device}")
    normalize_table(table, x.shape[0], x.shape[1])


# --------------------------------------------------------------------------------------------
# CFM convolutions: cfm_conv and cfm_conv_transpose


def cfm_result_dtype(x: torch.Tensor, weight: torch.Tensor) -> torch.dtype:
    """The CFM ops' result dtype: the activation's when it is floating; for integer activations
    (raw int16 coefficients with a folded first layer) float32, or float64 with a float64 weight.

    Raises:
        TypeError: a weight that is not floating point.
    """
    if not weight.dtype.is_floating_point:
        raise TypeError(f"weight must be floating point, got {weight.dtype}")
    if x.dtype.is_floating_point:
        return x.dtype
    return torch.float64 if weight.dtype == torch.float64 else torch.float32


def _check_cfm_common(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                      table_index: torch.Tensor | None, prelu, cout: int) -> None:
    """Checks shared by the conv and its transpose (``weight`` already known to be 5-D)."""
    n, t = x.shape[0], weight.shape[0]
    if table_index is None:
        if t != n:
            raise ValueError(f"without table_index the weight needs one set per sample: got {t} sets for a "
                             f"batch of {n}; pass table_index (N,) to share sets")
    else:
        if table_index.shape != (n,) or table_index.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"table_index must be an int32/int64 tensor of shape ({n},), got "
                             f"{table_index.dtype} {tuple(table_index.shape)}")
    if bias is not None and bias.shape != (t, cout):
        raise ValueError(f"bias must have shape (T, Cout) = ({t}, {cout}), got {tuple(bias.shape)}")
    if isinstance(prelu, torch.Tensor) and prelu.numel() not in (1, cout):
        raise ValueError(f"prelu slope must be a scalar or have {cout} entries (one per output channel), "
                         f"got shape {tuple(prelu.shape)}")
    if x.dtype.is_complex or x.dtype == torch.bool:
        raise TypeError(f"x must be a float or integer tensor, got {x.dtype}")


def check_conv_args(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                    table_index: torch.Tensor | None, prelu) -> tuple[int, int, int, int, int]:
    """Validate ``cfm_conv``'s arguments; return ``(N, Cin, H/8, W/8, Cout)``."""
    if x.dim() != 4 or x.shape[-2] % BLOCK or x.shape[-1] % BLOCK:
        raise ValueError(f"x must be a tiled plane (N, Cin, H, W) with H, W multiples of 8, got {tuple(x.shape)}")
    n, cin, h, w = x.shape
    if weight.dim() != 5 or weight.shape[2:] != (cin, BLOCK, BLOCK):
        raise ValueError(f"weight must have shape (T, Cout, Cin, 8, 8) with Cin = {cin}, got {tuple(weight.shape)}")
    cout = weight.shape[1]
    _check_cfm_common(x, weight, bias, table_index, prelu, cout)
    return n, cin, h // BLOCK, w // BLOCK, cout


def check_conv_transpose_args(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                              table_index: torch.Tensor | None, prelu) -> tuple[int, int, int, int, int]:
    """Validate ``cfm_conv_transpose``'s arguments; return ``(N, Cin, h, w, Cout)``."""
    if x.dim() != 4:
        raise ValueError(f"x must be block features (N, Cin, h, w), got {tuple(x.shape)}")
    n, cin, h, w = x.shape
    if weight.dim() != 5 or weight.shape[1] != cin or weight.shape[3:] != (BLOCK, BLOCK):
        raise ValueError(f"weight must have shape (T, Cin, Cout, 8, 8) with Cin = {cin}, got {tuple(weight.shape)}")
    cout = weight.shape[2]
    _check_cfm_common(x, weight, bias, table_index, prelu, cout)
    return n, cin, h, w, cout


def check_bins(luma: torch.Tensor, dequantized: torch.Tensor, table: torch.Tensor) -> None:
    """Raise ValueError unless ``(dequantized, table)`` are quantization bins for ``luma``
    (:func:`~qgac_fast.functional.jpeg.decode_normalized`): float ``dequantized`` of ``luma``'s
    shape, ``table`` ``(N, 8, 8)``."""
    if not dequantized.dtype.is_floating_point or dequantized.shape != luma.shape:
        raise ValueError(f"bins: the dequantized luma must be float of the luma's shape {tuple(luma.shape)}, "
                         f"got {dequantized.dtype} {tuple(dequantized.shape)}")
    if table.shape != (luma.shape[0], 8, 8):
        raise ValueError(f"bins: the table must be ({luma.shape[0]}, 8, 8), got {tuple(table.shape)}")
