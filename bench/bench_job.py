"""The whole job on the CPU: ``qgac-fast correct`` over a folder of camera-sized JPEGs (PNG and JPEG
output) and ``qgac-fast eval``, next to the model's own speed on the same images in the same run.

Usage (from the repository root, inside .venv, on an otherwise quiet machine)::

    OMP_WAIT_POLICY=PASSIVE python -m bench.run job --name job-cpu

Every case runs in a child process of its own, measured by ``os.wait4``
(:func:`bench.common.run_measured`): wall time, user and system CPU seconds, minor page faults and
peak RSS; each child also times its own forward (:data:`TIMED_FORWARD`), so that every row has a
ratio to a forward measured in the same process at the same moment, which the machine's drift
between cases does not move. The ``correct`` and ``eval`` children run the command line's own entry
(``qgac_fast.cli.main``) after that prelude. The cases:

- ``correct-*``: ``qgac-fast correct DIR -o OUT --threads T --format ...``: PNG at the default and
  at zlib's usual level 6, PNG with transparent huge pages (:data:`HUGE_PAGES`), PNG on the C
  library's malloc (:data:`SYSTEM_MALLOC`) instead of the one the command line preloads, JPEG;
- ``model``: one process loads the model once, reads every file once, then corrects the images
  twice through the engine without writing anything (``Corrector.correct_many``: the forward,
  clamp, decode and tiling the command runs), timing the second pass; inside it, the seconds spent
  in ``CorrectionStep.restore`` (the forward alone) give the forward's MP/s; with the command
  line's native settings and malloc, and again with huge pages and on the C library's malloc;
- ``eval``: ``qgac-fast eval`` on PNG originals of the same sizes at ``QGAC_BENCH_JOB_QUALITIES``, and
  on the C library's malloc;
- ``model-last``: the ``model`` case once more, after all the others (``bench_model_last``): the
  machine's speed drifts, and the mean of the two runs is the reference of the ratios.

The folder (``QGAC_BENCH_JOB_IMAGES``: ``MEGAPIXELS:SUBSAMPLING`` items, default 1 to 24 MP in
4:2:0 and 4:4:4) holds 4:3 crops of the bundled photos' mosaic saved by Pillow at quality 85.
Threads: ``QGAC_BENCH_JOB_THREADS`` (default 2). The report (:func:`markdown`): MP/s end to end
and of the model, their ratio, system over user time, system seconds and page faults per MP, peak
RSS.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from PIL import Image

from bench.common import mosaic, photo_size, run_measured, setting
from bench.report import provenance
from qgac_fast.cli import NATIVE_ENVIRONMENT

THREADS = int(setting("JOB_THREADS", "2"))
IMAGES = setting("JOB_IMAGES", "1:4:2:0,2:4:4:4,4:4:2:0,8:4:4:4,12:4:2:0,24:4:2:0")
QUALITIES = setting("JOB_QUALITIES", "10 30").split()

#: What every case's child runs first: the command line's malloc, and the seconds spent in
#: ``CorrectionStep.restore`` (the forward; nested per-image calls counted once: the engine runs its
#: forwards on one thread; the memory probes' eager calls not counted: they are the engine's cost,
#: like reading, not the images' forward), written to the file ``QGAC_BENCH_FORWARD_FILE`` names when the child exits.
TIMED_FORWARD = r"""
from qgac_fast.allocator import reexec_with_allocator
reexec_with_allocator()  # the malloc the command line runs on (QGAC_FAST_MALLOC)
import atexit, json, os, time
from qgac_fast.inference.step import CorrectionStep

_restore, _spent, _depth = CorrectionStep.restore, [0.0], [0]

def _timed(self, *args, **kwargs):
    _depth[0] += 1
    start = time.perf_counter()
    try:
        return _restore(self, *args, **kwargs)
    finally:
        _depth[0] -= 1
        if not _depth[0] and not kwargs.get("eager"):  # eager: the memory probes, not an image's forward
            _spent[0] += time.perf_counter() - start

