"""Deprecated: the argparse option types moved to :mod:`qgac_fast.cli.argtypes`; this module goes in
the next release."""

from .deprecation import moved_names

__getattr__ = moved_names(__name__, {name: f"qgac_fast.cli.argtypes.{name}" for name in (
    "MAX_THREADS", "add_threads", "jpeg_quality", "limit", "positive_int", "threads")})
