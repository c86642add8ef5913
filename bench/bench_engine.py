"""Inference engine throughput: ``Corrector.correct_many`` vs a plain loop over ``qgac_fast.correct``.

Usage (from the repository root, inside .venv)::

    OMP_NUM_THREADS=1 python bench/bench_engine.py [--device cpu] [--threads 1] [--images 8] [--sizes 512 1024]
        [--batch-sizes 1 4] [--compile default] [--model default] [--name engine-cpu-1thread]

Input, for each of ``--sizes``: distinct square crops of that side of the bundled photos' mosaic
(``bench/conftest.py``), JPEG quality 30, 4:2:0 (Pillow/libjpeg), held as bytes: ``--images``
of them at the first size and as many megapixels (at least 2 images) at the others. Cases, each
from the bytes to uint8 pixels on the host, for each size:

* ``loop``: ``for data in jpegs: qgac_fast.correct(data, model=model, precision=P)`` (``--precision``,
  resolved for the device: ``auto`` is bf16 on CPUs with native bf16);
* ``engine b=B``: ``list(Corrector(model, batch_size=B, workers=W).correct_many(jpegs))`` (reading,
  batching, in-order delivery); ``W`` is ``--workers``, by default the engine's own: on the CPU
  0, the whole pipeline in the calling thread, and the model runs image by image there, see
  ``docs/engine.md``;
* ``engine b=B + png``: ``correct_files`` writing PNGs to a temporary folder;
* ``forward b=B``: the model's ``restore`` alone (in the same precision) on a true batch of B images
  (no reading, constraint or decode): what batching does to the network itself on this device;
* with ``--compile MODE``: ``engine b=B +compile`` and ``forward b=B +compile``, the same with
  ``Corrector(compile=MODE)`` / the networks through :func:`qgac_fast.inference.compile_networks`.
  Compilation happens in the warm-up round, whose time is recorded apart (``warmup_s``).

``--model default`` loads the shipped weights when they exist, else the ``default``
configuration with seeded non-trivial weights (the time does not depend on the values).
Timing: wall clock (CUDA synchronised); the cases run round robin (so a drift in the machine's
load hits all of them alike), a warm-up round first, then the median and min/max of
``--repeats`` rounds; MP/s = megapixels of a pass / median. Writes ``<name>.json`` (every timing,
machine, versions, commit, command), ``.md`` and ``.png`` (MP/s per case against batch size, a
panel per image size, ``bench/plot_results.py``) in ``--out-dir`` (``bench/results``), and prints
the table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from conftest import git_commit, mosaic_jpegs  # noqa: E402  (bench/conftest.py)
from plot_results import plot_engine  # noqa: E402  (bench/plot_results.py)

RESULTS = Path(__file__).parent / "results"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU)")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--sizes", nargs="+", type=int, default=[512], help="square image sides, pixels")
    parser.add_argument("--quality", type=int, default=30)
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 4])
    parser.add_argument("--workers", type=int, default=None,
                        help="engine reader/writer threads (default: the engine's; on the CPU 0: the pipeline "
                             "in the calling thread, one writer thread)")
    parser.add_argument("--precision", default="auto", choices=("auto", "float32", "bf16"),
                        help="the model's precision in every case (default: auto, bf16 on CPUs with native bf16)")
    parser.add_argument("--compile", metavar="MODE", help="add torch.compile cases with this mode (e.g. default)")
    parser.add_argument("--model", default="default", help="'default' or a .safetensors path")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--name", default=None, help="basename under bench/results/ (default: engine-<device>)")
    parser.add_argument("--out-dir", default=str(RESULTS), help="folder of the JSON, Markdown and PNG")
    parser.add_argument("--no-save", action="store_true", help="print only")
    return parser.parse_args(argv)


def _model(name: str, device):
    import dataclasses

    import torch

    from qgac_fast.model import CONFIGS, QGAC, load_model
    from qgac_fast.model.weights import weights_path

    if name != "default" or weights_path("default").is_file():
        return load_model(name, device=device), f"weights {name}"
    torch.manual_seed(0)
    model = QGAC(dataclasses.replace(CONFIGS["default"], output_init_scale=1.0)).eval().to(device)
    return model, "default config, seeded weights (no shipped weights yet)"


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    import torch

    import qgac_fast
    from qgac_fast.cpu import flush_denormals
    from qgac_fast.inference import Corrector, compile_networks, resolve_precision
    from qgac_fast.model import CoefficientPlanes, planes_from_jpeg

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA device", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    model, model_note = _model(args.model, device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def run_once(fn) -> float:
        start = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - start

    folder = tempfile.mkdtemp(prefix="bench-engine-")
    # one compiled callable and one compiled engine per batch size serve every image size, as in use
    networks = compile_networks(model, args.compile) if args.compile else None
    precision = resolve_precision(args.precision, device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    correctors = {b: Corrector(model, batch_size=b, workers=args.workers, tile=None, precision=precision)
                  for b in args.batch_sizes}
    compiled = {b: Corrector(model, batch_size=b, workers=args.workers, tile=None, precision=precision,
                             compile=args.compile) for b in args.batch_sizes} if args.compile else {}
    workers = correctors[args.batch_sizes[0]].workers
    cases = {}  # (size, case name) -> (images, callable)
    for size in args.sizes:
        images = args.images if size == args.sizes[0] else max(2, round(args.images * (args.sizes[0] / size) ** 2))
        jpegs = mosaic_jpegs(size, images, args.quality)
        cases[size, "loop"] = images, lambda j=jpegs: [qgac_fast.correct(data, model=model, precision=precision)
                                                       for data in j]
        for b in args.batch_sizes:
            cases[size, f"engine b={b}"] = images, lambda c=correctors[b], j=jpegs: list(c.correct_many(j))
            pairs = [(data, os.path.join(folder, f"{i}.png")) for i, data in enumerate(jpegs)]
            cases[size, f"engine b={b} + png"] = images, lambda c=correctors[b], p=pairs: list(c.correct_files(p))
            if b in compiled:
                cases[size, f"engine b={b} +compile"] = images, lambda c=compiled[b], j=jpegs: list(c.correct_many(j))
        planes = [planes_from_jpeg(qgac_fast.read_coefficients(data)).to(device) for data in jpegs]
        for b in args.batch_sizes:
            batches = [CoefficientPlanes.cat(planes[first:first + b]) for first in range(0, len(planes), b)]

            def forward(batches=batches, networks=None):
                with torch.inference_mode(), autocast, flush_denormals():
                    for batch in batches:
                        model.restore(batch, networks=networks)

            cases[size, f"forward b={b}"] = images, forward
            if networks is not None:
                cases[size, f"forward b={b} +compile"] = images, lambda batches=batches: forward(batches, networks)

    # round robin over the cases, so a drift in the machine's load affects them alike
    times = {key: [] for key in cases}
    warmup = {}
    for repeat in range(args.repeats + 1):
        for key, (_, fn) in cases.items():
            elapsed = run_once(fn)
            if repeat:
                times[key].append(elapsed)
            else:  # the warm-up round (torch.compile compiles in it)
                warmup[key] = elapsed
    rows = []
    for (size, name), runs in times.items():
        images = cases[size, name][0]
        megapixels = images * size * size / 1e6
        median, low, high = statistics.median(runs), min(runs), max(runs)
        rows.append({"case": name, "size": size, "images": images, "median_s": median, "min_s": low, "max_s": high,
                     "runs_s": runs, "warmup_s": warmup[size, name], "megapixels": megapixels,
                     "mp_per_s": megapixels / median, "images_per_s": images / median})
        print(f"{size:5d}px {name:22s} {median:8.3f} s  {megapixels / median:7.3f} MP/s  ({low:.3f}..{high:.3f})",
              flush=True)
    shutil.rmtree(folder, ignore_errors=True)

    if device.type == "cuda":
        hardware = torch.cuda.get_device_name(device)
    else:
        hardware = f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs"
    meta = {
        "hardware": hardware, "device": str(device), "threads": args.threads, "torch": torch.__version__,
        "python": platform.python_version(), "commit": git_commit(), "model": model_note,
        "sizes": args.sizes, "quality": args.quality, "workers": workers, "precision": precision,
        "compile": args.compile,
        "datetime": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "command": shlex.join(["python", "bench/bench_engine.py", *(sys.argv[1:] if argv is None else argv)]),
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS",) if k in os.environ},
    }
    table = markdown(meta, rows)
    print(table)
    if not args.no_save:
        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        name = args.name or f"engine-{device.type}"
        (out / f"{name}.json").write_text(json.dumps({"meta": meta, "results": rows}, indent=1) + "\n")
        (out / f"{name}.md").write_text(table)
        written = ".json, .md"
        try:
            plot_engine({"meta": meta, "results": rows}, out / f"{name}.png")
            written += " and .png"
        except ImportError:
            print("matplotlib is not installed (requirements.txt pins it): no plot")
        print(f"wrote {out / name}{written}")
    return 0


def markdown(meta: dict, rows: list[dict]) -> str:
    loops = {r["size"]: r for r in rows if r["case"] == "loop"}
    lines = [
        "# Inference engine throughput", "",
        f"Command: `{meta['command']}` (env {meta['env']})", "",
        f"{meta['hardware']}; device {meta['device']}, {meta['threads']} torch thread(s), "
        f"precision {meta.get('precision', 'float32')}; torch {meta['torch']}, "
        f"Python {meta['python']}; commit {meta['commit']}; {meta['datetime']}.", "",
        f"Model: {meta['model']}. Input: JPEGs q{meta['quality']} 4:2:0 as bytes (count per size in the "
        f"table); engine workers {meta['workers']}"
        f"{' (the pipeline in the calling thread, one writer thread)' if meta['workers'] == 0 else ''}. "
        "Median of the rounds after a warm-up round "
        "(cases run round robin; torch.compile compiles in the warm-up, whose time is the last column); "
        f"x loop = MP/s over the plain loop's at the same size.{' torch.compile mode: ' + meta['compile'] + '.' if meta.get('compile') else ''}",
        "",
        "| size | images | case | median s | MP/s | images/s | x loop | min..max s | warm-up s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['size']} | {r['images']} | {r['case']} | {r['median_s']:.3f} | {r['mp_per_s']:.3f} | "
                     f"{r['images_per_s']:.2f} | {r['mp_per_s'] / loops[r['size']]['mp_per_s']:.2f} | "
                     f"{r['min_s']:.3f}..{r['max_s']:.3f} | {r['warmup_s']:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
