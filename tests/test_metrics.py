"""Metrics against scikit-image (PSNR, Gaussian SSIM), against direct numpy formulations
(uniform SSIM, PSNR-B pair by pair) and against hand-computed values."""

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from images import pillow_decode, pillow_jpeg, sample_image, synthetic_image
from qgac_fast import metrics
from qgac_fast.metrics import (boundary_differences, blocking_effect_factor, high_frequency_ratio, psnr, psnr_b,
                               rgb_to_y, ssim)


def _chw(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W[, C]) -> uint8 (C, H, W)."""
    image = image[..., None] if image.ndim == 2 else image
    return torch.from_numpy(np.array(image.transpose(2, 0, 1)))  # a writable copy


def _jpeg_pair(original: np.ndarray, quality: int) -> tuple[np.ndarray, np.ndarray]:
    """(original, its JPEG at ``quality`` decoded by libjpeg), both uint8 (H, W[, C])."""
    return original, pillow_decode(pillow_jpeg(original, quality))


ORIGINALS = {
    "astronaut-96x128": sample_image("astronaut.png", (96, 128)),
    "chelsea-75x101": sample_image("chelsea.png", (75, 101)),
    "synthetic-rgb-50x70": synthetic_image(50, 70, seed=1),
    "synthetic-gray-45x61": synthetic_image(45, 61, channels=1, seed=2)[..., 0],
}
PAIRS = {f"{name}-q{q}": _jpeg_pair(image, q) for name, image in ORIGINALS.items() for q in (10, 50)}


def _skimage_ssim(a: np.ndarray, b: np.ndarray) -> float:
    channel_axis = 2 if a.ndim == 3 else None
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=255, channel_axis=channel_axis)


def _numpy_uniform8_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Box-window SSIM written directly: every 8x8 window, its population moments."""
    a = a.astype(np.float64).reshape(*a.shape[:2], -1)
    b = b.astype(np.float64).reshape(*b.shape[:2], -1)
    wa = np.lib.stride_tricks.sliding_window_view(a, (8, 8), axis=(0, 1))  # (H', W', C, 8, 8)
    wb = np.lib.stride_tricks.sliding_window_view(b, (8, 8), axis=(0, 1))
    mu_a, mu_b = wa.mean(axis=(-2, -1)), wb.mean(axis=(-2, -1))
    var_a, var_b = wa.var(axis=(-2, -1)), wb.var(axis=(-2, -1))
    cov = ((wa - mu_a[..., None, None]) * (wb - mu_b[..., None, None])).mean(axis=(-2, -1))
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = (2 * mu_a * mu_b + c1) * (2 * cov + c2) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(s.mean())


def _loop_bef(image: np.ndarray, nominal: bool = False) -> float:
    """BEF of one channel (H, W), pair by pair in plain Python, straight from the paper.

    ``nominal``: divide by the paper's pair counts H (W/8 - 1) + W (H/8 - 1) (and the rest of
    H (W - 1) + W (H - 1)) instead of the number of pairs summed.
    """
    x = image.astype(np.float64)
    height, width = x.shape
    sums, counts = {True: 0.0, False: 0.0}, {True: 0, False: 0}
    for i in range(height):
        for j in range(width):
            for di, dj in ((0, 1), (1, 0)):
                if i + di < height and j + dj < width:
                    boundary = (j + dj) % 8 == 0 if dj else (i + di) % 8 == 0
                    sums[boundary] += (x[i, j] - x[i + di, j + dj]) ** 2
                    counts[boundary] += 1
    if nominal:
        counts[True] = height * (width / 8 - 1) + width * (height / 8 - 1)
        counts[False] = height * (width - 1) + width * (height - 1) - counts[True]
    d_b, d_bc = sums[True] / counts[True], sums[False] / counts[False]
    return max(0.0, math.log2(8) / math.log2(min(height, width)) * (d_b - d_bc))


def _direct_colour_psnr_b(test: np.ndarray, reference: np.ndarray) -> float:
    """Colour PSNR-B of uint8 (H, W, 3) RGB images in the published protocol, written directly:
    MSE over every value of the three channels, plus the nominal-count BEF of the test image's
    BT.601 studio-range luma rounded to an integer level (half to even)."""
    luma = np.round(test.astype(np.float64) @ np.array([65.481, 128.553, 24.966]) / 255 + 16)
    mse = np.mean((test.astype(np.float64) - reference.astype(np.float64)) ** 2)
    return 10 * math.log10(255**2 / (mse + _loop_bef(luma, nominal=True)))


