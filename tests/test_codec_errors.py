"""qgac_fast.codec on bad input: every failure is a clear exception with libjpeg's (or our)
message, strict mode rejects what libjpeg only recovers from, unsupported JPEGs are told apart
from corrupt ones, oversized headers fail before allocating, and failing reads leak nothing."""

from __future__ import annotations

import gc
import io
import pickle
import time

import numpy as np
import psutil
import pytest
import torch
from PIL import Image

from images import pillow_jpeg, sample_image, synthetic_image
from qgac_fast.codec import read_coefficients
from qgac_fast.errors import JPEGError, UnsupportedJPEGError


@pytest.fixture(scope="module")
def base() -> bytes:
    return pillow_jpeg(sample_image(size=(64, 96)), 75, "4:2:0")


def marker_offset(data: bytes, marker: int) -> int:
    """Offset of the first 0xFF ``marker`` segment, walking the header segments."""
    pos = 2
    while data[pos + 1] != marker:
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return pos


def first_scan(data: bytes) -> tuple[int, int]:
    """(start, end) of the entropy-coded data of the first scan (stuffed 0xFF00 and RSTn inside)."""
    sos = marker_offset(data, 0xDA)
    start = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    end = start
    while not (data[end] == 0xFF and data[end + 1] != 0x00 and not 0xD0 <= data[end + 1] <= 0xD7):
        end += 1
    return start, end


def patched(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


def cmyk_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(synthetic_image(24, 40)).convert("CMYK").save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


# --- not JPEG data -----------------------------------------------------------------------------


def test_error_classes():
    assert issubclass(JPEGError, ValueError) and issubclass(UnsupportedJPEGError, JPEGError)
    error = pickle.loads(pickle.dumps(UnsupportedJPEGError("message")))
    assert type(error) is UnsupportedJPEGError and str(error) == "message"


@pytest.mark.parametrize("src", [b"", bytearray(), memoryview(b"")], ids=["bytes", "bytearray", "memoryview"])
def test_empty_input(src):
    with pytest.raises(JPEGError, match="^Empty input file$"):
        read_coefficients(src)


def test_png_bytes():
    buffer = io.BytesIO()
    Image.fromarray(synthetic_image(8, 8)).save(buffer, "PNG")
    with pytest.raises(JPEGError, match="^Not a JPEG file: starts with 0x89 0x50$"):
        read_coefficients(buffer.getvalue())


@pytest.mark.parametrize("seed", range(3))
def test_random_bytes(seed):
    data = np.random.default_rng(seed).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    if data[:2] == b"\xff\xd8":  # pragma: no cover - not with these seeds
        pytest.skip("random data starts with SOI")
    with pytest.raises(JPEGError, match="^Not a JPEG file: starts with"):
        read_coefficients(data)


def test_soi_only():
    with pytest.raises(JPEGError, match="Premature end of JPEG file"):
        read_coefficients(b"\xff\xd8")


def test_tables_only_datastream(base):
    tables_only = base[: marker_offset(base, 0xC0)] + b"\xff\xd9"
    with pytest.raises(JPEGError, match="JPEG datastream contains no image"):
        read_coefficients(tables_only, strict=False)


@pytest.mark.parametrize("src", [12, None, 1.5, ["a"]], ids=["int", "None", "float", "list"])
def test_wrong_source_type(src):
    with pytest.raises(TypeError, match="bytes-like object is required"):
        read_coefficients(src)


def test_missing_file(tmp_path):
    missing = tmp_path / "missing.jpg"
    with pytest.raises(FileNotFoundError, match="No such file or directory") as info:
        read_coefficients(missing)
    assert info.value.filename == str(missing)


def test_path_with_null_byte(tmp_path):
    with pytest.raises(ValueError, match="embedded null byte"):
        read_coefficients(str(tmp_path / "a\0b.jpg"))


def test_directory(tmp_path):
    with pytest.raises(IsADirectoryError, match="Is a directory"):
        read_coefficients(tmp_path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(JPEGError, match="^Empty input file$"):
        read_coefficients(path)


# --- truncated and corrupt data ----------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9], ids=lambda f: f"scan-{int(f * 100)}pct")
def test_truncated_scan(base, fraction):
    start, end = first_scan(base)
    truncated = base[: start + int((end - start) * fraction)]
    with pytest.raises(JPEGError, match="^Premature end of JPEG file$"):
        read_coefficients(truncated)
    recovered = read_coefficients(truncated, strict=False)
    complete = read_coefficients(base)
    assert [c.shape for c in recovered.coefficients] == [c.shape for c in complete.coefficients]
    # What was lost reads as zeros, what came before the cut is intact.
    lost = int(recovered.coefficients[0][-1].abs().sum()) == 0
    assert lost == (fraction <= 0.5)
    if fraction >= 0.5:
        assert torch.equal(recovered.coefficients[0][0], complete.coefficients[0][0])


def test_missing_eoi_only(base):
    with pytest.raises(JPEGError, match="^Premature end of JPEG file$"):
        read_coefficients(base[:-2])
    assert read_coefficients(base[:-2], strict=False).width == 96


@pytest.mark.parametrize("cut", [3, 20, 100], ids=lambda c: f"{c}-bytes")
def test_truncated_header_fails_even_when_lenient(base, cut):
    for strict in (True, False):
        with pytest.raises(JPEGError):
            read_coefficients(base[:cut], strict=strict)


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9], ids=lambda f: f"at-{int(f * 100)}pct")
def test_corrupt_entropy_data(fraction, progressive):
    data = pillow_jpeg(sample_image(size=(64, 96)), 75, "4:2:0", progressive=progressive)
    start, end = first_scan(data)
    # A run of 1 bits (stuffed 0xFF00 bytes) longer than 16 is never a valid Huffman code.
    corrupt = patched(data, start + int((end - start) * fraction), b"\xff\x00" * 3)
    with pytest.raises(JPEGError, match="^Corrupt JPEG data: bad Huffman code$"):
        read_coefficients(corrupt)
    assert read_coefficients(corrupt, strict=False).width == 96


