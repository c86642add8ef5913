"""Blockwise DCT: orthonormality, libjpeg scaling, layouts, dtypes, and the integer islow twins."""

import pytest
import torch

from qgac_fast.functional.transform import (
    block_dct, block_idct, blockify, dct, dct_kron_matrix, dct_matrix, deblockify, fdct_islow, idct,
    idct_islow,
)


def _pixels(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, shape, generator=g).double() - 128.0  # level-shifted, never all zero


def test_matrix_orthonormal():
    d = dct_matrix()
    assert d.dtype == torch.float64
    torch.testing.assert_close(d @ d.T, torch.eye(8, dtype=torch.float64), atol=1e-14, rtol=0)
    k = dct_kron_matrix()
    torch.testing.assert_close(k @ k.T, torch.eye(64, dtype=torch.float64), atol=1e-13, rtol=0)


def test_kron_equals_two_matmuls():
    x = _pixels((5, 8, 8), seed=1)
    d = dct_matrix()
    torch.testing.assert_close(block_dct(x), d @ x @ d.T, atol=1e-10, rtol=0)


@pytest.mark.parametrize("shape", [(8, 8), (2, 3, 16, 24), (1, 40, 8)], ids=["one-block", "batched", "tall"])
def test_round_trip_float64(shape):
    x = _pixels(shape, seed=2)
    y = dct(x)
    assert y.dtype == torch.float64
    torch.testing.assert_close(idct(y), x, atol=1e-10, rtol=0)


def test_dc_is_eight_times_mean():
    x = _pixels((3, 16, 16), seed=3)
    y = dct(x)
    mean = blockify(x).mean(dim=(-2, -1))
    torch.testing.assert_close(blockify(y)[..., 0, 0], 8 * mean, atol=1e-10, rtol=0)


def test_constant_block_has_only_dc():
    y = dct(torch.full((8, 8), 10.0, dtype=torch.float64))
    assert y[0, 0].item() == pytest.approx(80.0)
    assert y.flatten()[1:].abs().max() < 1e-12


def test_blockify_layout_and_inverse():
    x = torch.arange(16 * 24).reshape(16, 24)
    b = blockify(x)
    assert b.shape == (2, 3, 8, 8)
    assert torch.equal(b[1, 2], x[8:16, 16:24])
    assert torch.equal(deblockify(b), x)


def test_dtypes():
    x = torch.randint(-128, 128, (16, 16), generator=torch.Generator().manual_seed(4))
    assert dct(x).dtype == torch.float32
    assert dct(x, dtype=torch.float64).dtype == torch.float64
    assert idct(dct(x.float())).dtype == torch.float32
    torch.testing.assert_close(idct(dct(x.float())), x.float(), atol=1e-3, rtol=0)


def test_batch_equals_items():
    x = _pixels((4, 2, 16, 8), seed=5)
    y = dct(x)
    for i in range(4):
        torch.testing.assert_close(y[i], dct(x[i]), atol=1e-12, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_equal_planes_of_a_batch_transform_to_the_same_bits(dtype):
    """Every plane is its own item of one batched product (plane_matmul), so equal planes go through
    the same arithmetic wherever they are in the batch (the model's Cb and Cr rely on it)."""
    from qgac_fast.functional.sampling import dct_upsample_nearest

    x = _pixels((3, 2, 24, 40), seed=8).to(dtype)
    x[2, 1] = x[0, 0]
    for transform in (dct, idct, dct_upsample_nearest):
        y = transform(x)
        assert torch.equal(y[2, 1], y[0, 0]), transform.__name__


def test_non_contiguous_input():
    x = _pixels((24, 16), seed=6)
    t = x.T  # (16, 24) view with swapped strides
    assert not t.is_contiguous()
    torch.testing.assert_close(dct(t), dct(t.contiguous()), atol=1e-12, rtol=0)


def test_gradient_flows():
    x = _pixels((8, 16), seed=7).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: idct(dct(v) * 0.5), (x,))


@pytest.mark.parametrize("shape", [(8, 12), (12, 8)], ids=["height-ok-width-bad", "height-bad"])
def test_bad_shape_raises(shape):
    with pytest.raises(ValueError, match="multiples of 8"):
        dct(torch.ones(shape))


def test_fdct_islow_close_to_float():
    x = torch.randint(-128, 128, (200, 8, 8), generator=torch.Generator().manual_seed(8))
    ref = 8 * block_dct(x, dtype=torch.float64)
    assert fdct_islow(x).dtype == torch.int64
    assert (fdct_islow(x) - ref).abs().max() <= 3  # a few units of 1/8 coefficient


def test_idct_islow_close_to_float():
    g = torch.Generator().manual_seed(9)
    coef = block_dct(torch.randint(-128, 128, (200, 8, 8), generator=g), dtype=torch.float64).round().long()
    ref = (block_idct(coef.double()) + 128).round().clamp(0, 255)
    assert (idct_islow(coef) - ref).abs().max() <= 1


def test_islow_rejects_float():
    with pytest.raises(TypeError):
        fdct_islow(torch.zeros(8, 8))
    with pytest.raises(TypeError):
        idct_islow(torch.zeros(8, 8))
