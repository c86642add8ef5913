"""qgac_fast.codec on bad input: every failure is a clear exception with libjpeg's (or our)
message, strict mode rejects what libjpeg only recovers from, unsupported JPEGs are told apart
from corrupt ones, oversized headers fail before allocating, and failing reads leak nothing."""

from __future__ import annotations

import gc
import io
import pickle
import re
import time

import numpy as np
import psutil
import pytest
import torch
from PIL import Image

from images import cjpeg, data_path, pillow_decode, pillow_jpeg, sample_image, synthetic_image
from qgac_fast.codec import DEFAULT_MAX_PIXELS_PER_BYTE, decode_pixels, read_coefficients, read_coefficients_many
from qgac_fast.errors import RECOVERABLE, JPEGError, UnsupportedJPEGError

#: A strict read's error on data libjpeg recovers names the way out (strict=False) at its end.
HINT = re.escape(RECOVERABLE) + "$"


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
    with pytest.raises(TypeError, match="cannot read a JPEG from an object of type"):
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
    with pytest.raises(JPEGError, match="^Premature end of JPEG file" + HINT):
        read_coefficients(truncated)
    recovered = read_coefficients(truncated, strict=False)
    complete = read_coefficients(base)
    assert [c.shape for c in recovered.coefficients] == [c.shape for c in complete.coefficients]
    # What was lost reads as zeros, what came before the cut is intact.
    lost = int(recovered.coefficients[0][-1].abs().sum()) == 0
    assert lost == (fraction <= 0.5)
    if fraction >= 0.5:
        assert torch.equal(recovered.coefficients[0][0], complete.coefficients[0][0])


def test_a_truncated_file_s_error_names_strict_false(base):
    with pytest.raises(JPEGError, match=r"^Premature end of JPEG file "
                                        r"\(strict=False reads what libjpeg can recover\)$"):
        read_coefficients(base[:len(base) // 2])


def test_missing_eoi_only(base):
    with pytest.raises(JPEGError, match="^Premature end of JPEG file" + HINT):
        read_coefficients(base[:-2])
    assert read_coefficients(base[:-2], strict=False).width == 96


@pytest.mark.parametrize("cut", [3, 20, 100], ids=lambda c: f"{c}-bytes")
def test_truncated_header_fails_even_when_lenient(base, cut):
    for strict in (True, False):
        with pytest.raises(JPEGError) as error:
            read_coefficients(base[:cut], strict=strict)
        assert "strict=False" not in str(error.value)  # it would not help: not offered


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9], ids=lambda f: f"at-{int(f * 100)}pct")
def test_corrupt_entropy_data(fraction, progressive):
    data = pillow_jpeg(sample_image(size=(64, 96)), 75, "4:2:0", progressive=progressive)
    start, end = first_scan(data)
    # A run of 1 bits (stuffed 0xFF00 bytes) longer than 16 is never a valid Huffman code.
    corrupt = patched(data, start + int((end - start) * fraction), b"\xff\x00" * 3)
    with pytest.raises(JPEGError, match="^Corrupt JPEG data: bad Huffman code" + HINT):
        read_coefficients(corrupt)
    assert read_coefficients(corrupt, strict=False).width == 96


def test_stray_marker_inside_scan(base):
    start, end = first_scan(base)
    middle = (start + end) // 2
    corrupt = base[:middle] + b"\xff\xd3" + base[middle:]
    with pytest.raises(JPEGError, match="^Corrupt JPEG data: premature end of data segment" + HINT):
        read_coefficients(corrupt)
    assert read_coefficients(corrupt, strict=False).width == 96


def test_extraneous_bytes_before_marker(base):
    sos = marker_offset(base, 0xDA)
    corrupt = base[:sos] + b"junk" + base[sos:]
    with pytest.raises(JPEGError, match="^Corrupt JPEG data: 4 extraneous bytes before marker 0xda" + HINT):
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


# --- quantization table slots named by the frame header ----------------------------------------

# Progressive 256x256 4:2:0 (jpegtran -scans); component 2 (id 3) names slot 0x28 and appears in no
# scan, so libjpeg never checks its slot (tests/data/README.md).
NO_SCAN = "sof-table-slot-0x28-no-scan.jpg"
NO_SCAN_SLOT_OFFSET = 176  # component 2's Tq byte in the SOF2


