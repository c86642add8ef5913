"""CPU decode of large JPEGs, bytes -> uint8 RGB: ``qgac_fast.decode`` against Pillow, time and peak memory.

Usage (from the repository root, inside .venv)::

    python bench/bench_decode_cpu.py [--sizes 4000x3000 8000x6000] [--repeats 3] [--reference-max-mp 12]

Each size is a 4:2:0, quality 90 JPEG (Pillow) of the bundled astronaut photo scaled up (bicubic).
Every (tool, size) runs in a fresh subprocess, so its peak RSS (``VmHWM``) is its own: the
process imports its tool, reads the file's bytes, then decodes ``--repeats`` times; the table gives
the fastest decode, the peak RSS of the whole process and the peak above what the process held
before its first decode (imports and the file's bytes). Tools: ``qgac_fast.decode`` (auto: libjpeg
on the CPU), ``qgac_fast.decode(backend="reference")`` (the pure-PyTorch decode; only up to
``--reference-max-mp`` megapixels, it needs ~150 bytes per pixel) and Pillow (``Image.open``
and ``numpy.asarray``: decode and one copy to an array, as a caller gets pixels). Prints a
Markdown table.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time

def high_water_mib():  # VmHWM: this process's peak RSS (ru_maxrss would carry the parent's over exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

tool, path, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
if tool.startswith("qgac_fast"):
    import qgac_fast
    from qgac_fast.codec import read_coefficients
    backend = "reference" if "reference" in tool else "auto"
    decode = lambda data: qgac_fast.decode(read_coefficients(data), backend=backend)
else:
    import io
    import numpy as np
    from PIL import Image
    decode = lambda data: np.asarray(Image.open(io.BytesIO(data)))
data = open(path, "rb").read()
before = high_water_mib()
times = []
for _ in range(repeats):
    start = time.perf_counter()
    pixels = decode(data)
    times.append(time.perf_counter() - start)
    del pixels
print(json.dumps({"seconds": min(times), "peak_mib": high_water_mib(), "before_mib": before}))
"""

TOOLS = ("qgac_fast.decode", "qgac_fast.decode(reference)", "pillow")


def make_jpeg(width: int, height: int, folder: Path) -> Path:
    from importlib import resources

    from PIL import Image

    photo = Image.open(resources.files("qgac_fast") / "samples" / "astronaut.png").convert("RGB")
    buffer = io.BytesIO()
    photo.resize((width, height), Image.BICUBIC).save(buffer, format="JPEG", quality=90, subsampling="4:2:0")
    path = folder / f"astronaut-{width}x{height}.jpg"
    path.write_bytes(buffer.getvalue())
    return path


def measure(tool: str, path: Path, repeats: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, tool, str(path), str(repeats)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["4000x3000", "8000x6000"], help="WIDTHxHEIGHT")
    parser.add_argument("--repeats", type=int, default=3, help="decodes per process; the fastest is reported")
    parser.add_argument("--reference-max-mp", type=float, default=12.0,
                        help="largest image (megapixels) the reference decode runs on")
    args = parser.parse_args(argv)
    rows = ["| image | tool | decode s | peak RSS MiB | peak above start MiB | time / Pillow | memory / Pillow |",
            "|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes:
            width, height = (int(v) for v in size.split("x"))
            path = make_jpeg(width, height, Path(folder))
            results = {}
            for tool in TOOLS:
                if "reference" in tool and width * height / 1e6 > args.reference_max_mp:
                    continue
                results[tool] = measure(tool, path, args.repeats)
            pillow = results["pillow"]
            for tool, r in results.items():
                rows.append(f"| {size} ({path.stat().st_size / 1e6:.1f} MB) | {tool} | {r['seconds']:.3f} | "
                            f"{r['peak_mib']:.0f} | {r['peak_mib'] - r['before_mib']:.0f} | "
                            f"{r['seconds'] / pillow['seconds']:.2f} | {r['peak_mib'] / pillow['peak_mib']:.2f} |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