@pytest.mark.parametrize("pair", PAIRS.values(), ids=PAIRS.keys())
def test_ssim_gaussian_matches_skimage(pair):
    original, decoded = pair
    ours = float(ssim(_chw(decoded), _chw(original)))
    assert ours == pytest.approx(_skimage_ssim(decoded, original), abs=1e-9)


@pytest.mark.parametrize("pair", PAIRS.values(), ids=PAIRS.keys())
def test_ssim_float32_as_a_loss(pair):
    """The float32 SSIM a loss takes agrees with the float64 measurement and carries gradients in float32."""
    original, decoded = (_chw(p).to(torch.float32) / 255 for p in pair)
    decoded.requires_grad_(True)
    fast = ssim(decoded[None], original[None], data_range=1.0, dtype=torch.float32)
    assert fast.dtype == torch.float32
    assert float(fast) == pytest.approx(_skimage_ssim(pair[1], pair[0]), abs=2e-5)
    fast.sum().backward()
    assert decoded.grad.dtype == torch.float32 and decoded.grad.abs().sum() > 0


@pytest.mark.parametrize("pair", PAIRS.values(), ids=PAIRS.keys())
def test_ssim_uniform8_matches_direct_windows(pair):
    original, decoded = pair
    ours = float(ssim(_chw(decoded), _chw(original), window="uniform8"))
    assert ours == pytest.approx(_numpy_uniform8_ssim(decoded, original), abs=1e-9)


@pytest.mark.parametrize("metric", ["psnr", "psnr_b", "psnr_b-gray", "ssim-gaussian", "ssim-uniform8", "hf_ratio"])
@pytest.mark.parametrize("elements", [1, 2000, 20000])
def test_strips_give_the_whole_image_s_value(monkeypatch, metric, elements):
    """Large images are measured in strips of rows of at most ``metrics._STRIP_ELEMENTS`` float
    values (one row, or a window's height for SSIM, at the least); the result is the whole
    image's but for the order of the float64 sums.

    Bounds: the PSNRs' sums (squared differences of integers, and of the rounded luma's integer
    levels) are exact below 2**53, so equal; a sum of M terms in two orders differs by at most
    2 M eps times the sum of the terms' magnitudes: SSIM's map values lie in [-1, 1] (the mean
    within 2 M eps), the high-frequency energies are sums of squares (their ratio within 4 M eps)."""
    generator = torch.Generator().manual_seed(elements)
    channels = 1 if metric.endswith("gray") else 3
    x = torch.randint(0, 256, (2, channels, 61, 45), generator=generator, dtype=torch.uint8)
    y = (x.int() + torch.randint(-20, 21, x.shape, generator=generator, dtype=torch.int32)).clamp(0, 255)
    function = {"psnr": psnr, "psnr_b": psnr_b, "psnr_b-gray": psnr_b, "ssim-gaussian": ssim,
                "ssim-uniform8": lambda x, y: ssim(x, y, window="uniform8"), "hf_ratio": high_frequency_ratio}[metric]
    whole = function(x, y.to(torch.uint8))
    monkeypatch.setattr(metrics, "_STRIP_ELEMENTS", elements)
    strips = function(x, y.to(torch.uint8))
    assert whole.shape == strips.shape == (2,)
    eps = torch.finfo(torch.float64).eps
    if metric.startswith("psnr"):
        assert torch.equal(strips, whole)
    elif metric.startswith("ssim"):
        assert torch.allclose(strips, whole, rtol=0, atol=2 * channels * 61 * 45 * eps)
    else:
        assert torch.allclose(strips, whole, rtol=4 * 61 * 45 * eps, atol=0)


@pytest.mark.parametrize("pair", PAIRS.values(), ids=PAIRS.keys())
def test_psnr_matches_skimage(pair):
    original, decoded = pair
    expected = peak_signal_noise_ratio(original, decoded, data_range=255)
    assert float(psnr(_chw(decoded), _chw(original))) == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("pair", PAIRS.values(), ids=PAIRS.keys())
def test_bef_matches_pair_by_pair_definition(pair):
    decoded = _chw(pair[1])
    expected = [_loop_bef(channel.numpy()) for channel in decoded]
    assert blocking_effect_factor(decoded).tolist() == pytest.approx(expected, rel=1e-12)
    # the mean differences behind it, of a single (C, H, W) image and of uint8 values (no wrap-around)
    boundary, other = boundary_differences(decoded)
    assert boundary.shape == other.shape == (decoded.shape[0],)
    batch_boundary, batch_other = boundary_differences(decoded.double()[None])
    assert torch.equal(boundary, batch_boundary[0]) and torch.equal(other, batch_other[0])


