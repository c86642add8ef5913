"""End-to-end correction throughput on a GPU: JPEG bytes -> uint8 pixels on the device, and files
-> files, for the ``default`` and ``paper`` models, against a plain eager loop, in one run.

Usage (from the repository root, on a machine with CUDA)::

    python bench/bench_end_to_end.py [--name e2e-h100] [--budget-s 300] [--configs default paper]
        [--sizes 512 2048] [--batches 1 16] [--precisions bf16 float32] [--no-compile]

    QGAC_BENCH_CPU_SMOKE=1 TRITON_INTERPRET=1 python bench/bench_end_to_end.py   # CPU smoke run

A script rather than pytest-benchmark: the grid has cells that do not fit in memory (recorded as
``oom``), cells whose ``torch.compile`` fails (recorded with the error), a time budget (cells not
reached are ``skipped``), and one measured peak every cell is compared with. The device is CUDA when
available; with ``QGAC_BENCH_CPU_SMOKE=1`` and no CUDA (or ``--device cpu``) it runs at tiny sizes
on the CPU, to check this file (``bench/conftest.py``'s rule), never to measure.

**Input.** Square crops (``--sizes``) of the bundled photos' mosaic (``bench/conftest.py``), JPEG
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
``<name>.md`` (tables) and ``<name>.png`` (MP/s against batch size per model and image size, drawn by
``bench/plot_results.py``; where matplotlib is missing, as on a bare GPU machine, a message says how
to draw it later from the JSON). SIGINT or SIGTERM finishes the current row, then writes them;
a second signal stops the row at once. ``--budget-s`` skips the rows estimated not to fit.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import math
import os
import platform
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

from conftest import SMOKE, git_commit, mosaic_jpegs  # noqa: E402  (bench/conftest.py: smoke switch, inputs, commit)
from plot_results import plot_end_to_end, variant  # noqa: E402  (bench/plot_results.py)

if SMOKE:
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before Triton is first imported

import torch  # noqa: E402

from qgac_fast.inference import COMPILE_MODES  # noqa: E402

PIPELINES = ("forward", "stream", "engine", "files")
COMPILED_PIPELINES = ("forward", "stream")
PRECISIONS = ("bf16", "float32")
DISTINCT_IMAGES = 8


# --------------------------------------------------------------------------------------------
# arguments


def parse_args(argv):
    """Arguments; the defaults of the size-related ones depend on the device (``apply_defaults``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available, else the CPU "
                        "in smoke mode only)")
    parser.add_argument("--configs", nargs="+", default=["default", "paper"], choices=["default", "paper"])
    parser.add_argument("--sizes", nargs="+", type=int, help="square image sides, pixels (512 2048; smoke 32 64)")
    parser.add_argument("--batches", nargs="+", type=int, help="batch sizes (1 16; smoke 1 2)")
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    parser.add_argument("--pipelines", nargs="+", default=list(PIPELINES), choices=PIPELINES)
    parser.add_argument("--no-eager", action="store_true", help="leave out the eager-loop baseline")
    parser.add_argument("--no-compile", action="store_true", help="leave out the torch.compile rows")
    parser.add_argument("--compile-backend", help="torch.compile backend (inductor; smoke: eager, dynamo tracing only)")
    parser.add_argument("--quality", type=int, default=30)
    parser.add_argument("--min-images", type=int, help="least images per pass (8; smoke 1); a pass has "
                        "max(this, batches-per-pass x batch)")
    parser.add_argument("--batches-per-pass", type=int, help="batches per pass (2, so reading overlaps the "
                        "model; smoke 1)")
    parser.add_argument("--eager-images", type=int, help="images per eager-loop pass (4; smoke 1)")
    parser.add_argument("--compile-modes", nargs="+", choices=COMPILE_MODES,
                        help="torch.compile modes of the compiled rows (default reduce-overhead; smoke: default)")
    parser.add_argument("--compile-configs", nargs="+", choices=["default", "paper"],
                        help="configs with torch.compile rows (all of --configs; smoke: default)")
    parser.add_argument("--flops-size", type=int, help="image side of the FLOP count (256; smoke 64)")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1),
                        help="reader threads (stream, engine, reader check) and writer threads (files)")
    parser.add_argument("--file-format", default="png", choices=["png", "jpeg", "webp"])
    parser.add_argument("--min-time", type=float, help="timed seconds per row after the warm-up (0.5; smoke 0)")
    parser.add_argument("--min-repeats", type=int, help="least timed passes per row (2; smoke 1)")
    parser.add_argument("--max-repeats", type=int, help="most timed passes per row (20; smoke 1)")
    parser.add_argument("--matmul-n", type=int, help="peak matmul side (8192; smoke 128)")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="wall-clock budget: rows that would not finish in it are skipped")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--name", default=None, help="basename of the outputs (default: e2e-<gpu>, e2e-cpu-smoke)")
    parser.add_argument("--out-dir", default=str(RESULTS), help="folder of the JSON, Markdown and PNG")
    return parser.parse_args(argv)


