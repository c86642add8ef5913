"""Run the benchmark suite and write a JSON report plus a Markdown table of throughput and ratios.

Usage (from the repository root, inside .venv; ``make bench`` does this)::

    python bench/run.py [--name codec-cpu] [pytest args...]

Writes ``bench/results/<name>.json`` (pytest-benchmark's JSON: machine, commit, every timing)
and ``bench/results/<name>.md`` (megapixels per second from the median time, each tool's ratio to
the fastest qgac_fast entry of its group and file, and the command that produced it).
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def run_pytest(json_path: Path, extra: list[str]) -> int:
    command = [sys.executable, "-m", "pytest", "bench", "-q", "-p", "no:cacheprovider",
               "--benchmark-only", "--benchmark-min-rounds=10", "--benchmark-warmup=on",
               f"--benchmark-json={json_path}", *extra]
    return subprocess.call(command)


def markdown_report(report: dict, command: str) -> str:
    """One table per (group, file): tool, median ms, MP/s, ratio to qgac_fast's best entry."""
    machine = report["machine_info"]
    commit = report.get("commit_info", {})
    rows = defaultdict(list)
    for bench in report["benchmarks"]:
        info = bench["extra_info"]
        median = bench["stats"]["median"]
        rows[(bench["group"], info["file"])].append((info["tool"], info.get("threads", 1), median,
                                                    info["megapixels"] / median))
    lines = [
        "# Benchmark results",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine.get('cpu', {}).get('brand_raw', platform.processor())}, "
        f"{machine.get('cpu', {}).get('count', '?')} logical CPUs, Python {machine.get('python_version')}; "
        f"commit {commit.get('id', 'unknown')[:10]}{' (dirty)' if commit.get('dirty') else ''}; "
        f"{report.get('datetime', '')}",
        "",
        "MP/s = megapixels / median time. Ratio = this tool's MP/s / the best qgac_fast entry in the same table "
        "(< 1: slower than qgac_fast).",
    ]
    for (group, file), entries in sorted(rows.items()):
        best_ours = max((mps for tool, _, _, mps in entries if tool.startswith("qgac_fast")), default=None)
        lines += ["", f"## {group}, {file}", "", "| tool | threads | median ms | MP/s | ratio |", "|---|---|---|---|---|"]
        for tool, threads, median, mps in sorted(entries, key=lambda e: -e[3]):
            ratio = f"{mps / best_ours:.2f}" if best_ours else "n/a"
            lines.append(f"| {tool} | {threads} | {median * 1e3:.2f} | {mps:.1f} | {ratio} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default=f"codec-{platform.machine()}-cpu",
                        help="basename of the files written under bench/results/")
    args, extra = parser.parse_known_args(argv)
    RESULTS.mkdir(exist_ok=True)
    json_path = RESULTS / f"{args.name}.json"
    status = run_pytest(json_path, extra)
    if status != 0 or not json_path.exists():
        return status or 1
    command = shlex.join(["python", "bench/run.py", *(argv if argv is not None else sys.argv[1:])])
    table = markdown_report(json.loads(json_path.read_text()), command)
    (RESULTS / f"{args.name}.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
