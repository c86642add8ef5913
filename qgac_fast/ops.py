"""The public JPEG ops: each runs its reference or one of its twins, as :mod:`qgac_fast.dispatch` rules.

Every function here has the arguments of its reference in :mod:`qgac_fast.functional` (same name;
see there for the maths) plus ``backend="auto" | "reference" | "triton"`` (and ``"libjpeg"`` for
:func:`decode`, ``"native"`` for :func:`decode_normalized`). Results agree across backends: bit
for bit for the integer JPEG paths (``decode_planes`` / ``decode`` to uint8 with
``idct="islow"``), within the bounds the kernel tests state for the float ones. Ops without a
twin (``encode``, ``quantize``, colour conversion, sampling...) have no ``backend`` and live only
in :mod:`qgac_fast.functional`.
"""

from __future__ import annotations

import dataclasses

import torch

from .dispatch import choose, implementation, needs_grad
from .functional.dtypes import float_dtype

__all__ = [
    "block_dct",
    "block_idct",
    "cfm_conv",
    "cfm_conv_transpose",
    "dct",
    "dct_quantize",
    "decode",
    "decode_normalized",
    "decode_planes",
    "dequantize_idct",
    "encode_planes",
    "idct",
    "libjpeg_refusal",
]


def _kernel_refusal(op: str, *tensors: torch.Tensor, dtype: torch.dtype) -> str | None:
    from qgac_fast.kernels.transform import unsupported_reason

    return unsupported_reason(op, *tensors, dtype=dtype)


def _transform(op: str, x: torch.Tensor, dtype: torch.dtype | None, backend: str) -> torch.Tensor:
    dt = float_dtype(x, dtype)
    use = choose(op, backend, x, refuses=lambda _: _kernel_refusal("dct", x, dtype=dt))
    return implementation(op, use)(x, dtype=dt)


def dct(plane: torch.Tensor, *, dtype: torch.dtype | None = None, backend: str = "auto") -> torch.Tensor:
    """Blockwise forward DCT of a tiled plane ``(..., H, W)`` (H, W multiples of 8) into tiled
    coefficients of ``dtype`` (default: the input's if floating, else float32); differentiable
    with either backend. The Triton kernel computes float32, float16 or bfloat16 with float32
    accumulation and returns a contiguous result; "auto" leaves other dtypes to the reference.
    See :func:`qgac_fast.functional.transform.dct`."""
    return _transform("dct", plane, dtype, backend)


def idct(plane: torch.Tensor, *, dtype: torch.dtype | None = None, backend: str = "auto") -> torch.Tensor:
    """Blockwise inverse DCT of tiled coefficients into level-shifted samples; as :func:`dct`.
    See :func:`qgac_fast.functional.transform.idct`."""
    return _transform("idct", plane, dtype, backend)


def block_dct(blocks: torch.Tensor, *, dtype: torch.dtype | None = None, backend: str = "auto") -> torch.Tensor:
    """Forward DCT of each ``(..., 8, 8)`` block; as :func:`dct`.
    See :func:`qgac_fast.functional.transform.block_dct`."""
    return _transform("block_dct", blocks, dtype, backend)


def block_idct(coefficients: torch.Tensor, *, dtype: torch.dtype | None = None, backend: str = "auto") -> torch.Tensor:
    """Inverse DCT of each ``(..., 8, 8)`` block; as :func:`dct`.
    See :func:`qgac_fast.functional.transform.block_idct`."""
    return _transform("block_idct", coefficients, dtype, backend)


