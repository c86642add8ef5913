"""argparse value types shared by the ``qgac-fast`` subcommands."""

from __future__ import annotations

import argparse

__all__ = ["MAX_THREADS", "add_threads", "jpeg_quality", "limit", "positive_int", "threads"]


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
