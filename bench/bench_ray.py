"""The Ray Data pipeline (``qgac_fast.ray.correct_files``) against a local ``Corrector.correct_files``.

Usage (from the repository root, inside .venv, on a quiet machine)::

    OMP_NUM_THREADS=1 python bench/bench_ray.py [--images 16] [--size 256] [--actors 1 2] [--threads 1]
        [--precision float32] [--repeats 3] [--name ray-cpu]

Input: ``--images`` distinct square crops of ``--size`` pixels of the bundled photos' mosaic
(``bench/conftest.py``), JPEG quality ``--quality``, 4:2:0, written to a temporary folder. Each
case goes from those files to PNG files in a fresh output folder, end to end:

* ``local``: ``Corrector(model, device="cpu", workers=0).correct_files(pairs)`` in this process,
  torch at ``--threads`` threads;
* ``ray N actors``: ``qgac_fast.ray.correct_files([folder], out, actors=N, threads=T)`` on a local
  Ray cluster (started here on the loopback interface, CPUs = the largest N times T, unless
  ``--address`` joins one), timed with the whole corpus and with a quarter of it (at least N
  images): the two runs give a line ``time = fixed + per_image * images``. ``fixed`` is what a run
  costs whatever its size (planning, the actor pool's start: each actor imports torch and loads
  the model); ``per_image`` the marginal time of one more image.

Reported: images per second of the whole corpus; ``fixed`` and ``per_image``; and the per-image
overhead, ``per_image - local / N``: the time each image costs beyond an ideal N-way split of the
local engine's per-image time (Ray's scheduling, moving rows through the object store, reading
and writing in the actor). Timing: wall clock; cases round robin, a warm-up round first, then the
median of ``--repeats`` rounds (after ``--warmup``). Writes ``<name>.json`` (every timing, machine, versions, commit,
command) and ``<name>.md`` in ``--out-dir`` (``bench/results``), and prints the table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from conftest import git_commit, mosaic_jpegs  # noqa: E402  (bench/conftest.py)

RESULTS = Path(__file__).parent / "results"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--size", type=int, default=256, help="square image side, pixels")
    parser.add_argument("--quality", type=int, default=30)
    parser.add_argument("--actors", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--threads", type=int, default=1, help="torch threads, locally and per actor")
    parser.add_argument("--precision", default="float32", choices=("auto", "float32", "bf16"))
    parser.add_argument("--model", default="default")
    parser.add_argument("--address", help="join this Ray cluster instead of starting a local one")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="rounds run first and not counted")
    parser.add_argument("--name", default="ray-cpu", help="basename under --out-dir")
    parser.add_argument("--out-dir", default=str(RESULTS), help="folder of the JSON and Markdown")
    parser.add_argument("--no-save", action="store_true", help="print only")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    import qgac_fast
    import qgac_fast.ray

    torch.set_num_threads(args.threads)
    started = qgac_fast.ray.connect(args.address, num_cpus=None if args.address else max(args.actors) * args.threads)
    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    try:
        folder = work / "in"
        folder.mkdir()
        jpegs = mosaic_jpegs(args.size, args.images, args.quality)
        for i, data in enumerate(jpegs):
            (folder / f"{i:04d}.jpg").write_bytes(data)
        names = sorted(folder.iterdir())
        corrector = qgac_fast.Corrector(args.model, device="cpu", precision=args.precision, workers=0)

        def output():
            out = work / "out"
            shutil.rmtree(out, ignore_errors=True)
            return out

        def local() -> float:
            out = output()
            start = time.perf_counter()
            results = list(corrector.correct_files([(str(p), str(out / f"{p.stem}.png")) for p in names]))
            elapsed = time.perf_counter() - start
            assert [r.status for r in results] == ["ok"] * len(names), results
            return elapsed

        def on_ray(actors: int, count: int):
            def run() -> float:
                out = output()
                start = time.perf_counter()
                results = qgac_fast.ray.correct_files([str(p) for p in names[:count]], str(out), args.model,
                                                      actors=actors, threads=args.threads, precision=args.precision)
                elapsed = time.perf_counter() - start
                assert [r.status for r in results] == ["ok"] * count, results
                return elapsed
            return run

        cases = {"local": (local, len(names))}
        for actors in args.actors:
            small = min(len(names), max(actors, len(names) // 4))
            cases[f"ray {actors} actor{'s' if actors > 1 else ''}"] = (on_ray(actors, len(names)), len(names))
            cases[f"ray {actors} actor{'s' if actors > 1 else ''}, {small} images"] = (on_ray(actors, small), small)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for round_ in range(args.warmup + args.repeats):  # round robin, warm-up rounds first
            for name, (fn, _) in cases.items():
                elapsed = fn()
                if round_ >= args.warmup:
                    times[name].append(elapsed)
        median = {name: statistics.median(values) for name, values in times.items()}
        local_per_image = median["local"] / len(names)
        rows = [{"case": "local", "images": len(names), "seconds": median["local"],
                 "images_per_second": len(names) / median["local"], "per_image_s": local_per_image}]
        for actors in args.actors:
            full = f"ray {actors} actor{'s' if actors > 1 else ''}"
            small_name = next(name for name in cases if name.startswith(full + ","))
            small = cases[small_name][1]
            per_image = ((median[full] - median[small_name]) / (len(names) - small) if len(names) > small
                         else float("nan"))
            rows.append({"case": full, "actors": actors, "images": len(names), "seconds": median[full],
                         "images_per_second": len(names) / median[full], "per_image_s": per_image,
                         "fixed_s": median[full] - per_image * len(names),
                         "overhead_per_image_s": per_image - local_per_image / actors})
        table = _table(rows)
        print(table)
        if not args.no_save:
            document = {
                "command": "python bench/bench_ray.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "machine": f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs",
                "load_average": os.getloadavg(), "python": platform.python_version(), "torch": torch.__version__,
                "ray": __import__("ray").__version__, "commit": git_commit(),
                # the output folder is this machine's: not recorded
                "args": {k: v for k, v in vars(args).items() if k != "out_dir"},
                "timings_s": times, "rows": rows}
            out_dir = Path(args.out_dir)
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / f"{args.name}.json").write_text(json.dumps(document, indent=2) + "\n")
            (out_dir / f"{args.name}.md").write_text(
                f"# Ray Data pipeline vs a local Corrector ({document['machine']})\n\n"
                f"`{document['command']}` at commit {document['commit']}, {document['date']}, load average "
                f"{' '.join(f'{x:.1f}' for x in document['load_average'])}; {args.images} JPEGs of "
                f"{args.size}x{args.size} (q{args.quality}, 4:2:0) to PNG, {args.precision}, {args.threads} "
                f"thread(s) locally and per actor; median of {args.repeats} rounds after {args.warmup} warm-up. "
                "Method: `bench/bench_ray.py`.\n\n"
                + table + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if started:
            import ray

            ray.shutdown()
    return 0


def _table(rows: list[dict]) -> str:
    lines = ["| case | images | seconds | images/s | per image (s) | fixed (s) | overhead per image (s) |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        fixed = f"{row['fixed_s']:.2f}" if "fixed_s" in row else "-"
        overhead = f"{row['overhead_per_image_s']:.4f}" if "overhead_per_image_s" in row else "-"
        lines.append(f"| {row['case']} | {row['images']} | {row['seconds']:.2f} | {row['images_per_second']:.2f} | "
                     f"{row['per_image_s']:.4f} | {fixed} | {overhead} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
