"""Deprecated: the subcommands and their parser moved to the :mod:`qgac_fast.cli` package; this
module goes in the next release."""

from .deprecation import moved_names

__getattr__ = moved_names(__name__, {"build_parser": "qgac_fast.cli.parser.build_parser",
                                     "freeze_collector": "qgac_fast.cli.freeze_collector",
                                     "main": "qgac_fast.cli.run"})
