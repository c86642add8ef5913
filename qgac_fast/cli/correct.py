"""``qgac-fast correct``: correct JPEG files, folders and globs (registered by :mod:`qgac_fast.cli.parser`).

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

With ``--ray`` (or ``--ray-address``) the run goes to :mod:`qgac_fast.cli.correct_ray`: Ray Data actors
on a cluster, inputs and OUTDIR also URIs (``s3://...``); same outputs, reports and exit statuses.

Sharding with torchrun: with ``WORLD_SIZE`` > 1, rank ``RANK`` takes the items ``i`` of the
sorted input list with ``i % WORLD_SIZE == RANK`` and runs on ``cuda:LOCAL_RANK`` (when CUDA is
there and ``--device`` is not given); no process group is needed. ``--json FILE`` then writes
``FILE`` with ``.rankR`` before its suffix, one per rank.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from ..interrupts import describe, exit_status
from ..options import (COMPILE_MODES, DEFAULT_MAX_PIXELS, DEFAULT_MAX_PIXELS_PER_BYTE, DEFAULT_PNG_LEVEL, FORMATS,
                       FLIPS, PRECISIONS, SUBSAMPLINGS, TABLE_CHOICES)
from . import CommandError, freeze_collector
from .argtypes import add_threads, gpus, jpeg_quality, limit, overlap, png_level, positive_int, tile, webp_quality
from ..jpeg_files import collect_inputs
from .report import COUNTS, Progress, report_path, summary, summary_line, tally, write_report

__all__ = ["add_parser", "main", "run"]


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
    _add_engine_options(parser)
    _add_output_options(parser)
    _add_reading_options(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    parser.add_argument("--json", metavar="FILE", help="write per-file results and a summary as JSON to FILE")
    _add_ray_options(parser)
    parser.set_defaults(run=run)


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
    """The model and how the engine runs it."""
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
    parser.add_argument("--flips", type=int, choices=FLIPS, default=1,
                        help="correct each image in this many orientations (itself and its flips) and average "
                             "them: 4 flips gained about 0.07 dB for 4x the time (default: %(default)s)")
    parser.add_argument("--tile", type=tile, default="auto", metavar="auto|none|PIXELS",
                        help="largest tile core in pixels (multiple of 16), 'auto' (tile what does not fit "
                             "the memory budget) or 'none' (default: %(default)s)")
    parser.add_argument("--overlap", type=overlap, metavar="BLOCKS",
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


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    """The output files' format and metadata."""
    parser.add_argument("--format", choices=tuple(FORMATS), default="png",
                        help="output format: png, jpeg or webp; gray inputs give gray png and jpeg files (webp "
                             "has no gray mode: three equal channels) (default: %(default)s)")
    parser.add_argument("--jpeg-quality", type=jpeg_quality, default=95, metavar="Q",
                        help="IJG quality of --format jpeg (default: %(default)s)")
    parser.add_argument("--subsampling", choices=SUBSAMPLINGS,
                        help="chroma subsampling of --format jpeg (default: each input's own; 4:2:0 for unusual "
                             "sampling factors)")
    parser.add_argument("--webp-quality", type=webp_quality, metavar="Q|lossless",
                        help="lossy quality 1..100 of --format webp, or lossless (default: lossless)")
    parser.add_argument("--png-level", type=png_level, metavar="0..9",
                        help=f"zlib level of --format png: 0 is fastest, 9 smallest (default: {DEFAULT_PNG_LEVEL}; "
                             "docs/cli.md, 'Output formats')")
    parser.add_argument("--apply-orientation", action="store_true",
                        help="turn each image upright per its EXIF Orientation tag and write Orientation 1 (default: "
                             "the pixels stay as stored and the tag is kept, so viewers turn them); outputs always "
                             "carry the input's EXIF and ICC profile")


def _add_reading_options(parser: argparse.ArgumentParser) -> None:
    """How each input is read and corrected, and which are taken."""
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


def _add_ray_options(parser: argparse.ArgumentParser) -> None:
    """A run on a Ray cluster (:mod:`qgac_fast.cli.correct_ray`)."""
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
    ray.add_argument("--ray-gpus-per-actor", type=gpus, metavar="G",
                     help="GPUs per actor, fractions share one (default: 0, CPU actors)")


