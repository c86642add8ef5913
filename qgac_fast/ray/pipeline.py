"""Ray Data pipelines: :func:`correct_dataset` for a dataset of file bytes, :func:`correct_files`
for a corpus of files (local or on any pyarrow file system) written to an output location."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Iterator

from ..inference.outputs import refusals
from ..inference.results import FileResult
from ..options import DEFAULT_PNG_LEVEL, FORMATS, check_output_options
from . import storage
from .batches import CorrectBatch

__all__ = ["Plan", "actor_count", "connect", "correct_dataset", "correct_files", "plan_files", "run_plan"]

#: Actor restarts and task retries after a worker process dies (killed, out of memory, a crash in a
#: native library on one file): enough to ride out a lost node or two, few enough that an input that
#: kills every worker ends the run (its files are then "not_done") instead of looping.
RETRIES = 3
#: Rows per Ray batch by default: a batch is what a dead worker's retry redoes.
ROWS_PER_BATCH = 8


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as error:
        raise ImportError("qgac_fast.ray needs Ray Data: pip install 'qgac_fast[ray]'") from error
    return ray


def connect(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Join the Ray cluster at ``address`` (``"auto"``: the one running on this node), or start a
    local one (``num_cpus``: its CPUs, default all) when None; nothing when Ray is already
    initialized in this process. Returns whether it connected (then ``ray.shutdown()`` is the
    caller's). Ray Data's own progress bars are turned off, and Ray logs only errors here.

    A local cluster listens on the loopback interface only: a one-machine run needs no network,
    and a Ray cluster runs whatever code its clients send. That takes
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` in the environment before Ray is imported (set here
    unless given): Ray otherwise replaces a loopback node address by the machine's network one.
    """
    if address is None and "ray" not in sys.modules:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray = _ray()

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # not its notes on each execution
    if ray.is_initialized():
        return False
    if address is not None:
        ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
                 logging_level=logging.ERROR, log_to_driver=False)
    return True


