"""The Ray Data pipeline (``qgac_fast.ray.correct_files``) against a local ``Corrector.correct_files``.

Usage (from the repository root, inside .venv, on a quiet machine)::

    OMP_NUM_THREADS=1 QGAC_BENCH_RAY_IMAGES=48 python -m bench.run ray --name ray-cpu

Parameters (``QGAC_BENCH_RAY_*``): ``IMAGES`` (16), ``SIZE`` (square side in pixels; 256),
``QUALITY`` (30), ``ACTORS`` (1 2), ``THREADS`` (torch threads, locally and per actor; 1),
``PRECISION`` (float32; auto or bf16), ``MODEL`` (default), ``ADDRESS`` (join this Ray cluster
instead of starting a local one), ``REPEATS`` (timed rounds; 3), ``WARMUP`` (rounds run first and
not counted; 1).

Input: ``IMAGES`` distinct square crops of the bundled photos' mosaic (:func:`bench.common.mosaic_jpegs`),
4:2:0, written to a temporary folder. Each case goes from those files to PNG files in a fresh output
folder, end to end:

* ``local``: ``Corrector(model, device="cpu", workers=0).correct_files(pairs)`` in this process,
  torch at ``THREADS`` threads;
* ``ray N actors``: ``qgac_fast.ray.correct_files([folder], out, actors=N, threads=T)`` on a local
  Ray cluster (started here on the loopback interface, CPUs = the largest N times T, unless
  ``ADDRESS`` joins one), timed with the whole corpus and, as ``ray N actors, K images``, with a
  quarter of it (at least N images).

The report (:func:`markdown`) turns the two corpus sizes into a line ``time = fixed + per_image *
images``: ``fixed`` is what a run costs whatever its size (planning, the actor pool's start: each
actor imports torch and loads the model); ``per_image`` the marginal time of one more image; and
the per-image overhead, ``per_image - local / N``, the time each image costs beyond an ideal N-way
split of the local engine's per-image time (Ray's scheduling, moving rows through the object store,
reading and writing in the actor). Timing: wall clock, median of ``REPEATS`` rounds after
``WARMUP``; each case's rounds run back to back.
"""

from __future__ import annotations

import shutil

import pytest

from bench.common import mosaic_jpegs, setting
from bench.report import provenance

IMAGES = int(setting("RAY_IMAGES", "16"))
SIZE = int(setting("RAY_SIZE", "256"))
QUALITY = int(setting("RAY_QUALITY", "30"))
ACTORS = [int(v) for v in setting("RAY_ACTORS", "1 2").split()]
THREADS = int(setting("RAY_THREADS", "1"))
PRECISION = setting("RAY_PRECISION", "float32")
MODEL = setting("RAY_MODEL", "default")
ADDRESS = setting("RAY_ADDRESS", "") or None  # None: a local cluster
REPEATS = int(setting("RAY_REPEATS", "3"))
WARMUP = int(setting("RAY_WARMUP", "1"))


