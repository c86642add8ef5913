"""Fused JPEG decode / encode kernels (kernels/jpeg.py) against their reference twins.

* decode (``decode_planes``): libjpeg's integer islow IDCT computed exactly (integer matrices split
  into small digits, exact float32 products), so it must be identical to the default reference
  ``decode_planes(..., dtype=torch.uint8)`` (bit-exact with libjpeg): max diff 0 on every shape,
  subsampling and photo quality, and for dequantized coefficients up to the kernel's exactness
  bound +-4096 (valid 8-bit JPEGs stay within +-2048; larger values are clamped to the bound).
* float decode (``decode_normalized``) and encode compute the float (I)DCT in float32,
  the references in float64, so integer outputs may differ where a value sits within float32
  accumulation error of a rounding tie (exact ties, common at the DC and the (0, 4), (4, 0),
  (4, 4) frequencies whose weights are +-1/8, are exact in both since the reference stores those
  weights exactly). Float decode: at most 0.1 % of the values differ, a single channel by at
  most 1, RGB by at most 2 (one chroma level becomes up to 1.772 levels of blue). Encode: every
  coefficient within 1, at most 0.1 % differing (measured on the 256x256 photo: none at q10, q50,
  q90, q95; 0.019 % at q100, where every table entry is 1).
"""

import dataclasses
import math

import pytest
import torch

import qgac_fast
from qgac_fast import ops
from qgac_fast.codec import read_coefficients
from qgac_fast.functional.jpeg import decode as reference_decode
from qgac_fast.functional.jpeg import (
    coefficient_planes, decode_normalized, decode_planes, encode, encode_planes,
)
from qgac_fast.kernels import jpeg as kernels
from qgac_fast.quality import ijg_table

from images import sample_image, synthetic_image, turbo_jpeg

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

# (N, H, W) by name: the interpreter runs ~1 ms per program, so CPU shapes stay small
SHAPES = {
    "one-block": (1, 8, 8),
    "7x9-blocks-cropped": (1, 53, 67),
    "batch3-17x33": (3, 17, 33),
    "thin-3px-wide": (2, 40, 3),
}
CUDA_SHAPES = {"batch4-509x383": (4, 509, 383)}
SUBSAMPLINGS = ("4:2:0", "4:4:4", "4:2:2", "4:4:0")


def _shapes(device):
    return {**SHAPES, **(CUDA_SHAPES if device == "cuda" else {})}


def _cases(device_list=DEVICES):
    return [pytest.param(d, s, id=f"{d}-{name}") for d in device_list for name, s in _shapes(d).items()]


def _images(shape, device, seed=0) -> torch.Tensor:
    """uint8 (N, 3, H, W) photo-like images (never constant)."""
    n, h, w = shape
    imgs = [torch.from_numpy(synthetic_image(h, w, seed=seed + i)).permute(2, 0, 1) for i in range(n)]
    return torch.stack(imgs).to(device)


def _tables(n, device, seed=0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample int64 luma and chroma tables (N, 8, 8), entries 1..40 (fine to coarse)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(1, 41, (n, 8, 8), generator=g).to(device),
            torch.randint(1, 41, (n, 8, 8), generator=g).to(device))


def _assert_close_int(got: torch.Tensor, want: torch.Tensor, max_diff: int = 1, fraction: float = 1e-3) -> float:
    """At most ``max_diff`` levels off, on at most ``fraction`` of the values (>= 1 allowed on
    tiny shapes); returns the measured fraction."""
    assert got.shape == want.shape and got.dtype == want.dtype
    diff = (got.to(torch.int32) - want.to(torch.int32)).abs()
    bad = int((diff > 0).sum())
    where = diff.nonzero()[:5].tolist()
    assert int(diff.max()) <= max_diff, f"max diff {int(diff.max())} at {where}"
    assert bad <= max(1, math.floor(fraction * want.numel())), f"{bad} of {want.numel()} differ, first at {where}"
    return bad / want.numel()


def _assert_rgb(got: torch.Tensor, want: torch.Tensor) -> float:
    """Decode bound: 1 level for a single channel, 2 for RGB (chroma x 1.772), 0.1 % differing."""
    return _assert_close_int(got, want, max_diff=1 if want.shape[1] == 1 else 2)


