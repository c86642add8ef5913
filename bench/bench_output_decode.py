"""The model's output decode on the CPU: the reference against the C++ twin (``backend="native"``).

Usage (from the repository root, inside .venv, on an otherwise quiet machine)::

    OMP_WAIT_POLICY=PASSIVE python -m bench.run output_decode

What a ``correct`` call runs after the forward, per image: :meth:`CorrectionStep.decode`
(``decode_normalized`` with the input's quantization bins, in strips of rows) with each
``decode_backend``, and ``decode_normalized`` alone on the whole image. The planes are those of a
4:2:0 JPEG (quality 85) of the bundled photos' mosaic at ``QGAC_BENCH_OUTPUT_DECODE_MP``
megapixels (default 12), with the plain decode's own coefficients as the "restored" output.
Threads: ``QGAC_BENCH_OUTPUT_DECODE_THREADS`` (default 2). Each backend runs right after the
other on the same planes; the report gives each time against the reference's.
"""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from bench.common import mosaic, photo_size, setting
from bench.report import provenance
from qgac_fast import ops
from qgac_fast.codec import read_coefficients
from qgac_fast.inference import CorrectionStep
from qgac_fast.model import QGAC, planes_from_jpeg
from qgac_fast.model.config import get_config

MEGAPIXELS = float(setting("OUTPUT_DECODE_MP", "12"))
THREADS = int(setting("OUTPUT_DECODE_THREADS", "2"))
BACKENDS = ("reference", "native")


@pytest.fixture(scope="module")
def case():
    """(step, planes, y, chroma) at :data:`MEGAPIXELS`."""
    torch.set_num_threads(THREADS)
    height, width = photo_size(MEGAPIXELS)
    buffer = io.BytesIO()
    Image.fromarray(mosaic(height, width)).save(buffer, "JPEG", quality=85)
    planes = planes_from_jpeg(read_coefficients(buffer.getvalue()))
    model = QGAC(get_config("default")).eval()  # statistics only matter for the arithmetic, not the pixels
    step = CorrectionStep(model, precision="float32")
    y = model.normalize(planes.luma.float(), 0)
    chroma = torch.nn.functional.interpolate(planes.chroma.float(), size=y.shape[-2:], mode="nearest")
    chroma = model.normalize(chroma, slice(1, 3))
    return step, planes, y, chroma


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("what", ["step-decode", "decode-normalized"])
def bench_output_decode(benchmark, case, what, backend):
    step, planes, y, chroma = case
    if what == "step-decode":
        step.decode_backend = backend
        run = lambda: step.decode(planes, y, chroma)  # noqa: E731
    else:
        model = step.model
        run = lambda: ops.decode_normalized(y, chroma, model.mean, model.std, size=planes.size,  # noqa: E731
                                            backend=backend)
    with torch.inference_mode():
        benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(what=what, backend=backend, megapixels=planes.size[0] * planes.size[1] / 1e6,
                                threads=THREADS)


def markdown(benchmarks: list[dict], run: dict) -> str:
    """The report's table (:mod:`bench.report`): each case's median, MP/s and time against the reference's."""
    rows = [(bench["extra_info"], bench["stats"]["median"]) for bench in benchmarks]
    reference = {info["what"]: seconds for info, seconds in rows if info["backend"] == "reference"}
    lines = [f"# The model's output decode on the CPU ({rows[0][0]['threads']} threads)", "", provenance(run), "",
             f"Planes of a {rows[0][0]['megapixels']:.1f} MP 4:2:0 JPEG; median of 5 rounds after one warm-up.", "",
             "| what | backend | median s | MP/s | time / reference |", "|---|---|---:|---:|---:|"]
    for info, seconds in rows:
        lines.append(f"| {info['what']} | {info['backend']} | {seconds:.3f} | {info['megapixels'] / seconds:.0f} | "
                     f"{seconds / reference[info['what']]:.2f} |")
    return "\n".join(lines) + "\n"
