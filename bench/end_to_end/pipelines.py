"""One pass of each pipeline of the end-to-end benchmark: each ``*_pass`` returns ``(run, cleanup)``,
``run()`` running one pass (synchronised by the caller) and ``cleanup()`` releasing what it holds."""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from bench.end_to_end.models import reference_cfm


def make_step(model, precision: str, compiled: str | bool, backend: str):
    """The :class:`~qgac_fast.inference.CorrectionStep` of a row: what the engine runs."""
    from qgac_fast.inference import CorrectionStep

    return CorrectionStep(model, precision=precision, compile=compiled or None, compile_backend=backend)


def checked(step, compiled: str | bool) -> None:
    """A compiled row whose step fell back to eager is an error, not an eager timing."""
    if compiled and not step.compiled:
        raise RuntimeError(f"torch.compile({compiled}) failed; the step fell back to eager (see the warning)")


def load_planes(data: bytes, pin: bool):
    import qgac_fast
    from qgac_fast.model import planes_from_jpeg

    planes = planes_from_jpeg(qgac_fast.read_coefficients(data))
    return planes.map(lambda t: t.pin_memory()) if pin else planes


def forward_pass(step, compiled, jpegs, batch, device):
    """The model alone (``CorrectionStep.restore``) on batches already on the device."""
    from qgac_fast.model import CoefficientPlanes

    batches = [CoefficientPlanes.cat([load_planes(d, False).to(device) for d in jpegs[first:first + batch]])
               for first in range(0, len(jpegs), batch)]

    def run():
        for planes in batches:
            step.restore(planes)
        checked(step, compiled)

    return run, lambda: None


def stream_pass(step, compiled, jpegs, batch, device, workers, keep):
    """JPEG bytes in -> uint8 (N, 3, H, W) on the device: threaded reading into pinned memory,
    non-blocking copies, then the engine's ``CorrectionStep`` (model, quantization-bin clamp,
    Triton decode on CUDA)."""
    from qgac_fast.model import CoefficientPlanes

    cuda = device.type == "cuda"
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="e2e-read")

    def run():
        first = None
        pending = []
        for planes in pool.map(lambda d: load_planes(d, cuda), jpegs):
            pending.append(planes.to(device, non_blocking=cuda))
            if len(pending) == batch:
                out = step(CoefficientPlanes.cat(pending))
                first = out[:1] if first is None else first
                pending = []
        if pending:
            out = step(CoefficientPlanes.cat(pending))
            first = out[:1] if first is None else first
        checked(step, compiled)
        keep["first"] = first

    return run, lambda: pool.shutdown(wait=True)


def engine_pass(corrector, jpegs, keep):
    def run():
        results = list(corrector.correct_many(jpegs))
        bad = [r for r in results if not r.ok]
        if bad:
            raise RuntimeError(f"{len(bad)} of {len(results)} images failed: {bad[0].reason}")
        keep["first"] = results[0].image.unsqueeze(0)

    return run, lambda: None


def files_pass(corrector, paths, folder, file_format):
    from qgac_fast.inference import FORMATS

    pairs = [(p, os.path.join(folder, f"out{i}{FORMATS[file_format]}")) for i, p in enumerate(paths)]

    def run():
        results = list(corrector.correct_files(pairs, format=file_format))
        bad = [r for r in results if r.status != "ok"]
        if bad:
            raise RuntimeError(f"{len(bad)} of {len(results)} files failed: {bad[0].error}")

    return run, lambda: None


def eager_pass(model, jpegs, keep):
    import qgac_fast

    def run():
        outs = []
        with reference_cfm(model):
            for data in jpegs:
                outs.append(qgac_fast.correct(data, model=model, precision="float32", decode_backend="reference"))
        keep["first"] = outs[0].unsqueeze(0)

    return run, lambda: None


def effective_batch(corrector, size: int, batch: int) -> int | None:
    """The batch the engine will run: ``batch`` capped by its memory budget (``tile="auto"``)."""
    if corrector.tile != "auto":
        return batch
    try:
        return max(1, min(batch, corrector.cost.max_pixels("420") // (size * size)))
    except Exception:  # noqa: BLE001
        return None


def reader_seconds(jpegs: list[bytes], workers: int) -> dict:
    """The reader stage alone on ``workers`` threads: ``read_coefficients_many`` then
    ``planes_from_jpeg``, per image in seconds (``read_s_per_image``, ``planes_s_per_image``,
    ``s_per_image``: medians of 3 passes after a warm-up)."""
    import qgac_fast
    from qgac_fast.model import planes_from_jpeg

    with ThreadPoolExecutor(max_workers=workers) as pool:
        def once():
            t0 = time.perf_counter()
            jcs = qgac_fast.read_coefficients_many(jpegs, workers=workers)
            t1 = time.perf_counter()
            list(pool.map(planes_from_jpeg, jcs))
            return t1 - t0, time.perf_counter() - t1

        once()
        times = [once() for _ in range(3)]
    return {"read_s_per_image": statistics.median(t[0] for t in times) / len(jpegs),
            "planes_s_per_image": statistics.median(t[1] for t in times) / len(jpegs),
            "s_per_image": statistics.median(t[0] + t[1] for t in times) / len(jpegs)}
