"""Ship a training run's weights under a shipped name, with the provenance of the whole chain.

Usage (from the repository root, inside .venv)::

    python tools/ship_weights.py RUN_DIR --name default --launch "COMMAND" --notes "TEXT"
        [--stored-note "TEXT"] [--dtype bfloat16]
        [--eval "LABEL=bench/results/eval-....json" ...] [--eval-command "qgac-fast eval ..." ...]

Writes ``qgac_fast/weights/<name>.safetensors`` (atomically) from ``RUN_DIR/weights.safetensors``,
stored in ``--dtype``, with the run's training metadata plus:

* ``init_training``: the training metadata of the weights the run started from (its ``--init``),
  read before anything is overwritten, so a warm restart of the shipped weights keeps the chain
  (for a run folder whose weights are shipped under another name, that name's record);
* ``launch``: the command line that started the run (``torchrun`` and environment included: the
  trainer records only its own arguments); ``notes``; ``stored``: how the weights are stored.

and the sidecar ``qgac_fast/weights/<name>.json``: the configuration, that training metadata, and
the report-only evaluation (``qgac-fast eval --json`` files, rounded) with the commands that made
them. Without ``--eval`` the sidecar keeps no evaluation (the old one described other weights).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from qgac_fast.model import load_model, read_metadata, save_model
from qgac_fast.model.weights import SHIPPED, STORAGE_DTYPES, weights_path

#: The fields of a training record that identify its run.
RUN_IDENTITY = ("command", "training_mp", "wall_time_s")


def evaluation_summary(path: Path) -> dict[str, dict]:
    """``{quality: {jpeg_psnr, psnr, psnr_b, ssim, hf_ratio}}`` of a ``qgac-fast eval --json`` file
    with one dataset (PSNR rounded to 0.01 dB, the rest to 0.001)."""
    entries = json.loads(path.read_text())
    if len(entries) != 1:
        raise ValueError(f"{path}: expected one dataset, found {len(entries)}")
    summary = {}
    for quality, result in entries[0]["qualities"].items():
        corrected = result["corrected"]
        summary[quality] = {"jpeg_psnr": round(result["jpeg"]["psnr"], 2), "psnr": round(corrected["psnr"], 2),
                            "psnr_b": round(corrected["psnr_b"], 2), "ssim": round(corrected["ssim"], 3),
                            "hf_ratio": round(corrected["hf_ratio"], 3)}
    return summary


def same_run(a: dict, b: dict) -> bool:
    """Whether two training records describe the same run (command, training megapixels, wall time)."""
    return all(a.get(key) == b.get(key) for key in RUN_IDENTITY)


def ship(run: Path, name: str, launch: str, notes: str, stored: str | None, dtype: str,
         evaluations: dict[str, Path], commands: list[str], folder: Path | None = None) -> dict:
    """Write the shipped weights and their sidecar (into ``folder``, default the package's
    weights folder); returns the sidecar's content."""
    source = run / "weights.safetensors" if run.is_dir() else run
    training = read_metadata(source)["training"]
    init = training.get("config", {}).get("init")
    if init and "init_training" not in training:
        parent = read_metadata(init)["training"]  # before ``name`` is overwritten
        if same_run(parent, training):
            # shipped again (new notes or evaluation): ``init`` names the file this run replaced
            parent = parent.get("init_training")
        else:
            # a run folder whose weights were shipped: the shipped record has the launch line,
            # notes and the rest of the chain
            shipped = (read_metadata(other)["training"] for other in SHIPPED if other != name)
            parent = next((record for record in shipped if same_run(record, parent)), parent)
        training["init_training"] = parent
    training.update(launch=launch, notes=notes, stored=stored or dtype)
    model = load_model(source, device="cpu")
    target = weights_path(name) if folder is None else folder / f"{name}.safetensors"
    save_model(model, target, training=training, dtype=STORAGE_DTYPES[dtype][0])
    sidecar = {"weights": target.name, "config": json.loads(model.config.to_json()), "training": training}
    if evaluations:
        sidecar["evaluation"] = {label: evaluation_summary(path) for label, path in evaluations.items()}
        sidecar["evaluation_commands"] = commands
    target.with_suffix(".json").write_text(json.dumps(sidecar, indent=1) + "\n")
    return sidecar


def _labelled(text: str) -> tuple[str, Path]:
    label, sep, path = text.partition("=")
    if not sep or not label or not path:
        raise argparse.ArgumentTypeError(f"expected LABEL=PATH, got {text!r}")
    return label, Path(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="training run folder (with weights.safetensors) or weights file")
    parser.add_argument("--name", required=True, choices=SHIPPED)
    parser.add_argument("--launch", required=True, help="the command line that started the run")
    parser.add_argument("--notes", required=True, help="what the weights are and how they were chosen")
    parser.add_argument("--stored-note", default=None, help="how the weights are stored (default: the dtype)")
    parser.add_argument("--dtype", default="bfloat16", choices=sorted(STORAGE_DTYPES))
    parser.add_argument("--eval", type=_labelled, action="append", default=[], metavar="LABEL=JSON")
    parser.add_argument("--eval-command", action="append", default=[], metavar="COMMAND")
    parser.add_argument("--folder", type=Path, default=None, help="write here instead of qgac_fast/weights")
    args = parser.parse_args(argv)
    sidecar = ship(args.run, args.name, args.launch, args.notes, args.stored_note, args.dtype, dict(args.eval),
                   args.eval_command, args.folder)
    print(f"shipped {sidecar['weights']}: {sidecar['training']['training_mp']} training MP")
    return 0


if __name__ == "__main__":
    sys.exit(main())
