"""End-to-end correction throughput on a GPU: JPEG bytes -> uint8 pixels on the device, and files
-> files, for the ``default`` and ``paper`` models, against a plain eager loop, in one run.

Usage (from the repository root, on a machine with CUDA)::

    python -m bench.end_to_end [--name e2e-h100] [--budget-s 300] [--configs default paper]
        [--sizes 512 2048] [--batches 1 16] [--precisions bf16 float32] [--no-compile]

    QGAC_BENCH_CPU_SMOKE=1 TRITON_INTERPRET=1 python -m bench.end_to_end   # CPU smoke run

The one benchmark that is not a pytest-benchmark case (``bench/__init__.py``), for what
pytest-benchmark cannot do: the grid has cells that do not fit in memory (recorded as ``oom``),
cells whose ``torch.compile`` fails (recorded with the error), a time budget (the GPU session's:
cells not reached are ``skipped``), and one measured peak every cell is compared with. The device
is CUDA when available; with ``QGAC_BENCH_CPU_SMOKE=1`` and no CUDA (or ``--device cpu``) it runs
at tiny sizes on the CPU, to check this code (the kernel benchmarks' rule), never to measure.

The modules, by job: :mod:`.args` (the options and their device-dependent defaults),
:mod:`.models` (the models and their FLOP count), :mod:`.pipelines` (one pass of each pipeline),
:mod:`.timing` (the matmul peak, the time budget), :mod:`.rows` (timing one row and what is derived
from it), :mod:`.results` (the JSON document), :mod:`.session` (the stages and signals),
:mod:`.tables` (the Markdown, for :mod:`bench.report`).

**Input.** Square crops (``--sizes``) of the bundled photos' mosaic (:func:`bench.common.mosaic_jpegs`), JPEG
quality ``--quality`` 4:2:0 (Pillow/libjpeg), at most 8 distinct images repeated, held as bytes (and
written as files for the ``files`` pipeline). A pass covers ``max(--min-images, --batches-per-pass x
batch)`` images (8, and two batches, on CUDA); the eager loop ``--eager-images`` (4).

**Models.** ``default``: the shipped weights when present, else the configuration with seeded
non-trivial weights; ``paper``: the published widths (259M parameters) with random weights,
constructed directly on the device. Speed does not depend on the weights' values.

**Pipelines** (each cell: config x image size x precision x batch size):

* ``forward``: the model alone (``restore`` under ``torch.inference_mode`` and bf16 autocast or
  float32) on batches already on the device: what the network costs.
* ``stream`` (JPEG bytes in -> uint8 on the device): a pool of ``--workers`` threads reads the
  coefficients and builds the planes in pinned memory, batches are copied non-blocking, restored,
  clamped to the quantization bins and decoded by the Triton decode kernel; the images stay on the
  device (the engine's compute stage without its hand-off to the host).
* ``engine`` (bytes in -> uint8 on the host): ``Corrector.correct_many``, the product path
  (in-order results, pinned device-to-host copies). Its batches are capped by its memory budget
  (``tile="auto"``): ``effective_batch`` records the cap.
* ``files`` (files in -> PNG files out): ``Corrector.correct_files`` (``--file-format``), writer
  threads included.
* ``eager_loop`` (per config and size, the baseline): ``for data in jpegs: qgac_fast.correct(data,
  model, decode_backend="reference")`` with ``model.cfm_backend = "reference"`` (batched matrix products):
  read, model in float32, reference decode, one image at a time. ``x_eager`` of every row is its
  MP/s over this one's.
* ``compiled``: ``forward`` and ``stream`` again with the networks through
  :func:`qgac_fast.inference.compile_networks` (what ``Corrector(compile=MODE)`` runs), once per
  ``--compile-modes`` mode (``default``; ``reduce-overhead`` adds CUDA graphs), with
  ``--compile-backend``, for the ``--compile-configs``, after every uncompiled cell; a row's
  ``compiled`` is its mode (False when eager). A failure is recorded and that config and mode's
  remaining compiled cells are skipped.

**Timing.** Wall clock around a whole pass, CUDA synchronised at its end; one warm-up pass
(compilation, autotuning, the engine's memory probe; its time is ``warmup_s``), then passes until
``--min-time`` seconds (at least ``--min-repeats``, at most ``--max-repeats``); the median.
MP/s = pass megapixels / median. FLOP/MP: :func:`qgac_fast.model.flops_per_megapixel` (forward
FLOP of a 256x256 4:2:0 image, CFMs counted as grouped convolutions); achieved TFLOP/s = MP/s x
FLOP/MP (of every pipeline, so lower than ``forward`` where reading, decoding or writing cost);
``fraction_of_peak`` = achieved / the measured peak of a large bf16 matrix product (``--matmul-n``
cubed, CUDA events, median of 20) in the same run; float32 rows also get the fraction of a float32
product's peak (TF32 settings in ``meta``).

**Decode threads keep up?** The reader stage alone (``read_coefficients_many`` + ``planes_from_jpeg``
on ``--workers`` threads, and on one) per image, against the model's time per image in each
``forward`` and ``stream`` row (``keep_up``): the reader keeps up when its time per image is at most
the model's.

**Checks.** ``vs_eager``: max and mean absolute difference of the first image of each ``stream`` and
``engine`` row from the eager loop's (bf16 and Triton kernels vs float32 references).

Writes ``bench/results/<name>.json`` after every cell (so a killed run keeps what it measured),
then the report tool (:func:`bench.report.write`) writes ``<name>.md`` (tables) and ``<name>.png``
(MP/s against batch size per model and image size; where matplotlib is missing, as on a bare GPU
machine, a message says how to draw it later from the JSON). SIGINT or SIGTERM finishes the
current row, then writes them; a second signal stops the row at once. ``--budget-s`` skips the rows
estimated not to fit.
"""

import os

from bench.common import SMOKE

if SMOKE:
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before Triton is first imported