#: (GPU default, CPU smoke default) of the arguments whose scale depends on the device
SCALED_DEFAULTS = {"sizes": ([512, 2048], [32, 64]), "batches": ([1, 16], [1, 2]),
                   "compile_backend": ("inductor", "eager"),
                   "compile_modes": (["default", "reduce-overhead"], ["default"]),
                   "min_images": (8, 1), "eager_images": (4, 1),
                   "batches_per_pass": (2, 1), "compile_configs": (None, ["default"]), "flops_size": (256, 64),
                   "min_time": (0.5, 0.0), "min_repeats": (2, 1), "max_repeats": (20, 1), "matmul_n": (8192, 128)}


def apply_defaults(args, smoke: bool):
    for name, (gpu, cpu) in SCALED_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, cpu if smoke else gpu)
    if any(v < 1 for v in args.sizes + args.batches):
        raise SystemExit("error: --sizes and --batches must be positive")
    args.max_repeats = max(args.max_repeats, args.min_repeats, 1)
    if args.compile_configs is None:
        args.compile_configs = list(args.configs)
    return args


def pick_device(requested: str | None) -> torch.device | None:
    """bench/conftest.py's rule: CUDA when available; the CPU only in smoke mode."""
    if requested is not None:
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            return None
        if device.type == "cpu" and not SMOKE:
            print("note: --device cpu without QGAC_BENCH_CPU_SMOKE=1: sizes as given", file=sys.stderr)
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if SMOKE:
        return torch.device("cpu")
    return None


# --------------------------------------------------------------------------------------------
# inputs and models




def build_model(name: str, device: torch.device):
    """(model, note): shipped ``default`` weights if present, else seeded random weights built on
    the device (``paper``: 259M parameters, ~1 GB in float32)."""
    import dataclasses

    from qgac_fast.model import CONFIGS, QGAC, load_model
    from qgac_fast.model.weights import weights_path

    if name == "default" and weights_path("default").is_file():
        return load_model("default", device=device), "shipped default weights"
    config = CONFIGS[name]
    if config.output_init_scale == 0:  # the default config starts as the identity: give it real work
        config = dataclasses.replace(config, output_init_scale=1.0)
    torch.manual_seed(0)
    with torch.device(device):
        model = QGAC(config)
    model.requires_grad_(False)
    return model.to(device).eval(), f"{name} config, random weights (seed 0), built on {device.type}"


@contextlib.contextmanager
def reference_cfm(model):
    """Every CFM of ``model`` on its reference backend (batched matrix products) inside the block."""
    saved = model.cfm_backend
    model.cfm_backend = "reference"
    try:
        yield
    finally:
        model.cfm_backend = saved


def model_flops(model, device: torch.device, size: int = 256) -> float:
    """Forward FLOP per megapixel (``flops_per_megapixel``, on ``device``, CFMs as convolutions so
    the counter sees them)."""
    from qgac_fast.model import flops_per_megapixel

    with reference_cfm(model), torch.device(device):
        return flops_per_megapixel(model, size)


# --------------------------------------------------------------------------------------------
# timing helpers


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def measure_peak(device: torch.device, n: int) -> dict:
    """Peak TFLOP/s of an n^3 matrix product in bf16 and in float32 (median of 20)."""
    out = {"matmul_n": n, "bf16_tflops": None, "float32_tflops": None,
           "timer": "CUDA events, median of 20 after 3 warm-ups" if device.type == "cuda"
           else "wall clock, median of 5 (CPU smoke run: not a peak)"}
    for key, dtype in (("bf16_tflops", torch.bfloat16), ("float32_tflops", torch.float32)):
        try:
            g = torch.Generator(device=device).manual_seed(0)
            a = torch.randn(n, n, device=device, dtype=dtype, generator=g)
            b = torch.randn(n, n, device=device, dtype=dtype, generator=g)
            times = []
            if device.type == "cuda":
                for _ in range(3):
                    a @ b
                for _ in range(20):
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    a @ b
                    end.record()
                    end.synchronize()
                    times.append(start.elapsed_time(end) / 1e3)
            else:
                a @ b
                for _ in range(5):
                    t0 = time.perf_counter()
                    a @ b
                    times.append(time.perf_counter() - t0)
            out[key] = 2 * n ** 3 / statistics.median(times) / 1e12
            del a, b
        except Exception as error:  # noqa: BLE001
            out[key + "_error"] = _short(error)
    release(device)
    return out


