"""Fused JPEG decode (coefficients -> uint8 RGB) and encode (uint8 RGB -> int16 coefficients).

Reference twins (the specification), same names in :mod:`qgac_fast.functional.jpeg`:
:func:`~qgac_fast.functional.jpeg.decode_planes` with ``dtype=torch.uint8`` (its default
``idct="islow"``: libjpeg's integer IDCT, bit-exact), :func:`~qgac_fast.functional.jpeg.decode`
(one file's coefficients, through ``decode_planes``), :func:`~qgac_fast.functional.jpeg.decode_normalized`
and :func:`~qgac_fast.functional.jpeg.encode_planes` with ``dct="float"``.

Exact integer IDCT (``decode_planes``, EXACT=True): libjpeg's jidctint is two linear integer
passes, each followed by a rounding right shift (``DESCALE``): pass 1 (columns)
``ws = (x @ K1 + 2**10) >> 11``, pass 2 (rows) ``(ws @ K2 + 2**17) >> 18``, then +128 and
range-limit to 0..255. ``K1 = kron(M^T, I8)`` and ``K2 = kron(I8, M^T)`` act on flattened
``(BLOCKS, 64)`` tiles, ``M`` being the 1-D butterfly of
:func:`qgac_fast.functional.transform.islow_inverse_pass` applied to unit vectors with no descale
(integers up to 11363, row L1 norms <= 61214; its DC-only results equal libjpeg's DC shortcuts).
A float32 ``tl.dot(..., input_precision="ieee")`` is exact while every product and partial sum
is an integer within 2**24, so pass 1 splits ``K1 = 256 * K1_hi + K1_lo`` (digits in
[-128, 128)) and pass 2 splits ``ws = 512 * hi + lo`` (``lo`` in [-256, 256)): four exact dots,
recombined in int32 with arithmetic shifts (floor, as libjpeg's RIGHT_SHIFT); pass 2 descales as
``(hi @ K2 + ((lo @ K2 + 2**17) >> 9)) >> 9`` (the same floor) to stay within int32. Exact for
dequantized coefficients within +-4096 (``_ISLOW_RANGE``; a valid 8-bit JPEG's are within
+-2048: ``|DCT| <= 1024`` and ``|q * table| <= 2 |DCT|``); larger ones, only from corrupt data,
are clamped to +-4096 first. The float path (``decode_normalized``) keeps one float32
Kronecker IDCT dot.

Layout: every kernel works on groups of 8x8 blocks held as ``(BLOCKS, 64)`` tiles (one block per
row, row-major within the block), so an 8x8 transform is one ``(BLOCKS, 64) x (64, 64)`` product
with the Kronecker DCT matrix (``tl.dot`` needs every dimension >= 16 on a GPU). Each element
knows its pixel coordinates, so loads, stores and the chroma gathers are plain masked pointers.

Decode, two launches:

1. ``_chroma_idct_kernel`` (subsampled chroma only): dequantize / de-normalise -> IDCT -> +128
   -> Cb, Cr samples at the components' *real* size into a scratch plane (uint8, range-limited
   as libjpeg's IDCT output, for the libjpeg path; float32 for the float path).
2. ``_decode_kernel``: luma IDCT -> +128 (-> range-limit) -> for every output pixel the
   2 or 4 chroma samples of libjpeg's triangle filter gathered from the scratch (edge samples
   replicated at the real size; libjpeg's integer biases on the libjpeg path) -> YCbCr to RGB
   (libjpeg's 16-bit fixed point, or float) -> clamp, round -> uint8 store. With 4:4:4 chroma
   this kernel does the chroma IDCT itself and there is no scratch.

Memory traffic per output pixel, 4:2:0 with int16 coefficients (minimum for one pass: 2 B luma
+ 1 B chroma read, 3 B written = 6 B): launch 1 reads 1 B and writes 0.5 B, launch 2 reads 2 B
+ 0.5 B (the scratch; its 2x2 filter neighbours mostly hit in cache) and writes 3 B: 7 B, 17 %
over the minimum; the float path's float32 scratch makes it 2 B + 2 B extra on 4 B + 2 B of
float32 coefficients. A single pass would have to recompute a one-block chroma halo per tile
(a 3x3 neighbourhood of chroma IDCTs, or cross-program exchange); the scratch costs less.
4:4:4 and gray decode are single-pass (read coefficients once, write pixels once).

Encode, one launch, ``_encode_kernel``: each program takes a group of MCUs; it gathers their RGB
pixels (coordinates clamped to the image: libjpeg's edge replication to whole MCUs), converts
them to Y (libjpeg fixed point), DCTs and quantizes the luma blocks (dummy blocks at the MCU
padding re-read the block libjpeg copies the DC from, and zero the AC), then re-gathers the same
pixels (cache hits) for the box-averaged Cb, Cr blocks with libjpeg's alternating bias. Traffic:
3 B read + (2 + 1) B int16 written per pixel at 4:2:0, the minimum.
"""

from __future__ import annotations

import torch

from qgac_fast.functional.checks import SUBSAMPLING_FACTORS, check_bins
from qgac_fast.functional.quantization import clamp_to_bins, tile_table
from qgac_fast.functional.sampling import UPSAMPLING
from qgac_fast.functional.transform import dct_kron_matrix, deblockify, islow_inverse_pass

from ._triton import tl, triton

__all__ = ["decode", "decode_planes", "decode_normalized", "encode_planes", "islow_matrices", "unsupported_layout"]

#: Upsampling modes of the decode kernel (chosen on the host from the ratio and the real width).
_NEAREST, _FANCY_H2V2, _FANCY_H2V1, _FANCY_H1V2 = 0, 1, 2, 3

#: The exact (integer IDCT) decode equals libjpeg's jidctint for dequantized coefficients within
#: +-_ISLOW_RANGE; larger ones (only corrupt data: a valid 8-bit JPEG's are within +-2048) are
#: clamped to it. The kernel writes the literal 4096.0.
_ISLOW_RANGE = 4096

_DECODE_BLOCKS = 32  # blocks per program: (32, 64) tiles; tl.dot needs >= 16 rows
_ENCODE_MCUS = 16  # MCUs per program (64 luma blocks at 4:2:0)

# libjpeg's fixed-point colour constants (16 fraction bits, FIX(x) = round(x * 2**16)).
_FIX_1_402 = 91881
_FIX_0_34414 = 22554
_FIX_0_71414 = 46802
_FIX_1_772 = 116130
_FIX_0_299 = 19595
_FIX_0_587 = 38470
_FIX_0_114 = 7471
_FIX_0_16874 = 11059
_FIX_0_33126 = 21709
_FIX_0_5 = 32768
_FIX_0_41869 = 27439
_FIX_0_08131 = 5329
_ONE_HALF = 1 << 15


# ------------------------------------------------------------------------------------------------
# kernels


