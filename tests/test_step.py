"""The correction step (``qgac_fast.inference.step``), precision choice, denormal flushing and the
batch operations of ``CoefficientPlanes``."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import qgac_fast
from qgac_fast.codec import read_coefficients
from qgac_fast.cpu import flush_denormals, has_fast_bf16
from qgac_fast.functional.jpeg import decode_normalized
from qgac_fast.inference import CorrectionStep, Corrector, EngineOptions, resolve_precision
from qgac_fast.metrics import psnr
from qgac_fast.model import CoefficientPlanes, planes_from_jpeg
from qgac_fast.functional.quantization import clamp_to_bins

from images import pillow_jpeg, synthetic_image, turbo_jpeg
from test_engine import default_model, tiny  # noqa: F401  (fixtures: small non-trivial models)

DENORMAL = 1e-39  # below float32's smallest normal number (1.18e-38)
needs_bf16 = pytest.mark.skipif(not has_fast_bf16(), reason="the CPU has no native bf16 (AMX-BF16 / AVX512-BF16)")


def _planes(*size, quality=30, subsampling="4:2:0", seed=0):
    return planes_from_jpeg(read_coefficients(turbo_jpeg(synthetic_image(*size, seed=seed), quality=quality,
                                                         subsampling=subsampling)))


def _is_flushed() -> bool:
    return (torch.tensor([DENORMAL]) * 1.0).item() == 0.0


# ------------------------------------------------------------------------------------------
# precision


def test_auto_precision_follows_the_cpu():
    assert resolve_precision("auto", "cpu") == ("bf16" if has_fast_bf16() else "float32")
    assert resolve_precision("float32", "cpu") == "float32"
    assert resolve_precision("bf16", "cpu") == "bf16"


@pytest.mark.parametrize("precision,match", [("fp16", "CUDA only"), ("half", "precision must be one of")])
def test_bad_precisions_are_refused(precision, match):
    with pytest.raises(ValueError, match=match):
        resolve_precision(precision, "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_auto_precision_on_cuda_is_bf16():
    assert resolve_precision("auto", "cuda") == ("bf16" if torch.cuda.is_bf16_supported() else "float32")


# ------------------------------------------------------------------------------------------
# the step


def test_float32_step_is_the_model_clamp_and_decode(tiny):
    """In float32 the step is exactly restore -> decode_normalized with the input's bins."""
    planes = _planes(40, 56)
    step = CorrectionStep(tiny, precision="float32", decode_backend="reference")  # the native twin: tests/test_native.py
    bins = (planes.luma, planes.luma_table)
    with torch.inference_mode():
        y, chroma = tiny.restore(planes)
        expected = decode_normalized(y, chroma, tiny.mean, tiny.std, size=planes.size, bins=bins)
    assert torch.equal(step(planes), expected)
    unconstrained = CorrectionStep(tiny, precision="float32", constrain=False, decode_backend="reference")(planes)
    with torch.inference_mode():
        assert torch.equal(unconstrained, decode_normalized(y, chroma, tiny.mean, tiny.std, size=planes.size))
        # clamped before the decode (normalised again, as the step did up to 2026-12-07), the pixels
        # differ only where the normalised round trip's float32 rounding (a few ulps) moves a value
        # across a rounding tie
        clamped = tiny.normalize(clamp_to_bins(tiny.denormalize(y, 0), planes.luma, planes.luma_table), 0)
        after = decode_normalized(clamped, chroma, tiny.mean, tiny.std, size=planes.size)
    diff = (after.int() - expected.int()).abs()
    assert int(diff.max()) <= 2 and int((diff > 0).sum()) <= max(1, expected.numel() // 1000)


def test_correct_is_the_step(tiny):
    jpeg = pillow_jpeg(synthetic_image(33, 47, seed=2), quality=20)
    planes = planes_from_jpeg(read_coefficients(jpeg))
    for precision in ("float32", "auto"):
        assert torch.equal(qgac_fast.correct(jpeg, model=tiny, precision=precision),
                           CorrectionStep(tiny, precision=precision)(planes)[0])


@needs_bf16
def test_bf16_step_is_close_to_float32(default_model):
    """bf16 autocast really runs (the output differs) and stays close to float32."""
    planes = _planes(64, 96, quality=20)
    bf16 = CorrectionStep(default_model, precision="bf16")(planes)
    fp32 = CorrectionStep(default_model, precision="float32")(planes)
    assert not torch.equal(bf16, fp32)
    assert psnr(bf16[0], fp32[0]).item() > 40


def test_decode_each_decodes_every_sample_at_its_size(tiny):
    """A batch of one plane shape whose images have different real sizes (40x56 and 48x64 both
    fill 48x64 planes) decodes each at its own size, as alone."""
    parts = [_planes(40, 56, seed=1), _planes(48, 64, seed=2)]
    step = CorrectionStep(tiny, precision="float32")
    batch = CoefficientPlanes.cat(parts)
    images = step.decode_each(batch, *step.restore(batch), [p.size for p in parts])
    for image, part in zip(images, parts):
        assert image.shape[1:] == part.size
        assert torch.equal(image, step(part)[0])


def test_step_flushes_denormals_only_while_it_runs(tiny):
    assert not _is_flushed()
    CorrectionStep(tiny, precision="float32")(_planes(16, 16))
    assert not _is_flushed()


def test_flush_denormals_is_scoped_and_nests():
    assert not _is_flushed()
    with flush_denormals():
        assert _is_flushed()
        with flush_denormals():
            assert _is_flushed()
        assert _is_flushed()  # the outer block still holds
    assert not _is_flushed()


# ------------------------------------------------------------------------------------------
# backends: decode_backend (the step's decode), the model's cfm_backend


def test_a_bad_decode_backend_is_refused_where_it_is_given(tiny):
    message = r"^decode_backend must be one of \('auto', 'reference', 'triton', 'native'\), got 'libjpeg'$"
    with pytest.raises(ValueError, match=message):
        CorrectionStep(tiny, decode_backend="libjpeg")
    with pytest.raises(ValueError, match=message):
        Corrector(tiny, decode_backend="libjpeg")
    with pytest.raises(ValueError, match=message):  # before the JPEG is read
        qgac_fast.correct(b"not a JPEG", model=tiny, decode_backend="libjpeg")


def test_reference_backends_equal_the_defaults_on_the_cpu(tiny):
    """On the CPU "auto" runs the reference decode and the reference CFMs: the same bits."""
    planes = _planes(40, 56)
    want = CorrectionStep(tiny, precision="float32")(planes)
    tiny.cfm_backend = "reference"
    try:
        step = CorrectionStep(tiny, precision="float32", decode_backend="reference")
        assert step.decode_backend == "reference"
        assert torch.equal(step(planes), want)
    finally:
        tiny.cfm_backend = "auto"


def test_backend_is_the_deprecated_name_of_decode_backend(tiny):
    renamed = r"^backend= is deprecated and will be removed in the next release; use decode_backend=$"
    with pytest.warns(DeprecationWarning, match=renamed):
        step = CorrectionStep(tiny, backend="reference")
    with pytest.warns(DeprecationWarning, match=r"^CorrectionStep\.backend is deprecated .*decode_backend$"):
        assert step.backend == step.decode_backend == "reference"
    with pytest.warns(DeprecationWarning, match=renamed):
        options = EngineOptions(backend="reference")
    assert options.decode_backend == "reference"
    assert dataclasses.replace(options, batch_size=2).decode_backend == "reference"
    with pytest.warns(DeprecationWarning, match=r"^EngineOptions\.backend is deprecated .*decode_backend$"):
        assert options.backend == "reference"
    with pytest.warns(DeprecationWarning, match=renamed):
        assert Corrector(tiny, backend="reference").step.decode_backend == "reference"
    jpeg = pillow_jpeg(synthetic_image(24, 40, seed=3), quality=30)
    with pytest.warns(DeprecationWarning, match=renamed):
        old = qgac_fast.correct(jpeg, model=tiny, precision="float32", backend="reference")
    assert torch.equal(old, qgac_fast.correct(jpeg, model=tiny, precision="float32", decode_backend="reference"))
    both = "^got both backend= and decode_backend="
    for make in (lambda **kw: CorrectionStep(tiny, **kw), EngineOptions, lambda **kw: Corrector(tiny, **kw),
                 lambda **kw: qgac_fast.correct(jpeg, model=tiny, **kw)):
        with pytest.raises(TypeError, match=both):
            make(backend="reference", decode_backend="triton")


# ------------------------------------------------------------------------------------------
# CoefficientPlanes


def test_planes_cat_select_crop_and_map():
    a, b = _planes(32, 48, seed=1), _planes(32, 48, seed=2)
    batch = CoefficientPlanes.cat([a, b])
    assert batch.batch_size == 2 and batch.pixels == 2 * 32 * 48 and batch.layout == "420"
    second = batch.select(slice(1, 2))
    for name in ("luma", "chroma", "luma_table", "chroma_table"):
        assert torch.equal(getattr(second, name), getattr(b, name))
    window = batch.crop((16, 32, 0, 32))
    assert window.size == (16, 32) and window.luma.shape == (2, 1, 16, 32) and window.chroma.shape == (2, 2, 8, 16)
    assert torch.equal(window.chroma, batch.chroma[..., 8:16, 0:16])
    assert torch.equal(batch.map(lambda t: t * 2).luma, batch.luma * 2)
    assert _planes(16, 16, subsampling="4:4:4").layout == "444"
    gray = planes_from_jpeg(read_coefficients(pillow_jpeg(synthetic_image(16, 16, 1)[..., 0], quality=50)))
    assert gray.layout == "gray" and gray.crop((0, 8, 0, 8)).chroma is None
