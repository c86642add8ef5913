"""argparse value types of the ``qgac-fast`` subcommands, and ``--threads``.

Each type turns the text of one option into its value or raises ``argparse.ArgumentTypeError``
(a usage error, status 2). A setting the library checks too is checked here by the library's own
checker from :mod:`qgac_fast.options` (which imports nothing), its ``ValueError`` put in the
option's words, so that a bad value is refused before torch loads and by the one rule.
"""

from __future__ import annotations

import argparse

from ..options import check_output_options, check_overlap, check_tile

__all__ = ["MAX_THREADS", "add_threads", "gpus", "jpeg_quality", "limit", "overlap", "png_level", "positive_int",
           "probabilities", "threads", "tile", "webp_quality"]


def positive_int(text: str) -> int:
    """An int >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {text!r}")
    return value


def limit(text: str) -> int | None:
    """A positive int, or ``none`` (no limit) as None."""
    return None if text.lower() == "none" else positive_int(text)


def jpeg_quality(text: str) -> int:
    """An IJG quality, int 1..100."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"JPEG quality must be an int in 1..100, got {text!r}")
    return value


#: The most ``--threads``: beyond any machine's cores (torch itself refuses more than a C int holds).
MAX_THREADS = 1024


def threads(text: str) -> int:
    """An int in 1..:data:`MAX_THREADS`."""
    value = positive_int(text)
    if value > MAX_THREADS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_THREADS}, got {text!r}")
    return value


def add_threads(parser: argparse.ArgumentParser) -> None:
    """Declare ``--threads N`` (``args.threads``, None when not given): torch's intra-op threads."""
    parser.add_argument("--threads", type=threads, metavar="N",
                        help="CPU threads of the model's operations (default: torch's, one per core); on a "
                             "machine shared with other jobs, fewer threads than cores avoid waiting on them")


def _int_or_text(text: str) -> int | str:
    """``text`` as an int where it reads as one (a sign allowed), else the text itself, for a checker
    that names what it got."""
    return int(text) if text.lstrip("-").isdigit() else text


def tile(text: str) -> int | str | None:
    """``auto``, ``none`` (None) or a largest tile core in pixels (:func:`~qgac_fast.options.check_tile`)."""
    value = {"auto": "auto", "none": None}.get(text, text)
    try:
        return check_tile(_int_or_text(value) if isinstance(value, str) else value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def overlap(text: str) -> int:
    """Tile context in 8x8 blocks, rounded up to even (:func:`~qgac_fast.options.check_overlap`)."""
    try:
        return check_overlap(_int_or_text(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def webp_quality(text: str) -> int | None:
    """``lossless`` (None) or a lossy WebP quality 1..100 (:func:`~qgac_fast.options.check_output_options`)."""
    if text == "lossless":
        return None
    try:
        value = int(text) if text.isdigit() else text
        check_output_options("webp", None, value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'lossless' or a quality 1..100, got {text!r}") from None
    return value


def png_level(text: str) -> int:
    """A zlib level 0..9 of PNG outputs (:func:`~qgac_fast.options.check_output_options`)."""
    try:
        level = int(text)
        check_output_options("png", None, None, level)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a zlib level 0..9, got {text!r}") from None
    return level


def gpus(text: str) -> float:
    """A positive, finite number of GPUs (fractions share one)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of GPUs, got {text!r}")
    return value


def probabilities(example: str):
    """A type for ``NAME=P[,NAME=P...]`` (probabilities by name, as a dict of floats), its error
    message showing ``example``. Which names and values are allowed is the training configuration's
    check (:class:`~qgac_fast.train.TrainConfig`)."""
    def parse(text: str) -> dict[str, float]:
        try:
            pairs = [item.split("=") for item in text.split(",")]
            return {name: float(value) for name, value in pairs}
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected NAME=P[,NAME=P...], e.g. {example}; got {text!r}") from None
    return parse