def no_scan_file(slot: int) -> bytes:
    data = data_path(NO_SCAN).read_bytes()
    assert data[NO_SCAN_SLOT_OFFSET] == 0x28
    return patched(data, NO_SCAN_SLOT_OFFSET, bytes([slot]))


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "lax"])
@pytest.mark.parametrize("slot", [4, 5, 11, 0x28, 255])
def test_table_slot_beyond_3_of_a_component_in_no_scan_is_refused(slot, strict):
    # 0x28 indexed past libjpeg's table pointers into unmapped memory (a segmentation fault); 4..11
    # and 255 returned other libjpeg memory as the table.
    with pytest.raises(JPEGError, match=rf"^component 2 \(id 3\) names quantization table slot {slot} in the "
                                        r"frame header; JPEG has slots 0\.\.3$") as error:
        read_coefficients(no_scan_file(slot), strict=strict)
    assert type(error.value) is JPEGError


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "lax"])
def test_table_slot_beyond_3_of_a_scanned_component_is_refused(base, strict):
    sof = marker_offset(base, 0xC0)
    with pytest.raises(JPEGError, match=r"^component 0 \(id 1\) names quantization table slot 4 "):
        read_coefficients(patched(base, sof + 12, b"\x04"), strict=strict)


def test_fuzz_finding_with_a_table_slot_beyond_3():
    data = data_path("fuzz-read-lax-seed20251206-24986.jpg").read_bytes()
    with pytest.raises(JPEGError, match="^Corrupt JPEG data: 96 extraneous bytes before marker 0xc4$"):
        read_coefficients(data)
    with pytest.raises(JPEGError, match=r"^component 2 \(id 3\) names quantization table slot 40 "):
        read_coefficients(data, strict=False)


def test_component_in_no_scan_reads_as_zeros_with_its_slots_table():
    # What djpeg does with it: the component decodes as flat grey (zero coefficients, whatever the
    # table), which Pillow's libjpeg gives too.
    data = no_scan_file(1)
    for strict in (True, False):
        jc = read_coefficients(data, strict=strict)
        assert jc.table_indices == (0, 1, 1) and jc.quantization[2] is jc.quantization[1]
        assert not jc.coefficients[2].any() and jc.coefficients[1].any()
    assert np.array_equal(decode_pixels(jc).permute(1, 2, 0).numpy(), pillow_decode(data))


def test_component_in_no_scan_with_an_undefined_slot_is_refused():
    with pytest.raises(JPEGError, match=r"^component 2 \(id 3\): quantization table slot 2 was not defined$"):
        read_coefficients(no_scan_file(2), strict=False)


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


@pytest.fixture(scope="module")
def flat_arithmetic() -> bytes:
    """A valid, compact file: a flat 2048x2048 gray image, arithmetic-coded in ~125 bytes."""
    return cjpeg(np.full((2048, 2048), 128, np.uint8), "-arithmetic", "-grayscale")


def test_compact_arithmetic_file_needs_the_per_byte_guard_lifted(flat_arithmetic):
    assert 2048 * 2048 / len(flat_arithmetic) > DEFAULT_MAX_PIXELS_PER_BYTE
    with pytest.raises(JPEGError, match=r"2048x2048 = 4194304 pixels in \d+ bytes exceeds the limit of 2048 pixels "
                                        r"per byte of input \(max_pixels_per_byte\)"):
        read_coefficients(flat_arithmetic)
    jc = read_coefficients(flat_arithmetic, max_pixels_per_byte=None)
    assert (jc.width, jc.height) == (2048, 2048) and not jc.coefficients[0][..., 1:].any()
    read_coefficients(flat_arithmetic, max_pixels_per_byte=-(-2048 * 2048 // len(flat_arithmetic)))
    [error] = read_coefficients_many([flat_arithmetic], return_exceptions=True)
    assert isinstance(error, JPEGError)
    assert read_coefficients_many([flat_arithmetic], max_pixels_per_byte=None)[0].width == 2048


def test_arithmetic_file_without_entropy_data_is_refused(flat_arithmetic):
    # SOS directly followed by EOI: libjpeg zero-fills an arithmetic scan without a warning, so even
    # strict mode accepts it once the guard is lifted; by default the guard refuses it.
    sos = marker_offset(flat_arithmetic, 0xDA)
    empty = flat_arithmetic[: sos + 2 + int.from_bytes(flat_arithmetic[sos + 2 : sos + 4], "big")] + b"\xff\xd9"
    with pytest.raises(JPEGError, match="max_pixels_per_byte"):
        read_coefficients(empty)
    assert read_coefficients(empty, max_pixels_per_byte=None).width == 2048


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "lax"])
def test_small_file_declaring_a_large_frame_is_refused_before_allocating(base, strict):
    # 16383x16383 stays under max_pixels (2**28); lax mode would allocate ~1.2 GB of arrays.
    data = patched(base, marker_offset(base, 0xC0) + 5, (16383).to_bytes(2, "big") * 2)
    process = psutil.Process()
    before = process.memory_info().rss
    started = time.perf_counter()
    with pytest.raises(JPEGError, match="max_pixels_per_byte"):
        read_coefficients(data, strict=strict)
    assert time.perf_counter() - started < 0.05
    assert process.memory_info().rss - before < 4 * 2**20


