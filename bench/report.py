"""The report tool: benchmark results (JSON) to the Markdown tables and plots of ``bench/results``.

Usage (from the repository root, inside .venv; ``make bench`` runs it after each benchmark)::

    python -m bench.report bench/results/NAME.json [more.json ...] [--out-dir DIR]

Writes ``NAME.md`` (and ``NAME.png`` where the result has a plot) next to each JSON, or into
``--out-dir``, and prints the Markdown; nothing is measured again. Three kinds of result:

* **benchmark**: pytest-benchmark's JSON (``--benchmark-json``) of any ``bench/bench_*.py``. Each
  module's cases become that module's section, drawn by its own ``markdown(benchmarks, run)``
  (and ``plot(benchmarks, run, path)`` where it has one: ``bench_engine``); the cases of modules
  without one (``bench_codec``, ``bench_jpeg``, ``bench_cfm``) share :func:`throughput_table`.
* **end_to_end**: the JSON of :mod:`bench.end_to_end`, the documented exception (a GPU run that skips
  rows to fit its time budget): its tables and plot.
* **engine**: a result of the standalone engine script that preceded ``bench/bench_engine.py``
  (``meta`` and ``results``), as kept in ``bench/results`` with its Markdown: its plot only.

Other JSON files are refused with a message. Plots need matplotlib (pinned in
``requirements.txt``); without it the Markdown is still written and a message says so.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
from collections import defaultdict
from pathlib import Path

from bench import plots


def kind(doc) -> str:
    """``"benchmark"``, ``"end_to_end"`` or ``"engine"``; ValueError for anything else."""
    if isinstance(doc, dict) and isinstance(doc.get("benchmarks"), list) and "machine_info" in doc:
        return "benchmark"
    if isinstance(doc, dict) and isinstance(doc.get("results"), list) and isinstance(doc.get("meta"), dict):
        rows = doc["results"]
        if "models" in doc and all("pipeline" in r for r in rows):
            return "end_to_end"
        if rows and all("case" in r and "mp_per_s" in r for r in rows):
            return "engine"
    raise ValueError("not a benchmark result (pytest-benchmark JSON of bench/bench_*.py, or the JSON of "
                     "bench.end_to_end or of the former engine script)")


def module_of(benchmark: dict) -> str:
    """The ``bench_*`` module a pytest-benchmark entry came from (``bench/bench_job.py::...`` -> ``bench_job``)."""
    return Path(benchmark["fullname"].split("::")[0]).stem


def run_info(doc: dict) -> dict:
    """What a pytest-benchmark JSON says about its run: ``command``, ``commit``, ``load_average``
    (None when not recorded), ``datetime``, ``machine``, ``python`` (``bench/conftest.py`` records
    the first three; older files give the commit pytest-benchmark found)."""
    machine, recorded = doc["machine_info"], doc.get("qgac", {})
    cpu = machine.get("cpu", {})
    commit = doc.get("commit_info", {})
    found = f"{commit.get('id', 'unknown')[:10]}{' (dirty)' if commit.get('dirty') else ''}"
    return {"command": recorded.get("command", "not recorded"), "commit": recorded.get("commit", found),
            "load_average": recorded.get("load_average"), "datetime": doc.get("datetime", ""),
            "machine": f"{machine.get('machine', platform.machine())} ({cpu.get('brand_raw') or 'cpu'}), "
                       f"{cpu.get('count', '?')} logical CPUs",
            "python": machine.get("python_version")}


def provenance(run: dict) -> str:
    """One Markdown paragraph: the command, commit, machine, date and load average of ``run``."""
    load = "" if run["load_average"] is None else f"; load average at the start {run['load_average']:.2f}"
    return (f"Command: `{run['command']}`\n\nCommit {run['commit']}; {run['machine']}, Python {run['python']}; "
            f"{run['datetime']}{load}.")


def throughput_table(benchmarks: list[dict], run: dict) -> str:
    """One table per (group, file) of cases recording ``tool``, ``megapixels`` and ``file`` in their
    extra_info: tool, threads, median ms, MP/s (megapixels / median) and the ratio to the best
    ``qgac_fast`` entry of the table."""
    rows = defaultdict(list)
    for bench in benchmarks:
        info = bench["extra_info"]
        median = bench["stats"]["median"]
        rows[(bench["group"], info["file"])].append((info["tool"], info.get("threads", 1), median,
                                                    info["megapixels"] / median))
    lines = ["# Benchmark results", "", provenance(run), "",
             "MP/s = megapixels / median time. Ratio = this tool's MP/s / the best qgac_fast entry in the same table "
             "(< 1: slower than qgac_fast)."]
    for (group, file), entries in sorted(rows.items()):
        best_ours = max((mps for tool, _, _, mps in entries if tool.startswith("qgac_fast")), default=None)
        lines += ["", f"## {group}, {file}", "", "| tool | threads | median ms | MP/s | ratio |",
                  "|---|---|---|---|---|"]
        for tool, threads, median, mps in sorted(entries, key=lambda e: -e[3]):
            ratio = f"{mps / best_ours:.2f}" if best_ours else "n/a"
            lines.append(f"| {tool} | {threads} | {median * 1e3:.2f} | {mps:.1f} | {ratio} |")
    return "\n".join(lines) + "\n"


def render(doc) -> tuple[str | None, object]:
    """``(markdown, plot)`` of a loaded result (``markdown`` None for the former engine script's
    results, whose Markdown is kept); ``plot(path)`` draws its PNG and returns the path (None when
    there is nothing to draw), or ``plot`` is None for a result without a plot."""
    which = kind(doc)
    if which == "end_to_end":
        from bench.end_to_end.tables import markdown

        return markdown(doc), lambda path: plots.plot_end_to_end(doc, path)
    if which == "engine":
        return None, lambda path: plots.plot_engine(doc, path)
    run, sections, plot, generic = run_info(doc), [], None, []
    modules = defaultdict(list)
    for bench in doc["benchmarks"]:
        modules[module_of(bench)].append(bench)
    for name, benchmarks in modules.items():
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError:  # a file since removed: its cases may still fit the shared table
            module = None
        if not hasattr(module, "markdown"):
            generic += benchmarks
            continue
        sections.append(module.markdown(benchmarks, run))
        if hasattr(module, "plot"):  # bench_engine's, the one module with a plot
            plot = lambda path, m=module, b=benchmarks: m.plot(b, run, path)  # noqa: E731
    if generic:
        sections.append(throughput_table(generic, run))
    if not sections:
        raise ValueError("no case ran (all skipped?): nothing to report")
    return "\n".join(sections), plot


def write(result: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Render ``result.json`` to ``result.md`` (but a former engine result's) and, where it has a
    plot, ``result.png`` (in ``out_dir`` when given); returns the paths written. Raises ValueError
    (not a known result, or nothing measured), OSError and KeyError (a field missing)."""
    result = Path(result)
    markdown, plot = render(json.loads(result.read_text()))
    folder = Path(out_dir) if out_dir is not None else result.parent
    written = []
    if markdown is not None:
        written.append(folder / f"{result.stem}.md")
        written[0].write_text(markdown)
        print(markdown)
    try:
        png = plot(folder / f"{result.stem}.png") if plot is not None else None
    except ImportError:
        print(f"matplotlib is not installed (requirements.txt pins it): no plot; draw it later with "
              f"python -m bench.report {result}")
        png = None
    return written + ([png] if png is not None else [])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", metavar="RESULT.json", help="benchmark results (bench/results/*.json)")
    parser.add_argument("--out-dir", help="folder of the Markdown and PNG files (default: next to each JSON)")
    args = parser.parse_args(argv)
    if args.out_dir:
        Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    failed = 0
    for result in args.results:
        try:
            written = write(result, args.out_dir)
        except (OSError, ValueError) as error:  # unreadable, not JSON, not a known kind, nothing measured
            print(f"{result}: {error}", file=sys.stderr)
            failed += 1
            continue
        except KeyError as error:
            print(f"{result}: field {error} missing", file=sys.stderr)
            failed += 1
            continue
        print("wrote " + ", ".join(str(p) for p in written))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