@triton.jit
def _block_coords(pid, total, bh, bw, BLOCKS: tl.constexpr):
    """Block ids ``(BLOCKS,)`` of program ``pid`` split into (image, block row, block column), the
    validity mask, and each element's row / column inside its block ``(64,)``."""
    g = pid * BLOCKS + tl.arange(0, BLOCKS)
    valid = g < total
    g = tl.where(valid, g, 0)
    per_image = bh * bw
    n = g // per_image
    rem = g % per_image
    k = tl.arange(0, 64)
    return n, rem // bw, rem % bw, valid, k // 8, k % 8


@triton.jit
def _load_kron(kron_ptr):
    r = tl.arange(0, 64)
    return tl.load(kron_ptr + r[:, None] * 64 + r[None, :])


@triton.jit
def _idct_tile(coef_ptr, base, sh, sw, rows, cols, mask, scale_ptr, offset_ptr, table_off, kron_ptr,
               EXACT: tl.constexpr):
    """Load ``(BLOCKS, 64)`` coefficients at ``base + rows * sh + cols * sw`` and inverse-DCT them
    to level-shifted samples ``(BLOCKS, 64)`` (before the +128).

    EXACT: libjpeg's jidctint bit for bit, as int32. Dequantize (``x * trunc(table)``), clamp to
    ``+-_ISLOW_RANGE``, then the two integer passes as exact float32 products with the matrices
    of :func:`islow_matrices` at ``kron_ptr`` (pass-1 high and low digits, pass 2):
    pass 1 ``ws = (x @ K1 + 2**10) >> 11``; pass 2 splits ``ws = hi * 2**9 + lo`` with
    ``lo`` in ``[-256, 256)`` and returns ``(hi @ K2 * 2**9 + lo @ K2 + 2**17) >> 18``, computed
    as ``(hi @ K2 + ((lo @ K2 + 2**17) >> 9)) >> 9`` to stay within int32.

    Otherwise: ``x * scale + offset`` per frequency (tables at ``table_off``) through the float32
    Kronecker IDCT at ``kron_ptr``."""
    x = tl.load(coef_ptr + base + rows * sh + cols * sw, mask=mask, other=0).to(tl.float32)
    k = tl.arange(0, 64)[None, :]
    scale = tl.load(scale_ptr + table_off + k, mask=mask, other=0.0)
    if EXACT:
        # reference: coef.to(int64) * table.to(int64) (truncation); a float32 product that rounds
        # is already beyond the clamp, so the clamped value is exact
        q = tl.where(scale < 0, -tl.floor(-scale), tl.floor(scale))
        x = tl.minimum(tl.maximum(x * q, -4096.0), 4096.0)  # _ISLOW_RANGE
        p = tl.dot(x, _load_kron(kron_ptr), input_precision="ieee").to(tl.int32) * 256 \
            + tl.dot(x, _load_kron(kron_ptr + 4096), input_precision="ieee").to(tl.int32)
        ws = (p + 1024) >> 11
        lo = ((ws + 256) & 511) - 256
        hi = (ws - lo) >> 9
        k2 = _load_kron(kron_ptr + 8192)
        s_hi = tl.dot(hi.to(tl.float32), k2, input_precision="ieee").to(tl.int32)
        s_lo = tl.dot(lo.to(tl.float32), k2, input_precision="ieee").to(tl.int32)
        return (s_hi + ((s_lo + 131072) >> 9)) >> 9
    else:
        offset = tl.load(offset_ptr + table_off + k, mask=mask, other=0.0)
        return tl.dot(x * scale + offset, _load_kron(kron_ptr), input_precision="ieee")


@triton.jit
def _chroma_idct_kernel(coef_ptr, scratch_ptr, scale_ptr, offset_ptr, kron_ptr,
                        total, bh, bw, csn, csc, csh, csw, tsn, ch, cw,
                        EXACT: tl.constexpr, BLOCKS: tl.constexpr):
    """Cb, Cr planes ``(N, 2, 8 bh, 8 bw)`` -> samples ``(N, 2, ch, cw)`` (contiguous scratch):
    uint8 from the exact integer IDCT, range-limited, when EXACT (``kron_ptr``: the
    ``(3, 64, 64)`` islow matrices), else float32 (``kron_ptr``: the float Kronecker IDCT).
    Blocks are numbered over (image * 2 + channel, block row, block column)."""
    pid = tl.program_id(0)
    nc, by, bx, valid, r, c = _block_coords(pid, total, bh, bw, BLOCKS)
    n = nc // 2
    chan = nc % 2
    rows = by[:, None] * 8 + r[None, :]
    cols = bx[:, None] * 8 + c[None, :]
    mask = valid[:, None] & (rows >= 0)
    base = n[:, None].to(tl.int64) * csn + chan[:, None] * csc
    table_off = n[:, None] * tsn + (chan[:, None] + 1) * 64
    pix = _to_pixel(_idct_tile(coef_ptr, base, csh, csw, rows, cols, mask, scale_ptr, offset_ptr, table_off,
                               kron_ptr, EXACT), EXACT)
    out = scratch_ptr + nc[:, None].to(tl.int64) * ch * cw + rows * cw + cols
    keep = mask & (rows < ch) & (cols < cw)
    if EXACT:
        tl.store(out, pix.to(tl.uint8), mask=keep)
    else:
        tl.store(out, pix, mask=keep)


@triton.jit
def _neighbour(i, parity, size):
    """libjpeg's triangle-filter partner sample of output position parity: the previous sample for
    even outputs, the next for odd ones, replicated at the edges of ``0..size-1``."""
    j = tl.where(parity == 0, i - 1, i + 1)
    return tl.minimum(tl.maximum(j, 0), size - 1)


@triton.jit
def _sample(ptr, mask, EXACT: tl.constexpr):
    """One gathered chroma sample: int32 (EXACT, from the uint8 scratch) or float32."""
    v = tl.load(ptr, mask=mask, other=0)
    if EXACT:
        v = v.to(tl.int32)
    return v