def run(args: argparse.Namespace) -> int:
    """Run ``correct``; returns the exit status (module docstring): 0 every file written or
    skipped, 1 a file failed or none was found, 130 / 143 stopped by a signal.

    Raises:
        CommandError: a usage error (status 2: options of another format, a bad torchrun
            environment, ``--device``, an engine setting, a ``--json`` report over an input or
            output), or the model, OUTDIR or the report cannot be used (status 1).
    """
    _check_output_options(args)
    if args.ray or args.ray_address is not None or args.ray_actors or args.ray_gpus_per_actor:
        from .correct_ray import run as run_ray

        return run_ray(args)
    rank, world = _ranks()
    found, errors = collect_inputs(args.inputs, blind=args.blind, exclude=args.output)
    if rank == 0:
        for arg, reason in errors:
            print(f"{arg}: {reason}", file=sys.stderr)
    pairs, refused = plan_outputs(found, args.output, args.format)
    if args.json:
        _check_report(report_path(args.json, rank, world), args.json, pairs + [(src, dst) for src, dst, _ in refused])
    mine, my_refused = shard(pairs, rank, world), shard(refused, rank, world)
    for path, _, reason in my_refused:
        print(f"{path}: {reason}", file=sys.stderr)
    if not found and not errors:
        print("no JPEG files found in the inputs" + ("" if args.blind else " (--blind also takes PNG, BMP, TIFF "
                                                                     "and WebP files in folders)"), file=sys.stderr)
        return 1
    progress = None  # the bar, made once the engine and OUTDIR are ready, counts what the model finishes
    corrector = _engine(args, lambda megapixels: progress.corrected(megapixels))
    _check_output_folder(args.output)
    records = [{"input": path, "output": output, "status": "failed", "error": reason, "width": None,
                "height": None, "tiles": 0} for path, output, reason in my_refused]
    counts = dict.fromkeys(COUNTS, 0)
    counts["failed"] = len(my_refused) + (len(errors) if rank == 0 else 0)
    start = time.perf_counter()
    show = not args.quiet and rank == 0 and sys.stderr.isatty()  # tqdm's own rule, before the headers are read
    progress = Progress(mine, show=show, desc=f"rank {rank}" if world > 1 else "correct")
    try:
        megapixels, interrupted = _correct(args, corrector, mine, progress, records, counts)
    finally:
        progress.close()
    if interrupted is not None:
        print(f"qgac-fast correct: interrupted ({describe(interrupted)}) after {progress.done} of "
              f"{len(mine)} files", file=sys.stderr)
    return _finish(args, corrector, counts, records, megapixels, time.perf_counter() - start, rank, world, interrupted)


def _check_output_options(args: argparse.Namespace) -> None:
    """Refuse the options of another output format than ``--format`` (a usage error: the library
    ignores them), and give ``--png-level`` its default."""
    for flag, value, format in (("--subsampling", args.subsampling, "jpeg"),
                                ("--webp-quality", args.webp_quality, "webp"), ("--png-level", args.png_level, "png")):
        if value is not None and args.format != format:
            raise CommandError(f"{flag} applies to --format {format}, not {args.format}", 2)
    if args.png_level is None:
        args.png_level = DEFAULT_PNG_LEVEL


def _ranks() -> tuple[int, int]:
    """``(rank, world_size)`` of torchrun's environment (:func:`~qgac_fast.devices.torchrun_ranks`)."""
    from ..devices import torchrun_ranks

    try:
        rank, world, _ = torchrun_ranks()
    except ValueError as error:
        raise CommandError(str(error), 2) from None
    return rank, world


def _check_report(path: str, given: str, planned: list[tuple[str, str]]) -> None:
    """Refuse a ``--json`` report (``path``, this rank's file of ``given``) over an input or output."""
    from ..inference.outputs import report_refusal

    why = report_refusal(path, [src for src, _ in planned], [dst for _, dst in planned])
    if why is not None:
        raise CommandError(f"--json {given}: {why}", 2)


def _engine(args: argparse.Namespace, progress):
    """The :class:`~qgac_fast.inference.Corrector` of the options, its model loaded on ``--device``
    (torch's threads set, the collector frozen), ``progress`` its callback. Each setting is checked
    by the library; its ``ValueError`` is a usage error here (status 2), a model that cannot be
    loaded status 1."""
    import torch

    from ..devices import resolve_device
    from ..inference import Corrector
    from ..model import load_model

    try:
        device = resolve_device(args.device)
    except ValueError as error:
        raise CommandError(f"--device: {error}", 2) from None
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model = load_model(args.model, device=device)
    except Exception as error:  # any reason the weights cannot be used ends the command cleanly
        raise CommandError(f"cannot load model {args.model!r}: {str(error) or type(error).__name__}", 1) from None
    try:
        corrector = Corrector(model, progress=progress, batch_size=args.batch_size, precision=args.precision,
                              tile=args.tile, overlap=args.overlap, workers=args.workers, compile=args.compile,
                              constrain=args.constrain, strict=args.strict, table=args.table, flips=args.flips,
                              max_pixels=args.max_pixels, max_pixels_per_byte=args.max_pixels_per_byte,
                              memory_budget=None if args.memory_budget is None else args.memory_budget << 20)
    except ValueError as error:
        raise CommandError(str(error), 2) from None
    freeze_collector()  # the model outlives every image
    return corrector


