"""Synthetic and bundled test images, and JPEG files made from them by independent encoders.

The encoders here are Pillow, PyTurboJPEG and cjpeg (all libjpeg-turbo), never qgac_fast itself, so
tests that read these files check qgac_fast against an outside oracle.
"""

from __future__ import annotations

import io
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

SUBSAMPLINGS = ("4:4:4", "4:2:2", "4:2:0", "4:4:0", "4:1:1")


def sample_path(name: str = "astronaut.png"):
    """Path of a bundled sample photo (``qgac_fast/samples``)."""
    return resources.files("qgac_fast") / "samples" / name


def data_path(name: str) -> Path:
    """Path of a file kept in ``tests/data`` (inputs that once crashed or misled the reader; see
    tests/data/README.md for where each came from)."""
    return Path(__file__).resolve().parent / "data" / name


def sample_image(name: str = "astronaut.png", size: tuple[int, int] | None = None) -> np.ndarray:
    """A bundled photo as uint8 (H, W, 3), optionally cropped to ``size`` = (H, W) from its top left."""
    image = np.asarray(Image.open(sample_path(name)).convert("RGB"))
    if size is not None:
        image = image[: size[0], : size[1]]
    return np.ascontiguousarray(image)


def synthetic_image(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A photo-like uint8 (H, W, C) image: smooth gradients, edges and noise, never constant."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    planes = []
    for c in range(channels):
        fx, fy = rng.uniform(0.02, 0.3, size=2)
        base = 128 + 60 * np.sin(fx * x + c) * np.cos(fy * y - c)
        base += 40 * ((x // max(1, width // 3) + y // max(1, height // 3)) % 2)  # hard edges
        base += rng.normal(0, 12, size=(height, width))
        planes.append(base)
    image = np.clip(np.stack(planes, axis=-1), 0, 255).round().astype(np.uint8)
    return image


def pillow_jpeg(image: np.ndarray, quality: int = 75, subsampling: str = "4:2:0", **options) -> bytes:
    """Encode uint8 (H, W, 3) or (H, W) with Pillow; ``options`` go to ``Image.save``
    (``progressive``, ``restart_marker_blocks``, ``restart_marker_rows``, ``optimize``...)."""
    buffer = io.BytesIO()
    pil = Image.fromarray(image)
    kwargs = {"quality": quality, **options}
    if pil.mode != "L":
        kwargs["subsampling"] = subsampling
    pil.save(buffer, format="JPEG", **kwargs)
    return buffer.getvalue()


def turbo_jpeg(image: np.ndarray, quality: int = 75, subsampling: str = "4:2:0", progressive: bool = False) -> bytes:
    """Encode with PyTurboJPEG and the accurate DCT; reaches every subsampling, 4:4:0 and 4:1:1 too."""
    import turbojpeg

    tj = turbojpeg.TurboJPEG()
    flags = turbojpeg.TJFLAG_ACCURATEDCT | (turbojpeg.TJFLAG_PROGRESSIVE if progressive else 0)
    if image.ndim == 2:
        return tj.encode(image[..., None], quality=quality, pixel_format=turbojpeg.TJPF_GRAY,
                         jpeg_subsample=turbojpeg.TJSAMP_GRAY, flags=flags)
    samp = {"4:4:4": turbojpeg.TJSAMP_444, "4:2:2": turbojpeg.TJSAMP_422, "4:2:0": turbojpeg.TJSAMP_420,
            "4:4:0": turbojpeg.TJSAMP_440, "4:1:1": turbojpeg.TJSAMP_411}[subsampling]
    return tj.encode(np.ascontiguousarray(image), quality=quality, pixel_format=turbojpeg.TJPF_RGB,
                     jpeg_subsample=samp, flags=flags)


def cjpeg(image: np.ndarray, *args: str) -> bytes:
    """Encode uint8 (H, W, 3) or (H, W) with libjpeg-turbo's cjpeg and ``args``; skips the test when
    the tools (Debian libjpeg-turbo-progs) are missing."""
    import jpeg_corpus

    if jpeg_corpus.missing_tools():
        pytest.skip(f"needs {', '.join(jpeg_corpus.missing_tools())} (Debian package libjpeg-turbo-progs)")
    return jpeg_corpus.cjpeg(image, *args)


def pillow_decode(data: bytes) -> np.ndarray:
    """libjpeg's default decode (fancy upsampling, islow IDCT) as uint8 (H, W, 3) or (H, W)."""
    return np.asarray(Image.open(io.BytesIO(data)))


def layout_jpeg(mode: str, quality: int, size: tuple[int, int], progressive: bool = False, seed: int = 0) -> bytes:
    """A libjpeg-turbo JPEG of a synthetic image: ``mode`` "gray" or a subsampling ("4:2:0"...)."""
    h, w = size
    img = synthetic_image(h, w, 3, seed=seed + h * 131 + w)
    if mode == "gray":
        img = np.ascontiguousarray(img[..., 0])
    return turbo_jpeg(img, quality, "4:2:0" if mode == "gray" else mode, progressive=progressive)


def hwc(t) -> np.ndarray:
    """uint8 (C, H, W) tensor -> numpy (H, W, 3), or (H, W) for one channel (Pillow's layout)."""
    a = t.numpy()
    return a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)


# EXIF and ICC metadata (tests/test_metadata.py, the engine's outputs)
ORIENTATION = 0x0112
MAKE = 0x010F
EXIF_HEADER = b"Exif\x00\x00"  # written out, not qgac_fast.metadata's: these files are the outside oracle


def srgb_profile() -> bytes:
    """Little CMS's sRGB profile as bytes (about 600)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def big_profile() -> bytes:
    """A profile payload of ~200 KB: four APP2 chunks (readers reassemble it; it need not be a valid profile)."""
    return srgb_profile() + np.random.default_rng(3).integers(0, 256, 200_000, dtype=np.uint8).tobytes()


def exif_block(orientation: int) -> bytes:
    """A TIFF structure with Orientation and a camera Make, as the JPEG's APP1 holds it after "Exif\\0\\0"."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[MAKE] = "TestCam"
    return exif.tobytes()[len(EXIF_HEADER):]


def parsed(exif: bytes) -> Image.Exif:
    """A TIFF structure as Pillow reads it."""
    result = Image.Exif()
    result.load(EXIF_HEADER + exif)
    return result


def tagged_jpeg(orientation: int = 6, icc: bytes | None = None, size: tuple[int, int] = (40, 56)) -> bytes:
    """A Pillow JPEG with EXIF (Orientation, Make) and an ICC profile (default sRGB)."""
    # Pillow writes a JPEG's exif= as the APP1 payload, header included (PNG and WebP take it either way)
    return pillow_jpeg(synthetic_image(*size), quality=40, exif=EXIF_HEADER + exif_block(orientation),
                       icc_profile=icc or srgb_profile())