def _short(error: BaseException, limit: int = 400) -> str:
    text = f"{type(error).__name__}: {error}".strip()
    first = text.splitlines()[0] if text else type(error).__name__
    return first[:limit]


class Budget:
    def __init__(self, seconds: float | None):
        self.end = None if seconds is None else time.monotonic() + seconds
        self.interrupted = False

    def left(self) -> float:
        return math.inf if self.end is None else self.end - time.monotonic()

    def allows(self, estimate: float) -> bool:
        return not self.interrupted and self.left() > estimate


# --------------------------------------------------------------------------------------------
# pipelines: each returns a no-argument function running one pass (synchronised by the caller)


def make_step(model, precision: str, compiled: str | bool, backend: str):
    """The :class:`~qgac_fast.inference.CorrectionStep` of a row: what the engine runs."""
    from qgac_fast.inference import CorrectionStep

    return CorrectionStep(model, precision=precision, compile=compiled or None, compile_backend=backend)


def checked(step, compiled: str | bool) -> None:
    """A compiled row whose step fell back to eager is an error, not an eager timing."""
    if compiled and not step.compiled:
        raise RuntimeError(f"torch.compile({compiled}) failed; the step fell back to eager (see the warning)")


def load_planes(data: bytes, pin: bool):
    import qgac_fast
    from qgac_fast.model import planes_from_jpeg

    planes = planes_from_jpeg(qgac_fast.read_coefficients(data))
    return planes.map(lambda t: t.pin_memory()) if pin else planes


def forward_pass(step, compiled, jpegs, batch, device):
    """The model alone (``CorrectionStep.restore``) on batches already on the device."""
    from qgac_fast.model import CoefficientPlanes

    batches = [CoefficientPlanes.cat([load_planes(d, False).to(device) for d in jpegs[first:first + batch]])
               for first in range(0, len(jpegs), batch)]

    def run():
        for planes in batches:
            step.restore(planes)
        checked(step, compiled)

    return run, lambda: None


def stream_pass(step, compiled, jpegs, batch, device, workers, keep):
    """JPEG bytes in -> uint8 (N, 3, H, W) on the device: threaded reading into pinned memory,
    non-blocking copies, then the engine's ``CorrectionStep`` (model, quantization-bin clamp,
    Triton decode on CUDA)."""
    from qgac_fast.model import CoefficientPlanes

    cuda = device.type == "cuda"
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="e2e-read")

    def run():
        first = None
        pending = []
        for planes in pool.map(lambda d: load_planes(d, cuda), jpegs):
            pending.append(planes.to(device, non_blocking=cuda))
            if len(pending) == batch:
                out = step(CoefficientPlanes.cat(pending))
                first = out[:1] if first is None else first
                pending = []
        if pending:
            out = step(CoefficientPlanes.cat(pending))
            first = out[:1] if first is None else first
        checked(step, compiled)
        keep["first"] = first

    return run, lambda: pool.shutdown(wait=True)


def engine_pass(corrector, jpegs, keep):
    def run():
        results = list(corrector.correct_many(jpegs))
        bad = [r for r in results if not r.ok]
        if bad:
            raise RuntimeError(f"{len(bad)} of {len(results)} images failed: {bad[0].reason}")
        keep["first"] = results[0].image.unsqueeze(0)

    return run, lambda: None


def files_pass(corrector, paths, folder, file_format):
    from qgac_fast.inference import FORMATS

    pairs = [(p, os.path.join(folder, f"out{i}{FORMATS[file_format]}")) for i, p in enumerate(paths)]

    def run():
        results = list(corrector.correct_files(pairs, format=file_format))
        bad = [r for r in results if r.status != "ok"]
        if bad:
            raise RuntimeError(f"{len(bad)} of {len(results)} files failed: {bad[0].error}")

    return run, lambda: None


def eager_pass(model, jpegs, keep):
    import qgac_fast

    def run():
        outs = []
        with reference_cfm(model):
            for data in jpegs:
                outs.append(qgac_fast.correct(data, model=model, precision="float32", decode_backend="reference"))
        keep["first"] = outs[0].unsqueeze(0)

    return run, lambda: None


# --------------------------------------------------------------------------------------------
# the run