def _check_output_folder(folder: str) -> None:
    """Make OUTDIR and try a file in it: an unusable one stops the run before any file is read."""
    try:
        os.makedirs(folder, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        raise CommandError(f"cannot write to -o {folder}: {error.strerror or error}", 1) from None


def _correct(args: argparse.Namespace, corrector, pairs: list[tuple[str, str]], progress: Progress,
             records: list[dict], counts: dict) -> tuple[float, KeyboardInterrupt | None]:
    """Correct and write ``pairs``, each result said (:func:`~.report.tally`), counted and added to
    ``records``; returns the megapixels corrected and the Ctrl-C or SIGTERM that stopped the run
    (None if none did)."""
    megapixels, stopped = 0.0, False
    try:
        for result in corrector.correct_files(pairs, format=args.format, jpeg_quality=args.jpeg_quality,
                                              subsampling=args.subsampling, webp_quality=args.webp_quality,
                                              png_level=args.png_level, skip_existing=args.skip_existing,
                                              apply_orientation=args.apply_orientation, writing=progress.files):
            line = tally(result, counts)
            progress.finished(result)
            records.append(result.to_json())
            if result.status == "ok" and line is None:  # corrected (not written unchanged)
                megapixels += result.megapixels
            if line is not None:
                progress.write(line)
            elif result.status == "not_done" and not stopped:
                stopped = True
                progress.write(f"qgac-fast correct: stopping, the remaining files are {result.error}")
            progress.files()
    except KeyboardInterrupt as interrupted:  # Ctrl-C, SIGTERM: report what was done, then stop
        return megapixels, interrupted
    return megapixels, None


def _finish(args: argparse.Namespace, corrector, counts: dict, records: list[dict], megapixels: float,
            seconds: float, rank: int, world: int, interrupted: KeyboardInterrupt | None) -> int:
    """Say the summary (unless ``--quiet``), write the ``--json`` report; returns the exit status."""
    import torch

    done = summary(args, counts, megapixels, seconds, rank=rank, world=world, device=str(corrector.device),
                   precision=corrector.step.precision, threads=torch.get_num_threads(),
                   interrupted=None if interrupted is None else describe(interrupted))
    if not args.quiet:
        print(summary_line(args, done, megapixels, seconds), file=sys.stderr)
    if args.json:
        path = report_path(args.json, rank, world)
        try:
            write_report(path, done, records)
        except OSError as error:
            raise CommandError(f"cannot write --json {path}: {error.strerror or error}", 1) from None
    if interrupted is not None:
        return exit_status(interrupted)
    return 1 if counts["failed"] or counts["not_done"] else 0


def main(argv: list[str] | None = None) -> int:
    """``qgac-fast correct ARGV`` (default ``sys.argv[1:]``), as :func:`qgac_fast.cli.main` runs
    it; also ``python -m qgac_fast.cli.correct ARGV``."""
    from . import main as command_line

    return command_line(["correct", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())


def plan_outputs(found: list[tuple[str, str]], outdir: str, format: str) -> tuple[list[tuple[str, str]],
                                                                                   list[tuple[str, str, str]]]:
    """Output paths for ``collect_inputs``' files, sorted by input path.

    Returns:
        ``(pairs, refused)``: ``(input, output)`` to correct, and ``(input, output, reason)`` for
        inputs refused because their output is an input file or another input's output.
    """
    from ..inference.outputs import refusals

    suffix = FORMATS[format]
    planned = [(path, os.path.join(outdir, str(Path(relative).with_suffix(suffix))))
               for path, relative in sorted(found)]
    refused = refusals(planned, remedy="correct them in separate runs with different -o")
    pairs = [pair for i, pair in enumerate(planned) if i not in refused]
    return pairs, [(*planned[i], why) for i, why in sorted(refused.items())]


def shard(items: list, rank: int, world: int) -> list:
    """This rank's share: the items ``i`` with ``i % world == rank``."""
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"need 0 <= RANK < WORLD_SIZE, got RANK={rank}, WORLD_SIZE={world}")
    return items[rank::world]
