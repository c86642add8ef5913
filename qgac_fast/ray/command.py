"""Deprecated: ``qgac-fast correct --ray``'s run moved to :mod:`qgac_fast.cli.correct_ray`; this
module goes in the next release."""

from ..deprecation import moved_names

__getattr__ = moved_names(__name__, {"run": "qgac_fast.cli.correct_ray.run"})
