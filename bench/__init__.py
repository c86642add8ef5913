"""The benchmarks of qgac_fast: every throughput measurement is a pytest-benchmark case in a
``bench_*.py`` module here, run by ``make bench`` (:mod:`bench.run`) or one file at a time with
pytest, writing pytest-benchmark's JSON; :mod:`bench.report` turns those files into the Markdown
tables and plots under ``bench/results/``. The one exception, :mod:`bench.end_to_end` (the GPU
session's end-to-end run, which must skip rows to fit a time budget), writes its own JSON and
renders it with the same report tool. Shared inputs and provenance: :mod:`bench.common`.
Studies that made a choice live apart, in ``experiments/``."""