def _small(actors: int) -> int:
    """Images of the smaller corpus of ``actors``: a quarter, at least one per actor."""
    return min(IMAGES, max(actors, IMAGES // 4))


def _label(actors: int) -> str:
    return f"ray {actors} actor{'s' if actors > 1 else ''}"


#: (case, actors, images): the local engine, then each pool on the whole corpus and on its smaller one.
CASES = [("local", 0, IMAGES)] + [case for actors in ACTORS for case in (
    (_label(actors), actors, IMAGES), (f"{_label(actors)}, {_small(actors)} images", actors, _small(actors)))]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """(input file paths, a function returning a fresh, empty output folder); a local Ray cluster
    for the module unless ``ADDRESS`` names one or this process already has one."""
    pytest.importorskip("ray")
    import torch

    import qgac_fast.ray

    torch.set_num_threads(THREADS)
    started = qgac_fast.ray.connect(ADDRESS, num_cpus=None if ADDRESS else max(ACTORS) * THREADS)
    work = tmp_path_factory.mktemp("ray")
    (work / "in").mkdir()
    for i, data in enumerate(mosaic_jpegs(SIZE, IMAGES, QUALITY)):
        (work / "in" / f"{i:04d}.jpg").write_bytes(data)

    def output():
        shutil.rmtree(work / "out", ignore_errors=True)
        return work / "out"

    yield sorted((work / "in").iterdir()), output
    if started:
        import ray

        ray.shutdown()


@pytest.mark.parametrize("case, actors, images", CASES, ids=[case for case, _, _ in CASES])
def bench_ray(benchmark, corpus, case, actors, images):
    import ray

    import qgac_fast
    import qgac_fast.ray

    names, output = corpus
    if actors == 0:
        corrector = qgac_fast.Corrector(MODEL, device="cpu", precision=PRECISION, workers=0)

        def run(out):
            results = list(corrector.correct_files([(str(p), str(out / f"{p.stem}.png")) for p in names]))
            assert [r.status for r in results] == ["ok"] * len(names), results
    else:
        def run(out):
            results = qgac_fast.ray.correct_files([str(p) for p in names[:images]], str(out), MODEL, actors=actors,
                                                  threads=THREADS, precision=PRECISION)
            assert [r.status for r in results] == ["ok"] * images, results

    # a fresh output folder before each round, outside the timed call
    benchmark.pedantic(run, setup=lambda: ((output(),), {}), rounds=REPEATS, warmup_rounds=WARMUP)
    benchmark.extra_info.update(case=case, actors=actors, images=images, size=SIZE, quality=QUALITY,
                                threads=THREADS, precision=PRECISION, repeats=REPEATS, warmup=WARMUP,
                                ray=ray.__version__)


def rows(benchmarks: list[dict]) -> list[dict]:
    """One row for the local engine and one per pool: images per second of the whole corpus, and
    for a pool the line through its two corpus sizes (``fixed_s``, ``per_image_s``) and the
    per-image overhead over an ideal split of the local time."""
    median = {b["extra_info"]["case"]: (b["stats"]["median"], b["extra_info"]) for b in benchmarks}
    local_seconds, local = median["local"]
    local_per_image = local_seconds / local["images"]
    out = [{"case": "local", "images": local["images"], "seconds": local_seconds,
            "images_per_second": local["images"] / local_seconds, "per_image_s": local_per_image}]
    for name, (seconds, info) in median.items():
        small = next((v for k, v in median.items() if k.startswith(name + ",")), None)
        if name == "local" or "," in name or small is None:
            continue
        small_seconds, small_images = small[0], small[1]["images"]
        per_image = ((seconds - small_seconds) / (info["images"] - small_images) if info["images"] > small_images
                     else float("nan"))
        out.append({"case": name, "actors": info["actors"], "images": info["images"], "seconds": seconds,
                    "images_per_second": info["images"] / seconds, "per_image_s": per_image,
                    "fixed_s": seconds - per_image * info["images"],
                    "overhead_per_image_s": per_image - local_per_image / info["actors"]})
    return out


def markdown(benchmarks: list[dict], run: dict) -> str:
    """The report's table of this module's cases (:mod:`bench.report`); it needs the local case."""
    first = benchmarks[0]["extra_info"]
    lines = [f"# Ray Data pipeline vs a local Corrector ({run['machine']})", "", provenance(run), "",
             f"{first['images']} JPEGs of {first['size']}x{first['size']} (q{first['quality']}, 4:2:0) to PNG, "
             f"{first['precision']}, {first['threads']} thread(s) locally and per actor; Ray {first['ray']}; median "
             f"of {first['repeats']} rounds after {first['warmup']} warm-up. Method: `bench/bench_ray.py`.", "",
             "| case | images | seconds | images/s | per image (s) | fixed (s) | overhead per image (s) |",
             "|---|---|---|---|---|---|---|"]
    for row in rows(benchmarks):
        fixed = f"{row['fixed_s']:.2f}" if "fixed_s" in row else "-"
        overhead = f"{row['overhead_per_image_s']:.4f}" if "overhead_per_image_s" in row else "-"
        lines.append(f"| {row['case']} | {row['images']} | {row['seconds']:.2f} | {row['images_per_second']:.2f} | "
                     f"{row['per_image_s']:.4f} | {fixed} | {overhead} |")
    return "\n".join(lines) + "\n"

