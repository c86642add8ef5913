"""The inference engine (``qgac_fast.inference``): order, batching, bad inputs, tiles, memory estimate, files."""

from __future__ import annotations

import dataclasses
import io
import os
import threading
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import qgac_fast
from qgac_fast import inference
from qgac_fast.codec import read_coefficients
from qgac_fast.inference import (CorrectionStep, Corrector, PeakTracker, default_overlap, plan_tiles, probe_planes,
                                 receptive_field)
from qgac_fast.errors import JPEGError, UnsupportedJPEGError
from qgac_fast.metrics import psnr
from qgac_fast.model import QGAC, QGACConfig, planes_from_jpeg
from qgac_fast.model.config import CONFIGS

from images import pillow_jpeg, synthetic_image, turbo_jpeg

#: Small widths, non-trivial weights (the residual outputs are not zeroed), receptive field 9 blocks.
TINY = QGACConfig(manifold=4, block_channels=8, tile_channels=4, frequency_channels=1, fusion_channels=2,
                  dense_blocks=1, dense_layers=1, color_channels=4, init_scale=1.0, output_init_scale=1.0,
                  chroma_skip="fancy")


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return QGAC(TINY).eval()


@pytest.fixture(scope="module")
def default_model():
    """The ``default`` configuration with non-trivial weights (shipped weights may not exist)."""
    torch.manual_seed(0)
    return QGAC(dataclasses.replace(CONFIGS["default"], output_init_scale=1.0)).eval()


def _jpegs():
    """Mixed sizes, qualities (so tables differ within a shape) and layouts."""
    return [
        pillow_jpeg(synthetic_image(48, 64, seed=1), quality=20),
        pillow_jpeg(synthetic_image(48, 64, seed=2), quality=60),
        turbo_jpeg(synthetic_image(33, 47, seed=3), quality=30, subsampling="4:4:4"),
        pillow_jpeg(synthetic_image(40, 56, seed=4), quality=20),  # pads to the 48x64 planes of the first two
        pillow_jpeg(synthetic_image(21, 19, 1, seed=5)[..., 0], quality=40),
        turbo_jpeg(synthetic_image(30, 50, seed=6), quality=50, subsampling="4:2:2"),
        pillow_jpeg(synthetic_image(45, 60, seed=7), quality=90),  # pads to 48x64 like the first two
    ]


# ------------------------------------------------------------------------------------------
# receptive field and tile plans