class Run:
    def __init__(self, args, device: torch.device):
        self.args, self.device = args, device
        self.cuda = device.type == "cuda"
        self.budget = Budget(args.budget_s)
        self.rows: list[dict] = []
        self.reader: list[dict] = []
        self.models: dict[str, dict] = {}
        self.peak: dict = {}
        self.meta = metadata(args, device)
        self.started = time.monotonic()
        self.jpegs: dict[int, list[bytes]] = {}
        self.files: dict[int, list[str]] = {}
        self.eager_first: dict[tuple[str, int], torch.Tensor] = {}
        self.compile_broken: dict[tuple[str, str], str] = {}  # (config, mode) -> reason
        self.tmp = tempfile.mkdtemp(prefix="bench-e2e-")
        self.out_dir = Path(args.out_dir)
        self.name = args.name or (f"e2e-{_slug(self.meta['hardware'])}" if self.cuda else "e2e-cpu-smoke")

    # ---------------------------------------------------------------- bookkeeping

    def images_for(self, batch: int) -> int:
        return max(self.args.min_images, self.args.batches_per_pass * batch)

    def save(self, complete: bool = False) -> Path:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.meta["elapsed_s"] = time.monotonic() - self.started
        report = {"meta": self.meta, "peak": self.peak, "models": self.models, "reader": self.reader,
                  "results": self.rows, "keep_up": keep_up(self.rows, self.reader), "complete": complete}
        path = self.out_dir / f"{self.name}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(report, indent=1, default=str) + "\n")
        os.replace(tmp, path)
        return path

    def estimate(self, config: str, size: int, precision: str, images: int, compiled: str | bool) -> float:
        """Seconds a row may take: warm-up plus the timed passes, from the best per-image time
        measured so far for this config and size (else from the FLOP count at a quarter of the
        bf16 peak, an eighth in float32), plus a minute for a compilation."""
        per_image = None
        for r in self.rows:
            if (r["config"], r["size"]) == (config, size) and r["status"] == "ok" and (
                    r["precision"] == precision or r["pipeline"] == "eager_loop"):
                t = r["median_s"] / r["images"]
                per_image = t if per_image is None else min(per_image, t)
        if per_image is None:
            flops = self.models.get(config, {}).get("flops_per_mp") or 0
            peak = (self.peak.get("bf16_tflops") or 1) * (0.25 if precision == "bf16" else 0.125)
            per_image = flops * size * size / 1e6 / (peak * 1e12)
        passes = 1 + max(self.args.min_repeats, 1)
        return passes * images * per_image * 1.5 + (60.0 if compiled and self.cuda else 0.0) + 1.0

    def log(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:7.1f}s] {text}", flush=True)

    # ---------------------------------------------------------------- one row

    def row(self, config: str, pipeline: str, size: int, batch: int, precision: str, compiled: str | bool,
            images: int, make, **extra) -> dict:
        """Time one row; ``make()`` returns ``(run_one_pass, cleanup)``."""
        keep = extra.pop("keep", None)
        row = {"config": config, "pipeline": pipeline, "compiled": compiled, "size": size, "batch": batch,
               "precision": precision, "images": images, "megapixels": images * size * size / 1e6,
               "status": None, **extra}
        label = f"{config:7s} {variant(row):18s} {size:5d}px b={batch:<3d} {precision:8s}"
        if compiled and (config, compiled) in self.compile_broken:
            row.update(status="skipped", reason=f"torch.compile({compiled}) failed earlier for {config}: "
                                               f"{self.compile_broken[config, compiled]}")
        elif not self.budget.allows(self.estimate(config, size, precision, images, compiled)):
            row.update(status="skipped", reason="interrupted" if self.budget.interrupted else "time budget")
        if row["status"] is not None:
            self.rows.append(row)
            self.log(f"{label} {row['status']}: {row['reason']}")
            return row
        run = cleanup = None
        try:
            if self.cuda:
                torch.cuda.reset_peak_memory_stats(self.device)
            run, cleanup = make()
            t0 = time.perf_counter()
            run()
            sync(self.device)
            row["warmup_s"] = time.perf_counter() - t0
            runs = []
            while len(runs) < self.args.max_repeats and (len(runs) < self.args.min_repeats
                                                         or sum(runs) < self.args.min_time):
                t0 = time.perf_counter()
                run()
                sync(self.device)
                runs.append(time.perf_counter() - t0)
            median = statistics.median(runs)
            row.update(status="ok", median_s=median, runs_s=runs, mp_per_s=row["megapixels"] / median,
                       images_per_s=images / median)
            if self.cuda:
                row["peak_mem_gb"] = torch.cuda.max_memory_allocated(self.device) / 2 ** 30
        except torch.OutOfMemoryError as error:
            row.update(status="oom", reason=_short(error, 200))
        except KeyboardInterrupt:
            self.budget.interrupted = True
            row.update(status="skipped", reason="interrupted")
        except Exception as error:  # noqa: BLE001
            oom = "out of memory" in str(error).lower()  # the engine reports a per-image OOM as a failed result
            row.update(status="oom" if oom else "error", reason=_short(error))
            if not oom:
                traceback.print_exc()
                if compiled:
                    self.compile_broken[config, compiled] = row["reason"]
        finally:
            if cleanup is not None:
                try:
                    cleanup()
                except Exception:  # noqa: BLE001
                    pass
            run = cleanup = None
            release(self.device)
        if row["status"] == "ok":
            self.enrich(row, keep)
        self.rows.append(row)
        summary = (f"{row['mp_per_s']:9.2f} MP/s  {row['images_per_s']:8.2f} img/s  "
                   f"{row.get('tflops', 0):7.2f} TFLOP/s" if row["status"] == "ok" else
                   f"{row['status']}: {row.get('reason', '')}")
        self.log(f"{label} {summary}")
        self.save()
        return row

    def enrich(self, row: dict, keep: dict | None) -> None:
        flops = self.models[row["config"]]["flops_per_mp"]
        if flops:
            tflops = row["mp_per_s"] * flops / 1e12
            row["tflops"] = tflops
            if self.peak.get("bf16_tflops"):
                row["fraction_of_peak"] = tflops / self.peak["bf16_tflops"]
            if row["precision"] == "float32" and self.peak.get("float32_tflops"):
                row["fraction_of_fp32_peak"] = tflops / self.peak["float32_tflops"]
        eager = next((r for r in self.rows if r["pipeline"] == "eager_loop" and r["status"] == "ok"
                      and (r["config"], r["size"]) == (row["config"], row["size"])), None)
        if eager is not None and row["pipeline"] != "eager_loop":
            row["x_eager"] = row["mp_per_s"] / eager["mp_per_s"]
        if keep and keep.get("first") is not None:
            first = keep["first"].detach().to("cpu")
            if row["pipeline"] == "eager_loop":
                self.eager_first[(row["config"], row["size"])] = first
            else:
                reference = self.eager_first.get((row["config"], row["size"]))
                if reference is not None and reference.shape == first.shape:
                    diff = (first.to(torch.int16) - reference.to(torch.int16)).abs()
                    row["vs_eager"] = {"max": int(diff.max()), "mean": float(diff.float().mean())}

    # ---------------------------------------------------------------- stages

    def prepare_inputs(self):
        need = max([self.images_for(b) for b in self.args.batches] + [self.args.eager_images, 2 * self.args.workers])
        for size in self.args.sizes:
            self.jpegs[size] = mosaic_jpegs(size, need, self.args.quality, distinct=DISTINCT_IMAGES)
            folder = os.path.join(self.tmp, f"in{size}")
            os.makedirs(folder)
            paths = []
            for i, data in enumerate(self.jpegs[size][:DISTINCT_IMAGES]):
                path = os.path.join(folder, f"img{i}.jpg")
                Path(path).write_bytes(data)
                paths.append(path)
            self.files[size] = [paths[i % len(paths)] for i in range(need)]
            sizes_kb = sorted(len(d) / 1e3 for d in self.jpegs[size][:DISTINCT_IMAGES])
            self.log(f"inputs {size}x{size}: {need} JPEGs q{self.args.quality} 4:2:0, "
                     f"{sizes_kb[0]:.0f}..{sizes_kb[-1]:.0f} kB")

    def measure_reader(self):
        """The reader stage alone: read_coefficients_many + planes_from_jpeg per image."""
        import qgac_fast
        from qgac_fast.model import planes_from_jpeg

        for size in self.args.sizes:
            jpegs = self.jpegs[size][:max(self.args.min_images, 2 * self.args.workers)]
            for workers in sorted({1, self.args.workers}):
                try:
                    with ThreadPoolExecutor(max_workers=workers) as pool:
                        def once():
                            t0 = time.perf_counter()
                            jcs = qgac_fast.read_coefficients_many(jpegs, workers=workers)
                            t1 = time.perf_counter()
                            list(pool.map(planes_from_jpeg, jcs))
                            return t1 - t0, time.perf_counter() - t1

                        once()
                        times = [once() for _ in range(3)]
                    read = statistics.median(t[0] for t in times) / len(jpegs)
                    planes = statistics.median(t[1] for t in times) / len(jpegs)
                    total = statistics.median(t[0] + t[1] for t in times) / len(jpegs)
                    self.reader.append({"size": size, "workers": workers, "images": len(jpegs),
                                        "read_s_per_image": read, "planes_s_per_image": planes,
                                        "s_per_image": total, "images_per_s": 1 / total,
                                        "mp_per_s": size * size / 1e6 / total})
                    self.log(f"reader {size}px workers={workers}: {total * 1e3:.2f} ms/image "
                             f"(read {read * 1e3:.2f} + planes {planes * 1e3:.2f})")
                except Exception as error:  # noqa: BLE001
                    self.reader.append({"size": size, "workers": workers, "status": "error", "reason": _short(error)})
        self.save()

    def run_config(self, config: str, model, compiled: str | bool):
        """All rows of one config: eager (``compiled=False``, with the eager loop) or compiled
        with the mode ``compiled``."""
        from qgac_fast.inference import Corrector

        args = self.args
        if not compiled and not args.no_eager:
            for size in args.sizes:
                keep: dict = {}
                jpegs = self.jpegs[size][:args.eager_images]
                self.row(config, "eager_loop", size, 1, "float32", False, len(jpegs),
                         lambda j=jpegs, k=keep: eager_pass(model, j, k), keep=keep)
        pipelines = [p for p in args.pipelines if not compiled or p in COMPILED_PIPELINES]
        steps = {}  # one step per precision: a compiled step compiles each new shape once
        for size in args.sizes:
            for precision in args.precisions:
                if precision not in steps:
                    steps[precision] = make_step(model, precision, compiled, args.compile_backend)
                step = steps[precision]
                for batch in args.batches:
                    images = self.images_for(batch)
                    jpegs = self.jpegs[size][:images]
                    for pipeline in pipelines:
                        keep: dict = {}
                        extra: dict = {"keep": keep}
                        if pipeline == "forward":
                            make = lambda j=jpegs, b=batch, st=step: forward_pass(  # noqa: E731
                                st, compiled, j, b, self.device)
                        elif pipeline == "stream":
                            make = lambda j=jpegs, b=batch, k=keep, st=step: stream_pass(  # noqa: E731
                                st, compiled, j, b, self.device, args.workers, k)
                        else:
                            # CPU (smoke): no tiling, so no memory probe (two CPU forwards per row)
                            corrector = Corrector(model, batch_size=batch, precision=precision,
                                                  workers=args.workers, tile="auto" if self.cuda else None)
                            if pipeline == "engine":
                                make = lambda c=corrector, j=jpegs, k=keep: engine_pass(c, j, k)  # noqa: E731
                            else:
                                folder = tempfile.mkdtemp(dir=self.tmp)
                                extra["file_format"] = args.file_format
                                make = lambda c=corrector, f=folder, n=images, s=size: files_pass(  # noqa: E731
                                    c, self.files[s][:n], f, args.file_format)
                        row = self.row(config, pipeline, size, batch, precision, compiled, images, make, **extra)
                        if pipeline in ("engine", "files") and row["status"] == "ok":
                            row["effective_batch"] = effective_batch(corrector, size, batch)  # probed by now
                        if self.budget.interrupted:
                            return

    def run(self) -> int:
        previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGINT, self._interrupt)
        signal.signal(signal.SIGTERM, self._interrupt)
        failure = None
        try:
            self._run_all()
        except KeyboardInterrupt:
            self.budget.interrupted = True
            self.log("interrupted")
        except Exception as error:  # noqa: BLE001  (keep what was measured)
            failure = error
            self.meta["failure"] = _short(error)
            traceback.print_exc()
        finally:
            signal.signal(signal.SIGINT, previous[0])
            signal.signal(signal.SIGTERM, previous[1])
            shutil.rmtree(self.tmp, ignore_errors=True)
        complete = failure is None and not self.budget.interrupted and not any(
            r["status"] == "skipped" and r.get("reason") in ("time budget", "interrupted") for r in self.rows)
        path = self.save(complete=complete)
        report = json.loads(path.read_text())
        table = markdown(report)
        md_path = path.with_suffix(".md")
        md_path.write_text(table)
        print(table)
        written = [path, md_path]
        try:
            png = plot_end_to_end(report, path.with_suffix(".png"))
        except ImportError:
            print("matplotlib is not installed (requirements.txt pins it): no plot; draw it from the JSON later "
                  f"with python bench/plot_results.py {path}")
            png = None
        except Exception:  # noqa: BLE001  (the JSON and Markdown are written: report the bug, keep them)
            traceback.print_exc()
            failure = failure or RuntimeError("plot failed")
            png = None
        if png is not None:
            written.append(png)
        print("wrote " + ", ".join(str(p) for p in written))
        return 1 if failure is not None else 0

    def _run_all(self) -> None:
        args = self.args
        self.log(f"device {self.meta['hardware']}; torch {torch.__version__}; budget "
                 f"{'none' if args.budget_s is None else f'{args.budget_s:.0f} s'}")
        self.peak = measure_peak(self.device, args.matmul_n)
        self.log(f"peak matmul {args.matmul_n}^3: bf16 {self.peak.get('bf16_tflops') or 0:.1f} TFLOP/s, "
                 f"float32 {self.peak.get('float32_tflops') or 0:.1f} TFLOP/s")
        self.prepare_inputs()
        self.measure_reader()
        models = {}
        for config in args.configs:
            if self.budget.interrupted:
                return
            if self.budget.left() <= 0:
                self.models[config] = {"status": "skipped", "reason": "time budget"}
                self.log(f"model {config}: skipped (time budget)")
                continue
            try:
                t0 = time.perf_counter()
                model, note = build_model(config, self.device)
                built = time.perf_counter() - t0
            except torch.OutOfMemoryError as error:
                self.models[config] = {"status": "oom", "reason": _short(error)}
                continue
            info = {"weights": note, "params": sum(p.numel() for p in model.parameters()), "build_s": built}
            try:
                info["flops_per_mp"] = model_flops(model, self.device, args.flops_size)
            except Exception as error:  # noqa: BLE001
                info["flops_per_mp"] = None
                info["flops_error"] = _short(error)
            self.models[config] = info
            self.log(f"model {config}: {info['params'] / 1e6:.1f}M parameters, "
                     f"{(info['flops_per_mp'] or 0) / 1e9:.1f} GFLOP/MP, built in {built:.1f} s ({note})")
            models[config] = model
            self.run_config(config, model, compiled=False)
            self.save()
        if args.no_compile:
            return
        from torch import _dynamo

        for knob in ("cache_size_limit", "recompile_limit", "accumulated_cache_size_limit",
                     "accumulated_recompile_limit"):
            if hasattr(_dynamo.config, knob):
                setattr(_dynamo.config, knob, max(getattr(_dynamo.config, knob), 256))
        for config, model in models.items():
            if self.budget.interrupted:
                return
            if config in args.compile_configs:
                for mode in args.compile_modes:
                    self.run_config(config, model, compiled=mode)
                    self.save()

    def _interrupt(self, signum, frame):
        if self.budget.interrupted:  # second signal: stop now
            raise KeyboardInterrupt
        self.budget.interrupted = True
        self.log(f"signal {signum}: finishing the current row, then writing the results")


