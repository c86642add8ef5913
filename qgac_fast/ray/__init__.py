"""Correct a corpus on a Ray cluster with Ray Data (the optional extra: ``pip install "qgac_fast[ray]"``).

| module | what it holds |
|---|---|
| ``batches`` | :class:`CorrectBatch`: the ``map_batches`` callable, one :class:`~qgac_fast.Corrector` per actor |
| ``pipeline`` | :func:`correct_dataset` (file bytes), :func:`correct_files` (a corpus to an output location) |
| ``storage`` | local paths and pyarrow file systems by URI: listing, reading, atomic writes |

The command line's ``--ray`` run is :mod:`qgac_fast.cli.correct_ray`. Ray itself is imported only when a pipeline runs, so that this package imports without it.
"""

from .batches import CorrectBatch
from .pipeline import Plan, actor_count, connect, correct_dataset, correct_files, plan_files, run_plan

__all__ = ["CorrectBatch", "Plan", "actor_count", "connect", "correct_dataset", "correct_files", "plan_files",
           "run_plan"]
