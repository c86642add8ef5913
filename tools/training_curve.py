"""The compute curve: validation gain against the training megapixels a model has seen.

Usage (from the repository root, inside .venv)::

    python tools/training_curve.py LABEL=RUN_DIR [LABEL=RUN_DIR ...] --png docs/training-curve.png
        [--data docs/training-curve.json]

Each run folder's ``log.jsonl`` (``qgac-fast train --out RUN_DIR``) gives one line: the mean
validation gain (dB over the JPEG) at each validation, against the training megapixels counted from
the model's very first step (warm restarts from earlier weights continue that count). ``--data``
keeps the points as JSON next to the figure, so the curve can be redrawn and extended: with
``--extend`` the curves already in ``--data`` are kept and the runs given are added to them (the
earlier run folders need not exist any more).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def points(run: Path) -> list[dict]:
    """``[{"training_mp", "gain_db", "step"}]`` of a run's validations, in log order."""
    out = []
    for line in (run / "log.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if "validation" in entry and "training_mp" in entry:
            out.append({"training_mp": entry["training_mp"], "gain_db": entry["validation"]["gain_db"],
                        "step": entry["step"]})
    return out


def plot(curves: dict[str, list[dict]], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for label, pts in curves.items():
        ax.plot([p["training_mp"] for p in pts], [p["gain_db"] for p in pts], marker="o", markersize=3, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("training megapixels seen (crops x pixels)")
    ax.set_ylabel("validation gain over the JPEG (dB)")
    ax.set_title("Validation gain against training compute")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="LABEL=RUN_DIR")
    parser.add_argument("--png", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=None, help="also write the points as JSON")
    parser.add_argument("--extend", action="store_true", help="keep the curves already in --data, add these runs")
    args = parser.parse_args(argv)
    if args.extend and (args.data is None or not args.data.is_file()):
        parser.error("--extend needs an existing --data file")
    curves = json.loads(args.data.read_text()) if args.extend else {}
    for item in args.runs:
        label, sep, run = item.partition("=")
        if not sep:
            parser.error(f"expected LABEL=RUN_DIR, got {item!r}")
        log = Path(run) / "log.jsonl"
        if not log.is_file():
            parser.error(f"{log} does not exist")
        curves[label] = points(Path(run))
    plot(curves, args.png)
    if args.data is not None:
        args.data.write_text(json.dumps(curves, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
