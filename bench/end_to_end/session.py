"""One end-to-end run: the matmul peak, the inputs, the reader check, then every config's rows
(eager first, compiled after) within the time budget; SIGINT or SIGTERM finishes the current row
and writes what was measured."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import traceback
from pathlib import Path

import torch

from bench import report
from bench.common import mosaic_jpegs
from bench.end_to_end.args import COMPILED_PIPELINES
from bench.end_to_end.models import describe
from bench.end_to_end.pipelines import (eager_pass, effective_batch, engine_pass, files_pass, forward_pass, make_step,
                                        reader_seconds, stream_pass)
from bench.end_to_end.results import Results
from bench.end_to_end.rows import RowTimer
from bench.end_to_end.timing import measure_peak, short

DISTINCT_IMAGES = 8


class Session:
    """The stages of one run on ``device`` with the options ``args`` (:mod:`bench.end_to_end.args`):
    what it measured is in ``results``, each row timed by ``timer``."""

    def __init__(self, args, device: torch.device):
        self.args, self.device = args, device
        self.cuda = device.type == "cuda"
        self.results = Results(args, device)
        self.timer = RowTimer(args, device, self.results)
        self.budget = self.timer.budget
        self.jpegs: dict[int, list[bytes]] = {}
        self.files: dict[int, list[str]] = {}
        self.tmp = tempfile.mkdtemp(prefix="bench-e2e-")

    def images_for(self, batch: int) -> int:
        """Images per pass of a row of batch size ``batch``."""
        return max(self.args.min_images, self.args.batches_per_pass * batch)

    def run(self) -> int:
        """Every stage, then the report (:func:`bench.report.write`); 1 when a stage or the report
        failed (what was measured is written all the same), else 0."""
        previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGINT, self._interrupt)
        signal.signal(signal.SIGTERM, self._interrupt)
        failure = None
        try:
            self._run_all()
        except KeyboardInterrupt:
            self.budget.interrupted = True
            self.results.log("interrupted")
        except Exception as error:  # noqa: BLE001  (keep what was measured)
            failure = error
            self.results.meta["failure"] = short(error)
            traceback.print_exc()
        finally:
            signal.signal(signal.SIGINT, previous[0])
            signal.signal(signal.SIGTERM, previous[1])
            shutil.rmtree(self.tmp, ignore_errors=True)
        complete = failure is None and not self.budget.interrupted and not any(
            r["status"] == "skipped" and r.get("reason") in ("time budget", "interrupted") for r in self.results.rows)
        path = self.results.save(complete=complete)
        written = [path]
        try:
            written += report.write(path)
        except Exception:  # noqa: BLE001  (the JSON is written: report the bug, keep it)
            traceback.print_exc()
            failure = failure or RuntimeError("report failed")
        print("wrote " + ", ".join(str(p) for p in written))
        return 1 if failure is not None else 0

    def _interrupt(self, signum, frame):
        """SIGINT/SIGTERM: the current row finishes, then the results are written; a second stops it."""
        if self.budget.interrupted:  # second signal: stop now
            raise KeyboardInterrupt
        self.budget.interrupted = True
        self.results.log(f"signal {signum}: finishing the current row, then writing the results")

    def _run_all(self) -> None:
        args, log = self.args, self.results.log
        log(f"device {self.results.meta['hardware']}; torch {torch.__version__}; budget "
            f"{'none' if args.budget_s is None else f'{args.budget_s:.0f} s'}")
        peak = self.results.peak = measure_peak(self.device, args.matmul_n)
        log(f"peak matmul {args.matmul_n}^3: bf16 {peak.get('bf16_tflops') or 0:.1f} TFLOP/s, "
            f"float32 {peak.get('float32_tflops') or 0:.1f} TFLOP/s")
        self.prepare_inputs()
        self.measure_reader()
        models = {}
        for config in args.configs:
            if self.budget.interrupted:
                return
            if self.budget.left() <= 0:
                self.results.models[config] = {"status": "skipped", "reason": "time budget"}
                log(f"model {config}: skipped (time budget)")
                continue
            try:
                model, info = describe(config, self.device, args.flops_size)
            except torch.OutOfMemoryError as error:
                self.results.models[config] = {"status": "oom", "reason": short(error)}
                continue
            self.results.models[config] = info
            log(f"model {config}: {info['params'] / 1e6:.1f}M parameters, {(info['flops_per_mp'] or 0) / 1e9:.1f} "
                f"GFLOP/MP, built in {info['build_s']:.1f} s ({info['weights']})")
            models[config] = model
            self.run_config(config, model, compiled=False)
            self.results.save()
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
                    self.results.save()

    def prepare_inputs(self):
        """The JPEGs of every size, as bytes and as files (``DISTINCT_IMAGES`` distinct ones, cycled)."""
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
            self.results.log(f"inputs {size}x{size}: {need} JPEGs q{self.args.quality} 4:2:0, "
                             f"{sizes_kb[0]:.0f}..{sizes_kb[-1]:.0f} kB")

    def measure_reader(self):
        """The reader stage alone at each size, on one thread and on ``--workers``."""
        for size in self.args.sizes:
            jpegs = self.jpegs[size][:max(self.args.min_images, 2 * self.args.workers)]
            for workers in sorted({1, self.args.workers}):
                try:
                    times = reader_seconds(jpegs, workers)
                except Exception as error:  # noqa: BLE001
                    self.results.reader.append({"size": size, "workers": workers, "status": "error",
                                                "reason": short(error)})
                    continue
                total, read, planes = times["s_per_image"], times["read_s_per_image"], times["planes_s_per_image"]
                self.results.reader.append({"size": size, "workers": workers, "images": len(jpegs), **times,
                                            "images_per_s": 1 / total, "mp_per_s": size * size / 1e6 / total})
                self.results.log(f"reader {size}px workers={workers}: {total * 1e3:.2f} ms/image "
                                 f"(read {read * 1e3:.2f} + planes {planes * 1e3:.2f})")
        self.results.save()

    def run_config(self, config: str, model, compiled: str | bool):
        """All rows of one config: eager (``compiled=False``, with the eager loop) or compiled
        with the mode ``compiled``."""
        args = self.args
        if not compiled and not args.no_eager:
            for size in args.sizes:
                keep: dict = {}
                jpegs = self.jpegs[size][:args.eager_images]
                self.timer.row(config, "eager_loop", size, 1, "float32", False, len(jpegs),
                               lambda j=jpegs, k=keep: eager_pass(model, j, k), keep=keep)
        pipelines = [p for p in args.pipelines if not compiled or p in COMPILED_PIPELINES]
        steps = {}  # one step per precision: a compiled step compiles each new shape once
        for size in args.sizes:
            for precision in args.precisions:
                if precision not in steps:
                    steps[precision] = make_step(model, precision, compiled, args.compile_backend)
                for batch in args.batches:
                    for pipeline in pipelines:
                        self._pipeline_row(config, model, steps[precision], compiled, pipeline, size, precision, batch)
                        if self.budget.interrupted:
                            return

    def _pipeline_row(self, config: str, model, step, compiled: str | bool, pipeline: str, size: int, precision: str,
                      batch: int) -> None:
        """Time one row of ``pipeline`` (``forward``, ``stream``, ``engine`` or ``files``)."""
        from qgac_fast.inference import Corrector

        args = self.args
        images = self.images_for(batch)
        jpegs = self.jpegs[size][:images]
        keep: dict = {}
        extra: dict = {"keep": keep}
        corrector = None
        if pipeline == "forward":
            make = lambda: forward_pass(step, compiled, jpegs, batch, self.device)  # noqa: E731
        elif pipeline == "stream":
            make = lambda: stream_pass(step, compiled, jpegs, batch, self.device, args.workers, keep)  # noqa: E731
        else:
            # CPU (smoke): no tiling, so no memory probe (two CPU forwards per row)
            corrector = Corrector(model, batch_size=batch, precision=precision, workers=args.workers,
                                  tile="auto" if self.cuda else None)
            if pipeline == "engine":
                make = lambda: engine_pass(corrector, jpegs, keep)  # noqa: E731
            else:
                folder = tempfile.mkdtemp(dir=self.tmp)
                extra["file_format"] = args.file_format
                make = lambda: files_pass(corrector, self.files[size][:images], folder, args.file_format)  # noqa: E731
        row = self.timer.row(config, pipeline, size, batch, precision, compiled, images, make, **extra)
        if corrector is not None and row["status"] == "ok":
            row["effective_batch"] = effective_batch(corrector, size, batch)  # probed by now
