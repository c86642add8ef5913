"""``qgac-fast correct`` (or ``eval``) from two source trees, alternated: each run's share of its own forward.

A change to the job's plumbing is measured against the commit before it on the same folder, the
two trees run in turn (ABBA...), so that the machine's drift touches both; each run is a child of
:mod:`bench.bench_job` (:func:`~bench.bench_job._child`: the command line's malloc and settings,
the seconds of its own forward), so its ratio of forward seconds to wall seconds does not depend on
that drift at all.

Usage (from the repository root, inside .venv, the machine otherwise quiet; training paused)::

    git worktree add ../wt-base BASE && (cd ../wt-base && python setup.py build_ext --inplace)
    OMP_WAIT_POLICY=PASSIVE python -m bench.pair_job ../wt-base . --rounds 4 --format jpeg --name NAME

The folder is ``bench_job``'s (``QGAC_BENCH_JOB_IMAGES``), made in a temporary folder for the run;
``--job eval`` runs ``qgac-fast eval`` on its PNG originals at ``QGAC_BENCH_JOB_QUALITIES`` instead.
Writes ``bench/results/NAME.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_job import IMAGES, QUALITIES, THREADS, _child, _cli, write_folders
from bench.common import git_commit, save_report


_WHERE = ("import json, qgac_fast; from qgac_fast.cli import NATIVE_ENVIRONMENT; "
          "print(json.dumps([qgac_fast.__file__, NATIVE_ENVIRONMENT]))")


def _environment(tree: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The child's environment that imports ``qgac_fast`` from ``tree``: on its path, and no working
    folder before it (``PYTHONSAFEPATH``: ``python -c`` would put the current folder, perhaps the
    other tree, first); checked by importing it. With it, the tree's own settings for torch's
    libraries (its command line's ``NATIVE_ENVIRONMENT``), so that a change to them is measured."""
    environment = {"PYTHONPATH": str(tree.resolve()), "PYTHONSAFEPATH": "1"}
    found, native = json.loads(subprocess.run([sys.executable, "-c", _WHERE], capture_output=True, text=True,
                                              env={**os.environ, **environment}, check=True).stdout)
    if not Path(found).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"{tree}: qgac_fast imports from {found}, not from the tree")
    return environment, native


def measure(trees: list[Path], rounds: int, format: str, job: str = "correct") -> dict:
    """Runs of ``qgac-fast correct`` (``job="eval"``: ``eval``) on the job folder from each tree,
    alternated over ``rounds``."""
    environments = {tree: _environment(tree) for tree in trees}
    root = Path(tempfile.mkdtemp(prefix="pair-job-"))
    try:
        written = write_folders(root, originals=job == "eval")
        megapixels = written["mp"] * (len(QUALITIES) if job == "eval" else 1)
        runs = []
        for index in range(rounds):
            for tree in trees if index % 2 == 0 else trees[::-1]:
                work = root / f"run-{len(runs)}"
                work.mkdir()
                args = (_cli("eval", written["png"], "--quality", *QUALITIES, "--threads", THREADS)
                        if job == "eval" else _cli("correct", written["jpeg"], "-o", work / "out", "--threads",
                                                   THREADS, "--format", format, "--quiet"))
                row = _child(args, work, *environments[tree])
                runs.append({"tree": str(tree), "commit": git_commit(tree), "round": index,
                             **{k: v for k, v in row.items() if k != "stdout"}})
                print(f"{tree} round {index}: {row['wall_s']:.2f} s, own forward {row['forward_seconds']:.2f} s",
                      file=sys.stderr, flush=True)
                shutil.rmtree(work)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    what = {"qualities": QUALITIES} if job == "eval" else {"format": format}
    return {"trees": [str(t) for t in trees], "job": job, **what, "rounds": rounds, "megapixels": megapixels,
            "images": IMAGES, "threads": THREADS, "runs": runs}


def markdown(report: dict) -> str:
    what = (f"`qgac-fast eval` at quality {' '.join(report['qualities'])}" if report.get("job") == "eval"
            else f"`qgac-fast correct` to {report['format']}")
    lines = [f"# {what}: two trees alternated", "",
             f"Command: `{report['command']}`  ", f"{report['date']}; folder `{report['images']}` "
             f"({report['megapixels']:.1f} MP), {report['threads']} threads.", "",
             "| tree (commit) | runs | wall s | own forward s | forward / wall (mean, range) | MP/s | user s | "
             "system s | system / user | peak RSS MB |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for tree in report["trees"]:
        runs = [r for r in report["runs"] if r["tree"] == tree]
        ratios = [r["forward_seconds"] / r["wall_s"] for r in runs]
        mean = lambda key: statistics.mean(r[key] for r in runs)  # noqa: E731
        lines.append(f"| `{tree}` ({runs[0]['commit']}) | {len(runs)} | {mean('wall_s'):.2f} | "
                     f"{mean('forward_seconds'):.2f} | {statistics.mean(ratios):.3f} ({min(ratios):.3f}-"
                     f"{max(ratios):.3f}) | {report['megapixels'] / mean('wall_s'):.3f} | {mean('user_s'):.1f} | "
                     f"{mean('sys_s'):.2f} | {mean('sys_s') / mean('user_s'):.3f} | {mean('peak_rss_mb'):.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs=2, type=Path, help="the two source trees (the base first)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--job", choices=["correct", "eval"], default="correct")
    parser.add_argument("--format", choices=["jpeg", "png"], default="jpeg", help="correct's output format")
    parser.add_argument("--name", required=True, help="basename of the result in bench/results")
    args = parser.parse_args(argv)
    report = measure(args.trees, args.rounds, args.format, args.job)
    report |= {"command": "python -m bench.pair_job " + " ".join(sys.argv[1:] if argv is None else argv),
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    save_report(args.name, report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
