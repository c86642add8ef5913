"""Studies that made a choice (a default, a threshold, an architecture), kept with the command that
ran each and its result file in ``bench/results``: ``experiments/README.md`` lists them. Each runs
from the repository root as ``python -m experiments.NAME``."""