RGB_PAIRS = {name: pair for name, pair in PAIRS.items() if pair[1].ndim == 3}


@pytest.mark.parametrize("pair", RGB_PAIRS.values(), ids=RGB_PAIRS.keys())
def test_colour_psnr_b_matches_direct_computation(pair):
    # Sizes 96x128 (multiples of 8), 75x101 and 50x70 (not, where nominal counts matter).
    original, decoded = pair
    expected = _direct_colour_psnr_b(decoded, original)
    assert float(psnr_b(_chw(decoded), _chw(original))) == pytest.approx(expected, abs=1e-10)


def test_colour_psnr_b_differs_from_per_channel_average():
    # The previous definition (PSNR-B per RGB channel, averaged) is measurably different.
    original, decoded = PAIRS["astronaut-96x128-q10"]
    test, reference = _chw(decoded), _chw(original)
    per_channel = torch.stack([psnr_b(t[None], r[None]) for t, r in zip(test, reference)]).mean()
    assert abs(float(psnr_b(test, reference)) - float(per_channel)) > 0.05


def test_colour_psnr_b_measures_blocking_on_rounded_luma_only():
    # Steps in R and B at the block boundary (column 8) that cancel in the luma: R and B are
    # blocky on their own, but the rounded luma is constant, so the BEF is 0 and PSNR-B = PSNR.
    cols = torch.arange(32.0).expand(24, 32)
    step = (cols >= 8).double()
    test = torch.stack([100 + 10 * step, 100 + 0 * step, 100 - 10 * 65.481 / 24.966 * step])
    assert torch.all(blocking_effect_factor(test)[[0, 2]] > 0)
    assert torch.unique(torch.round(rgb_to_y(test))).numel() == 1
    reference = test + 1
    assert float(psnr_b(test, reference)) == pytest.approx(float(psnr(test, reference)), abs=1e-12)


def test_nominal_counts():
    image = _chw(PAIRS["chelsea-75x101-q10"][1])[1]  # green channel, 75x101
    assert float(blocking_effect_factor(image[None], counts="nominal")) == pytest.approx(
        _loop_bef(image.numpy(), nominal=True), rel=1e-12)
    # 96x128 (multiples of 8): the paper's counts are the exact ones.
    sized = _chw(PAIRS["astronaut-96x128-q10"][1])
    torch.testing.assert_close(blocking_effect_factor(sized, counts="nominal"), blocking_effect_factor(sized),
                               rtol=1e-14, atol=0)


def test_hand_computed_step_at_column_8():
    # 16x16: a step of 10 between columns 7 and 8 (a block boundary) and a vertical ramp of 2
    # per row everywhere. Horizontal pairs: 16 rows x 1 boundary pair (diff^2 100) and 16 x 14
    # inner pairs (0). Vertical pairs: 16 columns x 1 boundary pair (4) and 16 x 14 inner (4).
    rows, cols = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    test = (100 + 10 * (cols >= 8) + 2 * rows)[None]
    d_b, d_bc = boundary_differences(test[None])
    assert float(d_b) == (16 * 100 + 16 * 4) / 32  # 52
    assert float(d_bc) == (16 * 14 * 4) / (2 * 16 * 14)  # 2
    eta = math.log2(8) / math.log2(16)  # 0.75
    assert float(blocking_effect_factor(test)) == eta * (52 - 2)  # 37.5
    reference = test + 1  # MSE 1
    assert float(psnr_b(test, reference)) == pytest.approx(10 * math.log10(255**2 / (1 + 37.5)), abs=1e-12)
    assert float(psnr_b(reference, test)) == float(psnr_b(test, reference))  # same blocking in both


def test_no_blocking_means_psnr_b_equals_psnr():
    # A diagonal ramp has the same pixel step (3) between every adjacent pair, so D_B == D_B^c.
    rows, cols = torch.meshgrid(torch.arange(40.0), torch.arange(56.0), indexing="ij")
    test = (3 * cols + 3 * rows)[None]
    reference = test + torch.from_numpy(synthetic_image(40, 56, channels=1)[..., 0] / 32.0)[None]
    assert float(blocking_effect_factor(test)) == 0
    assert float(psnr_b(test, reference)) == pytest.approx(float(psnr(test, reference)), abs=1e-12)


