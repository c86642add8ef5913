"""The plots of the report tool (:mod:`bench.report`): throughput (MP/s) against batch size.

* :func:`plot_engine` (``bench/bench_engine.py``): one panel per image size; MP/s of each case
  (``engine``, ``engine + png``, ``forward``, ``+compile``) against batch size, with bars from the
  slowest to the fastest round and the ratios to the plain loop in the legend; the loop is the
  horizontal line (it has no batch size; the band is its slowest..fastest round).
* :func:`plot_end_to_end` (:mod:`bench.end_to_end`): one panel per (model, image size); MP/s against
  batch size per pipeline (``+compile``, ``+compile:MODE``: square markers) and precision (bf16
  solid, float32 dashed), log scales, the eager loop as the horizontal line.

Both draw from the numbers of a result; nothing is measured again. They need matplotlib (pinned in
``requirements.txt``; ImportError without it).
"""

from __future__ import annotations

import re
from pathlib import Path

_CASE = re.compile(r"^(?P<head>.*?) b=(?P<batch>\d+)(?P<tail>.*)$")


def variant(row: dict) -> str:
    """An end-to-end row's pipeline with its torch.compile mode (``compiled``: False, True in
    older results, or the mode): ``stream``, ``stream +compile`` (mode default),
    ``stream +compile:reduce-overhead``."""
    mode = row.get("compiled")
    if not mode:
        return row["pipeline"]
    return row["pipeline"] + (" +compile" if mode in (True, "default") else f" +compile:{mode}")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_engine(report: dict, path: Path) -> Path:
    """One panel per image size: MP/s per case against batch size, the plain loop as a line (see
    the module docstring)."""
    plt = _pyplot()
    meta, rows = report["meta"], report["results"]
    sizes = sorted({r.get("size", meta.get("size")) for r in rows})  # older results: one size, in meta
    fig, axes = plt.subplots(1, len(sizes), figsize=(7 * len(sizes), 4.5), squeeze=False)
    for ax, size in zip(axes[0], sizes):
        cell = [r for r in rows if r.get("size", meta.get("size")) == size]
        _engine_panel(ax, cell)
        images = sorted({r.get("images", meta.get("images")) for r in cell})
        ax.set_title(f"{size}x{size} q{meta['quality']} 4:2:0, {'/'.join(map(str, images))} images; device "
                     f"{meta['device']}, {meta['threads']} torch thread(s), engine workers {meta['workers']}"
                     f"{', compile ' + meta['compile'] if meta.get('compile') else ''}", fontsize=9)
    fig.suptitle(f"qgac_fast engine vs plain loop: {meta['hardware']}, torch {meta['torch']}, commit "
                 f"{meta['commit']}\nmodel: {meta['model']}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _engine_panel(ax, rows: list[dict]) -> None:
    loop = next((r for r in rows if r["case"] == "loop"), None)
    series: dict[str, list[tuple[int, dict]]] = {}
    for r in rows:
        match = _CASE.match(r["case"])
        if match:
            name = (match["head"] + match["tail"]).strip()
            series.setdefault(name, []).append((int(match["batch"]), r))
    if loop is not None:
        ax.axhline(loop["mp_per_s"], color="gray", linestyle=":", label=f"plain loop ({loop['mp_per_s']:.3f} MP/s)")
        ax.axhspan(loop["megapixels"] / loop["max_s"], loop["megapixels"] / loop["min_s"], color="gray", alpha=0.12)
    markers = "osD^v<>"
    for i, (name, points) in enumerate(series.items()):
        points.sort(key=lambda p: p[0])
        xs = [b for b, _ in points]
        ys = [r["mp_per_s"] for _, r in points]
        low = [r["mp_per_s"] - r["megapixels"] / r["max_s"] for _, r in points]
        high = [r["megapixels"] / r["min_s"] - r["mp_per_s"] for _, r in points]
        label = name + " (model only)" if name.startswith("forward") else name
        if loop is not None:
            label += " - x loop: " + ", ".join(f"b={x} {y / loop['mp_per_s']:.2f}" for x, y in zip(xs, ys))
        ax.errorbar(xs, ys, yerr=[low, high], marker=markers[i % len(markers)], capsize=3, label=label)
    batches = sorted({b for points in series.values() for b, _ in points})
    ax.set_xscale("log", base=2)
    if batches:
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.minorticks_off()
        ax.set_xlim(batches[0] / 1.6, batches[-1] * 1.6)
    top = max([r["megapixels"] / r["min_s"] for r in rows if r.get("min_s")] + [r["mp_per_s"] for r in rows])
    ax.set_ylim(0, 1.15 * top)
    ax.set_xlabel("batch size")
    ax.set_ylabel("MP/s (median; bars: slowest..fastest round)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")


def plot_end_to_end(report: dict, path: Path) -> Path | None:
    """MP/s against batch size, one panel per (model, image size); None when no row was measured."""
    plt = _pyplot()
    rows = [r for r in report["results"] if r["status"] == "ok"]
    configs = [c for c in report["models"] if any(r["config"] == c for r in rows)]
    sizes = sorted({r["size"] for r in rows})
    if not configs or not sizes:
        print("no measured rows: no plot")
        return None
    names = sorted({variant(r) for r in rows})
    names = [n for n in names if n != "eager_loop"]
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colors = {name: palette[i % len(palette)] for i, name in enumerate(names)}
    fig, axes = plt.subplots(len(configs), len(sizes), figsize=(5 * len(sizes), 4 * len(configs)), squeeze=False)
    for i, config in enumerate(configs):
        for j, size in enumerate(sizes):
            ax = axes[i][j]
            cell = [r for r in rows if r["config"] == config and r["size"] == size]
            series: dict[tuple, list[tuple[int, float]]] = {}
            for r in cell:
                if r["pipeline"] == "eager_loop":
                    ax.axhline(r["mp_per_s"], color="gray", linestyle=":", label="eager loop (fp32, reference)")
                    continue
                series.setdefault((variant(r), r["precision"]), []).append((r["batch"], r["mp_per_s"]))
            for (name, precision), points in sorted(series.items()):
                points.sort()
                ax.plot([p[0] for p in points], [p[1] for p in points], "-" if precision == "bf16" else "--",
                        marker="s" if "+compile" in name else "o", color=colors[name], label=f"{name} {precision}")
            batches = sorted({r["batch"] for r in cell if r["pipeline"] != "eager_loop"})
            ax.set_xscale("log", base=2)
            if batches:
                ax.set_xticks(batches, [str(b) for b in batches])
                ax.minorticks_off()
            ax.set_yscale("log")
            ax.set_xlabel("batch size")
            ax.set_ylabel("MP/s")
            ax.set_title(f"{config}, {size}x{size}")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
    meta = report["meta"]
    fig.suptitle(f"qgac_fast end to end: {meta['hardware']}, torch {meta['torch']}, commit {meta['commit']}",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