def dequantize_idct(coefficients: torch.Tensor, table: torch.Tensor, *, pixels: bool = False,
                    dtype: torch.dtype | None = None, backend: str = "auto") -> torch.Tensor:
    """Dequantize and inverse-DCT ``(N, C, H, W)`` tiled planes: float samples of ``dtype``, or
    uint8 pixels with ``pixels=True``. The kernel computes in float32 whatever ``dtype``
    (float32, float16 or bfloat16) and rounds once to it; it is forward only, so "auto" keeps
    gradients on the reference. See :func:`qgac_fast.functional.transform.dequantize_idct`."""
    dt = float_dtype(coefficients, dtype)
    use = choose("dequantize_idct", backend, coefficients, table, needs_grad=needs_grad(coefficients, table),
                 refuses=lambda _: _kernel_refusal("dequantize_idct", coefficients, table, dtype=dt))
    return implementation("dequantize_idct", use)(coefficients, table, pixels=pixels, dtype=dt)


def dct_quantize(x: torch.Tensor, table: torch.Tensor, *, level_shift: bool = False,
                 dtype: torch.dtype | None = None, backend: str = "auto") -> torch.Tensor:
    """Forward DCT and quantize ``(N, C, H, W)`` tiled planes to int16 (compute ``dtype``,
    default float32, float64 for float64 input; the kernel computes in float32 only).
    See :func:`qgac_fast.functional.transform.dct_quantize`."""
    dt = dtype if dtype is not None else (torch.float64 if x.dtype == torch.float64 else torch.float32)
    if not dt.is_floating_point:
        raise ValueError(f"dtype must be a floating point dtype, got {dt}")
    use = choose("dct_quantize", backend, x, table,
                 refuses=lambda _: _kernel_refusal("dct_quantize", x, table, dtype=dt))
    return implementation("dct_quantize", use)(x, table, level_shift=level_shift, dtype=dt)


def cfm_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *,
             table_index: torch.Tensor | None = None, prelu: torch.Tensor | float | None = None,
             backend: str = "auto") -> torch.Tensor:
    """Per-sample 8x8 / stride-8 convolution (a CFM): ``(N, Cin, H, W)`` tiles -> ``(N, Cout, H/8,
    W/8)`` block features. The kernel is forward only ("auto" keeps gradients on the reference)
    and does not range-check ``table_index`` (that would synchronise with the GPU).
    See :func:`qgac_fast.functional.cfm.cfm_conv`."""
    grad = needs_grad(x, weight, bias, prelu if isinstance(prelu, torch.Tensor) else None)
    use = choose("cfm_conv", backend, x, weight, needs_grad=grad)
    return implementation("cfm_conv", use)(x, weight, bias, table_index=table_index, prelu=prelu)


def cfm_conv_transpose(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *,
                       table_index: torch.Tensor | None = None, prelu: torch.Tensor | float | None = None,
                       backend: str = "auto") -> torch.Tensor:
    """Transposed CFM: ``(N, Cin, h, w)`` block features -> ``(N, Cout, 8h, 8w)`` tiles; as
    :func:`cfm_conv`. See :func:`qgac_fast.functional.cfm.cfm_conv_transpose`."""
    grad = needs_grad(x, weight, bias, prelu if isinstance(prelu, torch.Tensor) else None)
    use = choose("cfm_conv_transpose", backend, x, weight, needs_grad=grad)
    return implementation("cfm_conv_transpose", use)(x, weight, bias, table_index=table_index, prelu=prelu)


def _kernel_geometry(luma: torch.Tensor, chroma: torch.Tensor | None) -> str | None:
    """None if the fused decode kernels take this plane geometry (gray, or chroma ratios 1 or 2)."""
    if chroma is None:
        return None
    if (luma.dim() == 4 and chroma.dim() == 4 and 0 not in chroma.shape[-2:]
            and all(full in (part, 2 * part) for full, part in zip(luma.shape[-2:], chroma.shape[-2:]))):
        return None
    return "the fused decode takes chroma ratios of 1 or 2 only"