def test_stray_marker_inside_scan(base):
    start, end = first_scan(base)
    middle = (start + end) // 2
    corrupt = base[:middle] + b"\xff\xd3" + base[middle:]
    with pytest.raises(JPEGError, match="^Corrupt JPEG data: premature end of data segment$"):
        read_coefficients(corrupt)
    assert read_coefficients(corrupt, strict=False).width == 96


def test_extraneous_bytes_before_marker(base):
    sos = marker_offset(base, 0xDA)
    corrupt = base[:sos] + b"junk" + base[sos:]
    with pytest.raises(JPEGError, match="^Corrupt JPEG data: 4 extraneous bytes before marker 0xda$"):
        read_coefficients(corrupt)
    assert read_coefficients(corrupt, strict=False).width == 96


def test_data_after_eoi_is_ignored(base):
    # libjpeg stops at EOI and never looks further, so this is not even a warning.
    assert read_coefficients(base + b"trailing garbage").width == 96


def test_undefined_huffman_table(base):
    sos = marker_offset(base, 0xDA)
    corrupt = patched(base, sos + 6, b"\x33")  # luma selects DC/AC tables 3, never defined
    with pytest.raises(JPEGError, match="Huffman table 0x0[0-9a-f] was not defined"):
        read_coefficients(corrupt, strict=False)


# --- valid but unsupported ---------------------------------------------------------------------


def test_cmyk():
    with pytest.raises(UnsupportedJPEGError, match="^CMYK JPEGs are not supported$"):
        read_coefficients(cmyk_jpeg())


def test_ycck():
    data = cmyk_jpeg()
    adobe = marker_offset(data, 0xEE)
    assert data[adobe + 4 : adobe + 9] == b"Adobe"
    with pytest.raises(UnsupportedJPEGError, match="^YCCK JPEGs are not supported$"):
        read_coefficients(patched(data, adobe + 15, b"\x02"))  # the APP14 transform byte


def test_12_bit_precision(base):
    sof = marker_offset(base, 0xC0)
    twelve_bit = patched(patched(base, sof + 1, b"\xc1"), sof + 4, b"\x0c")
    with pytest.raises(UnsupportedJPEGError, match="^Unsupported JPEG data precision 12$"):
        read_coefficients(twelve_bit)


@pytest.mark.parametrize("sof", [0xC3, 0xC5, 0xC7, 0xCB], ids=lambda s: f"sof-0x{s:02x}")
def test_unsupported_processes(base, sof):
    data = patched(base, marker_offset(base, 0xC0) + 1, bytes([sof]))
    with pytest.raises(UnsupportedJPEGError, match=f"^Unsupported JPEG process: SOF type 0x{sof:02x}$"):
        read_coefficients(data)


def test_height_from_dnl(base):
    data = patched(base, marker_offset(base, 0xC0) + 5, b"\x00\x00")
    with pytest.raises(UnsupportedJPEGError, match=r"DNL not supported"):
        read_coefficients(data)


# --- decompression bombs -----------------------------------------------------------------------


def test_huge_declared_size_fails_fast_without_allocating(base):
    data = patched(base, marker_offset(base, 0xC0) + 5, (65000).to_bytes(2, "big") * 2)
    process = psutil.Process()
    read_coefficients(base)  # warm up
    before = process.memory_info().rss
    started = time.perf_counter()
    with pytest.raises(JPEGError, match=r"65000x65000 = 4225000000 pixels exceeds the pixel limit of 268435456"):
        read_coefficients(data)
    assert time.perf_counter() - started < 0.05
    assert process.memory_info().rss - before < 4 * 2**20  # the arrays would be ~12 GB


def test_pixel_limit_is_checked_before_decoding(base):
    # A custom limit trips on a corrupt file too: the check precedes the scan.
    start, _ = first_scan(base)
    with pytest.raises(JPEGError, match="exceeds the pixel limit of 100"):
        read_coefficients(base[:start], max_pixels=100)


# --- leaks -------------------------------------------------------------------------------------


def test_failing_reads_do_not_leak(base):
    start, end = first_scan(base)
    bad = [
        base[: (start + end) // 2],                                 # truncated (strict error)
        patched(base, (start + end) // 2, b"\xff\x00" * 3),         # bad Huffman code
        b"\x89PNG\r\n\x1a\n" + bytes(100),                          # not a JPEG
        patched(base, marker_offset(base, 0xC0) + 5, b"\xfd\xe8" * 2),  # above the pixel limit
        base[:100],                                                 # truncated header
    ]
    process = psutil.Process()

    def run(rounds: int) -> None:
        for i in range(rounds):
            try:
                read_coefficients(bad[i % len(bad)], max_pixels=10**6)
            except JPEGError:
                pass

    run(1000)  # warm up allocator pools
    gc.collect()
    before = process.memory_info().rss
    run(10_000)
    gc.collect()
    assert process.memory_info().rss - before < 20 * 2**20


def test_successful_reads_release_their_buffers(base):
    process = psutil.Process()
    big = pillow_jpeg(synthetic_image(512, 512), 90)  # ~1.5 MB of coefficients per read
    for _ in range(20):
        read_coefficients(big)
    gc.collect()
    before = process.memory_info().rss
    for _ in range(300):
        jc = read_coefficients(big, strict=False)
        del jc
    gc.collect()
    assert process.memory_info().rss - before < 20 * 2**20
