"""Time per image of ``qgac-fast correct`` on a shared CPU: OpenMP wait policies, threads, load.

Usage (from the repository root, inside .venv)::

    python -m experiments.shared_cpu [--images 3] [--runs 3] [--note TEXT] [--name shared-cpu]

Corrects ``--images`` 512x512 JPEGs (crops of the bundled photos' mosaic, quality 30, 4:2:0) with
the ``qgac-fast correct`` command, on the CPU, in each variant: the machine idle or loaded (a busy
loop on one core, as another job would be), 1 or 2 ``--threads``, and the OpenMP wait policy
``active`` (what libgomp did before the command line set one: spinning after each parallel region)
or the command line's default (passive). The variants are interleaved run by run, so that other
work on the machine affects them alike. Time per image: the ``--json`` summary's seconds over
the images (model loading excluded, the first image's memory probes included); the median over
the runs. Writes ``bench/results/<name>.{json,md}`` unless ``--no-save``; prints the JSON.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import RESULTS, git_commit, mosaic_jpegs

POLICIES = {"active (before)": "active", "passive (default now)": None}


def _run_once(folder: str, threads: int, policy: str | None) -> float:
    """Seconds per image of one ``qgac-fast correct`` run."""
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if policy is not None:
        env["OMP_WAIT_POLICY"] = policy
    with tempfile.TemporaryDirectory() as out:
        summary_path = os.path.join(out, "summary.json")
        subprocess.run([sys.executable, "-m", "qgac_fast", "correct", folder, "-o", os.path.join(out, "o"),
                        "--device", "cpu", "--threads", str(threads), "--quiet", "--json", summary_path],
                       env=env, check=True)
        summary = json.loads(Path(summary_path).read_text())["summary"]
    return summary["seconds"] / summary["corrected"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--name", default="shared-cpu")
    parser.add_argument("--note", default="", help="what else ran on the machine meanwhile, for the results")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()

    commit = git_commit()  # before the runs: the code measured
    variants = [(load, threads, label) for load in ("idle", "loaded") for threads in (2, 1) for label in POLICIES]
    times: dict[tuple, list[float]] = {variant: [] for variant in variants}
    with tempfile.TemporaryDirectory() as folder:
        for i, data in enumerate(mosaic_jpegs(512, args.images, 30)):
            Path(folder, f"{i}.jpg").write_bytes(data)
        for _ in range(args.runs):
            for load in ("idle", "loaded"):
                busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if load == "loaded" else None
                try:
                    for variant in variants:
                        if variant[0] == load:
                            times[variant].append(_run_once(folder, variant[1], POLICIES[variant[2]]))
                finally:
                    if busy is not None:
                        busy.kill()
                        busy.wait()

    rows = [{"machine": load, "threads": threads, "omp_wait_policy": label,
             "seconds_per_image_median": round(statistics.median(times[(load, threads, label)]), 3),
             "seconds_per_image_runs": [round(t, 3) for t in times[(load, threads, label)]]}
            for load, threads, label in variants]
    document = {
        "benchmark": "shared_cpu", "date": datetime.date.today().isoformat(), "commit": commit,
        "command": f"python -m experiments.shared_cpu --images {args.images} --runs {args.runs}",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or 'unknown CPU'}",
        "images": f"{args.images} JPEGs 512x512, quality 30, 4:2:0", "runs": args.runs,
        "load": "loaded = a Python busy loop on one core", "note": args.note, "results": rows,
    }
    text = json.dumps(document, indent=2)
    print(text)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{args.name}.json").write_text(text + "\n")
        table = io.StringIO()
        table.write(f"# qgac-fast correct on a shared CPU\n\n`{document['command']}` on {document['machine']}, "
                    f"{document['date']}, commit {document['commit']}; {document['images']}, median of "
                    f"{args.runs} interleaved runs; {document['load']}. {args.note}\n\n"
                    "| machine | threads | OMP_WAIT_POLICY | s / image (median) | runs |\n|---|---|---|---|---|\n")
        for row in rows:
            runs = ", ".join(map(str, row["seconds_per_image_runs"]))
            table.write(f"| {row['machine']} | {row['threads']} | {row['omp_wait_policy']} | "
                        f"{row['seconds_per_image_median']:.2f} | {runs} |\n")
        (RESULTS / f"{args.name}.md").write_text(table.getvalue())


if __name__ == "__main__":
    main()