def actor_count(gpus_per_actor: float = 0, cpus_per_actor: float = 1, spare_cpus: float = 0) -> int:
    """Actors that fill the connected cluster: its GPUs / ``gpus_per_actor`` when that is > 0, else
    its CPUs less ``spare_cpus`` / ``cpus_per_actor`` (at least 1)."""
    resources = _ray().cluster_resources()
    if gpus_per_actor > 0:
        return max(1, int(resources.get("GPU", 0) // gpus_per_actor))
    return max(1, int((resources.get("CPU", 1) - spare_cpus) // cpus_per_actor))


def correct_dataset(ds, model: str = "default", *, actors: int | None = None, gpus_per_actor: float = 0,
                    threads: int = 1, rows_per_batch: int = ROWS_PER_BATCH, blind: bool = False,
                    format: str = "png", jpeg_quality: int = 95, subsampling: str | None = None,
                    webp_quality: int | None = None, png_level: int = DEFAULT_PNG_LEVEL, apply_orientation: bool = False,
                    batch_class: type = CorrectBatch, **engine):
    """Correct a ``ray.data.Dataset`` of file bytes (rows with a ``bytes`` column, e.g. from
    ``ray.data.read_binary_files(paths, include_paths=True)``); lazy, like every Ray Data transform.

    Returns:
        the dataset with ``bytes`` replaced by ``image`` (the corrected file in ``format``, with
        the input's EXIF and ICC profile; ``b""`` on failure), ``error`` (None, or why the row
        failed: one bad file never fails a batch), ``width``, ``height`` and ``tiles``
        (:class:`~qgac_fast.ray.CorrectBatch`); other columns such as ``path`` pass through.

    Args:
        model: weights name or path, loaded once per actor.
        actors: actors in the pool (default :func:`actor_count`: fill the cluster, but for one
            CPU left to the tasks that read ``ds``: actors holding every CPU would leave them none,
            and the pipeline would wait for ever).
        gpus_per_actor: GPUs each actor holds (fractions share one); 0: CPU actors. The actor's
            model runs on CUDA when it has a GPU.
        threads: torch threads (and CPUs reserved) per actor.
        rows_per_batch: rows per ``map_batches`` call (a dead worker's retry redoes one batch).
        blind, format, jpeg_quality, subsampling, webp_quality, png_level, apply_orientation, **engine:
            as :class:`~qgac_fast.ray.CorrectBatch`.
        batch_class: :class:`~qgac_fast.ray.CorrectBatch` or a subclass of it.

    A worker process that dies is restarted and its batch redone (:data:`RETRIES` times).
    """
    check_output_options(format, subsampling, webp_quality, png_level)
    kwargs = {"model": model, "threads": threads, "blind": blind, "format": format, "jpeg_quality": jpeg_quality,
              "subsampling": subsampling, "webp_quality": webp_quality, "png_level": png_level,
              "apply_orientation": apply_orientation,
              **engine}
    return _map(ds, batch_class, kwargs, actors, gpus_per_actor, threads, rows_per_batch, spare_cpus=1)


def _map(ds, batch_class: type, kwargs: dict, actors: int | None, gpus_per_actor: float, threads: int,
         rows_per_batch: int, spare_cpus: float = 0):
    if not gpus_per_actor:
        kwargs.setdefault("device", "cpu")
    actors = actors or actor_count(gpus_per_actor, threads, spare_cpus)
    with warnings.catch_warnings():
        # Ray 2.60 deprecates the remote arguments without named replacements; the retries are
        # set here all the same, because Ray Data's default (-1) retries an input that kills every
        # worker for ever.
        warnings.filterwarnings("ignore", message="`ray_remote_args` is deprecated")
        return ds.map_batches(batch_class, fn_constructor_kwargs=kwargs, batch_size=rows_per_batch,
                              batch_format="numpy", compute=_ray().data.ActorPoolStrategy(size=actors),
                              num_cpus=threads, num_gpus=gpus_per_actor, max_restarts=RETRIES,
                              max_task_retries=RETRIES)


@dataclasses.dataclass
class Plan:
    """What a corpus run will do.

    Attributes:
        rows: one :data:`~qgac_fast.ray.batches.RECORD_COLUMNS` dict per file to correct.
        decided: the results known before any correction: arguments that name nothing,
            refused outputs (one is an input, or two inputs share it), and outputs kept by
            ``skip_existing``.
        filesystems: the pyarrow file systems by key (``""``: local paths).
        errors: ``(argument, reason)`` for the arguments that name nothing (also in ``decided``).
    """

    rows: list[dict]
    decided: list[FileResult]
    filesystems: dict[str, Any]
    errors: list[tuple[str, str]]


def plan_files(inputs: list[str], output: str, *, format: str = "png", blind: bool = False,
               skip_existing: bool = False) -> Plan:
    """List the inputs and plan their outputs, as ``qgac-fast correct`` does.

    An input is a local file, folder or glob (:func:`qgac_fast.jpeg_files.collect_inputs`) or a
    URI of a file or a folder (prefix) on a file system pyarrow opens (listed recursively;
    :func:`~qgac_fast.ray.storage.list_uri`). Outputs mirror the inputs under ``output`` (a local
    folder or a URI) with the format's suffix; the output paths follow
    :func:`~qgac_fast.inference.outputs.refusals`. With ``skip_existing`` the temporary files an
    earlier, killed run left beside the outputs are removed and existing outputs kept.

    Raises:
        ValueError: ``output`` or an input is a URI of an unknown scheme (pyarrow's message).
    """
    from ..jpeg_files import collect_inputs

    filesystems: dict[str, Any] = {}

    def key(text: str) -> tuple[str, Any, str]:
        filesystem, path = storage.open_location(text)
        if filesystem is None:
            return "", None, path
        name = f"fs{len(filesystems)}"
        filesystems[name] = filesystem
        return name, filesystem, path

    # as the command does: a search leaves out earlier outputs under a local OUTDIR
    listed, errors = collect_inputs([text for text in inputs if not storage.is_uri(text)], blind=blind,
                                    exclude=None if storage.is_uri(output) else output)
    found = [(path, relative, "", path) for path, relative in listed]
    for text in inputs:
        if storage.is_uri(text):
            name, filesystem, path = key(text)
            listed, why = storage.list_uri(filesystem, path, text, blind=blind)
            if why is not None:
                errors.append((text, why))
            found.extend((uri, relative, name, fs_path) for uri, relative, fs_path in listed)
    out_key, out_fs, out_root = key(output)
    suffix = FORMATS[format]
    found.sort()
    planned = []
    for uri, relative, in_key, in_path in found:
        relative = str(Path(relative).with_suffix(suffix))
        out_path = storage.join(out_fs, out_root, relative)
        shown = out_path if out_fs is None else output.rstrip("/") + "/" + relative.replace(os.sep, "/")
        planned.append({"input": uri, "input_fs": in_key, "input_path": in_path, "output": shown,
                        "output_fs": out_key, "output_path": out_path})
    decided = [FileResult(arg, "", "failed", why) for arg, why in errors]
    refused = refusals([(row["input"], row["output"]) for row in planned])
    decided += [FileResult(planned[i]["input"], planned[i]["output"], "failed", why) for i, why in refused.items()]
    todo = [row for i, row in enumerate(planned) if i not in refused]
    if skip_existing and todo:
        destinations = [row["output_path"] for row in todo]
        storage.remove_temporaries(out_fs, destinations, before=time.time())
        present = storage.exists(out_fs, destinations)
        decided += [FileResult(row["input"], row["output"], "skipped") for row, there in zip(todo, present) if there]
        todo = [row for row, there in zip(todo, present) if not there]
    rows = [{"index": i, **row} for i, row in enumerate(todo)]
    return Plan(rows, decided, filesystems, errors)


def run_plan(plan: Plan, model: str = "default", *, actors: int | None = None, gpus_per_actor: float = 0,
             threads: int = 1, rows_per_batch: int = ROWS_PER_BATCH, format: str = "png", jpeg_quality: int = 95,
             subsampling: str | None = None, webp_quality: int | None = None, png_level: int = DEFAULT_PNG_LEVEL,
             apply_orientation: bool = False, batch_class: type = CorrectBatch, **engine) -> Iterator[FileResult]:
    """Correct and write a :class:`Plan`'s rows on the connected Ray cluster; yields a
    :class:`~qgac_fast.inference.FileResult` per row as its batch finishes (not in input order).

    Options as :func:`correct_dataset`. Each row's result comes once, whatever the retries. When
    Ray gives up (a batch failed more than :data:`RETRIES` times, the cluster went away), the rows
    not finished yet come as ``"not_done"`` with Ray's reason. At the end, the temporary files of
    writes that a dead worker left are removed.
    """
    ray = _ray()
    check_output_options(format, subsampling, webp_quality, png_level)
    if not plan.rows:
        return
    kwargs = {"model": model, "threads": threads, "blind": True, "format": format, "jpeg_quality": jpeg_quality,
              "subsampling": subsampling, "webp_quality": webp_quality, "png_level": png_level,
              "apply_orientation": apply_orientation,
              "filesystems": plan.filesystems, **engine}
    dataset = _map(ray.data.from_items(plan.rows), batch_class, kwargs, actors, gpus_per_actor, threads,
                   rows_per_batch)
    done: set[int] = set()
    try:
        try:
            for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                for index, record in zip(batch["index"], batch["record"]):
                    if int(index) not in done:
                        done.add(int(index))
                        yield _file_result(json.loads(record))
        except ray.exceptions.RayError as error:
            why = f"not done: {_root_cause(error)}"
            for row in plan.rows:
                if row["index"] not in done:
                    yield FileResult(row["input"], row["output"], "not_done", why)
    finally:
        for key in {row["output_fs"] for row in plan.rows}:
            storage.remove_temporaries(plan.filesystems.get(key), [row["output_path"] for row in plan.rows
                                                                    if row["output_fs"] == key], before=time.time())


#: Ray's exceptions that wrap a worker's: the message is looked into for the one they wrap.
_WRAPPERS = frozenset({"UserCodeException", "RayTaskError", "RayActorError", "ActorDiedError"})
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EXCEPTION_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt))(?::\s*(.*))?$")


def _root_cause(error: BaseException) -> str:
    """The failure behind a Ray error, as one line: the innermost exception of its chain
    (``__cause__``, a task error's ``cause``) that is not one of Ray's wrappers, else the last
    ``SomeError: message`` line of a worker traceback that a wrapper's message holds."""
    chain, seen = [], set()
    while isinstance(error, BaseException) and id(error) not in seen:
        seen.add(id(error))
        chain.append(error)
        error = getattr(error, "cause", None) or error.__cause__
    for inner in reversed(chain):
        if not _wrapper(type(inner).__name__):
            return _one_line(f"{type(inner).__name__}: {str(inner).strip()}")
    for inner in reversed(chain):
        found = [match for match in map(_EXCEPTION_LINE.match, _ANSI.sub("", str(inner)).splitlines())
                 if match and not _wrapper(match[1])]
        if found:
            return _one_line(f"{found[-1][1]}: {found[-1][2] or ''}")
    return _one_line(_ANSI.sub("", str(chain[0]))) or type(chain[0]).__name__


def _wrapper(name: str) -> bool:
    return name.rsplit(".", 1)[-1].split("(", 1)[0] in _WRAPPERS


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].rstrip(": ") if lines else ""


def _file_result(record: dict) -> FileResult:
    size = None if record["height"] is None else (record["height"], record["width"])
    return FileResult(record["input"], record["output"], record["status"], record["error"], size, record["tiles"],
                      estimate=record.get("estimate"), table=record.get("table"))


def correct_files(inputs: list[str], output: str, model: str = "default", *, blind: bool = False,
                  skip_existing: bool = False, **options) -> list[FileResult]:
    """Correct a corpus on the connected Ray cluster (:func:`connect`) and write the outputs:
    :func:`plan_files` then :func:`run_plan` (``options``). Returns every input's
    :class:`~qgac_fast.inference.FileResult`, each once, in input order (the arguments that
    name nothing first)."""
    plan = plan_files(inputs, output, format=options.get("format", "png"), blind=blind,
                      skip_existing=skip_existing)
    results = plan.decided + list(run_plan(plan, model, **options))
    return sorted(results, key=lambda result: (result.output != "", result.input))
