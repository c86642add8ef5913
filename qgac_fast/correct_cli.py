"""``qgac-fast correct``: correct JPEG files, folders and globs (registered by :mod:`qgac_fast.cli`).

Inputs are files (taken whatever their suffix), folders (searched recursively for ``*.jpg`` and
``*.jpeg``, any case; with ``--blind`` also PNG, BMP, TIFF and WebP files) and globs (``**``
recursive; matched folders are searched like folders). A file that is not a JPEG (a PNG of a
decoded JPEG...) is corrected the blind way: its quantization is estimated from the pixels
(:mod:`qgac_fast.blind`); one with no JPEG history is written unchanged, and said so.
Outputs mirror the inputs under OUTDIR (default ``corrected`` in the working directory, never
beside the inputs): a folder's files keep their path relative to it, a glob's matches their path
relative to the glob's fixed leading folders, a file given by name goes to OUTDIR itself; the
suffix becomes the format's (``.png``, ``.jpg``, ``.webp``). A folder or glob search leaves out
the files under OUTDIR (earlier outputs: ``qgac-fast correct .`` twice corrects the same files)
unless it searches inside OUTDIR itself.

Outputs are written atomically, never over an input (such a file is refused), and two inputs
may not share an output (the later one is refused); the ``--json`` report may be neither an input
nor an output (a usage error). A bad file is reported as ``path: reason`` and the run goes on.
Exit status: 0 all written (or skipped), 1 a file failed or the model or OUTDIR cannot be used,
2 a usage error (a bad setting, a ``--device`` this machine cannot use, a bad torchrun
environment), 130 / 143 stopped by Ctrl-C / SIGTERM (after the summary and the ``--json`` report
of what was done); every failure is one line on stderr, never a traceback.

With ``--ray`` (or ``--ray-address``) the run goes to :mod:`qgac_fast.ray.command`: Ray Data actors
on a cluster, inputs and OUTDIR also URIs (``s3://...``); same outputs, reports and exit statuses.

Sharding with torchrun: with ``WORLD_SIZE`` > 1, rank ``RANK`` takes the items ``i`` of the
sorted input list with ``i % WORLD_SIZE == RANK`` and runs on ``cuda:LOCAL_RANK`` (when CUDA is
there and ``--device`` is not given); no process group is needed. ``--json FILE`` then writes
``FILE`` with ``.rankR`` before its suffix, one per rank.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from .argtypes import add_threads, jpeg_quality, limit, positive_int
from .errors import RECOVERABLE
from .interrupts import describe, exit_status
from .jpeg_files import declared_megapixels, find_jpegs
from .options import (COMPILE_MODES, DEFAULT_MAX_PIXELS, DEFAULT_MAX_PIXELS_PER_BYTE, DEFAULT_PNG_LEVEL, FORMATS,
                      PRECISIONS, SUBSAMPLINGS, TABLE_CHOICES, check_output_options, check_overlap, check_tile)

__all__ = ["add_parser", "collect_inputs", "main", "plan_outputs", "run", "shard", "tally"]

_MAGIC = re.compile(r"[*?[]")
#: :data:`~qgac_fast.errors.RECOVERABLE` in this command's words.
_RECOVERABLE = " (--no-strict corrects what libjpeg can recover)"


def _tile(text: str) -> int | str | None:
    value = {"auto": "auto", "none": None}.get(text, text)
    try:
        return check_tile(int(value) if isinstance(value, str) and value.lstrip("-").isdigit() else value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _overlap(text: str) -> int:
    try:
        return check_overlap(int(text) if text.lstrip("-").isdigit() else text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _webp_quality(text: str) -> int | None:
    """``lossless`` -> None; otherwise a lossy WebP quality 1..100."""
    if text == "lossless":
        return None
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise argparse.ArgumentTypeError(f"expected 'lossless' or a quality 1..100, got {text!r}")
    return int(text)


def _png_level(text: str) -> int:
    try:
        level = int(text)
        check_output_options("png", None, None, level)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a zlib level 0..9, got {text!r}") from None
    return level


def _gpus(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of GPUs, got {text!r}")
    return value


def add_parser(subparsers) -> None:
    """Declare ``correct`` and its arguments on an argparse ``subparsers`` object."""
    parser = subparsers.add_parser(
        "correct", help="correct the artifacts of JPEG files and folders",
        description="Correct JPEG files with a QGAC model and write the results under OUTDIR, mirroring the "
                    "inputs' folders. INPUT is a file, a folder (searched recursively for *.jpg and *.jpeg, "
                    "any case) or a glob. Outputs are written atomically and never over an input. Files that "
                    "fail are reported on stderr as 'path: reason' and make the exit status 1; the others "
                    "are written. Under torchrun each rank corrects its share of the sorted inputs.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="JPEG file, folder or glob; a named non-JPEG image (PNG...) is corrected blind")
    parser.add_argument("-o", "--output", default="corrected", metavar="OUTDIR",
                        help="output folder; folder and glob searches leave out the files in it (earlier outputs) "
                             "(default: %(default)s, in the working directory)")
    parser.add_argument("--model", default="default", metavar="NAME_OR_PATH",
                        help="shipped weights (default: regression, best PSNR; default-gan: restored texture) or a "
                             ".safetensors path (default: %(default)s)")
    parser.add_argument("--device", help="cpu, cuda, cuda:N (default: CUDA when available, under torchrun "
                                         "cuda:LOCAL_RANK, else cpu)")
    parser.add_argument("--batch-size", type=positive_int, metavar="N",
                        help="images or tiles per model call (default: 8 on CUDA, 1 on the CPU)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="model precision: auto (bf16 autocast on CUDA and on CPUs with native bf16, else "
                             "float32), float32, bf16, fp16 (CUDA) (default: %(default)s)")
    parser.add_argument("--tile", type=_tile, default="auto", metavar="auto|none|PIXELS",
                        help="tile core size in pixels (multiple of 16), 'auto' (tile what does not fit "
                             "the memory budget) or 'none' (default: %(default)s)")
    parser.add_argument("--overlap", type=_overlap, metavar="BLOCKS",
                        help="context around each tile, in 8x8 blocks (default: the model's, at most 8)")
    parser.add_argument("--memory-budget", type=positive_int, metavar="MIB",
                        help="MiB of activations one model call may use; larger images are tiled (default: on the "
                             "CPU a quarter of the memory, at most 2048; on CUDA half the free memory)")
    parser.add_argument("--workers", type=positive_int, metavar="N",
                        help="reader and writer threads (default: min(4, CPUs) on CUDA; on the CPU none: reading "
                             "and the model run in the main thread, and one thread writes)")
    add_threads(parser)
    parser.add_argument("--compile", choices=COMPILE_MODES, metavar="MODE",
                        help="torch.compile the model with this mode: " + ", ".join(COMPILE_MODES) +
                             " (reduce-overhead adds CUDA graphs); each new image shape compiles first "
                             "(about a minute on the CPU), so it pays off on many images (default: eager)")
    parser.add_argument("--format", choices=tuple(FORMATS), default="png",
                        help="output format: png, jpeg or webp; gray inputs give gray png and jpeg files (webp "
                             "has no gray mode: three equal channels) (default: %(default)s)")
    parser.add_argument("--jpeg-quality", type=jpeg_quality, default=95, metavar="Q",
                        help="IJG quality of --format jpeg (default: %(default)s)")
    parser.add_argument("--subsampling", choices=SUBSAMPLINGS,
                        help="chroma subsampling of --format jpeg (default: each input's own; 4:2:0 for unusual "
                             "sampling factors)")
    parser.add_argument("--webp-quality", type=_webp_quality, metavar="Q|lossless",
                        help="lossy quality 1..100 of --format webp, or lossless (default: lossless)")
    parser.add_argument("--png-level", type=_png_level, metavar="0..9",
                        help=f"zlib level of --format png: 0 is fastest, 9 smallest (default: {DEFAULT_PNG_LEVEL}; "
                             "docs/cli.md, 'Output formats')")
    parser.add_argument("--apply-orientation", action="store_true",
                        help="turn each image upright per its EXIF Orientation tag and write Orientation 1 (default: "
                             "the pixels stay as stored and the tag is kept, so viewers turn them); outputs always "
                             "carry the input's EXIF and ICC profile")
    parser.add_argument("--max-pixels", type=limit, default=DEFAULT_MAX_PIXELS, metavar="N|none",
                        help="refuse JPEGs declaring more pixels (default: %(default)s)")
    parser.add_argument("--max-pixels-per-byte", type=limit, default=DEFAULT_MAX_PIXELS_PER_BYTE, metavar="N|none",
                        help="refuse JPEGs declaring more pixels per byte of file, a decompression-bomb guard; "
                             "'none' reads very compact (arithmetic-coded) files (default: %(default)s)")
    parser.add_argument("--no-strict", dest="strict", action="store_false",
                        help="correct what libjpeg can recover from corrupt or truncated files (blocks it could not "
                             "decode are flat) instead of reporting them as failed")
    parser.add_argument("--no-constrain", dest="constrain", action="store_false",
                        help="let the restored luma coefficients leave the file's quantization bins, and correct "
                             "the chroma of files whose chroma tables are unlike any the model trained on")
    parser.add_argument("--skip-existing", action="store_true",
                        help="keep outputs that already exist (resume an interrupted run)")
    parser.add_argument("--table", choices=TABLE_CHOICES, default="auto",
                        help="quantization table a JPEG is corrected with: auto (a twice-compressed file's first, "
                             "coarser table when one is found, on the file's grid or a shifted one, else the "
                             "file's), file, or primary (files with no primary table found fail) "
                             "(default: %(default)s)")
    parser.add_argument("--blind", action="store_true",
                        help="in folders, also correct PNG, BMP, TIFF and WebP files (decoded JPEGs: the quantization "
                             "is estimated from the pixels). Files named on the command line are always taken; "
                             "without --blind a folder's earlier PNG outputs are not corrected again")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    parser.add_argument("--json", metavar="FILE", help="write per-file results and a summary as JSON to FILE")
    ray = parser.add_argument_group("Ray cluster (pip install 'qgac_fast[ray]'; see docs/scaleout.md)")
    ray.add_argument("--ray", action="store_true",
                     help="correct with Ray Data actors on a local Ray cluster started for the run; INPUT and -o may "
                          "also be URIs (s3://bucket/prefix...)")
    ray.add_argument("--ray-address", metavar="ADDRESS",
                     help="join the Ray cluster at ADDRESS instead ('auto': the one running on this node); "
                          "implies --ray")
    ray.add_argument("--ray-actors", type=positive_int, metavar="N",
                     help="actors, each with its own model (default: as many as the cluster's GPUs, or CPUs / "
                          "--threads, hold)")
    ray.add_argument("--ray-gpus-per-actor", type=_gpus, metavar="G",
                     help="GPUs per actor, fractions share one (default: 0, CPU actors)")
    parser.set_defaults(run=run)


# ------------------------------------------------------------------------------------------
# inputs and outputs


def _glob_base(pattern: str) -> str:
    """The leading folders of ``pattern`` that hold no glob magic ('.' if none)."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if _MAGIC.search(part):
            break
        fixed.append(part)
    return os.path.join(*fixed) if fixed else "."


