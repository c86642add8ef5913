"""The main job on a bundled sample (``make demo``).

Compresses the bundled photo with libjpeg, reads the JPEG's quantized DCT coefficients through the
extension, decodes them with the pure-PyTorch reference path and writes the result as PNG, then
prints how far that decode is from libjpeg's own (Pillow) decode and how far the JPEG is from the
original. Until trained weights ship, this is the codec path the model stands on.
"""

from __future__ import annotations

import argparse
import io
import time
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from qgac_fast.codec import read_coefficients
from qgac_fast.compression import compress
from qgac_fast.functional.jpeg import decode
from qgac_fast.metrics import psnr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default="astronaut.png", help="bundled sample (qgac_fast/samples)")
    parser.add_argument("--quality", type=int, default=20, help="JPEG quality used to compress the sample")
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder")
    args = parser.parse_args(argv)

    with resources.as_file(resources.files("qgac_fast") / "samples" / args.sample) as sample_path:
        original = np.array(Image.open(sample_path).convert("RGB"))
    args.out.mkdir(parents=True, exist_ok=True)
    stem = Path(args.sample).stem

    jpeg = compress(original, quality=args.quality, subsampling="4:2:0")
    jpeg_path = args.out / f"{stem}_q{args.quality}.jpg"
    jpeg_path.write_bytes(jpeg)

    start = time.perf_counter()
    coefficients = read_coefficients(jpeg_path)
    read_ms = (time.perf_counter() - start) * 1e3
    start = time.perf_counter()
    decoded = decode(coefficients)  # uint8 (3, H, W)
    decode_ms = (time.perf_counter() - start) * 1e3
    png_path = args.out / f"{stem}_q{args.quality}_reference_decode.png"
    Image.fromarray(decoded.permute(1, 2, 0).numpy()).save(png_path)

    libjpeg = torch.from_numpy(np.array(Image.open(io.BytesIO(jpeg)).convert("RGB"))).permute(2, 0, 1)
    target = torch.from_numpy(original).permute(2, 0, 1)
    differs = (decoded.int() - libjpeg.int()).abs()

    print(f"sample          {args.sample} ({original.shape[1]}x{original.shape[0]}), "
          f"JPEG quality {args.quality} 4:2:0, {len(jpeg):,} bytes -> {jpeg_path}")
    print(f"coefficients    {', '.join(str(tuple(c.shape)) for c in coefficients.coefficients)} "
          f"int16, read in {read_ms:.1f} ms")
    print(f"reference decode -> {png_path} in {decode_ms:.1f} ms")
    print(f"  vs libjpeg decode: PSNR {psnr(decoded, libjpeg).item():.2f} dB, "
          f"{(differs <= 1).float().mean().item():.2%} of values within 1 level, max difference {differs.max().item()}")
    print(f"  JPEG vs original:  PSNR {psnr(libjpeg, target).item():.2f} dB (libjpeg), "
          f"{psnr(decoded, target).item():.2f} dB (reference decode)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
