"""``qgac-fast eval``: JPEG (and corrected) PSNR, PSNR-B and SSIM of image folders at IJG
qualities, in the literature's protocol (:mod:`qgac_fast.evaluate`): a Markdown table per folder,
optionally a JSON report.
"""

from __future__ import annotations

import argparse
import sys

from ..options import FLIPS, PRECISIONS
from . import CommandError, freeze_collector
from .argtypes import add_threads, jpeg_quality, positive_int

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> None:
    """Declare ``eval`` and its arguments on an argparse ``subparsers`` object."""
    parser = subparsers.add_parser(
        "eval", help="measure JPEG and corrected PSNR, PSNR-B and SSIM on image folders",
        description="For each image of each folder and each quality: compress with libjpeg (IJG tables, "
                    "4:2:0), decode, correct with the model, and measure both against the original "
                    "(PSNR | PSNR-B / SSIM, means over images; RGB, or one gray channel with --gray) in the "
                    "protocol of the published tables (SSIM with an 8x8 uniform window; --json also holds "
                    "the 11x11 Gaussian SSIM as ssim_gaussian). "
                    "Prints a Markdown table per folder; folders that cannot be evaluated are reported "
                    "on stderr as 'path: reason' and make the exit status 1.")
    parser.add_argument("datasets", nargs="+", metavar="DATASET_DIR",
                        help="folder of BMP, PNG, JPEG or TIFF images (not recursive)")
    parser.add_argument("--quality", nargs="+", type=jpeg_quality, required=True, metavar="Q",
                        help="IJG qualities 1..100, e.g. --quality 10 20 30")
    parser.add_argument("--gray", action="store_true",
                        help="evaluate gray: gray files as they are, colour files' BT.601 studio-range luma")
    parser.add_argument("--json", metavar="FILE", help="also write all results as a JSON list to FILE (atomically)")
    parser.add_argument("--model", default="default", metavar="NAME_OR_PATH",
                        help="shipped weights (default, default-gan) or a .safetensors path (default: %(default)s)")
    parser.add_argument("--device", help="cpu, cuda, cuda:N (default: CUDA when available, else cpu)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="model precision: auto (bf16 autocast on CUDA and on CPUs with native bf16, else "
                             "float32), float32, bf16, fp16 (CUDA) (default: %(default)s); recorded in --json, "
                             "with the threads")
    parser.add_argument("--flips", type=int, choices=FLIPS, default=1,
                        help="correct each image in this many orientations and average them (as correct "
                             "--flips) (default: %(default)s); recorded in --json")
    parser.add_argument("--limit", type=positive_int, metavar="N", help="only the first N images of each folder")
    add_threads(parser)
    parser.add_argument("--jpeg-only", action="store_true", help="measure the JPEG only; load no model")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``eval``; returns the exit status: 0 every folder measured, 1 a folder failed.

    Raises:
        CommandError: status 2, the ``--json`` report would overwrite an image, or ``--device`` or
            ``--precision`` cannot be used; status 1, the model cannot be loaded or the report
            written.
    """
    import torch

    from ..atomic import write_atomic
    from ..evaluate import evaluate, format_table, to_json

    if args.json:
        _check_report(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    corrector, precision = (None, None) if args.jpeg_only else _corrector(args)
    results, failed = [], False
    for folder in args.datasets:
        try:
            result = evaluate(folder, args.quality, corrector, gray=args.gray, limit=args.limit,
                              progress=not args.quiet)
        except (ValueError, OSError) as error:
            failed = True
            print(f"{folder}: {error}", file=sys.stderr)
            continue
        if precision is not None:
            result["precision"] = precision
            result["threads"] = torch.get_num_threads()
            result["flips"] = args.flips
        results.append(result)
        print(format_table(result), flush=True)
    if args.json:
        try:
            write_atomic(args.json, to_json(results).encode())
        except OSError as error:
            raise CommandError(f"cannot write --json {args.json}: {error.strerror or error}", 1) from None
    return 1 if failed else 0


def _check_report(args: argparse.Namespace) -> None:
    """Refuse a ``--json`` report that would overwrite one of the images (``CommandError``, status 2)."""
    from ..evaluate import list_images
    from ..inference.outputs import report_refusal

    images = []
    for folder in args.datasets:
        try:
            images.extend(list_images(folder))
        except ValueError:  # reported when the folder is evaluated
            pass
    why = report_refusal(args.json, images, [])
    if why is not None:
        raise CommandError(f"--json {args.json}: {why}", 2)


def _corrector(args: argparse.Namespace):
    """``(corrector, precision)``: the model of ``--model`` on ``--device`` as a function of a JPEG's
    bytes (the collector frozen once it is loaded), and the precision it runs in.

    Raises:
        CommandError: status 2, the library refuses ``--device`` or ``--precision`` here; status 1,
            the model cannot be loaded.
    """
    from ..correct import correct
    from ..devices import resolve_device
    from ..inference import resolve_precision
    from ..model import load_model

    try:
        device = resolve_device(args.device)
    except ValueError as error:
        raise CommandError(f"--device: {error}", 2) from None
    try:
        model = load_model(args.model, device=device)
    except Exception as error:  # any reason the weights cannot be used ends the command cleanly
        raise CommandError(f"cannot load model {args.model!r}: {str(error) or type(error).__name__}", 1) from None
    try:
        precision = resolve_precision(args.precision, model.mean.device)
    except ValueError as error:
        raise CommandError(str(error), 2) from None
    freeze_collector()  # the model outlives every image

    def corrector(data: bytes):
        return correct(data, model=model, precision=precision, flips=args.flips)

    return corrector, precision