CorrectionStep.restore = _timed

@atexit.register
def _report():
    with open(os.environ["QGAC_BENCH_FORWARD_FILE"], "w") as file:
        json.dump({"forward_seconds": _spent[0]}, file)
"""

#: The model case's child: the engine without writing, and the forward's share of it.
MODEL_CHILD = TIMED_FORWARD + r"""
import sys
import torch
from qgac_fast import Corrector
from qgac_fast.jpeg_files import find_jpegs

torch.set_num_threads(int(sys.argv[2]))
files = [open(path, "rb").read() for path in find_jpegs(sys.argv[1])]
corrector = Corrector("default", device="cpu")
for result in corrector.correct_many(files):  # first pass: oneDNN builds each shape's primitives
    assert result.ok, result.reason
_spent[0] = 0.0
start = time.perf_counter()
pixels = sum(r.image.shape[1] * r.image.shape[2] for r in corrector.correct_many(files))
print(json.dumps({"seconds": time.perf_counter() - start, "forward_seconds": _spent[0], "mp": pixels / 1e6}))
"""

#: The ``correct`` and ``eval`` cases' child: the command line itself as the process's own entry
#: (``qgac_fast.cli.main()`` on the child's arguments, ending the process as the installed command
#: does), timing its forward in the same process: the ratio of the forward's seconds to the wall
#: time does not move with the machine's drift between cases.
CLI_CHILD = TIMED_FORWARD + r"""
import sys
from qgac_fast.cli import main

