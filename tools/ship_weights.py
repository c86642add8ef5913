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

The record names the training data by name and content, not by where it lay on the machine that
trained: ``config["data"]`` becomes :func:`qgac_fast.train.provenance.describe_data` of the
folders (each as recorded, relative to the current folder, else under ``$QGAC_FAST_DATASETS``),
and in ``command`` and ``launch`` a data folder reads ``DATASETS/<name>``, their parent folder
``DATASETS``. The records of the chain (``init_training``) stay as they were shipped.

and the sidecar ``qgac_fast/weights/<name>.json``: the configuration, that training metadata, and
the report-only evaluation (``qgac-fast eval --json`` files, rounded) with the commands that made
them. Without ``--eval`` the sidecar keeps no evaluation (the old one described other weights).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from qgac_fast.model import load_model, read_metadata, save_model
from qgac_fast.model.weights import SHIPPED, STORAGE_DTYPES, weights_path
from qgac_fast.train.provenance import describe_data

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


def _chain(training: dict):
    """A shipped training record, then the records of the runs it continued (``init_training``)."""
    while training:
        yield training
        training = training.get("init_training")


def same_run(a: dict, b: dict) -> bool:
    """Whether two training records describe the same run (command, training megapixels, wall time),
    the trainer's own record or the one shipped from it (its data paths written by name)."""
    def identity(record: dict) -> dict:
        return {key: record.get(key) for key in RUN_IDENTITY} | {
            "command": without_data_paths(record.get("command") or "", data_paths(record))}

    return identity(a) == identity(b)


def data_paths(training: dict) -> list[str]:
    """The training data paths of a trainer's record (none in a record shipped since they are
    written by name)."""
    return [entry for entry in training.get("config", {}).get("data", []) if isinstance(entry, str)]


def data_here(path: str) -> Path:
    """Where the training data recorded as ``path`` lies now: ``path`` itself (relative to the
    current folder), else the folder of the same name under ``$QGAC_FAST_DATASETS``.

    Raises:
        FileNotFoundError: neither exists.
    """
    name = os.path.basename(os.path.normpath(path))
    root = os.environ.get("QGAC_FAST_DATASETS")
    for candidate in (Path(path), Path(root) / name if root else None):
        if candidate is not None and candidate.exists():
            return candidate
    raise FileNotFoundError(f"training data {path!r} is not here: run from the folder the training ran in, or set "
                            f"QGAC_FAST_DATASETS to the folder that holds {name}")


def without_data_paths(line: str, paths: list[str]) -> str:
    """``line`` (a command line) with each data folder of ``paths`` written ``DATASETS/<name>`` and
    their parent folders ``DATASETS``, wherever one stands as a whole word (after a space, ``=`` or
    a quote; an argument, a ``--data=`` value, an environment variable) or starts a longer path."""
    replacements = {path: f"DATASETS/{os.path.basename(os.path.normpath(path))}" for path in paths}
    for path in paths:
        parent = os.path.dirname(os.path.normpath(path))
        if parent not in ("", os.curdir, os.pardir, os.sep):  # not a path on any machine in particular
            replacements.setdefault(parent, "DATASETS")
    for path in sorted(replacements, key=len, reverse=True):  # a folder before its parent
        line = re.sub(rf"(?<![^\s='\"]){re.escape(path)}(?![^\s'\"/])", replacements[path], line)
    return line


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
            # notes and the rest of the chain; it may be the one ``name`` holds, or one down a
            # shipped chain (``name`` shipped again, from a run that continued a run folder)
            shipped = (record for other in SHIPPED for record in _chain(read_metadata(other)["training"]))
            parent = next((record for record in shipped if same_run(record, parent)), parent)
        training["init_training"] = parent
    paths = data_paths(training)
    if paths:
        training["config"]["data"] = describe_data([data_here(path) for path in paths])
        training["command"] = without_data_paths(training.get("command", ""), paths)
    training.update(launch=without_data_paths(launch, paths), notes=notes, stored=stored or dtype)
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