@triton.jit
def _upsampled(scratch_ptr, plane, y, x, mask, ch, cw, EXACT: tl.constexpr, MODE: tl.constexpr,
               FY: tl.constexpr, FX: tl.constexpr):
    """The chroma value at full-resolution pixels ``(y, x)`` from the scratch plane starting at
    element ``plane``, as libjpeg's upsampler computes it: int32 when EXACT, else float32."""
    i = tl.minimum(y // FY, ch - 1)
    j = tl.minimum(x // FX, cw - 1)
    p = scratch_ptr + plane
    v = _sample(p + i * cw + j, mask, EXACT)  # MODE 0: replication
    if MODE == 1:  # h2v2: 9 nearest + 3 vertical + 3 horizontal + 1 diagonal neighbour, / 16
        i2 = _neighbour(i, y % 2, ch)
        j2 = _neighbour(j, x % 2, cw)
        v = 9 * v + 3 * _sample(p + i2 * cw + j, mask, EXACT) + 3 * _sample(p + i * cw + j2, mask, EXACT) \
            + _sample(p + i2 * cw + j2, mask, EXACT)
        if EXACT:  # libjpeg's h2v2_fancy_upsample biases: 8 (even column), 7 (odd column)
            v = (v + 8 - x % 2) >> 4
        else:
            v = v / 16.0
    elif MODE != 0:
        if MODE == 2:  # h2v1: horizontal 3:1
            partner = i * cw + _neighbour(j, x % 2, cw)
            parity = x % 2
        else:  # h1v2: vertical 3:1
            partner = _neighbour(i, y % 2, ch) * cw + j
            parity = y % 2
        v = 3 * v + _sample(p + partner, mask, EXACT)
        if EXACT:  # biases 1 (even output), 2 (odd output)
            v = (v + 1 + parity) >> 2
        else:
            v = v / 4.0
    return v


@triton.jit
def _to_pixel(v, EXACT: tl.constexpr):
    """Level-shifted samples -> +128: libjpeg's range-limited int32 samples (EXACT, from the
    integer IDCT), or float samples (not limited)."""
    if EXACT:
        v = tl.minimum(tl.maximum(v + 128, 0), 255)
    else:
        v = v + 128.0
    return v


@triton.jit
def _store_pixel(ptr, v, mask, EXACT: tl.constexpr):
    """Clamp to 0..255, round (half up on the float path) and store as uint8."""
    if EXACT:
        tl.store(ptr, tl.minimum(tl.maximum(v, 0), 255).to(tl.uint8), mask=mask)
    else:
        tl.store(ptr, tl.floor(tl.minimum(tl.maximum(v, 0.0), 255.0) + 0.5).to(tl.uint8), mask=mask)


@triton.jit
def _decode_kernel(y_ptr, c_ptr, scratch_ptr, scale_ptr, offset_ptr, kron_ptr, out_ptr,
                   total, bh, bw, ysn, ysh, ysw, csn, csc, csh, csw, tsn, osn, osc, osh, osw,
                   height, width, ch, cw,
                   CHROMA: tl.constexpr, EXACT: tl.constexpr, MODE: tl.constexpr,
                   FY: tl.constexpr, FX: tl.constexpr, BLOCKS: tl.constexpr):
    """Luma blocks (and, for CHROMA == 1, the co-sited 4:4:4 chroma blocks) -> uint8 pixels.

    CHROMA: 0 gray, 1 chroma planes at full size (IDCT here), 2 chroma samples from the scratch
    ``(N, 2, ch, cw)`` upsampled with MODE. Blocks are numbered over (image, row, column) of the
    luma grid ``bh x bw``; pixels outside ``height x width`` are not stored."""
    pid = tl.program_id(0)
    n, by, bx, valid, r, c = _block_coords(pid, total, bh, bw, BLOCKS)
    y = by[:, None] * 8 + r[None, :]
    x = bx[:, None] * 8 + c[None, :]
    mask = valid[:, None] & (y >= 0)
    n2 = n[:, None]
    lum = _to_pixel(_idct_tile(y_ptr, n2.to(tl.int64) * ysn, ysh, ysw, y, x, mask, scale_ptr, offset_ptr,
                               n2 * tsn, kron_ptr, EXACT), EXACT)
    out = out_ptr + n2.to(tl.int64) * osn + y * osh + x * osw
    keep = mask & (y < height) & (x < width)
    if CHROMA == 0:
        _store_pixel(out, lum, keep, EXACT)
    else:
        if CHROMA == 1:
            base = n2.to(tl.int64) * csn
            cb = _to_pixel(_idct_tile(c_ptr, base, csh, csw, y, x, mask, scale_ptr, offset_ptr,
                                      n2 * tsn + 64, kron_ptr, EXACT), EXACT)
            cr = _to_pixel(_idct_tile(c_ptr, base + csc, csh, csw, y, x, mask, scale_ptr, offset_ptr,
                                      n2 * tsn + 128, kron_ptr, EXACT), EXACT)
        else:
            plane = n2.to(tl.int64) * 2 * ch * cw
            cb = _upsampled(scratch_ptr, plane, y, x, mask, ch, cw, EXACT, MODE, FY, FX)
            cr = _upsampled(scratch_ptr, plane + ch * cw, y, x, mask, ch, cw, EXACT, MODE, FY, FX)
        if EXACT:  # libjpeg's jdcolor.c: 16-bit fixed point, arithmetic shifts round down
            cb = cb - 128
            cr = cr - 128
            red = lum + ((91881 * cr + 32768) >> 16)
            green = lum + ((-22554 * cb - 46802 * cr + 32768) >> 16)
            blue = lum + ((116130 * cb + 32768) >> 16)
        else:
            cb = cb - 128.0
            cr = cr - 128.0
            red = lum + 1.402 * cr
            green = lum - 0.344136 * cb - 0.714136 * cr
            blue = lum + 1.772 * cb
        _store_pixel(out, red, keep, EXACT)
        _store_pixel(out + osc, green, keep, EXACT)
        _store_pixel(out + 2 * osc, blue, keep, EXACT)


@triton.jit
def _rgb_at(rgb_ptr, base, rsc, rsh, rsw, y, x, mask, height, width):
    """int32 R, G, B at pixels ``(y, x)`` clamped into the image (libjpeg's edge replication)."""
    p = rgb_ptr + base + tl.minimum(y, height - 1) * rsh + tl.minimum(x, width - 1) * rsw
    red = tl.load(p, mask=mask, other=0).to(tl.int32)
    green = tl.load(p + rsc, mask=mask, other=0).to(tl.int32)
    blue = tl.load(p + 2 * rsc, mask=mask, other=0).to(tl.int32)
    return red, green, blue


@triton.jit
def _quantize_store(samples, kron_t, table_ptr, table_off, mask, out_ptr, dummy):
    """Level-shifted int32 samples ``(BLOCKS, 64)`` -> float DCT -> divide by the table, round
    half away from zero -> int16 store; rows flagged ``dummy`` keep only their DC."""
    coef = tl.dot((samples - 128).to(tl.float32), kron_t, input_precision="ieee")
    k = tl.arange(0, 64)[None, :]
    q = coef / tl.load(table_ptr + table_off + k, mask=mask, other=1.0)
    q = tl.where(q < 0, -tl.floor(-q + 0.5), tl.floor(q + 0.5))
    q = tl.where(dummy & (k != 0), 0.0, q)
    tl.store(out_ptr, q.to(tl.int16), mask=mask)


@triton.jit
def _encode_kernel(rgb_ptr, y_ptr, c_ptr, table_ptr, kron_t_ptr,
                   total, mcu_rows, mcu_cols, rsn, rsc, rsh, rsw, tsn, height, width, hb, wb, chroma_rows,
                   FY: tl.constexpr, FX: tl.constexpr, MCUS: tl.constexpr):
    """uint8 RGB ``(N, 3, height, width)`` -> int16 Y ``(N, 1, 8 FY mcu_rows, 8 FX mcu_cols)``
    and Cb, Cr ``(N, 2, 8 mcu_rows, 8 mcu_cols)`` (contiguous), for MCUs numbered over (image,
    MCU row, MCU column). ``hb x wb``: the real luma blocks; ``chroma_rows``: the chroma rows
    libjpeg downsamples before replicating the last one (``ceil(height / FY)``)."""
    pid = tl.program_id(0)
    kron_t = _load_kron(kron_t_ptr)
    k = tl.arange(0, 64)
    r = (k // 8)[None, :]
    c = (k % 8)[None, :]
    # luma: FY * FX blocks per MCU, one per row of the (MCUS * FY * FX, 64) tile
    LB: tl.constexpr = FY * FX
    g = pid * MCUS * LB + tl.arange(0, MCUS * LB)
    valid = (g < total * LB)[:, None]
    g = tl.where(g < total * LB, g, 0)
    m = g // LB
    s = g % LB
    n = m // (mcu_rows * mcu_cols)
    by = (m // mcu_cols) % mcu_rows * FY + s // FX
    bx = m % mcu_cols * FX + s % FX
    # dummy blocks: right of the image copy the row's last real block's DC; below it, the DC of
    # the last block of the MCU above (which is itself a right-edge copy past the last column)
    src_by = tl.minimum(by, hb - 1)
    src_bx = tl.where(by >= hb, tl.minimum(bx // FX * FX + FX - 1, wb - 1), tl.minimum(bx, wb - 1))
    dummy = ((by >= hb) | (bx >= wb))[:, None]
    base = n[:, None].to(tl.int64) * rsn
    red, green, blue = _rgb_at(rgb_ptr, base, rsc, rsh, rsw, src_by[:, None] * 8 + r, src_bx[:, None] * 8 + c,
                               valid, height, width)
    lum = (19595 * red + 38470 * green + 7471 * blue + 32768) >> 16
    ly = by[:, None] * 8 + r
    lx = bx[:, None] * 8 + c
    lw = mcu_cols * 8 * FX
    y_out = y_ptr + n[:, None].to(tl.int64) * (mcu_rows * 8 * FY) * lw + ly * lw + lx
    _quantize_store(lum, kron_t, table_ptr, n[:, None] * tsn, valid, y_out, dummy)
    # chroma: one block per MCU and channel; each sample is the biased box average of FY x FX
    # pixels of the rows libjpeg downsampled (the last one replicated below them)
    mm = pid * MCUS + tl.arange(0, MCUS)
    cvalid = (mm < total)[:, None]
    mm = tl.where(mm < total, mm, 0)
    cn = mm // (mcu_rows * mcu_cols)
    cy = ((mm // mcu_cols) % mcu_rows)[:, None] * 8 + r
    cx = (mm % mcu_cols)[:, None] * 8 + c
    sy = tl.minimum(cy, chroma_rows - 1)
    cbase = cn[:, None].to(tl.int64) * rsn
    cb = tl.zeros((MCUS, 64), dtype=tl.int32)
    cr = tl.zeros((MCUS, 64), dtype=tl.int32)
    for a in tl.static_range(FY):
        for b in tl.static_range(FX):
            red, green, blue = _rgb_at(rgb_ptr, cbase, rsc, rsh, rsw, sy * FY + a, cx * FX + b, cvalid,
                                       height, width)
            # libjpeg's jccolor.c: centre 128 and a rounding bias just under one half
            cb += (-11059 * red - 21709 * green + 32768 * blue + (128 << 16) + 32767) >> 16
            cr += (32768 * red - 27439 * green - 5329 * blue + (128 << 16) + 32767) >> 16
    if FY * FX == 4:  # jcsample.c h2v2: bias 1, 2, 1, 2... along the row
        bias = 1 + cx % 2
        cb = (cb + bias) >> 2
        cr = (cr + bias) >> 2
    elif FY * FX == 2:
        if FX == 2:  # h2v1: bias 0, 1, 0, 1...
            bias = cx % 2
        else:  # any other ratio: sum + n / 2
            bias = tl.full((MCUS, 64), 1, tl.int32)
        cb = (cb + bias) >> 1
        cr = (cr + bias) >> 1
    cw = mcu_cols * 8
    plane = mcu_rows * 8 * cw
    c_out = c_ptr + cn[:, None].to(tl.int64) * 2 * plane + cy * cw + cx
    no_dummy = cvalid & (cy < 0)
    _quantize_store(cb, kron_t, table_ptr, cn[:, None] * tsn + 64, cvalid, c_out, no_dummy)
    _quantize_store(cr, kron_t, table_ptr, cn[:, None] * tsn + 64, cvalid, c_out + plane, no_dummy)


# ------------------------------------------------------------------------------------------------
# launchers


def _kron(device: torch.device, transpose: bool = False) -> torch.Tensor:
    """The (64, 64) float32 Kronecker DCT matrix (``K`` for the inverse, ``K.T`` for the forward
    transform of row blocks), contiguous on ``device``."""
    k = dct_kron_matrix(torch.float64)
    return (k.T if transpose else k).contiguous().to(device=device, dtype=torch.float32)


_ISLOW_CACHE: dict = {}


def islow_matrices(device: torch.device) -> torch.Tensor:
    """float32 ``(3, 64, 64)``: libjpeg's jidctint as exact integer matrices on flattened
    ``(BLOCKS, 64)`` tiles (``k = 8 * row + column``, rows = vertical frequency / position).

    ``M[k, i]`` is output ``k`` of one 1-D islow pass on the unit vector ``e_i`` before its
    descale (the pass is linear up to there). Pass 1 (columns): ``K1 = kron(M^T, I8)``, split
    ``K1 = 256 * K1_hi + K1_lo`` with ``K1_lo`` in ``[-128, 128)``; pass 2 (rows):
    ``K2 = kron(I8, M^T)``. Returns ``(K1_hi, K1_lo, K2)``.

    Exactness of the float32 products (every product and partial sum an integer of magnitude
    <= 2**24): the rows of ``M`` have L1 norms <= 61214; with ``|x| <= 4096``: pass 1 partial sums
    <= 4096 * 1024 (low digits) and 4096 * 243 (high digits); ``|ws| <= 122428``, split into
    ``|lo| <= 256`` and ``|hi| <= 240``: pass 2 partial sums <= 256 * 61214 < 2**24."""
    key = str(device)
    if key not in _ISLOW_CACHE:
        eye = torch.eye(8, dtype=torch.int64)
        m = torch.stack(islow_inverse_pass([eye[i] for i in range(8)], lambda t: t))  # M[k, i]
        i8 = torch.eye(8, dtype=torch.int64)
        k1 = torch.kron(m.T.contiguous(), i8)
        k1_lo = (k1 + 128) % 256 - 128
        k1_hi = (k1 - k1_lo) // 256
        k2 = torch.kron(i8, m.T.contiguous())
        mats = torch.stack([k1_hi, k1_lo, k2])
        assert mats.abs().sum(1).max() <= 61214 and k1_hi.abs().sum(0).max() <= 243
        _ISLOW_CACHE[key] = mats.to(device=device, dtype=torch.float32).contiguous()
    return _ISLOW_CACHE[key]


def _check_tensor(t: torch.Tensor, name: str, dims: int, dtypes: tuple, device: torch.device) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dim() != dims:
        raise ValueError(f"{name} must have {dims} dimensions, got shape {tuple(t.shape)}")
    if t.dtype not in dtypes:
        raise TypeError(f"{name} must be one of {[str(d) for d in dtypes]}, got {t.dtype}")
    if t.device != device:
        raise ValueError(f"{name} is on {t.device}, expected {device} (the luma plane's device)")


def _check_planes(luma: torch.Tensor, chroma: torch.Tensor | None, dtypes: tuple) -> tuple[int, ...]:
    """Validate the coefficient planes; returns ``(N, H, W, fy, fx)`` with the chroma ratios
    (0, 0 for gray)."""
    _check_tensor(luma, "luma", 4, dtypes, luma.device)
    n, one, h, w = luma.shape
    if one != 1 or h % 8 or w % 8 or n == 0 or h == 0 or w == 0:
        raise ValueError(f"luma must be a non-empty (N, 1, H, W) plane with H, W multiples of 8, got {tuple(luma.shape)}")
    if chroma is None:
        return n, h, w, 0, 0
    _check_tensor(chroma, "chroma", 4, dtypes, luma.device)
    if chroma.dtype != luma.dtype:
        raise TypeError(f"chroma must have the luma's dtype {luma.dtype}, got {chroma.dtype}")
    hc, wc = chroma.shape[-2:]
    if chroma.shape[:2] != (n, 2) or hc % 8 or wc % 8 or hc == 0 or wc == 0:
        raise ValueError(f"chroma must be (N, 2, Hc, Wc) with N = {n} and Hc, Wc multiples of 8, got {tuple(chroma.shape)}")
    if h not in (hc, 2 * hc) or w not in (wc, 2 * wc):
        raise ValueError(f"chroma plane {hc}x{wc} must be the luma plane {h}x{w} or half of it in each direction")
    return n, h, w, h // hc, w // wc


def _table_rows(table: torch.Tensor | None, n: int, channels: int, name: str, device: torch.device) -> torch.Tensor:
    """A quantization table argument -> float32 ``(N or 1, channels, 64)``. Accepts (8, 8),
    (N, 8, 8), (N, 1 or channels, 8, 8); None (already dequantized planes) -> ones."""
    if table is None:
        return torch.ones(1, channels, 64, device=device)
    if table.device != device:
        raise ValueError(f"{name} is on {table.device}, expected {device}")
    t = table
    if t.dim() == 2:
        t = t[None, None]
    elif t.dim() == 3:
        t = t[:, None]
    if t.dim() != 4 or t.shape[-2:] != (8, 8) or t.shape[0] not in (1, n) or t.shape[1] not in (1, channels):
        raise ValueError(f"{name} must be (8, 8), (N, 8, 8) or (N, {channels}, 8, 8) with N = {n}, "
                         f"got {tuple(table.shape)}")
    return t.to(torch.float32).reshape(t.shape[0], t.shape[1], 64).expand(-1, channels, -1)


def _stack_tables(rows: list[torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Per-component ``(N or 1, C_i, 64)`` tables -> contiguous ``(N or 1, 3, 64)`` and its
    image stride (0 when every image shares the tables)."""
    batch = max(r.shape[0] for r in rows)
    t = torch.cat([r.expand(batch, -1, -1) for r in rows], dim=1)
    if t.shape[1] < 3:  # gray: pad so the kernel's fixed channel offsets stay in bounds
        t = torch.cat([t, t.new_zeros(batch, 3 - t.shape[1], 64)], dim=1)
    t = t.contiguous()
    return t, (0 if batch == 1 else t.stride(0))


def _mode(fy: int, fx: int, cw: int, upsampling: str) -> int:
    """The upsampling mode libjpeg uses for ratio ``(fy, fx)`` at real chroma width ``cw``."""
    if upsampling == "nearest" or (fy, fx) == (1, 1):
        return _NEAREST
    if (fy, fx) == (2, 2):
        return _FANCY_H2V2 if cw > 2 else _NEAREST
    if (fy, fx) == (1, 2):
        return _FANCY_H2V1 if cw > 2 else _NEAREST
    return _FANCY_H1V2


def _check_out(out: torch.Tensor | None, shape: tuple, dtype: torch.dtype, device: torch.device,
               name: str = "out") -> torch.Tensor:
    if out is None:
        return torch.empty(shape, dtype=dtype, device=device)
    if out.shape != shape or out.dtype != dtype or out.device != device:
        raise ValueError(f"{name} must be {dtype} {shape} on {device}, got {out.dtype} {tuple(out.shape)} on {out.device}")
    return out


def _launch_decode(luma, chroma, scale, tsn, offset, size, upsampling, exact, out) -> torch.Tensor:
    """Shared decode launcher: planes already validated, tables ``(N or 1, 3, 64)`` float32."""
    n, h, w, fy, fx = _check_planes(luma, chroma, (luma.dtype,))
    height, width = (h, w) if size is None else (int(size[0]), int(size[1]))
    if not (0 < height <= h and 0 < width <= w):
        raise ValueError(f"size {(height, width)} must be positive and within the planes' {(h, w)}")
    if upsampling not in UPSAMPLING:
        raise ValueError(f"upsampling must be one of {UPSAMPLING}, got {upsampling!r}")
    channels = 1 if chroma is None else 3
    out = _check_out(out, (n, channels, height, width), torch.uint8, luma.device)
    kron = islow_matrices(luma.device) if exact else _kron(luma.device)
    fy, fx = max(fy, 1), max(fx, 1)
    ch, cw = -(-height // fy), -(-width // fx)
    scratch = luma.new_empty(0, dtype=torch.uint8)
    if chroma is None:
        mode_chroma, mode = 0, _NEAREST
    elif (fy, fx) == (1, 1):
        mode_chroma, mode = 1, _NEAREST
    else:
        mode_chroma, mode = 2, _mode(fy, fx, cw, upsampling)
        scratch = torch.empty(n, 2, ch, cw, dtype=torch.uint8 if exact else torch.float32, device=luma.device)
        cbh, cbw = chroma.shape[2] // 8, chroma.shape[3] // 8
        total = n * 2 * cbh * cbw
        _chroma_idct_kernel[(triton.cdiv(total, _DECODE_BLOCKS),)](
            chroma, scratch, scale, offset, kron, total, cbh, cbw, *chroma.stride(), tsn, ch, cw,
            EXACT=exact, BLOCKS=_DECODE_BLOCKS)
    cstrides = chroma.stride() if chroma is not None else (0, 0, 0, 0)
    bh, bw = h // 8, w // 8
    total = n * bh * bw
    _decode_kernel[(triton.cdiv(total, _DECODE_BLOCKS),)](
        luma, chroma if chroma is not None else luma, scratch, scale, offset, kron, out,
        total, bh, bw, luma.stride(0), luma.stride(2), luma.stride(3), *cstrides, tsn, *out.stride(),
        height, width, ch, cw, CHROMA=mode_chroma, EXACT=exact, MODE=mode, FY=fy, FX=fx, BLOCKS=_DECODE_BLOCKS)
    return out


def decode_planes(luma: torch.Tensor, chroma: torch.Tensor | None = None, luma_table: torch.Tensor | None = None,
                  chroma_table: torch.Tensor | None = None, *, size: tuple[int, int] | None = None,
                  upsampling: str = "fancy", dtype: torch.dtype = torch.uint8, idct: str = "islow",
                  out: torch.Tensor | None = None) -> torch.Tensor:
    """Fused libjpeg-style decode of quantized coefficient planes to uint8 pixels.

    Twin of ``decode_planes(..., dtype=torch.uint8)`` (``idct="islow"``), identical to it:
    integer dequantization -> libjpeg's integer islow IDCT (exact; see the module docstring)
    -> +128, range-limit -> libjpeg's integer fancy (or nearest) upsampling at the real chroma
    size -> fixed-point YCbCr to RGB -> clamp -> uint8. Exact for dequantized coefficients
    within +-4096 (valid 8-bit JPEGs stay within +-2048); larger ones (corrupt data) are clamped
    to +-4096. Tables are truncated to integers, as the reference does.

    Args:
        luma: int16 ``(N, 1, H, W)`` tiled Y coefficients (H, W multiples of 8); any strides.
        chroma: int16 ``(N, 2, Hc, Wc)`` tiled Cb, Cr with ``Hc`` in ``(H, H/2)``, ``Wc`` in
            ``(W, W/2)``, or None for gray.
        luma_table, chroma_table: quantization tables ``(8, 8)``, ``(N, 8, 8)`` or
            ``(N, C, 8, 8)`` (any real dtype, integer-valued), or None when the planes are
            already dequantized.
        size: ``(height, width)`` of the real image (default ``(H, W)``).
        upsampling: ``"fancy"`` (libjpeg's default) or ``"nearest"``.
        dtype, idct: the reference's options; only ``torch.uint8`` and ``"islow"`` are computed
            here (ValueError otherwise).
        out: optional uint8 ``(N, 3 or 1, height, width)`` to write into (any strides); without
            it the call goes through the custom op ``qgac_fast::decode_planes``.

    Returns:
        uint8 ``(N, 3, height, width)`` RGB, or ``(N, 1, height, width)`` gray.
    """
    if dtype != torch.uint8 or idct != "islow":
        raise ValueError(f"the Triton decode computes only dtype=torch.uint8 with idct='islow' (got dtype={dtype}, "
                         f"idct={idct!r}); use backend='reference'")
    if out is None:
        height, width = size or (0, 0)  # the op's "planes' size"
        return torch.ops.qgac_fast.decode_planes(luma, chroma, luma_table, chroma_table, height, width, upsampling)
    return _decode_planes(luma, chroma, luma_table, chroma_table, size, upsampling, out)


def _decode_planes(luma, chroma, luma_table, chroma_table, size, upsampling, out) -> torch.Tensor:
    _check_planes(luma, chroma, (torch.int16,))
    n = luma.shape[0]
    rows = [_table_rows(luma_table, n, 1, "luma_table", luma.device)]
    if chroma is not None:
        rows.append(_table_rows(chroma_table, n, 2, "chroma_table", luma.device))
    scale, tsn = _stack_tables(rows)
    offset = torch.zeros_like(scale)
    return _launch_decode(luma, chroma, scale, tsn, offset, size, upsampling, True, out)


def decode_normalized(luma: torch.Tensor, chroma: torch.Tensor | None = None,
                      mean: torch.Tensor | None = None, std: torch.Tensor | None = None, *,
                      size: tuple[int, int] | None = None, upsampling: str = "fancy",
                      bins: tuple[torch.Tensor, torch.Tensor] | None = None,
                      out: torch.Tensor | None = None) -> torch.Tensor:
    """Fused decode of the model's float coefficient planes to uint8 pixels.

    Twin of :func:`qgac_fast.functional.jpeg.decode_normalized`: ``coef = x * std + mean`` ->
    (Y clamped to ``bins``, by torch before the kernel) -> float32 IDCT -> +128 -> float triangle
    (or nearest) upsampling -> float YCbCr to RGB -> clamp to [0, 255] -> round half up -> uint8.

    Args:
        luma: float32 / float16 / bfloat16 ``(N, 1, H, W)`` tiled Y coefficients, normalised per
            frequency (or de-normalised when ``mean`` and ``std`` are None); any strides.
        chroma: ``(N, 2, Hc, Wc)`` Cb, Cr of the same dtype (``Hc`` in ``(H, H/2)``, ``Wc`` in
            ``(W, W/2)``), or None for gray.
        mean, std: ``(C, 8, 8)`` per channel and frequency (C = 3, or 1 for gray), or both None.
        size, upsampling: as in :func:`decode_planes`.
        bins: as in the reference.
        out: as in :func:`decode_planes` (the custom op is ``qgac_fast::decode_normalized``).

    Returns:
        uint8 ``(N, 3, height, width)`` RGB, or ``(N, 1, height, width)`` gray.
    """
    if bins is not None:  # float32 from here, the chroma too (the kernel takes one dtype)
        luma = _constrained(luma, mean, std, *bins)
        chroma = None if chroma is None else chroma.to(torch.float32)
    if out is None:
        height, width = size or (0, 0)  # the op's "planes' size"
        return torch.ops.qgac_fast.decode_normalized(luma, chroma, mean, std, height, width, upsampling)
    return _decode_normalized(luma, chroma, mean, std, size, upsampling, out)


def _constrained(luma: torch.Tensor, mean: torch.Tensor | None, std: torch.Tensor | None, dequantized: torch.Tensor,
                 table: torch.Tensor) -> torch.Tensor:
    """Normalised float32 ``luma`` clamped to its quantization bins (in de-normalised units)."""
    check_bins(luma, dequantized, table)
    luma, dequantized = luma.to(torch.float32), dequantized.to(torch.float32)
    if mean is None:
        return clamp_to_bins(luma, dequantized, table)
    scale = tile_table(std[:1].to(torch.float32), *luma.shape[-2:])
    shift = tile_table(mean[:1].to(torch.float32), *luma.shape[-2:])
    return (clamp_to_bins(luma * scale + shift, dequantized, table) - shift) / scale


def _decode_normalized(luma, chroma, mean, std, size, upsampling, out) -> torch.Tensor:
    _check_planes(luma, chroma, (torch.float32, torch.float16, torch.bfloat16))
    channels = 1 if chroma is None else 3
    if (mean is None) != (std is None):
        raise ValueError("mean and std must both be given or both be None")
    if mean is None:
        scale = torch.ones(1, 3, 64, device=luma.device)
        offset = torch.zeros(1, 3, 64, device=luma.device)
    else:
        for t, name in ((mean, "mean"), (std, "std")):
            _check_tensor(t, name, 3, (torch.float32, torch.float16, torch.bfloat16, torch.float64), luma.device)
            if t.shape != (channels, 8, 8):
                raise ValueError(f"{name} must be ({channels}, 8, 8), got {tuple(t.shape)}")
        scale, _ = _stack_tables([std.to(torch.float32).reshape(1, channels, 64)])
        offset, _ = _stack_tables([mean.to(torch.float32).reshape(1, channels, 64)])
    return _launch_decode(luma, chroma, scale, 0, offset, size, upsampling, False, out)


def unsupported_layout(jc) -> str | None:
    """None if :func:`decode` takes the layout of ``jc`` (a
    :class:`~qgac_fast.coefficients.JPEGCoefficients`), else a sentence saying why not: the kernels
    decode gray and YCbCr frames whose chroma is the luma's size or half of it each way
    (4:4:4, 4:2:2, 4:2:0, 4:4:0)."""
    if jc.num_components == 1:
        return None
    if jc.num_components != 3 or jc.color_space != "ycbcr":
        return f"the Triton decode takes gray or YCbCr frames, not {jc.num_components}-component {jc.color_space}"
    hmax = max(h for h, _ in jc.sampling)
    vmax = max(v for _, v in jc.sampling)
    luma, *chroma = jc.sampling
    ratios = {(vmax / v, hmax / h) for h, v in chroma}
    if luma != (hmax, vmax) or len(ratios) != 1 or not ratios <= {(fy, fx) for fy in (1, 2) for fx in (1, 2)}:
        return f"the Triton decode takes chroma ratios of 1 or 2 only, not the sampling {jc.subsampling}"
    return None


def decode(jc, *, device: torch.device | str | None = None, upsampling: str = "fancy",
           dtype: torch.dtype = torch.uint8, idct: str = "islow") -> torch.Tensor:
    """Decode one JPEG's coefficients to uint8 pixels with the fused kernel (:func:`decode_planes`).

    Twin of :func:`qgac_fast.functional.jpeg.decode` with ``dtype=torch.uint8`` and
    ``idct="islow"``, identical to it (and so to libjpeg).

    Args:
        jc: :class:`~qgac_fast.coefficients.JPEGCoefficients` with a layout :func:`unsupported_layout`
            accepts (ValueError otherwise).
        device: where to decode (CUDA, or the CPU under Triton's interpreter); default: the
            coefficients' device. The int16 block grids and tables are copied there.
        upsampling: ``"fancy"`` (libjpeg's default) or ``"nearest"``.
        dtype, idct: as in :func:`decode_planes` (only ``torch.uint8`` and ``"islow"``).

    Returns:
        uint8 ``(3, height, width)`` RGB, or ``(1, height, width)`` gray, on ``device``.
    """
    reason = unsupported_layout(jc)
    if reason is not None:
        raise ValueError(f"{reason}; use backend='reference'")
    device = jc.coefficients[0].device if device is None else torch.device(device)
    planes = [deblockify(c.to(device)) for c in jc.coefficients]  # tiled (H_c, W_c), one copy each
    tables = [q.to(device) for q in jc.quantization]
    chroma = chroma_table = None
    if len(planes) == 3:
        chroma, chroma_table = torch.stack(planes[1:])[None], torch.stack(tables[1:])[None]
    out = decode_planes(planes[0][None, None], chroma, tables[0], chroma_table, size=(jc.height, jc.width),
                        upsampling=upsampling, dtype=dtype, idct=idct)
    return out[0]


def encode_planes(rgb: torch.Tensor, luma_table: torch.Tensor, chroma_table: torch.Tensor,
                  subsampling: str = "4:2:0", *, dct: str = "float",
                  out: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused libjpeg-style encode of uint8 RGB to quantized coefficient planes.

    Twin of ``encode_planes(..., dct="float")``: fixed-point RGB to YCbCr -> edge replication to
    whole MCUs -> biased box downsampling -> -128 -> float32 DCT -> divide by the table, round
    half away from zero -> int16, with libjpeg's dummy blocks in the MCU padding.

    Args:
        rgb: uint8 ``(N, 3, H, W)``; any strides.
        luma_table, chroma_table: integer-valued tables ``(8, 8)`` or ``(N, 8, 8)``, entries
            1..32767 (``chroma_table`` shared by Cb and Cr).
        subsampling: ``"4:4:4"``, ``"4:2:0"``, ``"4:2:2"`` or ``"4:4:0"``.
        dct: the reference's option; only ``"float"`` is computed here (ValueError otherwise).
        out: optional ``(luma, chroma)`` int16 contiguous planes of the result's shapes; without
            it the call goes through the custom op ``qgac_fast::encode_planes``.

    Returns:
        ``(luma, chroma)``: int16 ``(N, 1, Hp, Wp)`` and ``(N, 2, Hp / fy, Wp / fx)``, padded to
        whole MCUs (``Hp = ceil(H / (8 fy)) * 8 fy``).
    """
    if dct != "float":
        raise ValueError(f"the Triton encode computes only dct='float' (got dct={dct!r}); use backend='reference'")
    if out is None:
        return torch.ops.qgac_fast.encode_planes(rgb, luma_table, chroma_table, subsampling)
    return _encode_planes(rgb, luma_table, chroma_table, subsampling, out)


def _encode_planes(rgb, luma_table, chroma_table, subsampling, out) -> tuple[torch.Tensor, torch.Tensor]:
    _check_tensor(rgb, "rgb", 4, (torch.uint8,), rgb.device)
    n, three, height, width = rgb.shape
    if three != 3 or 0 in rgb.shape:
        raise ValueError(f"rgb must be a non-empty (N, 3, H, W), got {tuple(rgb.shape)}")
    if subsampling not in ("4:4:4", "4:2:0", "4:2:2", "4:4:0"):
        raise ValueError(f"subsampling must be '4:4:4', '4:2:0', '4:2:2' or '4:4:0', got {subsampling!r}")
    hs, vs = SUBSAMPLING_FACTORS[subsampling]
    tables = []
    for t, name in ((luma_table, "luma_table"), (chroma_table, "chroma_table")):
        if not isinstance(t, torch.Tensor) or t.shape not in ((8, 8), (n, 8, 8)):
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"{name} must be an (8, 8) or (N, 8, 8) tensor with N = {n}, got {got}")
        if t.device != rgb.device:
            raise ValueError(f"{name} is on {t.device}, expected {rgb.device}")
        bad = (t < 1) | (t > 32767)
        if t.is_floating_point():
            bad |= t != t.round()
        if bool(bad.any()):
            raise ValueError(f"{name} entries must be integers in 1..32767")
        tables.append(t.to(torch.float32).reshape(-1, 1, 64))
    table, tsn = _stack_tables(tables)
    mcu_rows, mcu_cols = -(-height // (8 * vs)), -(-width // (8 * hs))
    shapes = ((n, 1, mcu_rows * 8 * vs, mcu_cols * 8 * hs), (n, 2, mcu_rows * 8, mcu_cols * 8))
    if out is None:
        out = tuple(torch.empty(s, dtype=torch.int16, device=rgb.device) for s in shapes)
    for o, s, name in zip(out, shapes, ("out[0]", "out[1]")):
        _check_out(o, s, torch.int16, rgb.device, name)
        if not o.is_contiguous():
            raise ValueError(f"{name} must be contiguous")
    total = n * mcu_rows * mcu_cols
    _encode_kernel[(triton.cdiv(total, _ENCODE_MCUS),)](
        rgb, out[0], out[1], table, _kron(rgb.device, transpose=True),
        total, mcu_rows, mcu_cols, *rgb.stride(), tsn, height, width,
        -(-height // 8), -(-width // 8), -(-height // vs), FY=vs, FX=hs, MCUS=_ENCODE_MCUS)
    return out[0], out[1]


# ------------------------------------------------------------------------------------------------
# custom ops (torch.compile / CUDA graphs): functional, allocate their outputs


def _out_size(luma: torch.Tensor, height: int, width: int) -> tuple[int, int]:
    return (height, width) if height > 0 else (luma.shape[2], luma.shape[3])


@torch.library.custom_op("qgac_fast::decode_planes", mutates_args=())
def _decode_planes_op(luma: torch.Tensor, chroma: torch.Tensor | None, luma_table: torch.Tensor | None,
                      chroma_table: torch.Tensor | None, height: int, width: int, upsampling: str) -> torch.Tensor:
    """``decode_planes`` as a custom op (``height = 0``: the planes' size)."""
    size = (height, width) if height > 0 else None  # checked by the launcher, with the planes
    return _decode_planes(luma, chroma, luma_table, chroma_table, size, upsampling, None)


@_decode_planes_op.register_fake
def _(luma, chroma, luma_table, chroma_table, height, width, upsampling):
    h, w = _out_size(luma, height, width)
    return luma.new_empty((luma.shape[0], 1 if chroma is None else 3, h, w), dtype=torch.uint8)


@torch.library.custom_op("qgac_fast::decode_normalized", mutates_args=())
def _decode_normalized_op(luma: torch.Tensor, chroma: torch.Tensor | None, mean: torch.Tensor | None,
                          std: torch.Tensor | None, height: int, width: int, upsampling: str) -> torch.Tensor:
    """``decode_normalized`` as a custom op (``height = 0``: the planes' size)."""
    size = (height, width) if height > 0 else None
    return _decode_normalized(luma, chroma, mean, std, size, upsampling, None)


@_decode_normalized_op.register_fake
def _(luma, chroma, mean, std, height, width, upsampling):
    h, w = _out_size(luma, height, width)
    return luma.new_empty((luma.shape[0], 1 if chroma is None else 3, h, w), dtype=torch.uint8)


@torch.library.custom_op("qgac_fast::encode_planes", mutates_args=())
def _encode_planes_op(rgb: torch.Tensor, luma_table: torch.Tensor, chroma_table: torch.Tensor,
                      subsampling: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``encode_planes`` as a custom op."""
    return _encode_planes(rgb, luma_table, chroma_table, subsampling, None)


@_encode_planes_op.register_fake
def _(rgb, luma_table, chroma_table, subsampling):
    hs, vs = SUBSAMPLING_FACTORS[subsampling]
    n, _, height, width = rgb.shape
    rows, cols = -(-height // (8 * vs)), -(-width // (8 * hs))
    return (rgb.new_empty((n, 1, rows * 8 * vs, cols * 8 * hs), dtype=torch.int16),
            rgb.new_empty((n, 2, rows * 8, cols * 8), dtype=torch.int16))


# ------------------------------------------------------------------------------------------------
# ahead-of-time compile check (see qgac_fast.kernels._compile_check)

_I32 = "i32"


def _decode_signature(coef: str, scratch: str) -> dict:
    names = ["total", "bh", "bw", "ysn", "ysh", "ysw", "csn", "csc", "csh", "csw", "tsn", "osn", "osc", "osh",
             "osw", "height", "width", "ch", "cw"]
    return {"y_ptr": coef, "c_ptr": coef, "scratch_ptr": scratch, "scale_ptr": "*fp32", "offset_ptr": "*fp32",
            "kron_ptr": "*fp32", "out_ptr": "*u8", **{k: _I32 for k in names}}


def _chroma_signature(coef: str, scratch: str) -> dict:
    names = ["total", "bh", "bw", "csn", "csc", "csh", "csw", "tsn", "ch", "cw"]
    return {"coef_ptr": coef, "scratch_ptr": scratch, "scale_ptr": "*fp32", "offset_ptr": "*fp32",
            "kron_ptr": "*fp32", **{k: _I32 for k in names}}


def _compile_checks() -> list:
    checks = []
    variants = [("*i16", "*u8", True)] + [(c, "*fp32", False) for c in ("*fp32", "*fp16", "*bf16")]
    for coef, scratch, exact in variants:
        checks.append((_chroma_idct_kernel, _chroma_signature(coef, scratch), {"EXACT": exact, "BLOCKS": _DECODE_BLOCKS}))
        for chroma, mode, fy, fx in ((0, 0, 1, 1), (1, 0, 1, 1), (2, 0, 2, 2), (2, 1, 2, 2), (2, 2, 1, 2), (2, 3, 2, 1)):
            checks.append((_decode_kernel, _decode_signature(coef, scratch),
                           {"CHROMA": chroma, "EXACT": exact, "MODE": mode, "FY": fy, "FX": fx,
                            "BLOCKS": _DECODE_BLOCKS}))
    enc = {"rgb_ptr": "*u8", "y_ptr": "*i16", "c_ptr": "*i16", "table_ptr": "*fp32", "kron_t_ptr": "*fp32",
           **{k: _I32 for k in ("total", "mcu_rows", "mcu_cols", "rsn", "rsc", "rsh", "rsw", "tsn", "height",
                                "width", "hb", "wb", "chroma_rows")}}
    for fy, fx in ((1, 1), (2, 2), (1, 2), (2, 1)):
        checks.append((_encode_kernel, enc, {"FY": fy, "FX": fx, "MCUS": _ENCODE_MCUS}))
    return checks


COMPILE_CHECKS = _compile_checks()