def _assert_identical(got: torch.Tensor, want: torch.Tensor) -> None:
    """Exact decode: same shape and dtype, max diff 0."""
    assert got.shape == want.shape and got.dtype == want.dtype
    diff = (got.to(torch.int32) - want.to(torch.int32)).abs()
    assert int(diff.max()) == 0, f"{int((diff > 0).sum())} of {want.numel()} differ, max {int(diff.max())}, " \
                                 f"first at {diff.nonzero()[:5].tolist()}"


def _assert_coefficients(got: torch.Tensor, want: torch.Tensor) -> float:
    """Encode bound: 1 level, 0.1 % differing (float32 vs float64 near rounding ties)."""
    return _assert_close_int(got, want)


def _encoded(shape, subsampling, device, seed=0):
    """(luma, chroma, luma_table, chroma_table) of libjpeg-encoded (islow) photo-like images."""
    lt, ct = _tables(shape[0], device, seed)
    y, c = encode_planes(_images(shape, device, seed), lt, ct, subsampling)
    return y, c, lt, ct


# ------------------------------------------------------------------------------------------------
# decode (libjpeg integer path): identical to the islow reference


@pytest.mark.parametrize("subsampling", SUBSAMPLINGS)
@pytest.mark.parametrize("device, shape", _cases())
def test_decode_matches_reference(device, shape, subsampling):
    y, c, lt, ct = _encoded(shape, subsampling, device)
    size = shape[1:]
    want = decode_planes(y, c, lt, ct, size=size, dtype=torch.uint8)
    out = torch.full_like(want, 77)  # poisoned
    got = kernels.decode_planes(y, c, lt, ct, size=size, out=out)
    assert got.data_ptr() == out.data_ptr()
    _assert_identical(got, want)


@pytest.mark.parametrize("device", DEVICES)
def test_decode_nearest_and_shared_tables(device):
    y, c, lt, ct = _encoded((2, 37, 45), "4:2:0", device)
    want = decode_planes(y, c, lt[0], ct[0], size=(37, 45), upsampling="nearest", dtype=torch.uint8)
    _assert_identical(kernels.decode_planes(y, c, lt[0], ct[0], size=(37, 45), upsampling="nearest"), want)


@pytest.mark.parametrize("device", DEVICES)
def test_decode_gray(device):
    y, _, lt, _ = _encoded((3, 21, 30), "4:4:4", device)
    want = decode_planes(y, None, lt, size=(21, 30), dtype=torch.uint8)
    assert want.shape == (3, 1, 21, 30)
    _assert_identical(kernels.decode_planes(y, None, lt, size=(21, 30)), want)


@pytest.mark.parametrize("device", DEVICES)
def test_decode_random_coefficients_with_clipping(device):
    """Noise coefficients drive the IDCT output far outside 0..255 (range limiting everywhere)."""
    g = torch.Generator().manual_seed(3)
    y = torch.randint(-60, 61, (2, 1, 32, 48), generator=g, dtype=torch.int16).to(device)
    c = torch.randint(-60, 61, (2, 2, 16, 24), generator=g, dtype=torch.int16).to(device)
    lt = torch.randint(1, 9, (2, 1, 8, 8), generator=g).to(device)
    ct = torch.randint(1, 9, (2, 2, 8, 8), generator=g).to(device)  # Cb and Cr tables differ
    want = decode_planes(y, c, lt, ct, size=(29, 45), dtype=torch.uint8)
    _assert_identical(kernels.decode_planes(y, c, lt, ct, size=(29, 45)), want)


def _extreme_blocks(bound: int) -> torch.Tensor:
    """int16 ``(130, 8, 8)`` dequantized blocks of magnitude ``bound`` that maximise the islow
    IDCT's intermediates: for output (r, c), ``x[i, j] = bound * sign(M[r, i]) * sign(M[c, j])``
    drives pass 1 and pass 2 to their L1 bounds (``M``: the 1-D islow matrix), both signs; plus
    the all-``+-bound`` blocks."""
    m = kernels.islow_matrices(torch.device("cpu"))[2][:8, :8].T  # K2 = kron(I8, M^T): M[k, i]
    s = torch.where(m >= 0, 1, -1).to(torch.int64)
    blocks = [bound * s[r][:, None] * s[c][None, :] for r in range(8) for c in range(8)]
    blocks = torch.stack(blocks + [torch.full((8, 8), bound, dtype=torch.int64)])
    return torch.cat([blocks, -blocks]).to(torch.int16)


