"""The main job on a bundled sample (``make demo``): correct a JPEG with the shipped weights.

Compresses a bundled photo with libjpeg (4:2:0, IJG quality 20 by default), corrects the JPEG with
:func:`qgac_fast.correct` and the shipped ``default`` weights, writes the JPEG and the correction
(PNG), and prints PSNR / PSNR-B / SSIM of the JPEG and of the correction against the original.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from qgac_fast import samples
from qgac_fast.codec import read_coefficients
from qgac_fast.compression import compress
from qgac_fast.correct import correct
from qgac_fast.inference import resolve_precision
from qgac_fast.ops import decode
from qgac_fast.metrics import psnr, psnr_b, ssim
from qgac_fast.model import load_model, read_metadata


def _scores(image: torch.Tensor, target: torch.Tensor) -> str:
    return (f"PSNR {psnr(image, target).item():.2f} dB, PSNR-B {psnr_b(image, target).item():.2f} dB, "
            f"SSIM {ssim(image, target).item():.4f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default="astronaut.png",
                        help="bundled sample (qgac_fast.samples): astronaut.png or chelsea.png")
    parser.add_argument("--quality", type=int, default=20, help="JPEG quality used to compress the sample")
    parser.add_argument("--model", default="default", help="weights: shipped name or .safetensors path")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder")
    args = parser.parse_args(argv)

    original = np.array(Image.open(samples.path(Path(args.sample).stem)).convert("RGB"))
    args.out.mkdir(parents=True, exist_ok=True)
    stem = Path(args.sample).stem
    target = torch.from_numpy(original).permute(2, 0, 1)

    jpeg = compress(original, quality=args.quality, subsampling="4:2:0")
    jpeg_path = args.out / f"{stem}_q{args.quality}.jpg"
    jpeg_path.write_bytes(jpeg)
    decoded = decode(read_coefficients(jpeg))  # bit-exact with libjpeg's own decode

    model = load_model(args.model, device=args.device)
    correct(jpeg, model=model)  # warm-up (first-call allocations, kernel compilation on CUDA)
    start = time.perf_counter()
    corrected = correct(jpeg, model=model)
    seconds = time.perf_counter() - start
    png_path = args.out / f"{stem}_q{args.quality}_corrected.png"
    Image.fromarray(corrected.permute(1, 2, 0).numpy()).save(png_path)

    training = read_metadata(args.model)["training"]
    height, width = original.shape[:2]
    print(f"sample     {args.sample} ({width}x{height}), JPEG quality {args.quality} 4:2:0, {len(jpeg):,} bytes "
          f"-> {jpeg_path}")
    # training megapixels count the whole run, warm restarts included; the wall time is the last piece's
    seen = (f"{training['training_mp']:,.0f} training MP" if "training_mp" in training
            else f"{training.get('wall_time_s', '?')} s")
    print(f"model      {args.model}: {sum(p.numel() for p in model.parameters()):,} parameters"
          + (f", trained on {seen}, {training.get('hardware', '?')} x {training.get('processes', 1)} processes"
             if training else ""))
    print(f"corrected  -> {png_path} in {seconds * 1e3:.0f} ms on {model.mean.device}, "
          f"{resolve_precision('auto', model.mean.device)} ({height * width / 1e6 / seconds:.2f} MP/s)")
    print(f"JPEG       {_scores(decoded, target)}")
    print(f"corrected  {_scores(corrected, target)}")
    print(f"gain       {psnr(corrected, target).item() - psnr(decoded, target).item():+.2f} dB PSNR")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