def decode_planes(luma: torch.Tensor, chroma: torch.Tensor | None = None,
                  luma_table: torch.Tensor | None = None, chroma_table: torch.Tensor | None = None, *,
                  size: tuple[int, int] | None = None, upsampling: str = "fancy",
                  dtype: torch.dtype | None = None, clamp: bool = False, idct: str = "islow",
                  backend: str = "auto") -> torch.Tensor:
    """Batched decode of tiled coefficient planes (``(N, 1, H, W)`` luma, ``(N, 2, Hc, Wc)``
    chroma) to ``(N, 3 or 1, height, width)`` pixels. The fused Triton kernel covers
    ``dtype=torch.uint8`` with ``idct="islow"`` and chroma ratios 1 or 2, bit-identical to the
    reference; "auto" picks it for CUDA tensors in that case.
    See :func:`qgac_fast.functional.jpeg.decode_planes`."""
    tensors = [t for t in (luma, chroma, luma_table, chroma_table) if t is not None]

    def refuses(_: str) -> str | None:
        if dtype != torch.uint8 or idct != "islow":
            return "the fused decode computes uint8 with idct='islow' only"
        return _kernel_geometry(luma, chroma)

    use = choose("decode_planes", backend, *tensors, refuses=refuses)
    if use == "reference":
        return implementation("decode_planes", use)(luma, chroma, luma_table, chroma_table, size=size,
                                                    upsampling=upsampling, dtype=dtype, clamp=clamp, idct=idct)
    return implementation("decode_planes", use)(luma, chroma, luma_table, chroma_table, size=size,
                                                upsampling=upsampling, dtype=dtype, idct=idct)


def decode_normalized(luma: torch.Tensor, chroma: torch.Tensor | None = None, mean: torch.Tensor | None = None,
                      std: torch.Tensor | None = None, *, size: tuple[int, int] | None = None,
                      upsampling: str = "fancy", bins: tuple[torch.Tensor, torch.Tensor] | None = None,
                      backend: str = "auto") -> torch.Tensor:
    """Decode the model's float coefficient planes (normalised with ``mean`` / ``std``; Y clamped to
    ``bins`` when given) to uint8 ``(N, 3 or 1, height, width)`` pixels: the model's output path.
    Not differentiable. See :func:`qgac_fast.functional.jpeg.decode_normalized`."""
    tensors = [t for t in (luma, chroma, mean, std, *(bins or ())) if t is not None]

    def refuses(name: str) -> str | None:
        if name == "native":
            from qgac_fast.native import unsupported_reason

            return unsupported_reason(luma, chroma, mean, std, bins)
        return _kernel_geometry(luma, chroma)

    use = choose("decode_normalized", backend, *tensors, refuses=refuses)
    return implementation("decode_normalized", use)(luma, chroma, mean, std, size=size, upsampling=upsampling,
                                                    bins=bins)


#: Subsamplings the fused encode kernel covers (chroma ratios 1 or 2).
_KERNEL_SUBSAMPLINGS = ("4:4:4", "4:2:0", "4:2:2", "4:4:0")


def encode_planes(rgb: torch.Tensor, luma_table: torch.Tensor, chroma_table: torch.Tensor | None = None,
                  subsampling: str = "4:2:0", *, dct: str = "islow",
                  backend: str = "auto") -> tuple[torch.Tensor, torch.Tensor | None]:
    """Batched libjpeg-style encode of uint8 ``(N, 3, H, W)`` RGB to int16 tiled coefficient
    planes. The fused kernel covers ``dct="float"`` with 4:4:4, 4:2:0, 4:2:2 and 4:4:0; "auto"
    picks it for CUDA tensors in that case. See :func:`qgac_fast.functional.jpeg.encode_planes`."""
    tensors = [t for t in (rgb, luma_table, chroma_table) if isinstance(t, torch.Tensor)]

    def refuses(_: str) -> str | None:
        if dct == "float" and subsampling in _KERNEL_SUBSAMPLINGS:
            return None
        return f"the fused encode computes dct='float' with subsampling in {_KERNEL_SUBSAMPLINGS} only"

    use = choose("encode_planes", backend, *tensors, refuses=refuses)
    return implementation("encode_planes", use)(rgb, luma_table, chroma_table, subsampling, dct=dct)


