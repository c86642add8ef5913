"""Inference engine throughput: ``Corrector.correct_many`` vs a plain loop over ``qgac_fast.correct``.

Usage (from the repository root, inside .venv)::

    OMP_NUM_THREADS=1 QGAC_BENCH_ENGINE_SIZES="512 1024" python -m bench.run engine --name engine-cpu-1thread

Parameters (``QGAC_BENCH_ENGINE_*``): ``DEVICE`` (cpu or cuda; cpu), ``THREADS`` (torch intra-op
threads; 1), ``IMAGES`` (8), ``SIZES`` (square sides in pixels; 512), ``QUALITY`` (30),
``BATCH_SIZES`` (1 4), ``WORKERS`` (engine reader/writer threads; default the engine's own: on the
CPU 0, the pipeline in the calling thread, one writer thread), ``PRECISION`` (auto, float32 or
bf16; auto is bf16 on CPUs with native bf16), ``COMPILE`` (a torch.compile mode, e.g. default: adds
the compiled cases), ``MODEL`` (default or a .safetensors path), ``REPEATS`` (timed rounds; 5).

Input, for each size: distinct square crops of that side of the bundled photos' mosaic
(:func:`bench.common.mosaic_jpegs`), JPEG 4:2:0 (Pillow/libjpeg), held as bytes: ``IMAGES`` of them
at the first size and as many megapixels (at least 2 images) at the others. Cases, each from the
bytes to uint8 pixels on the host, for each size:

* ``loop``: ``for data in jpegs: qgac_fast.correct(data, model=model, precision=P)`` (the precision
  resolved for the device);
* ``engine b=B``: ``list(Corrector(model, batch_size=B, workers=W).correct_many(jpegs))`` (reading,
  batching, in-order delivery; on the CPU the model runs image by image, see ``docs/engine.md``);
* ``engine b=B + png``: ``correct_files`` writing PNGs to a temporary folder;
* ``forward b=B``: the model's ``restore`` alone (in the same precision) on a true batch of B images
  (no reading, constraint or decode): what batching does to the network itself on this device;
* with ``COMPILE``: ``engine b=B +compile`` and ``forward b=B +compile``, the same with
  ``Corrector(compile=MODE)`` / the networks through :func:`qgac_fast.inference.compile_networks`.

``MODEL=default`` loads the shipped weights when they exist, else the ``default`` configuration
with seeded non-trivial weights (the time does not depend on the values). Timing: wall clock (CUDA
synchronised); each case runs once untimed first (``warmup_s``: torch.compile compiles then), then
``REPEATS`` rounds back to back; MP/s = megapixels of a pass / median. The report
(:func:`markdown`, :func:`plot`): MP/s, images/s and the ratio to the loop per case, and a PNG of
MP/s against batch size, a panel per image size (:func:`bench.plots.plot_engine`).
"""

from __future__ import annotations

import os
import platform
import time

import pytest
import torch

from bench.common import mosaic_jpegs, optional_int, setting
from bench.plots import plot_engine

DEVICE = setting("ENGINE_DEVICE", "cpu")
THREADS = int(setting("ENGINE_THREADS", "1"))
IMAGES = int(setting("ENGINE_IMAGES", "8"))
SIZES = [int(v) for v in setting("ENGINE_SIZES", "512").split()]
QUALITY = int(setting("ENGINE_QUALITY", "30"))
BATCH_SIZES = [int(v) for v in setting("ENGINE_BATCH_SIZES", "1 4").split()]
WORKERS = optional_int("ENGINE_WORKERS")  # None: the engine's own
PRECISION = setting("ENGINE_PRECISION", "auto")
COMPILE = setting("ENGINE_COMPILE", "") or None
MODEL = setting("ENGINE_MODEL", "default")
REPEATS = int(setting("ENGINE_REPEATS", "5"))


def _case_names() -> list[str]:
    """Every case at one size, in the report's order."""
    compiled = ["+compile"] if COMPILE else []
    names = ["loop"]
    for b in BATCH_SIZES:
        names += [f"engine b={b}", f"engine b={b} + png", *(f"engine b={b} {c}" for c in compiled)]
    for b in BATCH_SIZES:
        names += [f"forward b={b}", *(f"forward b={b} {c}" for c in compiled)]
    return names