def effective_batch(corrector, size: int, batch: int) -> int | None:
    """The batch the engine will run: ``batch`` capped by its memory budget (``tile="auto"``)."""
    if corrector.tile != "auto":
        return batch
    try:
        return max(1, min(batch, corrector.cost.max_pixels("420") // (size * size)))
    except Exception:  # noqa: BLE001
        return None


def keep_up(rows: list[dict], reader: list[dict]) -> list[dict]:
    """Reader time per image (all workers) vs model time per image for each forward/stream row."""
    out = []
    for r in rows:
        if r["status"] != "ok" or r["pipeline"] not in ("forward", "stream"):
            continue
        candidates = [x for x in reader if x["size"] == r["size"] and "s_per_image" in x]
        if not candidates:
            continue
        best = max(candidates, key=lambda x: x["workers"])
        model_s = r["median_s"] / r["images"]
        out.append({"config": r["config"], "pipeline": r["pipeline"], "compiled": r["compiled"], "size": r["size"],
                    "batch": r["batch"], "precision": r["precision"], "model_s_per_image": model_s,
                    "reader_s_per_image": best["s_per_image"], "reader_workers": best["workers"],
                    "keeps_up": best["s_per_image"] <= model_s, "headroom": model_s / best["s_per_image"]})
    return out


# --------------------------------------------------------------------------------------------
# metadata, report


def _slug(text: str) -> str:
    keep = "".join(c.lower() if c.isalnum() else "-" for c in text.replace("NVIDIA", ""))
    return "-".join(part for part in keep.split("-") if part)[:40] or "gpu"




def _version(distribution: str) -> str:
    from importlib import metadata as md

    try:
        return md.version(distribution)
    except md.PackageNotFoundError:
        return "not installed"


def metadata(args, device: torch.device) -> dict:
    import qgac_fast

    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        hardware = torch.cuda.get_device_name(device)
        gpu = {"name": hardware, "memory_gb": props.total_memory / 2 ** 30, "sms": props.multi_processor_count,
               "capability": f"{props.major}.{props.minor}", "cuda": torch.version.cuda,
               "cudnn": torch.backends.cudnn.version()}
    else:
        hardware = f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs (smoke run)"
        gpu = None
    return {
        "hardware": hardware, "device": str(device), "gpu": gpu, "smoke": device.type != "cuda",
        "torch": torch.__version__, "triton": _version("triton"), "numpy": _version("numpy"),
        "pillow": _version("pillow"), "qgac_fast": qgac_fast.__version__, "python": platform.python_version(),
        "commit": git_commit(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "tf32": {"cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
                 "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
                 "float32_matmul_precision": torch.get_float32_matmul_precision()},
        "cudnn.benchmark": torch.backends.cudnn.benchmark,
        "triton_interpret": os.environ.get("TRITON_INTERPRET"),
        "args": vars(args),
        "datetime": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "command": shlex.join(["python", "bench/bench_end_to_end.py", *sys.argv[1:]]),
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "QGAC_BENCH_CPU_SMOKE", "CUDA_VISIBLE_DEVICES")
                if k in os.environ},
    }


def _fmt(value, spec: str) -> str:
    return "" if value is None else format(value, spec)


def markdown(report: dict) -> str:
    meta, peak = report["meta"], report["peak"]
    lines = [
        "# End-to-end correction throughput", "",
        f"Command: `{meta['command']}` (env {meta['env']})", "",
        f"{meta['hardware']}; torch {meta['torch']}, triton {meta['triton']}, Python {meta['python']}; "
        f"commit {meta['commit']}; {meta['datetime']}; {meta.get('elapsed_s', 0):.0f} s"
        f"{'' if report.get('complete') else ' (incomplete: rows skipped or interrupted)'}.", "",
        f"Peak ({peak.get('timer')}): {peak.get('matmul_n')}^3 matmul bf16 "
        f"{_fmt(peak.get('bf16_tflops'), '.1f')} TFLOP/s, float32 {_fmt(peak.get('float32_tflops'), '.1f')} "
        f"TFLOP/s (TF32: {meta['tf32']}).", "",
        "| model | parameters | GFLOP/MP | weights |", "|---|---|---|---|",
    ]
    for name, info in report["models"].items():
        lines.append(f"| {name} | {info.get('params', 0) / 1e6:.1f}M | {_fmt((info.get('flops_per_mp') or 0) / 1e9, '.1f')} "
                     f"| {info.get('weights', info.get('reason', ''))} |")
    lines += ["", "MP/s = pass megapixels / median pass time; TFLOP/s = MP/s x GFLOP/MP; % peak = of the bf16 "
              "matmul peak; x eager = MP/s over the eager loop's (same model and size); vs eager = max / mean "
              "|difference| of the first image from the eager loop's.", "",
              "| model | pipeline | size | batch | precision | images | status | MP/s | img/s | TFLOP/s | % peak "
              "| x eager | vs eager | GB | warm-up s |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        name = variant(r)
        batch = str(r["batch"]) + (f" (runs {r['effective_batch']})" if r.get("effective_batch") not in
                                   (None, r["batch"]) else "")
        status = r["status"] if r["status"] == "ok" else f"{r['status']}: {r.get('reason', '')}"[:120]
        vs = r.get("vs_eager")
        lines.append(
            f"| {r['config']} | {name} | {r['size']} | {batch} | {r['precision']} | {r['images']} | {status} | "
            f"{_fmt(r.get('mp_per_s'), '.2f')} | {_fmt(r.get('images_per_s'), '.2f')} | {_fmt(r.get('tflops'), '.2f')} | "
            f"{_fmt(None if r.get('fraction_of_peak') is None else 100 * r['fraction_of_peak'], '.1f')} | "
            f"{_fmt(r.get('x_eager'), '.2f')} | {'' if vs is None else '%d / %.3f' % (vs['max'], vs['mean'])} | "
            f"{_fmt(r.get('peak_mem_gb'), '.1f')} | {_fmt(r.get('warmup_s'), '.2f')} |")
    lines += ["", "Reader stage alone (read_coefficients_many + planes_from_jpeg), per image:", "",
              "| size | workers | ms/image | read ms | planes ms | images/s | MP/s |", "|---|---|---|---|---|---|---|"]
    for x in report["reader"]:
        if "s_per_image" in x:
            lines.append(f"| {x['size']} | {x['workers']} | {x['s_per_image'] * 1e3:.2f} | {x['read_s_per_image'] * 1e3:.2f} "
                         f"| {x['planes_s_per_image'] * 1e3:.2f} | {x['images_per_s']:.1f} | {x['mp_per_s']:.1f} |")
        else:
            lines.append(f"| {x['size']} | {x['workers']} | {x['status']}: {x['reason']} | | | | |")
    lines += ["", "Do the reader threads keep up? (model ms/image from each forward/stream row vs the reader's "
              "with all workers; headroom = model time / reader time, > 1 keeps up)", "",
              "| model | pipeline | size | batch | precision | model ms/image | reader ms/image | keeps up | headroom |",
              "|---|---|---|---|---|---|---|---|---|"]
    for k in report["keep_up"]:
        name = variant(k)
        lines.append(f"| {k['config']} | {name} | {k['size']} | {k['batch']} | {k['precision']} | "
                     f"{k['model_s_per_image'] * 1e3:.2f} | {k['reader_s_per_image'] * 1e3:.2f} | "
                     f"{'yes' if k['keeps_up'] else 'no'} | {k['headroom']:.2f} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    device = pick_device(args.device)
    if device is None:
        print("error: the end-to-end benchmark needs CUDA (QGAC_BENCH_CPU_SMOKE=1 TRITON_INTERPRET=1 runs a CPU "
              "smoke test)", file=sys.stderr)
        return 2
    apply_defaults(args, smoke=device.type != "cuda")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if device.type == "cpu":
        torch.set_flush_denormal(True)
    return Run(args, device).run()


if __name__ == "__main__":
    sys.exit(main())