@pytest.mark.parametrize("device", DEVICES)
def test_decode_exact_at_range_bound_and_clamped_beyond(device):
    """Dequantized coefficients at +-4096 (the exactness bound, twice the largest a valid 8-bit
    JPEG holds) decode identically; beyond it the kernel equals the reference on clamped input."""
    blocks = _extreme_blocks(4096)  # 130 blocks tiled into a 16 x 16 block grid
    grid = torch.cat([blocks, blocks.new_zeros(16 * 16 - 130, 8, 8)]).reshape(16, 16, 8, 8)
    y = grid.permute(0, 2, 1, 3).reshape(1, 1, 128, 128).contiguous().to(device)
    c = torch.stack([y[0, 0, :64, :64], -y[0, 0, 64:, 64:]])[None].contiguous()  # 4:2:0
    want = decode_planes(y, c, dtype=torch.uint8)
    _assert_identical(kernels.decode_planes(y, c), want)
    c444 = torch.cat([y, y.flip(-1)], dim=1)
    _assert_identical(kernels.decode_planes(y, c444), decode_planes(y, c444, dtype=torch.uint8))
    # beyond the bound (corrupt data): int16 coefficients x large tables, clamped to +-4096
    g = torch.Generator().manual_seed(11)
    yq = torch.randint(-300, 301, (1, 1, 16, 32), generator=g, dtype=torch.int16).to(device)
    cq = torch.randint(-300, 301, (1, 2, 8, 16), generator=g, dtype=torch.int16).to(device)
    lt = torch.randint(1, 200, (8, 8), generator=g).to(device)
    ct = torch.randint(1, 200, (8, 8), generator=g).to(device)
    assert (yq.abs().amax() * lt.amax()) > 4096
    clamp = lambda q, t: (q.to(torch.int64) * t.repeat(q.shape[2] // 8, q.shape[3] // 8)).clamp(-4096, 4096)
    want = decode_planes(clamp(yq, lt), clamp(cq, ct), dtype=torch.uint8)
    _assert_identical(kernels.decode_planes(yq, cq, lt, ct), want)


@pytest.mark.parametrize("device", DEVICES)
def test_decode_non_contiguous(device):
    y, c, lt, ct = _encoded((2, 33, 47), "4:2:0", device)
    want = decode_planes(y, c, lt, ct, size=(33, 47), dtype=torch.uint8)
    y_view = torch.cat([y, y], dim=3)[..., : y.shape[3]]  # row stride twice the width
    c_view = c.transpose(2, 3).contiguous().transpose(2, 3)  # column-major planes
    out = torch.full((2, 33, 47, 3), 5, dtype=torch.uint8, device=device).permute(0, 3, 1, 2)  # channels last
    assert not (y_view.is_contiguous() or c_view.is_contiguous() or out.is_contiguous())
    _assert_identical(kernels.decode_planes(y_view, c_view, lt, ct, size=(33, 47), out=out), want)


# ------------------------------------------------------------------------------------------------
# decode of one file's coefficients (qgac_fast.decode with backend="triton")

FILE_LAYOUTS = ("gray", "4:2:0", "4:2:2", "4:4:0", "4:4:4")


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
@pytest.mark.parametrize("size", [(1, 1), (17, 33), (40, 3)], ids=["1x1", "17x33", "40x3"])
@pytest.mark.parametrize("layout", FILE_LAYOUTS)
@pytest.mark.parametrize("device", DEVICES)
def test_decode_file_matches_reference(device, layout, size, progressive):
    image = synthetic_image(*size, seed=size[0] + 7 * size[1])
    if layout == "gray":
        image = image[..., 0].copy()
    jc = read_coefficients(turbo_jpeg(image, 60, "4:2:0" if layout == "gray" else layout, progressive=progressive))
    want = reference_decode(jc)
    for upsampling in ("fancy", "nearest"):
        got = qgac_fast.decode(jc, device=device, upsampling=upsampling, backend="triton")
        assert got.device.type == device and got.shape == want.shape
        _assert_identical(got.cpu(), reference_decode(jc, upsampling=upsampling))
    _assert_identical(kernels.decode(jc, device=device).cpu(), want)


def test_decode_file_refusals():
    jc = read_coefficients(turbo_jpeg(synthetic_image(16, 16), 60, "4:1:1"))
    assert "chroma ratios" in kernels.unsupported_layout(jc)
    with pytest.raises(ValueError, match="chroma ratios"):
        qgac_fast.decode(jc, backend="triton")
    ycbcr = read_coefficients(turbo_jpeg(synthetic_image(16, 16), 60, "4:4:4"))
    with pytest.raises(ValueError, match="YCbCr"):
        kernels.decode(dataclasses.replace(ycbcr, color_space="rgb"))
    with pytest.raises(ValueError, match="idct='islow'"):
        qgac_fast.decode(ycbcr, idct="float", backend="triton")


# ------------------------------------------------------------------------------------------------
# decode of the model's float coefficients


def _stats(channels, device):
    g = torch.Generator().manual_seed(5)
    return torch.randn(channels, 8, 8, generator=g).to(device), (torch.rand(channels, 8, 8, generator=g) + 0.5).to(device)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("subsampling", ["4:2:0", "4:4:4"])
@pytest.mark.parametrize("device, shape", _cases())
def test_decode_float_matches_reference(device, shape, subsampling, dtype):
    y, c, lt, ct = _encoded(shape, subsampling, device)
    mean, std = _stats(3, device)
    # normalised model output: dequantized coefficients in the (x - mean) / std domain, plus noise
    yn = ((y * lt.repeat(1, y.shape[2] // 8, y.shape[3] // 8)[:, None] - _tile(mean[:1], y)) / _tile(std[:1], y))
    cn = ((c * ct.repeat(1, c.shape[2] // 8, c.shape[3] // 8)[:, None] - _tile(mean[1:], c)) / _tile(std[1:], c))
    g = torch.Generator().manual_seed(1)
    yn = (yn + 0.3 * torch.randn(yn.shape, generator=g).to(device)).to(dtype)
    cn = (cn + 0.3 * torch.randn(cn.shape, generator=g).to(device)).to(dtype)
    want = decode_normalized(yn, cn, mean, std, size=shape[1:])
    out = torch.full_like(want, 3)
    _assert_rgb(kernels.decode_normalized(yn, cn, mean, std, size=shape[1:], out=out), want)
    # the quantization constraint: bins of a third of the file's steps, which the noise above leaves
    bins = ((y * lt.repeat(1, y.shape[2] // 8, y.shape[3] // 8)[:, None]).float(), lt / 3)
    unconstrained, want = want, decode_normalized(yn, cn, mean, std, size=shape[1:], bins=bins)
    assert not torch.equal(want, unconstrained)
    _assert_rgb(kernels.decode_normalized(yn, cn, mean, std, size=shape[1:], bins=bins), want)


def _tile(table, plane):
    """(C, 8, 8) -> (1, C, H, W) repeated over ``plane``'s block grid."""
    return table.repeat(1, plane.shape[2] // 8, plane.shape[3] // 8)[None]


@pytest.mark.parametrize("upsampling", ["fancy", "nearest"])
@pytest.mark.parametrize("device", DEVICES)
def test_decode_float_dequantized_and_gray(device, upsampling):
    y, c, lt, ct = _encoded((2, 23, 37), "4:2:0", device)
    yd = (y * lt.repeat(1, y.shape[2] // 8, y.shape[3] // 8)[:, None]).float()
    cd = (c * ct.repeat(1, c.shape[2] // 8, c.shape[3] // 8)[:, None]).float()
    want = decode_normalized(yd, cd, size=(23, 37), upsampling=upsampling)
    _assert_rgb(kernels.decode_normalized(yd, cd, size=(23, 37), upsampling=upsampling), want)
    mean, std = _stats(1, device)
    want = decode_normalized(yd, None, mean, std, size=(23, 37))
    _assert_rgb(kernels.decode_normalized(yd, None, mean, std, size=(23, 37)), want)


# ------------------------------------------------------------------------------------------------
# encode


@pytest.mark.parametrize("subsampling", SUBSAMPLINGS)
@pytest.mark.parametrize("device, shape", _cases())
def test_encode_matches_reference(device, shape, subsampling):
    rgb = _images(shape, device, seed=7)
    lt, ct = _tables(shape[0], device, seed=7)
    want_y, want_c = encode_planes(rgb, lt, ct, subsampling, dct="float")
    out = (torch.full_like(want_y, -32768), torch.full_like(want_c, -32768))  # poisoned
    got_y, got_c = kernels.encode_planes(rgb, lt, ct, subsampling, out=out)
    assert got_y.data_ptr() == out[0].data_ptr() and got_c.data_ptr() == out[1].data_ptr()
    _assert_coefficients(got_y, want_y)
    _assert_coefficients(got_c, want_c)


@pytest.mark.parametrize("device", DEVICES)
def test_encode_non_contiguous_and_shared_tables(device):
    rgb = _images((2, 19, 29), device, seed=2)
    lt, ct = _tables(1, device, seed=2)
    view = rgb.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)  # channels last
    assert not view.is_contiguous()
    want = encode_planes(rgb, lt[0], ct[0], "4:2:0", dct="float")
    for got, ref in zip(kernels.encode_planes(view, lt[0].float(), ct[0].to(torch.int32), "4:2:0"), want):
        _assert_coefficients(got, ref)


@pytest.mark.parametrize("subsampling", ["4:2:0", "4:4:4", "4:1:1", "gray"])
def test_encode_planes_equals_single_image_encode(subsampling):
    """The batched reference twin runs the same libjpeg steps as encode (islow, bit-exact)."""
    rgb = _images((2, 21, 35), "cpu", seed=4)
    lt, ct = _tables(2, "cpu", seed=4)
    y, c = encode_planes(rgb, lt, None if subsampling == "gray" else ct, subsampling)
    for i in range(2):
        planes = coefficient_planes(encode(rgb[i], torch.stack([lt[i], ct[i]]), subsampling))
        assert torch.equal(y[i, 0], planes[0])
        if subsampling == "gray":
            assert c is None
        else:
            assert torch.equal(c[i], torch.stack(planes[1:]))


# ------------------------------------------------------------------------------------------------
# dispatch and custom ops


def test_backend_dispatch():
    y, c, lt, ct = _encoded((1, 16, 24), "4:2:0", "cpu")
    fused = ops.decode_planes(y, c, lt, ct, dtype=torch.uint8, backend="triton")
    assert torch.equal(fused, kernels.decode_planes(y, c, lt, ct))
    with pytest.raises(ValueError, match="idct='islow'"):
        ops.decode_planes(y, c, lt, ct, dtype=torch.uint8, idct="float", backend="triton")
    assert ops.decode_planes(y, c, lt, ct, dtype=torch.uint8).device.type == "cpu"  # auto: reference
    rgb = _images((1, 16, 24), "cpu")
    got = ops.encode_planes(rgb, lt, ct, "4:2:0", dct="float", backend="triton")
    assert all(torch.equal(a, b) for a, b in zip(got, kernels.encode_planes(rgb, lt, ct, "4:2:0")))
    with pytest.raises(ValueError, match="dct='float'"):
        ops.encode_planes(rgb, lt, ct, "4:2:0", backend="triton")
    yf, cf = y.float(), c.float()
    assert torch.equal(ops.decode_normalized(yf, cf, backend="triton"), kernels.decode_normalized(yf, cf))


def test_custom_ops_opcheck():
    y, c, lt, ct = _encoded((1, 16, 16), "4:2:0", "cpu")
    torch.library.opcheck(torch.ops.qgac_fast.decode_planes.default, (y, c, lt, ct, 13, 15, "fancy"))
    torch.library.opcheck(torch.ops.qgac_fast.decode_normalized.default,
                          (y.float(), None, None, None, 0, 0, "nearest"))
    rgb = _images((1, 13, 15), "cpu")
    torch.library.opcheck(torch.ops.qgac_fast.encode_planes.default, (rgb, lt, ct, "4:2:0"))


# ------------------------------------------------------------------------------------------------
# input checks


def _planes():
    return torch.zeros(1, 1, 16, 16, dtype=torch.int16), torch.ones(1, 2, 8, 8, dtype=torch.int16)


@pytest.mark.parametrize("call, error, match", [
    pytest.param(lambda y, c: kernels.decode_planes(y.int(), c.int()), TypeError, "luma must be one of", id="int32-luma"),
    pytest.param(lambda y, c: kernels.decode_planes(y, c[:, :, :4]), ValueError, "multiples of 8", id="chroma-not-tiled"),
    pytest.param(lambda y, c: kernels.decode_planes(y, torch.ones(1, 2, 24, 8, dtype=torch.int16)), ValueError,
                 "or half of it", id="chroma-ratio-3"),
    pytest.param(lambda y, c: kernels.decode_planes(y[0], c), ValueError, "4 dimensions", id="3d-luma"),
    pytest.param(lambda y, c: kernels.decode_planes(y, c, size=(17, 16)), ValueError, "within the planes", id="size"),
    pytest.param(lambda y, c: kernels.decode_planes(y, c, torch.ones(2, 8, 8)), ValueError, "luma_table must be",
                 id="table-batch"),
    pytest.param(lambda y, c: kernels.decode_planes(y, c, upsampling="cubic"), ValueError, "upsampling", id="upsampling"),
    pytest.param(lambda y, c: kernels.decode_planes(y, c, out=torch.empty(1, 3, 16, 16)), ValueError,
                 "out must be torch.uint8", id="out-dtype"),
    pytest.param(lambda y, c: kernels.decode_normalized(y, c), TypeError, "float32", id="float-int16"),
    pytest.param(lambda y, c: kernels.decode_normalized(y.float(), c.float(), torch.zeros(3, 8, 8)),
                 ValueError, "both", id="mean-without-std"),
    pytest.param(lambda y, c: kernels.decode_normalized(y.float(), c.float(), torch.zeros(1, 8, 8),
                                                                torch.ones(1, 8, 8)), ValueError, r"\(3, 8, 8\)",
                 id="stats-channels"),
])
def test_decode_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(*_planes())


@pytest.mark.parametrize("kwargs, error, match", [
    pytest.param({"rgb": torch.zeros(1, 3, 8, 8)}, TypeError, "rgb must be one of", id="float-rgb"),
    pytest.param({"rgb": torch.zeros(1, 4, 8, 8, dtype=torch.uint8)}, ValueError, r"\(N, 3, H, W\)", id="rgba"),
    pytest.param({"subsampling": "4:1:1"}, ValueError, "subsampling", id="4:1:1"),
    pytest.param({"luma_table": torch.zeros(8, 8)}, ValueError, "1..32767", id="zero-table"),
    pytest.param({"luma_table": torch.full((8, 8), 1.5)}, ValueError, "integers", id="fractional-table"),
    pytest.param({"chroma_table": torch.ones(3, 8, 8)}, ValueError, "N = 1", id="table-batch"),
])
def test_encode_errors(kwargs, error, match):
    args = {"rgb": torch.zeros(1, 3, 8, 8, dtype=torch.uint8), "luma_table": torch.ones(8, 8),
            "chroma_table": torch.ones(8, 8), "subsampling": "4:2:0", **kwargs}
    with pytest.raises(error, match=match):
        kernels.encode_planes(**args)


@pytest.mark.parametrize("quality", [50, 90, 100])
def test_photo_agreement(quality):
    """The issue's acceptance on a photo with IJG tables: decode identical to libjpeg's islow
    reference, encode >= 99.9 % identical to the float reference."""
    rgb = torch.from_numpy(sample_image("astronaut.png", (96, 128))).permute(2, 0, 1)[None].contiguous()
    lt, ct = ijg_table(quality), ijg_table(quality, chroma=True)
    want = encode_planes(rgb, lt, ct, "4:2:0", dct="float")
    for got, ref in zip(kernels.encode_planes(rgb, lt, ct, "4:2:0"), want):
        _assert_close_int(got, ref)
    y, c = encode_planes(rgb, lt, ct, "4:2:0")
    ref = decode_planes(y, c, lt, ct, size=(93, 125), dtype=torch.uint8)
    _assert_identical(kernels.decode_planes(y, c, lt, ct, size=(93, 125)), ref)
