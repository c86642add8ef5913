"""The benchmark harness: the pytest-benchmark cases of ``bench/bench_*.py``, one JSON per file,
each rendered by the report tool.

Usage (from the repository root, inside .venv; ``make bench`` runs every file)::

    python -m bench.run [NAME ...] [--name RESULT] [--out-dir DIR] [pytest args...]

``NAME`` is a file's short name (``codec`` for ``bench/bench_codec.py``; default: every file). Each
file writes ``DIR/NAME.json`` (``--name RESULT`` renames it when one file runs; ``DIR`` is
``bench/results`` by default): pytest-benchmark's JSON, with the command, commit and load average
that ``bench/conftest.py`` adds; then :mod:`bench.report` writes ``NAME.md`` (and ``NAME.png``) from
it. The cases take their parameters from ``QGAC_BENCH_*`` variables, listed in each file's
docstring; other arguments go to pytest (for example ``-k``, or ``--benchmark-min-rounds=1``). A
file whose cases were all skipped (the GPU benchmarks without CUDA) leaves no result. The same,
for one file, without this harness::

    python -m pytest bench/bench_png.py -p no:cacheprovider --benchmark-only --benchmark-json bench/results/png.json
    python -m bench.report bench/results/png.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from bench import report
from bench.common import RESULTS

BENCH = Path(__file__).resolve().parent

#: What every run passes pytest before the caller's own arguments (which may override them).
PYTEST_ARGS = ("-q", "-p", "no:cacheprovider", "--benchmark-only", "--benchmark-min-rounds=10",
               "--benchmark-warmup=on")


def names() -> list[str]:
    """The short names of the benchmark files, sorted."""
    return sorted(path.stem.removeprefix("bench_") for path in BENCH.glob("bench_*.py"))


def measure(name: str, json_path: Path, extra: list[str]) -> int:
    """Run ``bench/bench_<name>.py`` into ``json_path``; pytest's exit status (5: nothing collected).
    A JSON without a single measured case is removed."""
    root = BENCH.parent
    # relative to the checkout where it can be: the result records this command
    where = json_path.resolve().relative_to(root) if json_path.resolve().is_relative_to(root) else json_path
    command = [sys.executable, "-m", "pytest", f"bench/bench_{name}.py", *PYTEST_ARGS,
               f"--benchmark-json={where}", *extra]
    status = subprocess.call(command, cwd=root)
    if json_path.exists() and not json.loads(json_path.read_text())["benchmarks"]:
        json_path.unlink()
        print(f"{name}: no case ran (skipped), no result")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmark files, of {', '.join(names())}")
    parser.add_argument("--name", help="basename of the result when one file runs (default: NAME)")
    parser.add_argument("--out-dir", type=Path, default=RESULTS, help="folder of the results (default bench/results)")
    args, extra = parser.parse_known_args(argv)
    chosen = args.names or names()
    unknown = sorted(set(chosen) - set(names()))
    if unknown:
        parser.error(f"no benchmark file {', '.join(unknown)} (there are {', '.join(names())})")
    if args.name and len(chosen) > 1:
        parser.error("--name names the result of one file")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in chosen:
        json_path = args.out_dir / f"{args.name or name}.json"
        status = measure(name, json_path, extra)
        try:
            if json_path.exists():
                report.write(json_path)
        except (KeyError, ValueError) as error:  # the measurements are kept in the JSON all the same
            print(f"{json_path}: no report: {error!r}", file=sys.stderr)
            status = status or 1
        if status not in (0, 5):
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