def test_inner_texture_stronger_than_boundaries_gives_zero_bef():
    # D_B < D_B^c: columns 1..6 of every block are 50, columns 0 and 7 are 0, so the only
    # steps lie inside blocks and the boundary pairs (7, 8) are flat.
    cols = torch.arange(32)
    test = (50.0 * ((cols % 8 >= 1) & (cols % 8 <= 6))).expand(1, 24, 32)
    d_b, d_bc = boundary_differences(test[None])
    assert float(d_b) == 0 and float(d_bc) > 0
    assert float(blocking_effect_factor(test)) == 0


@pytest.mark.parametrize("name", ["astronaut-96x128", "synthetic-gray-45x61"], ids=["rgb", "gray"])
def test_q10_jpeg_has_psnr_b_below_psnr(name):
    original, decoded = PAIRS[f"{name}-q10"]
    test, reference = _chw(decoded), _chw(original)
    assert torch.all(blocking_effect_factor(test) > 0)
    assert float(psnr_b(test, reference)) < float(psnr(test, reference)) - 0.1


def test_identical_images():
    image = _chw(ORIGINALS["astronaut-96x128"])
    assert math.isinf(float(psnr(image, image)))
    assert float(ssim(image, image)) == pytest.approx(1.0, abs=1e-15)
    assert float(ssim(image, image, window="uniform8")) == pytest.approx(1.0, abs=1e-15)
    blocky = _chw(PAIRS["astronaut-96x128-q10"][1])
    assert math.isfinite(float(psnr_b(blocky, blocky)))  # the BEF of the image under test remains


METRICS = {
    "psnr": psnr,
    "psnr_b": psnr_b,
    "ssim-gaussian": ssim,
    "ssim-uniform8": lambda x, y, **kw: ssim(x, y, window="uniform8", **kw),
}
BATCH = [name for name in PAIRS if name.startswith("astronaut")] + ["chelsea-75x101-q10"]


@pytest.mark.parametrize("metric", METRICS.values(), ids=METRICS.keys())
def test_batch_equals_one_by_one(metric):
    # Three different images of one size (chelsea cropped to the astronaut's 96x128 is too big,
    # so crop everything to 75x101).
    tests = torch.stack([_chw(PAIRS[name][1][:75, :101]) for name in BATCH])
    references = torch.stack([_chw(PAIRS[name][0][:75, :101]) for name in BATCH])
    batched = metric(tests, references)
    assert batched.shape == (len(BATCH),)
    singles = torch.stack([metric(t, r) for t, r in zip(tests, references)])
    assert singles.shape == (len(BATCH),)
    torch.testing.assert_close(batched, singles, rtol=1e-14, atol=0)


@pytest.mark.parametrize("metric", METRICS.values(), ids=METRICS.keys())
def test_data_range_one_on_unit_scale_gives_same_value(metric):
    original, decoded = PAIRS["chelsea-75x101-q10"]
    test, reference = _chw(decoded), _chw(original)
    on_255 = metric(test, reference)
    on_1 = metric(test.double() / 255, reference.double() / 255, data_range=1.0)
    torch.testing.assert_close(on_1, on_255, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.int16], ids=["float32", "int16"])
def test_other_input_dtypes_give_float64_and_same_value(dtype):
    original, decoded = PAIRS["synthetic-rgb-50x70-q50"]
    test, reference = _chw(decoded), _chw(original)
    result = ssim(test.to(dtype), reference.to(dtype))
    assert result.dtype == torch.float64
    assert float(result) == float(ssim(test, reference))


