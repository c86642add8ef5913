"""``python -m bench.end_to_end``: the end-to-end benchmark (:mod:`bench.end_to_end`)."""

from __future__ import annotations

import sys

import torch

from bench.end_to_end.args import apply_defaults, parse_args, pick_device
from bench.end_to_end.session import Session


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    device = pick_device(args.device)
    if device is None:
        print("error: the end-to-end benchmark needs CUDA (QGAC_BENCH_CPU_SMOKE=1 TRITON_INTERPRET=1 runs a CPU "
              "smoke test)", file=sys.stderr)
        return 2
    apply_defaults(args, smoke=device.type != "cuda")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if device.type == "cpu":
        torch.set_flush_denormal(True)
    return Session(args, device).run()


if __name__ == "__main__":
    sys.exit(main())
