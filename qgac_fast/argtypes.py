"""argparse value types shared by the ``qgac-fast`` subcommands."""

from __future__ import annotations

import argparse

__all__ = ["jpeg_quality", "positive_int"]


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