def _model(name: str, device):
    import dataclasses

    from qgac_fast.model import CONFIGS, QGAC, load_model
    from qgac_fast.model.weights import weights_path

    if name != "default" or weights_path("default").is_file():
        return load_model(name, device=device), f"weights {name}"
    torch.manual_seed(0)
    model = QGAC(dataclasses.replace(CONFIGS["default"], output_init_scale=1.0)).eval().to(device)
    return model, "default config, seeded weights (no shipped weights yet)"


class Engines:
    """The model, the engines (one per batch size, and compiled ones with ``COMPILE``) and the
    inputs of every size, shared by the cases: one compiled callable and one compiled engine per
    batch size serve every image size, as in use."""

    def __init__(self, folder):
        from qgac_fast.inference import Corrector, compile_networks, resolve_precision

        self.device = torch.device(DEVICE)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            pytest.skip("QGAC_BENCH_ENGINE_DEVICE=cuda without a CUDA device")
        torch.set_num_threads(THREADS)
        self.model, self.model_note = _model(MODEL, self.device)
        self.folder = folder
        self.networks = compile_networks(self.model, COMPILE) if COMPILE else None
        self.precision = resolve_precision(PRECISION, self.device)
        options = dict(workers=WORKERS, tile=None, precision=self.precision)
        self.correctors = {b: Corrector(self.model, batch_size=b, **options) for b in BATCH_SIZES}
        self.compiled = {b: Corrector(self.model, batch_size=b, compile=COMPILE, **options)
                         for b in BATCH_SIZES} if COMPILE else {}
        self.workers = self.correctors[BATCH_SIZES[0]].workers
        self.inputs: dict[int, tuple[list[bytes], list]] = {}

    def images(self, size: int) -> int:
        """Images per pass at ``size``: ``IMAGES`` at the first size, as many megapixels at the others."""
        return IMAGES if size == SIZES[0] else max(2, round(IMAGES * (SIZES[0] / size) ** 2))

    def _inputs(self, size: int):
        """The JPEG bytes of ``size`` and their planes on the device (made once)."""
        import qgac_fast
        from qgac_fast.model import planes_from_jpeg

        if size not in self.inputs:
            jpegs = mosaic_jpegs(size, self.images(size), QUALITY)
            planes = [planes_from_jpeg(qgac_fast.read_coefficients(data)).to(self.device) for data in jpegs]
            self.inputs[size] = jpegs, planes
        return self.inputs[size]

    def case(self, size: int, name: str):
        """A no-argument callable running one pass of case ``name`` at ``size``, synchronised."""
        import qgac_fast
        from qgac_fast.cpu import flush_denormals
        from qgac_fast.model import CoefficientPlanes

        jpegs, planes = self._inputs(size)
        kind, _, rest = name.partition(" b=")
        batch = int(rest.split()[0]) if rest else 1
        if kind == "loop":
            run = lambda: [qgac_fast.correct(data, model=self.model, precision=self.precision)  # noqa: E731
                           for data in jpegs]
        elif kind == "engine":
            corrector = (self.compiled if name.endswith("+compile") else self.correctors)[batch]
            if name.endswith("+ png"):
                pairs = [(data, os.path.join(self.folder, f"{i}.png")) for i, data in enumerate(jpegs)]
                run = lambda: list(corrector.correct_files(pairs))  # noqa: E731
            else:
                run = lambda: list(corrector.correct_many(jpegs))  # noqa: E731
        else:
            batches = [CoefficientPlanes.cat(planes[first:first + batch]) for first in range(0, len(planes), batch)]
            networks = self.networks if name.endswith("+compile") else None
            autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

            def run():
                with torch.inference_mode(), autocast, flush_denormals():
                    for planes_batch in batches:
                        self.model.restore(planes_batch, networks=networks)

        def synchronised():
            run()
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)

        return synchronised

    def meta(self) -> dict:
        """The settings every case records."""
        if self.device.type == "cuda":
            hardware = torch.cuda.get_device_name(self.device)
        else:
            hardware = f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs"
        return {"hardware": hardware, "device": str(self.device), "threads": THREADS, "torch": torch.__version__,
                "model": self.model_note, "quality": QUALITY, "workers": self.workers, "precision": self.precision,
                "compile": COMPILE}


