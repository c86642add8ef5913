"""The ``qgac-fast`` argument parser: the program's own options and every subcommand's.

Each subcommand module declares its arguments with ``add_parser(subparsers)``, which sets
``run``, a function ``(args) -> exit status``; register a new one in ``_SUBCOMMANDS``. The modules
import torch only inside their run functions, so that building the parser, ``--help`` and usage
errors never load it.
"""

from __future__ import annotations

import argparse
import os

from .._version import __version__
from . import correct, info, train
from . import eval as evaluate

__all__ = ["build_parser", "parse"]

_SUBCOMMANDS = (info.add_parser, evaluate.add_parser, correct.add_parser, train.add_parser)


def build_parser() -> argparse.ArgumentParser:
    """The ``qgac-fast`` argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="qgac-fast", description="Fast Quantization Guided JPEG Artifact Correction.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", required=True, metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(subparsers)
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    """``argv`` parsed; ``args.run(args)`` runs its subcommand.

    Usage errors and ``--help`` exit through ``SystemExit`` as argparse does (status 2 and 0); a
    file given where the command goes is a usage error that names the commands that read files.
    """
    parser = build_parser()
    if argv and os.path.isfile(argv[0]):  # a file where the command goes: say which command reads it
        parser.error(f"{argv[0]!r} is a file, not a command: the command comes first, e.g. "
                     f"'qgac-fast info {argv[0]}' or 'qgac-fast correct {argv[0]}'")
    return parser.parse_args(argv)