def libjpeg_refusal(jc) -> str | None:
    """None if libjpeg can code ``jc``'s coefficients as they are (int16 on the CPU, within what
    8-bit Huffman coding represents), so its decode equals the reference's."""
    for c in jc.coefficients:
        if c.dtype != torch.int16 or c.device.type != "cpu":
            return "libjpeg decodes int16 coefficients held on the CPU"
        low, high = torch.aminmax(c)
        if int(low) < -1023 or int(high) > 1023:
            return "coefficients outside what 8-bit JPEG codes"
    for q in jc.quantization:
        if int(q.min()) < 1 or int(q.max()) > 65535:  # a damaged table, read with strict=False
            return "quantization steps outside 1..65535"
    return None


def decode(jc, *, device: torch.device | str | None = None, upsampling: str = "fancy",
           dtype: torch.dtype = torch.uint8, clamp: bool = False, idct: str = "islow",
           backend: str = "auto") -> torch.Tensor:
    """Decode one JPEG's coefficients to pixels, like libjpeg's default output.

    Args:
        jc: :class:`qgac_fast.coefficients.JPEGCoefficients` (gray, YCbCr or RGB; any integral sampling
            factors; int16 as read, or float coefficients for the float decode).
        device: where to decode and return the pixels; default: the coefficients' device. The
            coefficients are copied there if needed.
        upsampling, dtype, clamp, idct: as in :func:`qgac_fast.functional.jpeg.decode`.
        backend: ``"auto"``, ``"reference"``, ``"triton"`` (the fused decode kernel, uint8 with
            ``idct="islow"``, gray or chroma ratios 1 or 2) or ``"libjpeg"`` (a lossless
            in-memory transcode decoded by libjpeg itself, CPU only, uint8 with ``idct="islow"``).
            "auto" picks Triton on CUDA and libjpeg on the CPU for the uint8 islow decode of
            coefficients they take, the reference otherwise (float or differentiable decodes,
            ``idct="float"``, modified coefficients 8-bit JPEG cannot code). Every backend gives
            the same uint8 pixels.

    Returns:
        ``(C, H, W)`` on ``device``: C = 3 (RGB, or the file's RGB) or 1 (gray), on the 0..255
        scale; uint8, or float of ``dtype`` (not clamped unless ``clamp``).

    Example:
        >>> from qgac_fast.codec import read_coefficients            # doctest: +SKIP
        >>> rgb = decode(read_coefficients("photo.jpg"))              # doctest: +SKIP
        >>> on_gpu = decode(read_coefficients("photo.jpg"), device="cuda")  # doctest: +SKIP
    """
    source = jc.coefficients[0].device
    target = source if device is None else torch.device(device)

    def refuses(name: str) -> str | None:
        if dtype != torch.uint8 or idct != "islow":
            return "the twins decode to uint8 with idct='islow' only"
        if name == "triton":
            from qgac_fast.kernels.jpeg import unsupported_layout

            return unsupported_layout(jc)
        return libjpeg_refusal(jc)

    tensors = (*jc.coefficients, *jc.quantization)
    use = choose("decode", backend, *tensors, device=target, needs_grad=needs_grad(*tensors), refuses=refuses)
    run = implementation("decode", use)
    if use == "triton":
        return run(jc, device=target, upsampling=upsampling, dtype=dtype, idct=idct)
    if use == "libjpeg":
        return run(jc, upsampling=upsampling, dtype=dtype, idct=idct)
    if target != source:
        jc = dataclasses.replace(jc, coefficients=tuple(c.to(target) for c in jc.coefficients),
                                 quantization=tuple(q.to(target) for q in jc.quantization))
    return run(jc, upsampling=upsampling, dtype=dtype, clamp=clamp, idct=idct)