def test_rgb_to_y_bt601_studio_range():
    rgb = torch.tensor([[0.0, 255.0, 0.0, 0.0], [0.0, 255.0, 255.0, 0.0], [0.0, 255.0, 0.0, 255.0]])
    y = rgb_to_y(rgb.view(3, 1, 4))
    assert y.shape == (1, 1, 4)
    torch.testing.assert_close(y.flatten(), torch.tensor([16.0, 235.0, 16 + 128.553, 16 + 24.966], dtype=torch.float64))
    torch.testing.assert_close(rgb_to_y(rgb.view(1, 3, 1, 4) / 255, data_range=1.0) * 255, y[None])


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: psnr(torch.zeros(3, 8, 8), torch.zeros(3, 8, 9)), ValueError, r"same shape, got \(3, 8, 8\) and \(3, 8, 9\)"),
        (lambda: psnr(torch.zeros(8, 8), torch.zeros(8, 8)), ValueError, r"\(N, C, H, W\) or \(C, H, W\), got shape \(8, 8\)"),
        (lambda: psnr(np.zeros((3, 8, 8)), np.zeros((3, 8, 8))), TypeError, r"torch.Tensor, got ndarray"),
        (lambda: psnr(torch.ones(1, 8, 8, dtype=torch.bool), torch.ones(1, 8, 8, dtype=torch.bool)), TypeError, r"real dtype"),
        (lambda: psnr(torch.ones(1, 8, 8), torch.ones(1, 8, 8), data_range=0), ValueError, r"data_range must be a positive number"),
        (lambda: ssim(torch.ones(1, 10, 40), torch.ones(1, 10, 40)), ValueError, r"H, W >= 11, got H=10, W=40"),
        (lambda: ssim(torch.ones(1, 16, 16), torch.ones(1, 16, 16), window="box"), ValueError, r"window must be 'gaussian'"),
        (lambda: blocking_effect_factor(torch.ones(1, 8, 8)), ValueError, r"a block boundary to measure\), got H=8, W=8"),
        (lambda: blocking_effect_factor(torch.ones(1, 7, 40), counts="nominal"), ValueError,
         r"counts='nominal' needs H, W >= 8 and H or W > 8 \(a block boundary to measure\), got H=7, W=40"),
        (lambda: blocking_effect_factor(torch.ones(1, 16, 16), counts="paper"), ValueError, r"counts must be 'exact' or 'nominal'"),
        (lambda: psnr_b(torch.ones(2, 16, 16), torch.ones(2, 16, 16)), ValueError, r"gray \(1 channel\) or RGB \(3 channels\)"),
        (lambda: rgb_to_y(torch.ones(4, 8, 8)), ValueError, r"3 channels \(R, G, B\), got shape \(4, 8, 8\)"),
    ],
    ids=["shape-mismatch", "2d", "numpy", "bool", "data-range", "too-small-for-window", "bad-window", "no-boundary",
         "nominal-too-small", "bad-counts", "psnr-b-2-channels", "not-rgb"],
)
def test_bad_arguments_raise(call, error, message):
    with pytest.raises(error, match=message):
        call()


def _hf_energy_scipy(luma: np.ndarray) -> float:
    """High-frequency energy by an independent route: scipy's orthonormal 2-D DCT per block."""
    from scipy.fft import dctn

    h, w = luma.shape[0] // 8 * 8, luma.shape[1] // 8 * 8
    u, v = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    total = 0.0
    for i in range(0, h, 8):
        for j in range(0, w, 8):
            total += (dctn(luma[i:i + 8, j:j + 8], norm="ortho") ** 2)[u + v >= 4].sum()
    return total


def test_high_frequency_ratio_matches_scipy_and_orders_smoothness():
    original = torch.from_numpy(sample_image(size=(70, 83))).permute(2, 0, 1)  # not multiples of 8
    jpeg = torch.from_numpy(pillow_decode(pillow_jpeg(original.permute(1, 2, 0).numpy(), 10)).copy()).permute(2, 0, 1)
    expected = (_hf_energy_scipy(rgb_to_y(jpeg)[0].numpy()) / _hf_energy_scipy(rgb_to_y(original)[0].numpy()))
    assert high_frequency_ratio(jpeg, original).item() == pytest.approx(expected, rel=1e-9)
    assert high_frequency_ratio(original, original).item() == pytest.approx(1.0, rel=1e-12)
    padded = torch.nn.functional.pad(original[None].double(), (1, 1, 1, 1), mode="replicate")
    blurred = torch.nn.functional.avg_pool2d(padded, 3, stride=1)[0]
    padded = torch.nn.functional.pad(original[None].double(), (2, 2, 2, 2), mode="replicate")
    more_blurred = torch.nn.functional.avg_pool2d(padded, 5, stride=1)[0]
    noisy = original.double() + torch.randn(original.shape, generator=torch.Generator().manual_seed(0)) * 8
    assert high_frequency_ratio(more_blurred, original) < high_frequency_ratio(blurred, original) < 1
    assert high_frequency_ratio(jpeg, original) < 1
    assert high_frequency_ratio(noisy, original) > 1
    # one channel is measured as it is; a batch gives its items' values
    gray = rgb_to_y(original)
    assert high_frequency_ratio(gray, gray * 0.5).item() == pytest.approx(4.0, rel=1e-12)
    batch = high_frequency_ratio(torch.stack([jpeg, blurred.to(torch.uint8)]), torch.stack([original, original]))
    assert batch.shape == (2,) and batch[0].item() == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        high_frequency_ratio(torch.rand(2, 16, 16), torch.rand(2, 16, 16))
