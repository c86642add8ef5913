"""The end-to-end benchmark's JSON document: what the run has measured so far, rewritten after
every row so that a killed run keeps it."""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

from bench.common import git_commit


class Results:
    """The document of a run (``meta``, ``peak``, ``models``, ``reader``, ``rows``) and its file,
    ``--out-dir``/``--name``.json (default name: ``e2e-<gpu>``, ``e2e-cpu-smoke`` on the CPU)."""

    def __init__(self, args, device: torch.device):
        self.meta = metadata(args, device)
        self.peak: dict = {}
        self.models: dict[str, dict] = {}
        self.reader: list[dict] = []
        self.rows: list[dict] = []
        self.started = time.monotonic()
        name = args.name or (f"e2e-{_slug(self.meta['hardware'])}" if device.type == "cuda" else "e2e-cpu-smoke")
        self.path = Path(args.out_dir) / f"{name}.json"

    def save(self, complete: bool = False) -> Path:
        """Write the document (``complete``: no row skipped for time or by a signal, no failure);
        replaces the file atomically and returns its path."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.meta["elapsed_s"] = time.monotonic() - self.started
        report = {"meta": self.meta, "peak": self.peak, "models": self.models, "reader": self.reader,
                  "results": self.rows, "keep_up": keep_up(self.rows, self.reader), "complete": complete}
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(report, indent=1, default=str) + "\n")
        os.replace(tmp, self.path)
        return self.path

    def log(self, text: str) -> None:
        """Print ``text`` with the seconds since the run began."""
        print(f"[{time.monotonic() - self.started:7.1f}s] {text}", flush=True)


def keep_up(rows: list[dict], reader: list[dict]) -> list[dict]:
    """Reader time per image (all workers) vs model time per image for each forward/stream row."""
    out = []
    for r in rows:
        if r["status"] != "ok" or r["pipeline"] not in ("forward", "stream"):
            continue
        candidates = [x for x in reader if x["size"] == r["size"] and "s_per_image" in x]
        if not candidates:
            continue
        best = max(candidates, key=lambda x: x["workers"])
        model_s = r["median_s"] / r["images"]
        out.append({"config": r["config"], "pipeline": r["pipeline"], "compiled": r["compiled"], "size": r["size"],
                    "batch": r["batch"], "precision": r["precision"], "model_s_per_image": model_s,
                    "reader_s_per_image": best["s_per_image"], "reader_workers": best["workers"],
                    "keeps_up": best["s_per_image"] <= model_s, "headroom": model_s / best["s_per_image"]})
    return out


def _slug(text: str) -> str:
    """A file-name-safe short form of a GPU's name (``NVIDIA H100 80GB HBM3`` -> ``h100-80gb-hbm3``)."""
    keep = "".join(c.lower() if c.isalnum() else "-" for c in text.replace("NVIDIA", ""))
    return "-".join(part for part in keep.split("-") if part)[:40] or "gpu"


def _version(distribution: str) -> str:
    from importlib import metadata as md

    try:
        return md.version(distribution)
    except md.PackageNotFoundError:
        return "not installed"


def metadata(args, device: torch.device) -> dict:
    """The run's ``meta``: hardware, versions, commit, TF32 settings, arguments, command."""
    import qgac_fast

    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        hardware = torch.cuda.get_device_name(device)
        gpu = {"name": hardware, "memory_gb": props.total_memory / 2 ** 30, "sms": props.multi_processor_count,
               "capability": f"{props.major}.{props.minor}", "cuda": torch.version.cuda,
               "cudnn": torch.backends.cudnn.version()}
    else:
        hardware = f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs (smoke run)"
        gpu = None
    return {
        "hardware": hardware, "device": str(device), "gpu": gpu, "smoke": device.type != "cuda",
        "torch": torch.__version__, "triton": _version("triton"), "numpy": _version("numpy"),
        "pillow": _version("pillow"), "qgac_fast": qgac_fast.__version__, "python": platform.python_version(),
        "commit": git_commit(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "tf32": {"cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
                 "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
                 "float32_matmul_precision": torch.get_float32_matmul_precision()},
        "cudnn.benchmark": torch.backends.cudnn.benchmark,
        "triton_interpret": os.environ.get("TRITON_INTERPRET"),
        "args": vars(args),
        "datetime": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "command": shlex.join(["python", "-m", "bench.end_to_end", *sys.argv[1:]]),
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "QGAC_BENCH_CPU_SMOKE", "CUDA_VISIBLE_DEVICES")
                if k in os.environ},
    }