def _inside(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or lies under it (real paths)."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def collect_inputs(inputs: list[str], blind: bool = False,
                   exclude: str | None = None) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Expand INPUT arguments (folders: :func:`~qgac_fast.jpeg_files.find_jpegs`, with ``blind``).

    ``exclude`` is a folder (OUTDIR) whose files a folder or glob search leaves out, unless the
    search starts inside it; files named one by one are always taken.

    Returns:
        ``(found, errors)``: ``found`` is ``(path, relative_path)`` per input file (the relative
        path is where its output goes under OUTDIR, before the suffix changes), each file once
        (first occurrence wins); ``errors`` is ``(argument, reason)`` for arguments that name
        nothing.
    """
    found: list[tuple[str, str]] = []
    errors: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(path: str, relative: str, searched: str | None = None) -> None:
        if exclude is not None and searched is not None and _inside(path, exclude) and not _inside(searched, exclude):
            return
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            found.append((path, os.path.normpath(relative)))

    for arg in inputs:
        if os.path.isdir(arg):
            for path in find_jpegs(arg, blind=blind):
                add(path, os.path.relpath(path, arg), arg)
        elif os.path.exists(arg):
            add(arg, os.path.basename(arg))
        elif _MAGIC.search(arg):
            matches = sorted(glob.glob(arg, recursive=True))
            if not matches:
                errors.append((arg, "no file matches this pattern"))
            base = _glob_base(arg)
            for match in matches:
                paths = find_jpegs(match, blind=blind) if os.path.isdir(match) else [match]
                for path in paths:
                    add(path, os.path.relpath(path, base), base)
        else:
            try:
                os.stat(arg)
                reason = "not a file or folder"
            except OSError as error:  # e.g. "No such file or directory", "Too many levels of symbolic links"
                reason = error.strerror or str(error)
            errors.append((arg, reason))
    return found, errors


def plan_outputs(found: list[tuple[str, str]], outdir: str, format: str) -> tuple[list[tuple[str, str]],
                                                                                   list[tuple[str, str, str]]]:
    """Output paths for ``collect_inputs``' files, sorted by input path.

    Returns:
        ``(pairs, refused)``: ``(input, output)`` to correct, and ``(input, output, reason)`` for
        inputs refused because their output is an input file or another input's output.
    """
    from .inference.outputs import refusals

    suffix = FORMATS[format]
    planned = [(path, os.path.join(outdir, str(Path(relative).with_suffix(suffix))))
               for path, relative in sorted(found)]
    refused = refusals(planned, remedy="correct them in separate runs with different -o")
    pairs = [pair for i, pair in enumerate(planned) if i not in refused]
    return pairs, [(*planned[i], why) for i, why in sorted(refused.items())]


def tally(result, counts: dict) -> str | None:
    """Count one file's result in ``counts`` (its status; ``unchanged``: written unchanged, no JPEG
    history; ``earlier_table``: corrected with a first table ``--table auto`` found), and put a
    strict read's way out in this command's words (``--no-strict``) in its error, for stderr and
    the report alike. Returns the line to print for it on stderr, or None (corrected, skipped, not
    done: the caller says why a run stopped once)."""
    counts[result.status] += 1
    if result.error:
        result.error = result.error.replace(RECOVERABLE, _RECOVERABLE)
    if result.status == "ok" and result.estimate is not None and not result.estimate["found"]:
        counts["unchanged"] += 1
        return f"{result.input}: {result.estimate['reason']}; written unchanged"
    if result.status == "ok":
        counts["earlier_table"] += (result.table or {}).get("used") == "primary"
    elif result.status == "failed":
        return f"{result.input}: {result.error}"
    return None


def shard(items: list, rank: int, world: int) -> list:
    """This rank's share: the items ``i`` with ``i % world == rank``."""
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"need 0 <= RANK < WORLD_SIZE, got RANK={rank}, WORLD_SIZE={world}")
    return items[rank::world]


