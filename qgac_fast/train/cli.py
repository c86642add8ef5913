"""Deprecated: ``qgac-fast train``'s arguments moved to :mod:`qgac_fast.cli.train`; this module goes
in the next release."""

from ..deprecation import moved_names

__getattr__ = moved_names(__name__, {name: f"qgac_fast.cli.train.{name}" for name in (
    "DEFAULT_TRAINING_SETS", "add_parser", "default_data", "run")})