sys.exit(main())
"""


def _images() -> list[tuple[float, str]]:
    items = []
    for item in IMAGES.split(","):
        megapixels, _, subsampling = item.partition(":")
        items.append((float(megapixels), subsampling))
    return items


def write_folders(root: Path, originals: bool = True) -> dict:
    """Write the job's images under ``root``: ``{"jpeg": DIR, "png": DIR, "mp": megapixels, "root":
    root}``, the JPEG folder and (``originals``) the originals as PNG."""
    (root / "jpeg").mkdir()
    (root / "png").mkdir()
    total = 0.0
    for index, (megapixels, subsampling) in enumerate(_images()):
        height, width = photo_size(megapixels)
        image = Image.fromarray(mosaic(height, width))
        name = f"{index:02d}_{megapixels:g}mp_{subsampling.replace(':', '')}"
        image.save(root / "jpeg" / f"{name}.jpg", quality=85, subsampling=subsampling)
        if originals:
            image.save(root / "png" / f"{name}.png", compress_level=1)
        total += width * height / 1e6
    return {"jpeg": root / "jpeg", "png": root / "png", "mp": total, "root": root}


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict:
    """The job's folders (:func:`write_folders`) for this module's cases."""
    return write_folders(tmp_path_factory.mktemp("job"))


def _child(args: list[str], workdir: Path, environment: dict | None = None, native: dict | None = None) -> dict:
    """Run ``args`` in a child (with ``environment`` added); its wall time, CPU seconds, page
    faults, peak RSS and stdout (:func:`bench.common.run_measured`), and the seconds of its forward
    (every child runs :data:`TIMED_FORWARD`). ``native``: the command line's settings for torch's
    libraries the child gets (default this checkout's ``NATIVE_ENVIRONMENT``; another source tree's
    for :mod:`bench.pair_job`)."""
    # a malloc this process was started with is not the case's: each case chooses its own
    inherited = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "QGAC_FAST_MALLOC_PRELOADED")}
    # the children import torch before the command line could set its defaults for torch's
    # libraries: they get them here, so that every case runs with the command line's settings
    native = {name: os.environ.get(name, value) for name, value in (NATIVE_ENVIRONMENT if native is None
                                                                     else native).items()}
    forward = workdir / "forward.json"
    row = run_measured(args, workdir, {"OMP_WAIT_POLICY": "PASSIVE", **inherited, **native, **(environment or {}),
                                       "QGAC_BENCH_FORWARD_FILE": str(forward)})
    return row | json.loads(forward.read_text())


def _record(benchmark, row: dict, megapixels: float) -> None:
    """The case's measurements, with the run's settings, as its extra_info (what :func:`markdown` reads)."""
    row = {k: v for k, v in row.items() if k != "stdout"} | {"mp": megapixels}
    row["mp_per_s"] = megapixels / row.get("seconds", row["wall_s"])
    benchmark.extra_info.update(row, threads=THREADS, images=IMAGES, qualities=" ".join(QUALITIES))


def _cli(*args) -> list[str]:
    return [sys.executable, "-c", CLI_CHILD, *map(str, args)]


#: torch's transparent huge pages for its buffers of 2 MiB and more, measured and not adopted
#: (docs/benchmarks.md: page faults down 30-60x, but resident memory up to 7x the budget in tiles).
HUGE_PAGES = {"THP_MEM_ALLOC_ENABLE": "1"}


@pytest.mark.parametrize("case", ["model", "model-huge-pages", "model-system-malloc"])
def bench_model(benchmark, folders, tmp_path, case):
    environment = (HUGE_PAGES if case.endswith("huge-pages") else
                   SYSTEM_MALLOC if case.endswith("system-malloc") else {})
    row = benchmark.pedantic(_child, args=([sys.executable, "-c", MODEL_CHILD, str(folders["jpeg"]), str(THREADS)],
                                           tmp_path, environment), rounds=1, iterations=1)
    timing = json.loads(row["stdout"])
    row |= {"seconds": timing["seconds"], "forward_mp_per_s": timing["mp"] / timing["forward_seconds"]}
    _record(benchmark, row, timing["mp"])


#: The C library's malloc instead of the one the command line preloads where it finds it
#: (:mod:`qgac_fast.allocator`).
SYSTEM_MALLOC = {"QGAC_FAST_MALLOC": "system"}

#: ``correct`` cases: name -> (extra options, extra environment).
CORRECT_CASES = {
    "png": (["--format", "png"], {}),
    "png-level-6": (["--format", "png", "--png-level", "6"], {}),
    "png-huge-pages": (["--format", "png"], HUGE_PAGES),
    "png-system-malloc": (["--format", "png"], SYSTEM_MALLOC),
    "jpeg": (["--format", "jpeg"], {}),
}


@pytest.mark.parametrize("case", CORRECT_CASES)
def bench_correct(benchmark, folders, tmp_path, case):
    options, environment = CORRECT_CASES[case]
    out = tmp_path / "out"
    args = _cli("correct", folders["jpeg"], "-o", out, "--threads", THREADS, *options, "--quiet",
                "--json", tmp_path / "run.json")
    row = benchmark.pedantic(_child, args=(args, tmp_path, environment), rounds=1, iterations=1)
    summary = json.loads((tmp_path / "run.json").read_text())
    assert summary["summary"]["failed"] == 0, summary["summary"]
    row["output_mb"] = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
    _record(benchmark, row, folders["mp"])


@pytest.mark.parametrize("case", ["eval", "eval-system-malloc"])
def bench_eval(benchmark, folders, tmp_path, case):
    args = _cli("eval", folders["png"], "--quality", *QUALITIES, "--threads", THREADS)
    environment = SYSTEM_MALLOC if case.endswith("system-malloc") else {}
    row = benchmark.pedantic(_child, args=(args, tmp_path, environment), rounds=1, iterations=1)
    _record(benchmark, row, folders["mp"] * len(QUALITIES))


def bench_model_last(benchmark, folders, tmp_path):
    """The ``model`` case again, after every other case: the report's ratios use the mean of its two
    runs, so that the machine's drift during the run (20% within an hour on this project's
    2-core machines) cancels to first order instead of skewing every ratio one way."""
    bench_model(benchmark, folders, tmp_path, "model")


def _case(bench: dict) -> str:
    """A case's row name: ``model``, ``model-last``, ``correct-png``, ``eval``..."""
    function = bench["name"].split("[")[0]
    if function == "bench_model_last":
        return "model-last"
    return {"bench_model": bench["param"], "bench_correct": f"correct-{bench['param']}",
            "bench_eval": bench["param"]}[function]


