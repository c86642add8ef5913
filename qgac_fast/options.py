"""The settings the library and the command line share: their allowed values, defaults and checks.

This module imports nothing, so that the command line can build its parser, print ``--help`` and
refuse a bad argument without loading torch; the modules that use a setting import it from here.
"""

from __future__ import annotations

__all__ = ["COMPILE_MODES", "DEFAULT_MAX_PIXELS", "DEFAULT_MAX_PIXELS_PER_BYTE", "DEFAULT_PNG_LEVEL", "FORMATS", "PRECISIONS",
           "SUBSAMPLINGS", "TABLE_CHOICES", "WEIGHT_DTYPES", "check_output_options", "check_overlap",
           "check_tile"]

#: Default decompression-bomb guard: 2**28 (268 million) pixels, about 16k x 16k. It is checked
#: right after the JPEG header is parsed, before the coefficient arrays (2 bytes per pixel and
#: component at 4:4:4) are allocated. Pass ``max_pixels=None`` to read anything libjpeg accepts.
DEFAULT_MAX_PIXELS = 2**28

#: Default guard on declared pixels (width x height) per byte of input, checked with
#: ``max_pixels``: a small file cannot declare a huge frame. Arithmetic coding can legally code a
#: flat image in almost nothing (a flat 2048x2048 gray image is 125 bytes, 33,554 pixels per byte)
#: and libjpeg fills blocks missing at the end of an arithmetic-coded scan with zeros without a
#: warning, so a truncated or crafted file cannot be told from a compact one; what the guard bounds
#: is the memory and work a given number of input bytes can demand (at 2048, one kilobyte of input
#: allocates at most 2 MP of coefficients, 12 MB at 4:4:4). Measured with cjpeg on 2048x2048 and
#: sample images: photos 2 to 50 pixels per byte, screenshots 6 to 31, a flat image 254 (the most
#: Huffman coding allows is about 512: at least one bit per 8x8 luma block), a photo at quality 1,
#: grayscale, arithmetic-coded 410. The default passes all of these, Huffman-coded files by a wide
#: margin; ``max_pixels_per_byte=None`` lifts it to read compact arithmetic-coded files such as
#: large flat images.
DEFAULT_MAX_PIXELS_PER_BYTE = 2048
#: Chroma subsamplings of the JPEGs the library writes (colour images), as J:a:b names.
SUBSAMPLINGS = ("4:4:4", "4:2:2", "4:2:0", "4:4:0", "4:1:1")

#: ``table=`` choices: ``"auto"`` (the primary table when one is found, else the file's; a file
#: whose luma steps are all 1, quality 100, keeps its own: it quantized nothing, so what it holds,
#: an earlier compression's traces included, is the image as its owner saved it; correcting those
#: cost 0.78 dB against the bundled chelsea photo, itself once a JPEG), ``"file"`` (always the
#: file's), ``"primary"`` (the primary table; a file with none found is an error).
TABLE_CHOICES = ("auto", "file", "primary")

#: Inference precisions: ``"auto"`` (bf16 autocast where it pays:
#: :func:`qgac_fast.inference.resolve_precision`), float32, and bf16 / fp16 autocast.
PRECISIONS = ("auto", "float32", "bf16", "fp16")

#: ``torch.compile`` modes (``"reduce-overhead"`` and ``"max-autotune"`` add CUDA graphs on CUDA).
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")

#: Test-time ensembles: the number of orientations each image is corrected in and averaged over
#: (1: none; 2: the image and its left-right flip; 4: its four flips;
#: :mod:`qgac_fast.model.orientation`). Each costs a forward: 4 flips take 4x the model's time.
FLIPS = (1, 2, 4)

#: Output file formats and their file suffixes.
FORMATS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}

#: zlib level of PNG outputs (0: stored, 9: smallest), chosen by ``bench/bench_png.py``
#: (``bench/results/png-level.md``): level 6 (zlib's default) made files 9% smaller and took 4x as
#: long, longer than the model's forward on the same image; the engine's writer thread shares the
#: CPU with it.
DEFAULT_PNG_LEVEL = 1

#: Storage types of the parameters in a weights file, by name.
WEIGHT_DTYPES = ("float32", "bfloat16")


def check_output_options(format: str, subsampling: str | None, webp_quality: int | None,
                         png_level: int = DEFAULT_PNG_LEVEL) -> None:
    """Refuse a bad output format, JPEG ``subsampling`` (None or one of
    :data:`SUBSAMPLINGS`), ``webp_quality`` (None or an int 1..100) or
    ``png_level`` (an int 0..9) with a ``ValueError`` naming the argument."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {sorted(FORMATS)}, got {format!r}")
    if subsampling is not None and subsampling not in SUBSAMPLINGS:
        raise ValueError(f"subsampling must be one of {', '.join(SUBSAMPLINGS)} or None, got {subsampling!r}")
    if webp_quality is not None and (isinstance(webp_quality, bool) or not isinstance(webp_quality, int)
                                     or not 1 <= webp_quality <= 100):
        raise ValueError(f"webp_quality must be an int in 1..100, or None for lossless, got {webp_quality!r}")
    if isinstance(png_level, bool) or not isinstance(png_level, int) or not 0 <= png_level <= 9:
        raise ValueError(f"png_level must be an int in 0..9, got {png_level!r}")


def check_tile(tile) -> int | str | None:
    """``tile`` if it is a valid tile setting: ``"auto"``, None (never tile) or a largest core size in
    pixels (a multiple of 16, at least 16); else ValueError."""
    if tile is None or tile == "auto" or (isinstance(tile, int) and not isinstance(tile, bool) and tile >= 16
                                          and tile % 16 == 0):
        return tile
    raise ValueError(f"tile must be 'auto', None or a positive multiple of 16 (pixels), got {tile!r}")


def check_overlap(overlap) -> int:
    """``overlap`` (8x8 blocks, an int >= 0) rounded up to an even count (the 16-pixel grid);
    else ValueError."""
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0:
        raise ValueError(f"overlap must be an int >= 0 (8x8 blocks), got {overlap!r}")
    return overlap + overlap % 2
