"""Deprecated: ``qgac-fast correct`` moved to :mod:`qgac_fast.cli.correct`, its inputs and outputs
to :mod:`qgac_fast.jpeg_files` and ``tally`` to :mod:`qgac_fast.cli.report`; this module goes in the
next release."""

from .deprecation import moved_names

__getattr__ = moved_names(__name__, {
    "add_parser": "qgac_fast.cli.correct.add_parser", "main": "qgac_fast.cli.correct.main",
    "run": "qgac_fast.cli.correct.run", "collect_inputs": "qgac_fast.jpeg_files.collect_inputs",
    "plan_outputs": "qgac_fast.cli.correct.plan_outputs", "shard": "qgac_fast.cli.correct.shard",
    "tally": "qgac_fast.cli.report.tally"})