def markdown(benchmarks: list[dict], run: dict) -> str:
    """The report's table of this module's cases (:mod:`bench.report`): each case against the model
    row with the same suffix (huge pages, the system's malloc), if any; the rows without one against
    the mean of ``model`` and ``model-last`` where both ran."""
    rows = {_case(bench): bench["extra_info"] for bench in benchmarks}
    if "model" not in rows:
        return "# The whole job on the CPU\n\nThe model case did not run: no ratios to report.\n"
    model = rows["model"]
    bracket = ""
    if "model-last" in rows:  # the unsuffixed rows' reference: the mean of the first and the last run
        first, last = model, rows["model-last"]
        model = first | {key: (first[key] + last[key]) / 2 for key in ("mp_per_s", "forward_mp_per_s")}
        bracket = (f" The model case ran first and last (forward {first['forward_mp_per_s']:.3f} and "
                   f"{last['forward_mp_per_s']:.3f} MP/s); this line and the ratios of the rows without a suffix "
                   "use the mean of the two.")
    reference = {"": model}
    lines = [f"# The whole job on the CPU ({model.get('threads', 'not recorded')} threads)", "", provenance(run), "",
             f"Images `{model.get('images', 'not recorded')}` (megapixels:subsampling), eval qualities "
             f"{model.get('qualities', 'not recorded')}.", "",
             f"The model through the engine without writing: {model['mp_per_s']:.3f} MP/s; its forward alone "
             f"(`CorrectionStep.restore`): {model['forward_mp_per_s']:.3f} MP/s.{bracket}", "",
             "The ratios of the rows with a suffix (huge pages, the system's malloc) are to the model row with the "
             "same suffix.", "",
             "The column `/ own forward` is free of that drift: the seconds the case's own process spent in the "
             "forward over the seconds its MP/s counts (its wall time; the model rows' timed pass), that is its "
             "MP/s over the MP/s of its own forward, measured at the same moment. The forward in a `correct` or "
             "`eval` process includes what a first pass pays (the heap's growth, oneDNN building its kernels for "
             "each shape) and, for `eval`, its untimed warm-up correction; not the memory probes' small forwards "
             "(counted in the forward before `bench_job` left them out on 2026-12-07).", "",
             "| case | MP | wall s | MP/s | / engine MP/s | / forward MP/s | / own forward | user s | sys s | "
             "sys / user | sys s per MP | minor faults per MP | peak RSS MB | output MB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for case, row in rows.items():
        suffix = next((s for s in ("-no-huge-pages", "-huge-pages", "-system-malloc") if case.endswith(s)), "")
        model = reference.get(suffix) or rows.get(f"model{suffix}", reference[""])
        lines.append(
            f"| {case} | {row['mp']:.1f} | {row['wall_s']:.1f} | {row['mp_per_s']:.3f} | "
            f"{row['mp_per_s'] / model['mp_per_s']:.2f} | {row['mp_per_s'] / model['forward_mp_per_s']:.2f} | "
            f"{row.get('forward_seconds', float('nan')) / row.get('seconds', row['wall_s']):.2f} | {row['user_s']:.1f} | {row['sys_s']:.1f} | {row['sys_s'] / max(row['user_s'], 1e-9):.3f} | "
            f"{row['sys_s'] / row['mp']:.3f} | {row['minor_faults'] / row['mp']:,.0f} | {row['peak_rss_mb']:.0f} | "
            f"{row.get('output_mb', float('nan')):.1f} |")
    lines += ["", "The model row's MP/s counts only its timed second pass; its CPU and memory columns cover the whole "
              "child (model load, both passes). The eval row's MP counts each image once per quality."]
    return "\n".join(lines) + "\n"
