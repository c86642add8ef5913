"""Timing the end-to-end benchmark's rows, one after another within the time budget."""

from __future__ import annotations

import statistics
import time
import traceback

import torch

from bench.end_to_end.results import Results
from bench.end_to_end.timing import Budget, release, short, sync
from bench.plots import variant


class RowTimer:
    """Times each row it is given and derives from it its TFLOP/s, fraction of the peak, speed-up
    over the eager loop and difference from the eager loop's output; skips a row estimated not to fit
    in the budget, or whose config and compile mode failed earlier. Every row joins ``results``."""

    def __init__(self, args, device: torch.device, results: Results):
        self.args, self.device, self.results = args, device, results
        self.cuda = device.type == "cuda"
        self.budget = Budget(args.budget_s)
        self.eager_first: dict[tuple[str, int], torch.Tensor] = {}
        self.compile_broken: dict[tuple[str, str], str] = {}  # (config, mode) -> reason

    def estimate(self, config: str, size: int, precision: str, images: int, compiled: str | bool) -> float:
        """Seconds a row may take: warm-up plus the timed passes, from the best per-image time
        measured so far for this config and size (else from the FLOP count at a quarter of the
        bf16 peak, an eighth in float32), plus a minute for a compilation."""
        per_image = None
        for r in self.results.rows:
            if (r["config"], r["size"]) == (config, size) and r["status"] == "ok" and (
                    r["precision"] == precision or r["pipeline"] == "eager_loop"):
                t = r["median_s"] / r["images"]
                per_image = t if per_image is None else min(per_image, t)
        if per_image is None:
            flops = self.results.models.get(config, {}).get("flops_per_mp") or 0
            peak = (self.results.peak.get("bf16_tflops") or 1) * (0.25 if precision == "bf16" else 0.125)
            per_image = flops * size * size / 1e6 / (peak * 1e12)
        passes = 1 + max(self.args.min_repeats, 1)
        return passes * images * per_image * 1.5 + (60.0 if compiled and self.cuda else 0.0) + 1.0

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
            self.results.rows.append(row)
            self.results.log(f"{label} {row['status']}: {row['reason']}")
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
            row.update(status="oom", reason=short(error, 200))
        except KeyboardInterrupt:
            self.budget.interrupted = True
            row.update(status="skipped", reason="interrupted")
        except Exception as error:  # noqa: BLE001
            oom = "out of memory" in str(error).lower()  # the engine reports a per-image OOM as a failed result
            row.update(status="oom" if oom else "error", reason=short(error))
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
        self.results.rows.append(row)
        summary = (f"{row['mp_per_s']:9.2f} MP/s  {row['images_per_s']:8.2f} img/s  "
                   f"{row.get('tflops', 0):7.2f} TFLOP/s" if row["status"] == "ok" else
                   f"{row['status']}: {row.get('reason', '')}")
        self.results.log(f"{label} {summary}")
        self.results.save()
        return row

    def enrich(self, row: dict, keep: dict | None) -> None:
        flops = self.results.models[row["config"]]["flops_per_mp"]
        if flops:
            tflops = row["mp_per_s"] * flops / 1e12
            row["tflops"] = tflops
            if self.results.peak.get("bf16_tflops"):
                row["fraction_of_peak"] = tflops / self.results.peak["bf16_tflops"]
            if row["precision"] == "float32" and self.results.peak.get("float32_tflops"):
                row["fraction_of_fp32_peak"] = tflops / self.results.peak["float32_tflops"]
        eager = next((r for r in self.results.rows if r["pipeline"] == "eager_loop" and r["status"] == "ok"
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
