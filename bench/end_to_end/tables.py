"""The end-to-end benchmark's tables, drawn by the report tool (:mod:`bench.report`) from its JSON."""

from __future__ import annotations

from bench.plots import variant


def _fmt(value, spec: str) -> str:
    return "" if value is None else format(value, spec)


def markdown(report: dict) -> str:
    """The Markdown of a run's JSON document: models, every row, the reader stage and whether it keeps up."""
    meta, peak = report["meta"], report["peak"]
    lines = [
        "# End-to-end correction throughput", "",
        f"Command: `{meta['command']}` (env {meta['env']})", "",
        f"{meta['hardware']}; torch {meta['torch']}, triton {meta['triton']}, Python {meta['python']}; "
        f"commit {meta['commit']}; {meta['datetime']}; {meta.get('elapsed_s', 0):.0f} s"
        f"{'' if report.get('complete') else ' (incomplete: rows skipped or interrupted)'}.", "",
        f"Peak ({peak.get('timer')}): {peak.get('matmul_n')}^3 matmul bf16 "
        f"{_fmt(peak.get('bf16_tflops'), '.1f')} TFLOP/s, float32 {_fmt(peak.get('float32_tflops'), '.1f')} "
        f"TFLOP/s (TF32: {meta['tf32']}).", "",
        "| model | parameters | GFLOP/MP | weights |", "|---|---|---|---|",
    ]
    for name, info in report["models"].items():
        lines.append(f"| {name} | {info.get('params', 0) / 1e6:.1f}M | {_fmt((info.get('flops_per_mp') or 0) / 1e9, '.1f')} "
                     f"| {info.get('weights', info.get('reason', ''))} |")
    lines += ["", "MP/s = pass megapixels / median pass time; TFLOP/s = MP/s x GFLOP/MP; % peak = of the bf16 "
              "matmul peak; x eager = MP/s over the eager loop's (same model and size); vs eager = max / mean "
              "|difference| of the first image from the eager loop's.", "",
              "| model | pipeline | size | batch | precision | images | status | MP/s | img/s | TFLOP/s | % peak "
              "| x eager | vs eager | GB | warm-up s |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        name = variant(r)
        batch = str(r["batch"]) + (f" (runs {r['effective_batch']})" if r.get("effective_batch") not in
                                   (None, r["batch"]) else "")
        status = r["status"] if r["status"] == "ok" else f"{r['status']}: {r.get('reason', '')}"[:120]
        vs = r.get("vs_eager")
        lines.append(
            f"| {r['config']} | {name} | {r['size']} | {batch} | {r['precision']} | {r['images']} | {status} | "
            f"{_fmt(r.get('mp_per_s'), '.2f')} | {_fmt(r.get('images_per_s'), '.2f')} | {_fmt(r.get('tflops'), '.2f')} | "
            f"{_fmt(None if r.get('fraction_of_peak') is None else 100 * r['fraction_of_peak'], '.1f')} | "
            f"{_fmt(r.get('x_eager'), '.2f')} | {'' if vs is None else '%d / %.3f' % (vs['max'], vs['mean'])} | "
            f"{_fmt(r.get('peak_mem_gb'), '.1f')} | {_fmt(r.get('warmup_s'), '.2f')} |")
    lines += ["", "Reader stage alone (read_coefficients_many + planes_from_jpeg), per image:", "",
              "| size | workers | ms/image | read ms | planes ms | images/s | MP/s |", "|---|---|---|---|---|---|---|"]
    for x in report["reader"]:
        if "s_per_image" in x:
            lines.append(f"| {x['size']} | {x['workers']} | {x['s_per_image'] * 1e3:.2f} | {x['read_s_per_image'] * 1e3:.2f} "
                         f"| {x['planes_s_per_image'] * 1e3:.2f} | {x['images_per_s']:.1f} | {x['mp_per_s']:.1f} |")
        else:
            lines.append(f"| {x['size']} | {x['workers']} | {x['status']}: {x['reason']} | | | | |")
    lines += ["", "Do the reader threads keep up? (model ms/image from each forward/stream row vs the reader's "
              "with all workers; headroom = model time / reader time, > 1 keeps up)", "",
              "| model | pipeline | size | batch | precision | model ms/image | reader ms/image | keeps up | headroom |",
              "|---|---|---|---|---|---|---|---|---|"]
    for k in report["keep_up"]:
        name = variant(k)
        lines.append(f"| {k['config']} | {name} | {k['size']} | {k['batch']} | {k['precision']} | "
                     f"{k['model_s_per_image'] * 1e3:.2f} | {k['reader_s_per_image'] * 1e3:.2f} | "
                     f"{'yes' if k['keeps_up'] else 'no'} | {k['headroom']:.2f} |")
    return "\n".join(lines) + "\n"