@pytest.mark.parametrize("name", ["tiny", "default"])
def test_receptive_field_matches_an_impulse(name, tiny, default_model):
    """Perturb one luma block and one chroma block: the farthest restored block that moves is
    exactly ``receptive_field`` blocks away (the formula is neither loose nor short)."""
    model = tiny if name == "tiny" else default_model
    side = 8 * (2 * receptive_field(model.config) + 6)
    side += side % 16
    jc = read_coefficients(pillow_jpeg(synthetic_image(side, side), quality=30))
    base = planes_from_jpeg(jc)
    centre = side // 2 // 16 * 16
    reach = 0
    with torch.inference_mode():
        y0, c0 = model.restore(base)
        for target in ("luma", "chroma"):
            planes = planes_from_jpeg(jc)
            if target == "luma":
                planes.luma[..., centre:centre + 8, centre:centre + 8] += 40.0
            else:
                planes.chroma[..., centre // 2:centre // 2 + 8, centre // 2:centre // 2 + 8] += 40.0
            y1, c1 = model.restore(planes)
            for before, after in ((y0, y1), (c0, c1)):
                moved = ((before - after).abs().amax(dim=(0, 1)) > 0).nonzero()
                if len(moved):
                    reach = max(reach, int((moved // 8 - centre // 8).abs().max()))
    assert reach == receptive_field(model.config)


# ------------------------------------------------------------------------------------------
# correct_many: order, exactness, inputs, failures


def test_batches_equal_one_by_one_correct_exactly_on_cpu(tiny):
    jpegs = _jpegs()
    results = list(Corrector(tiny, batch_size=4, tile=None, workers=2).correct_many(jpegs))
    assert [r.index for r in results] == list(range(len(jpegs)))
    for result, jpeg in zip(results, jpegs):
        expected = qgac_fast.correct(jpeg, model=tiny)
        assert result.ok and result.tiles == 1 and result.image.dtype == torch.uint8
        assert torch.equal(result.image, expected)


def test_correct_accepts_paths_bytes_and_coefficients(tiny, tmp_path):
    jpeg = pillow_jpeg(synthetic_image(40, 56), quality=25)
    path = tmp_path / "x.jpg"
    path.write_bytes(jpeg)
    corrector = Corrector(tiny, tile=None)
    outs = [corrector.correct(src) for src in (jpeg, path, str(path), read_coefficients(jpeg))]
    assert outs[0].shape == (3, 40, 56)
    assert all(torch.equal(outs[0], o) for o in outs[1:])


@pytest.mark.parametrize("workers", [0, 2], ids=["inline", "threads"])
def test_a_folder_stands_for_its_jpegs(tiny, tmp_path, workers):
    """Folders are searched recursively for .jpg/.jpeg (any case), in sorted order, between the
    other items; every file is a result of its own, and correct() refuses a folder."""
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    jpegs = {name: pillow_jpeg(synthetic_image(24, 32, seed=seed), quality=30)
             for seed, name in enumerate(["b.JPG", "a.jpeg", "sub/c.jpg"])}
    for name, data in jpegs.items():
        (folder / name).write_bytes(data)
    (folder / "notes.txt").write_text("not an image")
    loose = pillow_jpeg(synthetic_image(16, 16, seed=9), quality=30)
    corrector = Corrector(tiny, tile=None, workers=workers)
    results = list(corrector.correct_many([loose, folder, str(folder / "sub")]))
    expected = ["a.jpeg", "b.JPG", "sub/c.jpg", "sub/c.jpg"]
    assert [r.index for r in results] == list(range(5)) and all(r.ok for r in results)
    assert results[0].source is loose
    assert [os.path.relpath(r.source, folder) for r in results[1:]] == expected
    for result, name in zip(results[1:], expected):
        assert torch.equal(result.image, qgac_fast.correct(jpegs[name], model=tiny))
    with pytest.raises(IsADirectoryError, match="correct_many"):
        corrector.correct(folder)


#: Both pipelines: 0 runs everything in the caller's thread (the CPU default), 2 uses reader threads
#: and a compute thread (the CUDA structure).
WORKERS = pytest.mark.parametrize("workers", [0, 2], ids=["inline", "threads"])


@WORKERS
def test_bad_inputs_are_results_and_the_others_go_on(tiny, tmp_path, workers):
    good = pillow_jpeg(synthetic_image(32, 48), quality=30)
    rgb_coded = turbo_jpeg(synthetic_image(16, 16), quality=50, subsampling="4:4:4")
    rgb_coded = dataclasses.replace(read_coefficients(rgb_coded), color_space="rgb")
    items = [good, b"not a jpeg", good[:200], tmp_path / "missing.jpg", rgb_coded,
             pillow_jpeg(synthetic_image(64, 64), quality=30), good]
    corrector = Corrector(tiny, tile=None, max_pixels=48 * 48, workers=workers)
    results = list(corrector.correct_many(items))
    assert [r.ok for r in results] == [True, False, False, False, False, False, True]
    assert isinstance(results[1].error, JPEGError) and "Not a JPEG file" in results[1].reason
    assert isinstance(results[2].error, JPEGError)
    assert isinstance(results[3].error, FileNotFoundError) and results[3].reason == "No such file or directory"
    assert isinstance(results[4].error, UnsupportedJPEGError) and "RGB" in results[4].reason
    assert isinstance(results[5].error, JPEGError)  # above max_pixels
    assert torch.equal(results[0].image, results[6].image)
    with pytest.raises(JPEGError):
        corrector.correct(b"not a jpeg")
    image = results[0].pil()  # the same pixels as a PIL image; a failed result raises its error
    assert image.mode == "RGB" and np.array_equal(np.asarray(image), results[0].image.permute(1, 2, 0).numpy())
    with pytest.raises(JPEGError):
        results[1].pil()


class _FlakyStep(CorrectionStep):
    """Fails on batches of more than one image and on the quality-90 image."""

    def restore(self, planes, *, eager=False):
        if planes.batch_size > 1 or planes.luma_table.min() < 10:
            raise RuntimeError("simulated failure")
        return super().restore(planes, eager=eager)


@WORKERS
def test_a_failed_batch_is_retried_image_by_image(tiny, workers):
    jpegs = [pillow_jpeg(synthetic_image(32, 32, seed=s), quality=90 if s == 3 else 30) for s in range(5)]
    step = _FlakyStep(tiny)
    results = list(Corrector(step, batch_size=4, tile=None, workers=workers).correct_many(jpegs))
    assert [r.ok for r in results] == [True, True, True, False, True]
    assert results[3].reason == "simulated failure"


@WORKERS
def test_an_error_of_the_iterable_ends_the_generator(tiny, workers):
    def items():
        yield pillow_jpeg(synthetic_image(16, 16), quality=30)
        raise KeyError("broken input list")

    with pytest.raises(KeyError, match="broken input list"):
        list(Corrector(tiny, tile=None, workers=workers).correct_many(items()))


@WORKERS
def test_closing_early_stops_the_pipeline(tiny, workers):
    jpeg = pillow_jpeg(synthetic_image(16, 16), quality=30)
    read = []

    def items():
        for _ in range(1000):
            read.append(1)
            yield jpeg

    results = Corrector(tiny, tile=None, prefetch=2, workers=workers).correct_many(items())
    assert next(results).ok
    results.close()  # must not hang or leave the compute or reader threads running
    assert not any(t.name.startswith(("qgac-engine", "qgac-read")) and t.is_alive() for t in threading.enumerate())
    assert len(read) == 1 if workers == 0 else len(read) < 20  # inline: read only when the model needs one


class _ThreadStep(CorrectionStep):
    """Records the thread each forward runs on, and the largest batch it is given."""

    def __init__(self, model, **kwargs):
        super().__init__(model, **kwargs)
        self.threads, self.largest, self.inline = set(), 0, False

    def restore(self, planes, *, eager=False):
        self.threads.add(threading.current_thread().name)
        self.largest = max(self.largest, planes.batch_size)
        if self.inline:
            assert not any(t.name.startswith(("qgac-engine", "qgac-read")) for t in threading.enumerate())
        return super().restore(planes, eager=eager)


def test_cpu_default_runs_in_the_callers_thread(tiny):
    """On the CPU the default is ``workers=0``: reading, the model and delivery all run in the
    thread that iterates, as a plain loop over ``qgac_fast.correct`` (no reader or compute thread
    beside torch's intra-op threads), with results equal to the threaded pipeline's and correct()'s."""
    step = _ThreadStep(tiny)
    corrector = Corrector(step, tile=None)
    assert corrector.workers == 0
    step.inline = True
    jpegs = _jpegs()
    results = list(corrector.correct_many(jpegs))
    assert step.threads == {threading.current_thread().name}
    threaded_step = _ThreadStep(tiny)
    threaded = list(Corrector(threaded_step, tile=None, workers=2).correct_many(jpegs))
    assert threaded_step.threads == {"qgac-engine"}
    assert [r.index for r in results] == list(range(len(jpegs)))
    for result, other, jpeg in zip(results, threaded, jpegs):
        assert torch.equal(result.image, other.image)
        assert torch.equal(result.image, qgac_fast.correct(jpeg, model=tiny))


def test_argument_checks(tiny):
    with pytest.raises(ValueError, match="CUDA only"):
        Corrector(tiny, precision="fp16")
    with pytest.raises(ValueError, match="precision"):
        Corrector(tiny, precision="float16")
    with pytest.raises(ValueError, match="CorrectionStep"):
        Corrector(CorrectionStep(tiny), precision="float32")
    with pytest.raises(ValueError, match="multiple of 16"):
        Corrector(tiny, tile=40)
    with pytest.raises(ValueError, match="batch_size"):
        Corrector(tiny, batch_size=0)
    with pytest.raises(ValueError, match="move it first"):
        Corrector(tiny, device="meta")
    for workers in (-1, 1.5, True):
        with pytest.raises(ValueError, match="workers"):
            Corrector(tiny, workers=workers)
    with pytest.raises(ValueError, match="compile mode"):
        Corrector(tiny, compile="fast")
    assert Corrector(tiny, workers=3).workers == 3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_default_workers_unchanged(tiny):
    assert Corrector(QGAC(TINY).cuda()).workers == min(4, os.cpu_count() or 1)


# ------------------------------------------------------------------------------------------
# torch.compile


def test_compiled_engine_matches_the_eager_one(tiny):
    """``compile="default"``: inductor on the CPU, a colour shape and a gray one; the images equal
    the eager engine's up to float rounding (compiled kernels sum in another order)."""
    jpegs = [_jpegs()[i] for i in (0, 1, 4)]
    eager = [r.image for r in Corrector(tiny, tile=None, precision="float32").correct_many(jpegs)]
    corrector = Corrector(tiny, tile=None, precision="float32", compile="default")
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = list(corrector.correct_many(jpegs))
    # the step's own fallback warning (torch's deprecation notices also name torch.compile)
    assert not [w for w in caught if "failed, running eagerly" in str(w.message)]
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= graphs + 2  # colour and gray
    threaded = list(Corrector(tiny, tile=None, precision="float32", compile="default",  # compiles in a thread
                              workers=2).correct_many(jpegs))
    for result, other, expected in zip(compiled, threaded, eager):
        assert result.ok and other.ok and result.image.shape == expected.shape
        assert torch.equal(result.image, other.image)
        difference = (result.image.int() - expected.int()).abs()
        assert difference.max() <= 1 and (difference > 0).float().mean() < 0.01


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_compiled_engine_on_cuda(mode):
    """On CUDA with batches of 4 and the Triton decode; ``reduce-overhead`` replays CUDA graphs,
    whose outputs the engine must copy before the next replay (several batches of one shape)."""
    torch.manual_seed(0)
    model = QGAC(TINY).cuda().eval()
    jpegs = _jpegs() * 3
    eager = [r.image for r in Corrector(model, tile=None, batch_size=4, precision="float32").correct_many(jpegs)]
    compiled = list(Corrector(model, tile=None, batch_size=4, precision="float32", compile=mode).correct_many(jpegs))
    for result, expected in zip(compiled, eager):
        assert result.ok and result.image.shape == expected.shape
        difference = (result.image.int() - expected.int()).abs()
        assert difference.max() <= 1 and (difference > 0).float().mean() < 0.01


def test_a_failed_compile_warns_once_and_runs_eagerly(tiny):
    def failing_backend(graph, inputs):
        raise RuntimeError("no compiler here")

    step = CorrectionStep(tiny, compile="default", compile_backend=failing_backend)
    jpegs = _jpegs()[:2]
    with pytest.warns(RuntimeWarning, match="running eagerly") as caught:
        results = list(Corrector(step, tile=None).correct_many(jpegs))
    assert len([w for w in caught if "running eagerly" in str(w.message)]) == 1
    assert not step.compiled
    for result, jpeg in zip(results, jpegs):
        assert result.ok and torch.equal(result.image, qgac_fast.correct(jpeg, model=tiny))


# ------------------------------------------------------------------------------------------
# tiles


def test_tiles_match_the_whole_image_without_seams(default_model):
    """~200x300, tile cores of at most 64 pixels, default overlap: PSNR within 0.05 dB of the whole image and
    the differences on tile borders no larger than elsewhere."""
    image = synthetic_image(200, 300)
    target = torch.from_numpy(image).permute(2, 0, 1)
    jpeg = pillow_jpeg(image, quality=20)
    whole = Corrector(default_model, precision="float32", tile=None).correct(jpeg)
    result = next(Corrector(default_model, precision="float32", tile=64).correct_many([jpeg]))
    tiles = plan_tiles(208, 304, 64, 8 * default_overlap(default_model.config))
    assert result.tiles == len(tiles) == 6  # planes 208x304: 2 x 3 windows of 176x192
    assert abs(psnr(result.image, target).item() - psnr(whole, target).item()) < 0.05
    difference = (result.image.int() - whole.int()).abs().amax(0)
    border = torch.zeros(200, 300, dtype=torch.bool)
    for _, (top, bottom, left, right) in tiles:  # the cores' inner edges
        for b in (left, right):
            if 0 < b < 300:
                border[:, b - 2:b + 2] = True
        for b in (top, bottom):
            if 0 < b < 200:
                border[b - 2:b + 2, :] = True
    # rounding of near-ties may flip single levels anywhere, hence the floor of 1
    assert difference[border].max() <= max(int(difference[~border].max()), 1)
    assert difference.float().mean() < 0.05


def test_tiles_with_the_full_receptive_field_equal_the_whole_image(tiny):
    image = synthetic_image(200, 300, seed=3)
    jpeg = pillow_jpeg(image, quality=20)
    whole = Corrector(tiny, precision="float32", tile=None).correct(jpeg)
    result = next(Corrector(tiny, precision="float32", tile=32, overlap=receptive_field(TINY)).correct_many([jpeg]))
    assert result.tiles > 1
    assert (result.image.int() - whole.int()).abs().max() <= 1  # float rounding only


@pytest.mark.parametrize("layout", ["gray", "4:4:4", "4:2:2"])
def test_tiles_of_other_layouts(tiny, layout):
    image = synthetic_image(40, 400, seed=4)
    jpeg = (pillow_jpeg(image[..., 0], quality=30) if layout == "gray"
            else turbo_jpeg(image, quality=30, subsampling=layout))
    whole = Corrector(tiny, precision="float32", tile=None).correct(jpeg)
    result = next(Corrector(tiny, precision="float32", tile=16, overlap=receptive_field(TINY)).correct_many([jpeg]))
    assert result.tiles > 1 and result.image.shape == whole.shape
    assert (result.image.int() - whole.int()).abs().max() <= 1


def test_progress_reports_megapixels_per_model_call_and_during_tiles(tiny):
    """A batch reports its images' megapixels; a tiled image reports its share tile chunk by chunk,
    adding up to its own size (not its padded planes')."""
    small, large = pillow_jpeg(synthetic_image(40, 56, seed=1), quality=30), pillow_jpeg(synthetic_image(200, 300),
                                                                                         quality=30)
    reports = []
    corrector = Corrector(tiny, precision="float32", batch_size=2, tile=48, progress=reports.append)
    results = list(corrector.correct_many([small, small, large]))
    assert results[2].tiles > 1 and len(reports) == 1 + -(-results[2].tiles // 2)  # two tiles a call
    assert reports[0] == pytest.approx(2 * 40 * 56 / 1e6)
    assert sum(reports[1:]) == pytest.approx(200 * 300 / 1e6) and all(r > 0 for r in reports[1:])


def test_auto_tiles_what_exceeds_the_memory_budget(tiny):
    a, b = Corrector(tiny, precision="float32", tile="auto").cost("420")
    assert a >= 0 and b > 0
    small, large = (pillow_jpeg(synthetic_image(*s, seed=5), quality=30) for s in ((64, 64), (256, 256)))
    step = _ThreadStep(tiny, precision="float32")
    budget = int(a + b * 64 * 64 * 2.5)  # two 64x64 images per call, never a 256x256
    corrector = Corrector(step, batch_size=4, tile="auto", overlap=receptive_field(TINY), memory_budget=budget)
    results = list(corrector.correct_many([small] * 4 + [large]))
    assert step.largest == 2
    assert [r.tiles for r in results[:4]] == [1] * 4 and results[4].tiles > 1
    whole = Corrector(tiny, precision="float32", tile=None).correct(large)
    assert (results[4].image.int() - whole.int()).abs().max() <= 1


class _SmallMemoryStep(CorrectionStep):
    """Runs out of memory on any call of more than ``limit`` luma pixels, as a small GPU would."""

    def __init__(self, model, limit, **kwargs):
        super().__init__(model, **kwargs)
        self.limit, self.calls = limit, []

    def restore(self, planes, *, eager=False):
        pixels = planes.batch_size * planes.luma.shape[-2] * planes.luma.shape[-1]
        self.calls.append(pixels)
        if pixels > self.limit:
            raise torch.OutOfMemoryError("out of memory (test)")
        return super().restore(planes, eager=eager)


def test_out_of_memory_is_retried_in_smaller_tiles(tiny):
    """A whole image that runs out of memory is tiled; tiles that still do are split again (a
    quarter of the pixels each time) until they fit."""
    image = synthetic_image(200, 300, seed=6)
    jpeg = pillow_jpeg(image, quality=30)
    # with the receptive field as overlap, the tiled result equals the whole-image one
    step = _SmallMemoryStep(tiny, 40_000, precision="float32")
    result = next(Corrector(step, tile=512, overlap=receptive_field(TINY)).correct_many([jpeg]))
    assert result.ok and result.tiles > 1 and step.calls[0] == 208 * 304
    assert max(step.calls[1:]) <= 40_000
    whole = Corrector(tiny, precision="float32", tile=None).correct(jpeg)
    assert (result.image.int() - whole.int()).abs().max() <= 1
    # without overlap the windows shrink again while they run out of memory, one window a call
    step = _SmallMemoryStep(tiny, 3000, precision="float32")
    result = next(Corrector(step, tile=512, overlap=0).correct_many([jpeg]))
    assert result.ok and result.image.shape == whole.shape and max(step.calls[-result.tiles:]) <= 3000
    levels = list(dict.fromkeys(step.calls))
    assert len(levels) >= 3 and levels == sorted(levels, reverse=True)


def test_activation_estimate_covers_a_larger_forward(tiny):
    """The linear estimate from the two probes bounds the tracked peak of a 512x512 forward."""
    corrector = Corrector(tiny, tile="auto")
    a, b = corrector.cost("420")
    with PeakTracker() as tracker:
        corrector.step.restore(probe_planes("420", 512))
    assert tracker.peak <= a + b * 512 * 512
    assert tracker.peak >= (a + b * 512 * 512) / inference.SAFETY_FACTOR / 1.2


@pytest.mark.parametrize("name", ["tiny", "default"])
def test_activation_bound_covers_the_probed_estimate(name, tiny, default_model):
    """The configuration's bound, which spares small images the probes, is above the probed slope
    (safety factor included) of every layout."""
    model = tiny if name == "tiny" else default_model
    cost = Corrector(model, precision="float32", tile="auto").cost
    for layout in ("gray", "420", "444"):
        assert inference.activation_bound(model.config) >= cost(layout)[1]


def test_a_small_image_is_not_probed_for(default_model, monkeypatch):
    """A 512x512 image, far below the 2 GiB budget even by the bound, is corrected whole without
    the probes (which cost several times its correction); a budget it may not fit probes."""
    probes = []
    monkeypatch.setattr(inference.ActivationCost, "_measured", {})  # no probe results from other tests
    monkeypatch.setattr(inference.ActivationCost, "_probe", lambda self, layout, side: probes.append(side) or 1e9)
    jpeg = pillow_jpeg(synthetic_image(512, 512), quality=30)
    result = next(Corrector(default_model, tile="auto", memory_budget=2 << 30).correct_many([jpeg]))
    assert result.ok and result.tiles == 1 and probes == []
    next(Corrector(default_model, tile="auto", memory_budget=256 << 20).correct_many([jpeg]))
    assert probes


# ------------------------------------------------------------------------------------------
# correct_files


@pytest.mark.parametrize("format", ["png", "webp", "jpeg"])
def test_correct_files_formats(tiny, tmp_path, format):
    jpeg = pillow_jpeg(synthetic_image(40, 56), quality=25)
    gray = pillow_jpeg(synthetic_image(24, 40, 1)[..., 0], quality=25)
    corrector = Corrector(tiny, tile=None)
    pairs = [(jpeg, tmp_path / "out" / f"colour{inference.FORMATS[format]}"),
             (gray, tmp_path / "out" / "sub" / f"gray{inference.FORMATS[format]}")]
    results = list(corrector.correct_files(pairs, format=format, jpeg_quality=90))
    assert [r.status for r in results] == ["ok", "ok"]
    for (src, dst), result in zip(pairs, results):
        expected = corrector.correct(src)
        written = np.asarray(Image.open(dst))
        written = written[None] if written.ndim == 2 else written.transpose(2, 0, 1)
        if format == "webp" and expected.shape[0] == 1:  # WebP has no gray mode: three equal channels
            assert (written == written[:1]).all()
            written = written[:1]
        assert written.shape == tuple(expected.shape) and result.size == tuple(expected.shape[1:])
        if format == "jpeg":
            assert np.abs(written.astype(int) - expected.numpy()).mean() < 3
        else:
            assert np.array_equal(written, expected.numpy())  # lossless


def test_correct_files_leaves_no_partial_file_after_a_failure(tiny, tmp_path):
    (tmp_path / "blocked").write_bytes(b"a file where the output folder should be")
    pairs = [(pillow_jpeg(synthetic_image(32, w), quality=30), tmp_path / f"{w}.png") for w in (40, 48, 56)]
    pairs[1] = (pairs[1][0], tmp_path / "blocked" / "48.png")
    results = list(Corrector(tiny, tile=None).correct_files(pairs))
    assert [r.status for r in results] == ["ok", "failed", "ok"]
    assert results[1].error in (f"cannot write {pairs[1][1]}: File exists", f"cannot write {pairs[1][1]}: Not a directory")
    assert sorted(os.listdir(tmp_path)) == ["40.png", "56.png", "blocked"]


def test_correct_files_refuses_inputs_and_skips_existing(tiny, tmp_path):
    src = tmp_path / "a.jpg"
    src.write_bytes(pillow_jpeg(synthetic_image(32, 32), quality=30))
    original = src.read_bytes()
    done = tmp_path / "done.png"
    done.write_bytes(b"kept")
    corrector = Corrector(tiny, tile=None)
    results = list(corrector.correct_files([(src, src), (src, done), (str(src), tmp_path / "new.png")],
                                           skip_existing=True))
    assert [r.status for r in results] == ["failed", "skipped", "ok"]
    assert "overwrite an input" in results[0].error
    assert src.read_bytes() == original and done.read_bytes() == b"kept"


def test_correct_files_refuses_the_file_behind_an_open_file_or_pil_image(tiny, tmp_path):
    src = tmp_path / "a.jpg"
    src.write_bytes(pillow_jpeg(synthetic_image(32, 32), quality=30))
    original = src.read_bytes()
    corrector = Corrector(tiny, tile=None)
    with open(src, "rb") as file, Image.open(src) as picture:
        results = list(corrector.correct_files([(file, src), (picture, str(src)),
                                                (io.BytesIO(original), tmp_path / "b.png")]))
    assert [r.status for r in results] == ["failed", "failed", "ok"]
    assert [r.input for r in results] == [str(src), str(src), "<BytesIO>"]
    assert all("refusing to overwrite an input file" in r.error for r in results[:2])
    assert src.read_bytes() == original


def test_correct_files_names_both_inputs_of_one_output_and_the_way_out(tiny, tmp_path):
    a, b, out = tmp_path / "a.jpg", tmp_path / "b.jpg", tmp_path / "out.png"
    for path in (a, b):
        path.write_bytes(pillow_jpeg(synthetic_image(16, 16), quality=30))
    results = list(Corrector(tiny, tile=None).correct_files([(a, out), (b, out)]))
    assert [r.status for r in results] == ["ok", "failed"]
    assert results[1].error == (f"{a} and {b} would both be written to {out}: rename one of them, or give them "
                                "different output paths")


def test_correct_files_says_when_each_write_starts(tiny, tmp_path):
    pairs = [(pillow_jpeg(synthetic_image(16, 8 * w), quality=30), str(tmp_path / f"{w}.png")) for w in (1, 2, 3)]
    started = []

    def writing(path):
        assert not os.path.exists(path)  # called before the write
        started.append(path)

    results = list(Corrector(tiny, tile=None, workers=0).correct_files(pairs, writing=writing))
    assert [r.status for r in results] == ["ok"] * 3
    assert started == [dst for _, dst in pairs]  # one writer thread on the CPU: in order


def test_an_interrupted_correction_reports_the_writes_begun_before_it(tiny, tmp_path, monkeypatch):
    # Ctrl-C lands in the model call of the third file: the first two, written (or being written),
    # are yielded before the KeyboardInterrupt, so a report counts every complete output
    pairs = [(pillow_jpeg(synthetic_image(16, 8 * w), quality=30), str(tmp_path / f"{w}.png")) for w in (1, 2, 3)]
    corrector = Corrector(tiny, tile=None, workers=0)
    real = corrector.correct_many

    def interrupted_at_the_third(items):
        for index, result in enumerate(real(items)):
            if index == 2:
                raise KeyboardInterrupt
            yield result

    monkeypatch.setattr(corrector, "correct_many", interrupted_at_the_third)
    seen = []
    with pytest.raises(KeyboardInterrupt):
        for result in corrector.correct_files(pairs):
            seen.append(result)
    assert [(r.output, r.status) for r in seen] == [(dst, "ok") for _, dst in pairs[:2]]
    assert sorted(os.listdir(tmp_path)) == ["1.png", "2.png"]  # complete, no temporary file


def test_encode_image_rejects_unknown_formats():
    with pytest.raises(ValueError, match="format"):
        inference.encode_image(torch.zeros(3, 8, 8, dtype=torch.uint8), "bmp")
    data = inference.encode_image(torch.zeros(1, 8, 8, dtype=torch.uint8), "png")
    assert Image.open(io.BytesIO(data)).mode == "L"


def test_encode_image_subsampling_webp_quality_and_gray():
    from qgac_fast.codec import read_coefficients

    rgb = torch.from_numpy(synthetic_image(16, 24, seed=3)).permute(2, 0, 1).contiguous()
    gray = rgb[:1].clone()
    assert read_coefficients(inference.encode_image(rgb, "jpeg")).subsampling == "4:2:0"  # the default, as before
    assert read_coefficients(inference.encode_image(rgb, "jpeg", subsampling="4:4:0")).subsampling == "4:4:0"
    assert read_coefficients(inference.encode_image(gray, "jpeg")).subsampling == "gray"
    lossless = Image.open(io.BytesIO(inference.encode_image(rgb, "webp")))
    assert np.array_equal(np.asarray(lossless.convert("RGB")).transpose(2, 0, 1), rgb.numpy())
    lossy = Image.open(io.BytesIO(inference.encode_image(rgb, "webp", webp_quality=30)))
    assert lossy.format == "WEBP" and lossy.size == (24, 16)
    assert Image.open(io.BytesIO(inference.encode_image(gray, "webp"))).mode == "RGB"  # WebP has no gray mode
    for bad in ({"subsampling": "4:2:1"}, {"webp_quality": 0}, {"webp_quality": True}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            inference.encode_image(rgb, "webp", **bad)
    assert inference.jpeg_subsampling("other(2x1,1x2,1x1)") == inference.jpeg_subsampling(None) == "4:2:0"


def test_encode_image_png_levels_are_lossless_and_trade_size():
    rgb = torch.from_numpy(synthetic_image(64, 96, seed=5)).permute(2, 0, 1).contiguous()
    sizes = []
    for level in (0, 1, 9):
        data = inference.encode_image(rgb, "png", png_level=level)
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))).transpose(2, 0, 1), rgb.numpy())
        sizes.append(len(data))
    assert sizes[0] > sizes[1] >= sizes[2]  # level 0 stores the pixels uncompressed
    assert len(inference.encode_image(rgb, "png")) == sizes[1]  # the default level, DEFAULT_PNG_LEVEL
    for bad in (10, -1, True, 1.0):
        with pytest.raises(ValueError, match="png_level"):
            inference.encode_image(rgb, "png", png_level=bad)


def test_correct_files_keeps_each_input_subsampling(tmp_path):
    from qgac_fast.codec import read_coefficients
    from qgac_fast.compression import compress

    pixels = synthetic_image(16, 32, seed=4)
    corrector = Corrector(QGAC(TINY), workers=0)
    pairs = [(compress(pixels, 50, subsampling=s), tmp_path / f"{i}.jpg") for i, s in enumerate(("4:4:4", "4:2:2"))]
    kept = [read_coefficients(r.output).subsampling for r in corrector.correct_files(pairs, format="jpeg")]
    chosen = [read_coefficients(r.output).subsampling
              for r in corrector.correct_files(pairs, format="jpeg", subsampling="4:4:4")]
    assert kept == ["4:4:4", "4:2:2"] and chosen == ["4:4:4", "4:4:4"]
    with pytest.raises(ValueError, match="webp_quality"):
        next(corrector.correct_files(pairs, format="webp", webp_quality=101))