def test_pixels_per_byte_guard_passes_dense_legitimate_files():
    # A flat image is the densest Huffman coding gets (~254 pixels per byte at 4:4:4 gray,
    # optimized); photos are far below.
    flat = np.full((512, 512), 255, np.uint8)
    for args in (("-optimize",), ("-progressive",), ("-quality", "1", "-optimize", "-grayscale")):
        read_coefficients(cjpeg(flat, *args))
    read_coefficients(cjpeg(sample_image(), "-quality", "1", "-progressive"))


def test_pixel_limit_arguments_are_validated(base):
    for name in ("max_pixels", "max_pixels_per_byte"):
        for bad in (0, -1, 1.5, True, "10"):
            with pytest.raises(ValueError, match=name):
                read_coefficients(base, **{name: bad})
            with pytest.raises(ValueError, match=name):
                read_coefficients_many([base], **{name: bad})


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


# --- what a path names: regular files within the byte limit, pipes, no devices -------------------


def test_a_file_larger_than_the_byte_limit_is_refused_before_reading(tmp_path):
    limit = 8 * 1000 + 2**24  # 8 bytes per pixel of max_pixels, plus 16 MiB
    path = tmp_path / "huge.jpg"
    with open(path, "wb") as file:  # sparse: nothing is written
        file.truncate(limit + 1)
    with pytest.raises(ValueError, match=rf"^{limit + 1} bytes exceeds the input limit of {limit} bytes "
                                         r"\(8 bytes per pixel of the pixel limit max_pixels, plus 16 MiB"):
        read_coefficients(path, max_pixels=1000)
    path.write_bytes(pillow_jpeg(synthetic_image(8, 8)))
    assert read_coefficients(path, max_pixels=64).width == 8  # a file within the limit is read as ever
    from qgac_fast.sources import input_byte_limit

    assert input_byte_limit(1000) == limit and input_byte_limit(None) is None
    assert input_byte_limit(2**28) == 2**31 + 2**24


_ENDLESS = """
import io, os, resource, sys, threading
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # a reader without bound fails here, not the machine
from qgac_fast.codec import read_coefficients
read, write = os.pipe()

def feed():  # zeros without end, as `cat /dev/zero |` gives them
    try:
        while True:
            os.write(write, bytes(1 << 16))
    except OSError:
        pass

class Endless(io.RawIOBase):  # a file object of zeros without end
    def readable(self):
        return True

    def readinto(self, buffer):
        buffer[:] = bytes(len(buffer))
        return len(buffer)


threading.Thread(target=feed, daemon=True).start()
for source, limit in (("/dev/zero", 2**28), (f"/dev/fd/{read}", 1000), (Endless(), 1000)):
    try:
        read_coefficients(source, max_pixels=limit)
    except Exception as error:
        print(f"{type(error).__name__}: {error}")
"""


def test_devices_are_refused_and_streams_end_at_the_byte_limit():
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", _ENDLESS], capture_output=True, text=True, timeout=300)
    zero, pipe, endless = run.stdout.splitlines()
    assert zero == "ValueError: a character device, not a regular file or a pipe"
    assert pipe == endless == ("ValueError: more than 16785216 bytes, the input limit (8 bytes per pixel of the pixel "
                               "limit max_pixels, plus 16 MiB: more than an image within it takes)")

