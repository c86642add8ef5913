"""``qgac-fast correct --ray``: the command's run on a Ray cluster through :mod:`qgac_fast.ray`
(:func:`run`, called by :func:`qgac_fast.cli.correct.run`).

Inputs may also be URIs (``s3://bucket/photos``: a file, or a prefix listed recursively) and
``-o`` a URI; outputs, reports, exit statuses and the JSON document are the command's, with
``summary.ray`` saying where it ran (``address``, ``actors``, ``gpus_per_actor``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

from ..ray import storage
from .report import tally

__all__ = ["run"]

_PREFIX = "qgac-fast correct"


def _usage(args: argparse.Namespace) -> str | None:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return "--ray runs one driver: start it without torchrun"
    if args.device is not None:
        return "--device does not apply with --ray: actors run on CUDA with --ray-gpus-per-actor, else on the CPU"
    if not args.ray and args.ray_address is None:
        return "--ray-actors and --ray-gpus-per-actor need --ray or --ray-address"
    return None


def run(args: argparse.Namespace) -> int:
    """Run ``correct`` with Ray (``args`` from :func:`qgac_fast.cli.correct.add_parser`); returns the
    exit status as the command's (0 all written or skipped, 1 a file failed or nothing could run,
    2 a usage error)."""
    problem = _usage(args)
    if problem:
        print(f"{_PREFIX}: {problem}", file=sys.stderr)
        return 2
    import importlib.util

    if importlib.util.find_spec("ray") is None:  # not imported yet: connect() sets Ray's environment first
        print(f"{_PREFIX}: --ray needs Ray Data: pip install 'qgac_fast[ray]'", file=sys.stderr)
        return 2
    from ..ray import pipeline
    from ..ray.pipeline import connect, plan_files, run_plan
    from ..model import load_model

    try:  # the weights are checked here, once, before a cluster is asked for anything
        load_model(args.model, device="cpu")
    except Exception as error:  # noqa: BLE001 - any reason the weights cannot be used ends the command
        print(f"{_PREFIX}: cannot load model {args.model!r}: {str(error) or type(error).__name__}", file=sys.stderr)
        return 1
    try:
        plan = plan_files(args.inputs, args.output, format=args.format, blind=args.blind,
                          skip_existing=args.skip_existing)
    except (OSError, ValueError) as error:  # an unknown URI scheme, an unreachable object store
        print(f"{_PREFIX}: {str(error).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    if not storage.is_uri(args.output):  # an unusable OUTDIR stops the run before any file is read
        try:
            os.makedirs(args.output, exist_ok=True)
            tempfile.TemporaryFile(dir=args.output).close()
        except OSError as error:
            print(f"{_PREFIX}: cannot write to -o {args.output}: {error.strerror or error}", file=sys.stderr)
            return 1
    for arg, reason in plan.errors:
        print(f"{arg}: {reason}", file=sys.stderr)
    for result in plan.decided:
        if result.status == "failed" and result.output:
            print(f"{result.input}: {result.error}", file=sys.stderr)
    if not plan.rows and not plan.decided:
        print("no JPEG files found in the inputs" + ("" if args.blind else " (--blind also takes PNG, BMP, TIFF "
                                                                     "and WebP files in folders)"), file=sys.stderr)
        return 1
    engine = {"precision": args.precision, "batch_size": args.batch_size, "tile": args.tile, "overlap": args.overlap,
              "workers": args.workers, "compile": args.compile, "constrain": args.constrain, "strict": args.strict,
              "table": args.table, "flips": args.flips, "max_pixels": args.max_pixels,
              "max_pixels_per_byte": args.max_pixels_per_byte,
              "memory_budget": None if args.memory_budget is None else args.memory_budget << 20}
    gpus = args.ray_gpus_per_actor or 0
    threads = args.threads or 1
    started_cluster = connect(args.ray_address) if plan.rows else False
    try:
        actors = args.ray_actors or (pipeline.actor_count(gpus, threads) if plan.rows else 0)
        return _correct(args, plan, run_plan, engine, actors, gpus, threads)
    finally:
        if started_cluster:
            import ray

            ray.shutdown()


def _correct(args, plan, run_plan, engine: dict, actors: int, gpus: float, threads: int) -> int:
    from tqdm import tqdm

    records = [result.to_json() for result in plan.decided if result.output]  # not the arguments naming nothing
    counts = {"ok": 0, "skipped": 0, "failed": 0, "not_done": 0, "unchanged": 0, "earlier_table": 0}
    for result in plan.decided:
        counts[result.status] += 1
    megapixels = 0.0
    total = len(plan.rows)
    start = time.perf_counter()
    bar = tqdm(unit="MP", disable=True if args.quiet else None, dynamic_ncols=True, desc="correct (ray)",
               file=sys.stderr, bar_format="{desc}: {n:.1f} MP [{elapsed}, {rate_fmt}{postfix}]",
               postfix=f"0/{total} files")
    done = 0
    try:
        for result in run_plan(plan, args.model, actors=actors, gpus_per_actor=gpus, threads=threads,
                               format=args.format, jpeg_quality=args.jpeg_quality, subsampling=args.subsampling,
                               webp_quality=args.webp_quality, png_level=args.png_level,
                               apply_orientation=args.apply_orientation, **engine):
            line = tally(result, counts)
            done += 1
            records.append(result.to_json())
            if result.status == "ok" and line is None:
                megapixels += result.megapixels
                bar.update(result.megapixels)
            if line is not None or result.status == "not_done":
                bar.write(line or f"{result.input}: {result.error}", file=sys.stderr)
            bar.set_postfix_str(f"{done}/{total} files")
    finally:
        bar.close()
    elapsed = time.perf_counter() - start
    summary = {"corrected": counts["ok"] - counts["unchanged"], "unchanged": counts["unchanged"],
               "skipped": counts["skipped"], "failed": counts["failed"], "not_done": counts["not_done"],
               "earlier_table": counts["earlier_table"],
               "megapixels": round(megapixels, 6), "seconds": round(elapsed, 3),
               "megapixels_per_second": round(megapixels / elapsed, 3) if elapsed > 0 else None,
               "device": "cuda" if gpus else "cpu", "precision": args.precision, "flips": args.flips,
               "threads": threads,
               "model": str(args.model), "format": args.format,
               "ray": {"address": args.ray_address or "local", "actors": actors, "gpus_per_actor": gpus}}
    if not args.quiet:
        print(f"{summary['corrected']} corrected ({megapixels:.1f} MP in {elapsed:.1f} s, "
              f"{summary['megapixels_per_second'] or 0:.2f} MP/s), {counts['skipped']} skipped, "
              f"{counts['failed']} failed" + (f", {counts['not_done']} not done" if counts["not_done"] else "") +
              (f", {counts['unchanged']} unchanged (no JPEG history)" if counts["unchanged"] else "") +
              f" -> {args.output} (ray: {actors} {summary['device']} actor{'s' if actors != 1 else ''}, "
              f"{threads} thread{'s' if threads > 1 else ''} each)", file=sys.stderr)
    if args.json:
        from ..atomic import write_atomic

        records.sort(key=lambda record: (record["output"] != "", record["input"]))
        try:
            write_atomic(args.json, (json.dumps({"summary": summary, "files": records}, indent=2) + "\n").encode())
        except OSError as error:
            print(f"{_PREFIX}: cannot write --json {args.json}: {error.strerror or error}", file=sys.stderr)
            return 1
    return 1 if counts["failed"] or counts["not_done"] else 0