@pytest.fixture(scope="module")
def engines(tmp_path_factory) -> Engines:
    return Engines(tmp_path_factory.mktemp("engine"))


@pytest.mark.parametrize("case", _case_names())
@pytest.mark.parametrize("size", SIZES)
def bench_engine(benchmark, engines, size, case):
    run = engines.case(size, case)
    start = time.perf_counter()
    run()  # the warm-up (torch.compile compiles here)
    warmup = time.perf_counter() - start
    benchmark.pedantic(run, rounds=REPEATS, iterations=1)
    images = engines.images(size)
    benchmark.extra_info.update(case=case, size=size, images=images, megapixels=images * size * size / 1e6,
                                warmup_s=warmup, **engines.meta())


def result(benchmarks: list[dict], run: dict) -> dict:
    """The cases of a run as ``{"meta": ..., "results": rows}``, what :func:`bench.plots.plot_engine`
    draws (the shape of the former engine script's JSON)."""
    rows = []
    for bench in benchmarks:
        info, stats = bench["extra_info"], bench["stats"]
        rows.append({"case": info["case"], "size": info["size"], "images": info["images"],
                     "median_s": stats["median"], "min_s": stats["min"], "max_s": stats["max"],
                     "warmup_s": info["warmup_s"], "megapixels": info["megapixels"],
                     "mp_per_s": info["megapixels"] / stats["median"],
                     "images_per_s": info["images"] / stats["median"]})
    first = benchmarks[0]["extra_info"]
    meta = {key: first[key] for key in ("hardware", "device", "threads", "torch", "model", "quality", "workers",
                                        "precision", "compile")}
    meta |= {"python": run["python"], "commit": run["commit"], "datetime": run["datetime"],
             "command": run["command"]}
    return {"meta": meta, "results": rows}


def markdown(benchmarks: list[dict], run: dict) -> str:
    """The report's table of this module's cases (:mod:`bench.report`)."""
    report = result(benchmarks, run)
    meta, rows = report["meta"], report["results"]
    loops = {r["size"]: r for r in rows if r["case"] == "loop"}
    lines = [
        "# Inference engine throughput", "",
        f"Command: `{meta['command']}`", "",
        f"{meta['hardware']}; device {meta['device']}, {meta['threads']} torch thread(s), "
        f"precision {meta['precision']}; torch {meta['torch']}, "
        f"Python {meta['python']}; commit {meta['commit']}; {meta['datetime']}.", "",
        f"Model: {meta['model']}. Input: JPEGs q{meta['quality']} 4:2:0 as bytes (count per size in the "
        f"table); engine workers {meta['workers']}"
        f"{' (the pipeline in the calling thread, one writer thread)' if meta['workers'] == 0 else ''}. "
        "Median of each case's rounds, run back to back after its own warm-up call (torch.compile compiles "
        "in it; its time is the last column); x loop = MP/s over the plain loop's at the same size."
        f"{' torch.compile mode: ' + meta['compile'] + '.' if meta['compile'] else ''}",
        "",
        "| size | images | case | median s | MP/s | images/s | x loop | min..max s | warm-up s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = f"{r['mp_per_s'] / loops[r['size']]['mp_per_s']:.2f}" if r["size"] in loops else "n/a"
        lines.append(f"| {r['size']} | {r['images']} | {r['case']} | {r['median_s']:.3f} | {r['mp_per_s']:.3f} | "
                     f"{r['images_per_s']:.2f} | {ratio} | {r['min_s']:.3f}..{r['max_s']:.3f} | "
                     f"{r['warmup_s']:.1f} |")
    return "\n".join(lines) + "\n"


def plot(benchmarks: list[dict], run: dict, path):
    """The report's PNG of this module's cases: MP/s against batch size (:func:`bench.plots.plot_engine`)."""
    return plot_engine(result(benchmarks, run), path)