def _json_path(path: str, rank: int, world: int) -> str:
    if world == 1:
        return path
    stem, suffix = os.path.splitext(path)
    return f"{stem}.rank{rank}{suffix}"


# ------------------------------------------------------------------------------------------
# run


def run(args: argparse.Namespace) -> int:
    """Run ``correct``; returns the exit status (1 if any file failed or nothing could run)."""
    import torch

    from .atomic import write_atomic
    from .commands import freeze_collector
    from .devices import resolve_device, torchrun_ranks
    from .inference import Corrector
    from .inference.outputs import report_refusal
    from .model import load_model

    for flag, value, format in (("--subsampling", args.subsampling, "jpeg"),
                                ("--webp-quality", args.webp_quality, "webp"), ("--png-level", args.png_level, "png")):
        if value is not None and args.format != format:
            print(f"qgac-fast correct: {flag} applies to --format {format}, not {args.format}", file=sys.stderr)
            return 2
    if args.png_level is None:
        args.png_level = DEFAULT_PNG_LEVEL
    if args.ray or args.ray_address is not None or args.ray_actors or args.ray_gpus_per_actor:
        from .ray.command import run as run_ray

        return run_ray(args)
    try:
        rank, world, _ = torchrun_ranks()
    except ValueError as error:
        print(f"qgac-fast correct: {error}", file=sys.stderr)
        return 2
    found, errors = collect_inputs(args.inputs, blind=args.blind, exclude=args.output)
    if rank == 0:
        for arg, reason in errors:
            print(f"{arg}: {reason}", file=sys.stderr)
    pairs, refused = plan_outputs(found, args.output, args.format)
    if args.json:
        planned = pairs + [(path, dst) for path, dst, _ in refused]
        why = report_refusal(_json_path(args.json, rank, world), [path for path, _ in planned],
                             [dst for _, dst in planned])
        if why is not None:
            print(f"qgac-fast correct: --json {args.json}: {why}", file=sys.stderr)
            return 2
    mine = shard(pairs, rank, world)
    my_refused = shard(refused, rank, world)
    for path, _, reason in my_refused:
        print(f"{path}: {reason}", file=sys.stderr)
    if not found and not errors:
        print("no JPEG files found in the inputs" + ("" if args.blind else " (--blind also takes PNG, BMP, TIFF "
                                                                     "and WebP files in folders)"), file=sys.stderr)
        return 1

    try:
        device = resolve_device(args.device)
    except ValueError as error:
        print(f"qgac-fast correct: --device: {error}", file=sys.stderr)
        return 2
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model = load_model(args.model, device=device)
    except Exception as error:  # any reason the weights cannot be used ends the command cleanly
        reason = str(error) or type(error).__name__
        print(f"qgac-fast correct: cannot load model {args.model!r}: {reason}", file=sys.stderr)
        return 1
    try:  # the progress bar, made below, counts the megapixels the model finishes
        corrector = Corrector(model, progress=lambda megapixels: bar.update(megapixels), batch_size=args.batch_size,
                              precision=args.precision, tile=args.tile, overlap=args.overlap, workers=args.workers,
                              compile=args.compile, constrain=args.constrain, strict=args.strict, table=args.table,
                              max_pixels=args.max_pixels, max_pixels_per_byte=args.max_pixels_per_byte,
                              memory_budget=None if args.memory_budget is None else args.memory_budget << 20)
    except ValueError as error:
        print(f"qgac-fast correct: {error}", file=sys.stderr)
        return 2
    freeze_collector()  # the model outlives every image
    try:  # an unusable OUTDIR stops the run before any file is read
        os.makedirs(args.output, exist_ok=True)
        tempfile.TemporaryFile(dir=args.output).close()
    except OSError as error:
        print(f"qgac-fast correct: cannot write to -o {args.output}: {error.strerror or error}", file=sys.stderr)
        return 1

    records = [{"input": path, "output": output, "status": "failed", "error": reason, "width": None,
                "height": None, "tiles": 0} for path, output, reason in my_refused]
    counts = {"ok": 0, "skipped": 0, "failed": len(my_refused) + (len(errors) if rank == 0 else 0), "not_done": 0,
              "unchanged": 0, "earlier_table": 0}
    stopped = None
    interrupted: KeyboardInterrupt | None = None
    megapixels = 0.0
    from tqdm import tqdm

    start = time.perf_counter()
    # Megapixels as the model finishes them, so that a large image's tiles move the bar, out of the
    # total the headers declare (a file the model does not run on, skipped or failed, counts when
    # its result comes); the files and the output being written go in its postfix.
    show = not args.quiet and rank == 0 and sys.stderr.isatty()  # tqdm's own rule, before the headers are read
    declared = {path: declared_megapixels(path) for path, _ in mine} if show else {}
    bar = tqdm(unit="MP", total=sum(declared.values()), disable=not show, dynamic_ncols=True,
               desc=f"rank {rank}" if world > 1 else "correct", file=sys.stderr,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} MP [{elapsed}<{remaining}, "
                          "{rate_fmt}{postfix}]", postfix=f"0/{len(mine)} files")

    def files(writing: str | None = None) -> None:
        done = f"{len(records) - len(my_refused)}/{len(mine)} files"
        bar.set_postfix_str(done if writing is None else f"{done}, writing {os.path.basename(writing)}")

    try:
        for result in corrector.correct_files(mine, format=args.format, jpeg_quality=args.jpeg_quality,
                                              subsampling=args.subsampling, webp_quality=args.webp_quality,
                                              png_level=args.png_level, skip_existing=args.skip_existing,
                                              apply_orientation=args.apply_orientation, writing=files):
            line = tally(result, counts)
            if result.tiles == 0:  # the model did not run on it: its share of the total is done
                bar.update(declared.get(result.input, 0.0))
            records.append(result.to_json())
            if result.status == "ok" and line is None:  # corrected (not written unchanged)
                megapixels += result.megapixels
            if line is not None:
                bar.write(line, file=sys.stderr)
            elif result.status == "not_done" and stopped is None:
                stopped = result.error
                bar.write(f"qgac-fast correct: stopping, the remaining files are {result.error}", file=sys.stderr)
            files()
    except KeyboardInterrupt as stopped_by:  # Ctrl-C, SIGTERM: report what was done, then stop
        interrupted = stopped_by
    finally:
        bar.close()
    if interrupted is not None:
        print(f"qgac-fast correct: interrupted ({describe(interrupted)}) after {len(records) - len(my_refused)} of "
              f"{len(mine)} files", file=sys.stderr)
    elapsed = time.perf_counter() - start
    summary = {"corrected": counts["ok"] - counts["unchanged"], "unchanged": counts["unchanged"],
               "earlier_table": counts["earlier_table"],
               "skipped": counts["skipped"], "failed": counts["failed"],
               "not_done": counts["not_done"],
               "megapixels": round(megapixels, 6), "seconds": round(elapsed, 3),
               "megapixels_per_second": round(megapixels / elapsed, 3) if elapsed > 0 else None,
               "rank": rank, "world_size": world, "device": str(corrector.device),
               "precision": corrector.step.precision, "threads": torch.get_num_threads(), "model": str(args.model),
               "format": args.format, "interrupted": None if interrupted is None else describe(interrupted)}
    if not args.quiet:
        where = f"rank {rank}/{world}: " if world > 1 else ""
        print(f"{where}{summary['corrected']} corrected ({megapixels:.1f} MP in {elapsed:.1f} s, "
              f"{summary['megapixels_per_second'] or 0:.2f} MP/s), {counts['skipped']} skipped, "
              f"{counts['failed']} failed" + (f", {counts['not_done']} not done" if counts["not_done"] else "") +
              (f", {counts['unchanged']} unchanged (no JPEG history)" if counts["unchanged"] else "") +
              (f"; {counts['earlier_table']} corrected with an earlier table found by --table {args.table}"
               if counts["earlier_table"] else "") +
              f" -> {args.output} ({summary['device']}, {summary['precision']}, "
              f"{summary['threads']} thread{'s' if summary['threads'] > 1 else ''})",
              file=sys.stderr)
    if args.json:
        document = {"summary": summary, "files": records}
        path = _json_path(args.json, rank, world)
        try:
            write_atomic(path, (json.dumps(document, indent=2) + "\n").encode())
        except OSError as error:
            print(f"qgac-fast correct: cannot write --json {path}: {error.strerror or error}", file=sys.stderr)
            return 1
    if interrupted is not None:
        return exit_status(interrupted)
    return 1 if counts["failed"] or counts["not_done"] else 0


def main(argv: list[str] | None = None) -> int:
    """``correct`` on its own (``python -m qgac_fast.correct_cli INPUT... -o OUTDIR``), for use
    before it is registered in :mod:`qgac_fast.cli` and in tests."""
    parser = argparse.ArgumentParser(prog="qgac-fast")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["correct", *(sys.argv[1:] if argv is None else argv)])
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
