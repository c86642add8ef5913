"""Fuzz harness: mutated real JPEGs through the reader, the reference decode, correction and
``qgac-fast info``; mutated decoded-image files through the quantization estimate and blind
correction; mutated weights files through ``load_model``; JPEGs with mutated EXIF and ICC segments
through ``Corrector.correct_files`` into PNG, JPEG and WebP files (``metadata``); JPEGs of a new
size each through ``qgac-fast correct`` (``memory``). Each runs in a child process so that a
crash or a hang is caught and its input kept.

The JPEG seeds are the real-file corpus of ``tools/jpeg_corpus.py`` (cjpeg / jpegtran); the image
seeds that corpus decoded and saved as PNG, BMP, TIFF, WebP and GIF (``image_seeds``); the weights
seeds a tiny model saved by ``save_model`` (``weights_seeds``); the metadata seeds the small corpus
files with an EXIF block and an ICC profile in one to three chunks (``metadata_seeds``); the memory
target's the small corpus files, each input one re-encoded at a random size (``resize``). The
metadata and memory targets correct with the tiny model. Each input is a seed of its
target's kind (``SEED_KINDS``) with one to three mutations of that kind (``MUTATORS_BY_KIND``; for
JPEGs ``MUTATORS``: byte and bit flips, insertions, deletions, truncation, segment swaps and
duplicates, SOF/SOS field extremes, DHT/DQT corruption, DRI/RST changes, length fields, splicing of
two seeds), drawn from a seeded generator so a run is reproducible. A target may only succeed or fail with the exceptions it documents (``EXPECTED``);
anything else is an *unexpected* outcome, a dead child is a *crash*, a child over the time limit a
*hang*: the limit is on the child's CPU time, so that a loaded machine does not turn a slow input
into a hang, with a wall-clock cap of ``WALL_FACTOR`` times it for a child that is blocked. One
child serves many inputs (importing torch costs seconds) and is restarted after a crash or hang; it
reports its resident set size (RSS) after each input, and a target whose RSS grows by more than
``LEAK_BYTES`` over the second half of its inputs counts a *leak*. Children run with the command
line's settings for torch's native libraries (``qgac_fast.cli.NATIVE_ENVIRONMENT``).

Usage:
    python tools/fuzz.py --seed 0 --target read-strict=100000 --target decode=5000 \\
        [--findings DIR] [--json FILE] [--markdown FILE]

prints a table (inputs, ok, rejected, crashes, hangs, unexpected, leaks, exception types, RSS at
the start, peak and end, its growth over the second half, seconds) and exits 1 if any crash, hang,
unexpected exception or leak occurred.
``make fuzz`` runs the long campaign; tests/test_fuzz.py a short one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import shlex
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path

import psutil

__all__ = ["EXPECTED", "LEAK_BYTES", "MUTATORS", "MUTATORS_BY_KIND", "SEED_KINDS", "TARGETS", "Campaign",
           "image_seeds", "make_seeds", "metadata_seeds", "mutate", "run_campaign", "second_half_growth", "segments",
           "weights_seeds"]

# --- mutators ------------------------------------------------------------------------------------
# Each takes the input bytes, a random.Random and the list of all seeds, and returns new bytes.
# Those that need a structure the input lacks (no SOF, no DHT...) fall back to a byte flip.

_STANDALONE = set(range(0xD0, 0xDA))  # RSTn, SOI, EOI: no length field


def segments(data: bytes) -> list[tuple[int, int, int]]:
    """The marker segments of ``data`` as ``(start, end, marker)``: ``start`` at the 0xFF, ``end``
    past the segment (for SOS, past its entropy-coded data). Stops quietly at the first thing that
    is not a well-formed segment."""
    out, pos, n = [], 2 if data[:2] == b"\xff\xd8" else 0, len(data)
    while pos + 1 < n and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            out.append((pos, pos + 2, marker))
            if marker == 0xD9:
                break
            pos += 2
            continue
        if pos + 4 > n:
            break
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if end > n or end < pos + 4:
            break
        if marker == 0xDA:  # entropy-coded data up to the next marker that is not RSTn or stuffing
            while end + 1 < n and not (data[end] == 0xFF and data[end + 1] not in (0x00, *range(0xD0, 0xD8))):
                end += 1
        out.append((pos, end, marker))
        pos = end
    return out


def _find(data: bytes, markers) -> list[tuple[int, int, int]]:
    return [s for s in segments(data) if s[2] in markers]


def _put(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


def byte_set(data, rng, seeds):
    if not data:
        return bytes([rng.randrange(256)])
    return _put(data, rng.randrange(len(data)), bytes([rng.randrange(256)]))


def bit_flip(data, rng, seeds):
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def insert(data, rng, seeds):
    pos = rng.randrange(len(data) + 1)
    payload = rng.choice([bytes(rng.randrange(256) for _ in range(rng.randint(1, 16))),
                          bytes([0xFF, rng.randrange(256)]), b"\xff" * rng.randint(1, 8)])
    return data[:pos] + payload + data[pos:]


def delete(data, rng, seeds):
    pos = rng.randrange(len(data) + 1)
    return data[:pos] + data[pos + rng.randint(1, 64) :]


def truncate(data, rng, seeds):
    return data[: rng.randrange(len(data) + 1)]


def segment_swap(data, rng, seeds):
    found = segments(data)
    if len(found) < 2:
        return byte_set(data, rng, seeds)
    (a0, a1, _), (b0, b1, _) = sorted(rng.sample(found, 2))
    return data[:a0] + data[b0:b1] + data[a1:b0] + data[a0:a1] + data[b1:]


def segment_duplicate(data, rng, seeds):
    found = segments(data)
    if not found:
        return byte_set(data, rng, seeds)
    start, end, _ = rng.choice(found)
    at = rng.choice([end, start, rng.randrange(len(data) + 1)])
    return data[:at] + data[start:end] + data[at:]


def segment_delete(data, rng, seeds):
    found = segments(data)
    if not found:
        return byte_set(data, rng, seeds)
    start, end, _ = rng.choice(found)
    return data[:start] + data[end:]


def length_field(data, rng, seeds):
    found = [s for s in segments(data) if s[2] not in _STANDALONE]
    if not found:
        return byte_set(data, rng, seeds)
    start, end, _ = rng.choice(found)
    length = int.from_bytes(data[start + 2 : start + 4], "big")
    value = rng.choice([0, 1, 2, 3, length - 1, length + 1, length + rng.randint(2, 300), 0xFFFF])
    return _put(data, start + 2, (value & 0xFFFF).to_bytes(2, "big"))


_SOF = (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF)


def sof_extreme(data, rng, seeds):
    found = _find(data, _SOF)
    if not found:
        return byte_set(data, rng, seeds)
    start, end, _ = found[0]
    field = rng.choice(["marker", "precision", "height", "width", "count", "id", "sampling", "table"])
    if field == "marker":
        return _put(data, start + 1, bytes([rng.choice(_SOF)]))
    if field == "precision":
        return _put(data, start + 4, bytes([rng.choice([0, 1, 7, 9, 12, 16, 255])]))
    if field in ("height", "width"):
        value = rng.choice([0, 1, 2, 7, 8, 9, 15, 16, 17, 4096, 16383, 16384, 65500, 65535])
        return _put(data, start + (5 if field == "height" else 7), value.to_bytes(2, "big"))
    if field == "count":
        return _put(data, start + 9, bytes([rng.choice([0, 1, 2, 3, 4, 5, 10, 255])]))
    components = max(1, min(data[start + 9] if start + 9 < len(data) else 1, (end - start - 10) // 3))
    offset = start + 10 + 3 * rng.randrange(components) + {"id": 0, "sampling": 1, "table": 2}[field]
    choices = {"id": [0, 1, 2, 3, 255], "sampling": [0x00, 0x01, 0x10, 0x11, 0x12, 0x21, 0x22, 0x14, 0x41,
                                                     0x44, 0x45, 0x54, 0x33, 0xFF],
               "table": [0, 1, 2, 3, 4, 255]}[field]
    return _put(data, offset, bytes([rng.choice(choices)]))


def sos_extreme(data, rng, seeds):
    found = _find(data, (0xDA,))
    if not found:
        return byte_set(data, rng, seeds)
    start, _, _ = rng.choice(found)
    length = int.from_bytes(data[start + 2 : start + 4], "big")
    field = rng.choice(["count", "selector", "tables", "ss", "se", "ahal"])
    if field == "count":
        return _put(data, start + 4, bytes([rng.choice([0, 1, 2, 3, 4, 5, 255])]))
    if field in ("selector", "tables"):
        count = max(1, (length - 6) // 2)
        offset = start + 5 + 2 * rng.randrange(count) + (field == "tables")
        return _put(data, offset, bytes([rng.choice([0, 1, 2, 3, 4, 0x11, 0x44, 0xFF])]))
    offset = start + 2 + length - {"ss": 3, "se": 2, "ahal": 1}[field]
    return _put(data, offset, bytes([rng.choice([0, 1, 5, 62, 63, 64, 0x10, 0x0D, 0xE0, 0xFF])]))


def dht_corrupt(data, rng, seeds):
    found = _find(data, (0xC4,))
    if not found:
        return byte_set(data, rng, seeds)
    start, end, _ = rng.choice(found)
    choice = rng.choice(["class", "counts", "values"])
    if choice == "class":
        return _put(data, start + 4, bytes([rng.choice([0x00, 0x01, 0x04, 0x10, 0x13, 0x20, 0xFF])]))
    if choice == "counts":
        return _put(data, start + 5 + rng.randrange(16), bytes([rng.choice([0, 1, 2, 128, 255])]))
    if end - start <= 21:
        return byte_set(data, rng, seeds)
    return _put(data, rng.randrange(start + 21, end), bytes([rng.randrange(256)]))


def dqt_corrupt(data, rng, seeds):
    found = _find(data, (0xDB,))
    if not found:
        return byte_set(data, rng, seeds)
    start, end, _ = rng.choice(found)
    if rng.random() < 0.4:
        return _put(data, start + 4, bytes([rng.choice([0x00, 0x01, 0x03, 0x04, 0x10, 0x11, 0x20, 0xF0])]))
    if end - start <= 5:
        return byte_set(data, rng, seeds)
    value = rng.choice([b"\x00", b"\x01", b"\xff", b"\x00\x00", b"\xff\xff"])
    return _put(data, rng.randrange(start + 5, end), value)


def dri_rst(data, rng, seeds):
    found = segments(data)
    scans = [s for s in found if s[2] == 0xDA]
    choice = rng.choice(["insert-dri", "rst-insert", "rst-renumber", "rst-delete"])
    if choice == "insert-dri" or not scans:
        interval = rng.choice([0, 1, 2, 3, 7, 255, 65535])
        at = scans[0][0] if scans else min(len(data), 2)
        return data[:at] + b"\xff\xdd\x00\x04" + interval.to_bytes(2, "big") + data[at:]
    start, end, _ = rng.choice(scans)
    body = start + 2 + int.from_bytes(data[start + 2 : start + 4], "big")
    rsts = [i for i in range(body, end - 1) if data[i] == 0xFF and 0xD0 <= data[i + 1] <= 0xD7]
    if choice == "rst-insert" or not rsts:
        at = rng.randrange(body, max(body, end) + 1)
        return data[:at] + bytes([0xFF, 0xD0 + rng.randrange(8)]) + data[at:]
    at = rng.choice(rsts)
    if choice == "rst-renumber":
        return _put(data, at + 1, bytes([0xD0 + rng.randrange(8)]))
    return data[:at] + data[at + 2 :]


def splice(data, rng, seeds):
    other = rng.choice(seeds)
    return data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1) :]


def header_int(data, rng, seeds):
    """An extreme value in a 1, 2 or 4-byte field of the first 64 bytes, either byte order: where
    image formats keep their sizes, depths, counts and offsets (PNG's IHDR, BMP's and GIF's
    headers, TIFF's first IFD, WebP's frame header)."""
    if not data:
        return byte_set(data, rng, seeds)
    width = rng.choice([1, 2, 4])
    value = rng.choice([0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 255, 256, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF])
    field = (value & ((1 << (8 * width)) - 1)).to_bytes(width, rng.choice(["big", "little"]))
    return _put(data, rng.randrange(min(len(data), 64)), field)[: len(data)]


def _ints(value) -> list[int] | None:
    """``value`` when it is a list of ints (a shape or a pair of offsets), else None."""
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)
    return None


def safetensors_header(data, rng, seeds):
    """A change to a safetensors file's JSON header (its length prefix, a tensor's dtype, shape or
    data offsets, or the metadata), re-serialised with a matching length prefix unless the prefix
    itself is the target."""
    if len(data) < 8:
        return byte_set(data, rng, seeds)
    length = int.from_bytes(data[:8], "little")
    try:
        header = json.loads(data[8 : 8 + length])
    except (ValueError, UnicodeDecodeError):
        header = None
    if not isinstance(header, dict) or rng.random() < 0.15:
        value = rng.choice([0, 1, 2, length - 1, length + 1, len(data), len(data) + 1, 2**31, 2**64 - 1])
        return (value % 2**64).to_bytes(8, "little") + data[8:]
    tensors = [name for name in header if name != "__metadata__"]
    choice = rng.choice(["dtype", "shape", "offsets", "metadata", "remove", "duplicate"])
    if choice == "metadata" or not tensors:
        metadata = header.setdefault("__metadata__", {})
        key = rng.choice(sorted(metadata) or ["config"]) if isinstance(metadata, dict) else None
        if key is None:
            header["__metadata__"] = rng.choice([None, [], "x"])
        elif key == "config" and rng.random() < 0.6:
            try:
                config = json.loads(metadata[key])
                field = rng.choice(sorted(config))
                config[field] = rng.choice([0, -1, 1, 3, 10**6, 1.5, None, "x", True, [], {}])
                metadata[key] = json.dumps(config)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError):
                metadata[key] = "{"
        else:
            metadata[key] = rng.choice(["", "{", "null", "[]", "float16", "bfloat16", "x" * 1000, 7])
    else:
        name = rng.choice(tensors)
        entry = header[name]
        if not isinstance(entry, dict):
            header[name] = rng.choice([None, 0, "x", []])
        elif choice == "dtype":
            entry["dtype"] = rng.choice(["F16", "BF16", "F64", "F32", "I8", "U8", "I64", "BOOL", "F8_E4M3", "X"])
        elif choice == "shape":
            shape = _ints(entry.get("shape")) or []
            how = rng.choice(["drop", "add", "scale", "zero", "negative", "huge"])
            if how == "drop" and shape:
                shape.pop(rng.randrange(len(shape)))
            elif how == "add":
                shape.insert(rng.randrange(len(shape) + 1), rng.choice([1, 2]))
            elif shape:
                i = rng.randrange(len(shape))
                shape[i] = {"scale": shape[i] * 2, "zero": 0, "negative": -1, "huge": 2**40}.get(how, shape[i])
            entry["shape"] = shape
        elif choice == "offsets":
            offsets = _ints(entry.get("data_offsets"))
            start, end = offsets if offsets is not None and len(offsets) == 2 else (0, 0)
            entry["data_offsets"] = rng.choice([[end, start], [start, end + 4], [start, start], [0, end],
                                                [start, len(data) * 2], [-1, end], [start, 2**64]])
        elif choice == "remove":
            del header[name]
        else:
            header[f"{name}.copy"] = entry
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data[8 + length :]


_APP = (0xE1, 0xE2)  # APP1 (EXIF, XMP), APP2 (ICC profile chunks)
_EXIF, _ICC = b"Exif\x00\x00", b"ICC_PROFILE\x00"


def _segment(marker: int, payload: bytes) -> bytes:
    """A marker segment with ``payload``, its length field set (a payload over 65533 bytes makes
    a length that wraps: a corrupt segment, which is what the mutators want then)."""
    return bytes([0xFF, marker]) + ((len(payload) + 2) & 0xFFFF).to_bytes(2, "big") + payload


def _boundary(data: bytes, rng: random.Random) -> int:
    """A place between two marker segments (or just after SOI)."""
    return rng.choice([2] + [end for _, end, marker in segments(data) if marker != 0xD9])


def app_insert(data, rng, seeds):
    """An EXIF or ICC segment taken from a seed (or a bare or garbage one) put between two segments."""
    found = [other[s:e] for other in (rng.choice(seeds), data) for s, e, _ in _find(other, _APP)]
    garbage = bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
    choices = [_segment(0xE1, _EXIF + garbage), _segment(0xE2, _ICC + garbage),
               _segment(0xE1, _EXIF), _segment(0xE2, _ICC[:rng.randrange(len(_ICC))])]
    at = _boundary(data, rng)
    return data[:at] + rng.choice(found + choices if found else choices) + data[at:]


def app_truncate(data, rng, seeds):
    """An EXIF or ICC segment cut short: its payload, with a matching length, or the file within it."""
    found = _find(data, _APP)
    if not found:
        return app_insert(data, rng, seeds)
    start, end, marker = rng.choice(found)
    if rng.random() < 0.3:
        return data[: rng.randrange(start, end)]
    payload = data[start + 4 : end]
    return data[:start] + _segment(marker, payload[: rng.randrange(len(payload) + 1)]) + data[end:]


def app_length(data, rng, seeds):
    """An EXIF or ICC segment's length field set to an extreme (0..3, one off, past the file)."""
    found = _find(data, _APP)
    if not found:
        return app_insert(data, rng, seeds)
    start, end, _ = rng.choice(found)
    length = end - start - 2
    value = rng.choice([0, 1, 2, 3, 4, length - 1, length + 1, length + rng.randint(2, 3000), 0xFFFF])
    return _put(data, start + 2, (value & 0xFFFF).to_bytes(2, "big"))


def app_duplicate(data, rng, seeds):
    """An EXIF or ICC segment repeated, next to itself or elsewhere."""
    found = _find(data, _APP)
    if not found:
        return app_insert(data, rng, seeds)
    start, end, _ = rng.choice(found)
    at = rng.choice([start, end, _boundary(data, rng)])
    return data[:at] + data[start:end] * rng.choice([1, 1, 2, 5]) + data[at:]


def icc_sequence(data, rng, seeds):
    """An ICC chunk's sequence number or chunk count changed (0, duplicates, gaps, past the count)."""
    chunks = [s for s in _find(data, (0xE2,)) if data[s[0] + 4 : s[0] + 16] == _ICC and s[1] - s[0] >= 18]
    if not chunks:
        return app_insert(data, rng, seeds)
    start, _, _ = rng.choice(chunks)
    count = data[start + 17]
    value = rng.choice([0, 1, 2, 3, count - 1, count, count + 1, 255]) & 0xFF
    return _put(data, start + 16 + rng.randrange(2), bytes([value]))


def _int_field(data: bytes, rng: random.Random, lo: int, hi: int, order: str = "big") -> bytes:
    """``data`` with a 1, 2 or 4-byte field in ``[lo, hi)`` set to an extreme value."""
    if hi - lo < 4:
        return byte_set(data, rng, [])
    width = rng.choice([1, 2, 4])
    value = rng.choice([0, 1, 2, 8, 0xFF, 0x7FFF, 0xFFFF, hi - lo, 2**24, 0x7FFFFFFF, 0xFFFFFFFF])
    return _put(data, rng.randrange(lo, hi - width + 1), (value & ((1 << (8 * width)) - 1)).to_bytes(width, order))


def exif_field(data, rng, seeds):
    """Within an EXIF block's TIFF structure: its byte order, first IFD offset, or an extreme
    value in some field (entry counts, a tag's type, count or value offset: huge declared sizes)."""
    blocks = [s for s in _find(data, (0xE1,)) if data[s[0] + 4 : s[0] + 10] == _EXIF and s[1] - s[0] >= 18]
    if not blocks:
        return app_insert(data, rng, seeds)
    start, end, _ = rng.choice(blocks)
    tiff = start + 10
    order = "little" if data[tiff : tiff + 2] == b"II" else "big"
    choice = rng.choice(["order", "ifd", "field", "field"])
    if choice == "order":
        return _put(data, tiff, rng.choice([b"II", b"MM", b"IM", b"\x00\x00"]))
    if choice == "ifd":
        value = rng.choice([0, 1, 7, 8, end - tiff, end - tiff - 2, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF])
        return _put(data, tiff + 4, value.to_bytes(4, order))
    return _int_field(data, rng, tiff + 8, end, order)


def icc_header(data, rng, seeds):
    """Within an ICC profile chunk: an extreme value in the profile header (its declared size,
    version, colour spaces) or tag table (tag count, a tag's offset or size)."""
    chunks = [s for s in _find(data, (0xE2,)) if data[s[0] + 4 : s[0] + 16] == _ICC and s[1] - s[0] >= 30]
    if not chunks:
        return app_insert(data, rng, seeds)
    start, end, _ = rng.choice(chunks)
    profile = start + 18
    if rng.random() < 0.3:
        value = rng.choice([0, 1, 127, 128, end - profile - 1, end - profile + 1, 2**31, 0xFFFFFFFF])
        return _put(data, profile, value.to_bytes(4, "big"))
    return _int_field(data, rng, profile, min(end, profile + 256))


def app_bytes(data, rng, seeds):
    """Bytes changed inside an EXIF or ICC segment's payload (its length kept)."""
    found = [s for s in _find(data, _APP) if s[1] - s[0] > 4]
    if not found:
        return app_insert(data, rng, seeds)
    start, end, _ = rng.choice(found)
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(start + 4, end)] = rng.randrange(256)
    return bytes(out)


#: Side lengths of the ``resized`` seeds' mutations.
RESIZE_SIDES = (8, 200)


def resize(data, rng, seeds):
    """The image re-encoded as a JPEG of a new size (each side in ``RESIZE_SIDES``), quality and
    chroma subsampling: a new input shape for each input, not a corrupt file."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        size = (rng.randint(*RESIZE_SIDES), rng.randint(*RESIZE_SIDES))
        resized = image.convert("L" if image.mode == "L" else "RGB").resize(size)
    buffer = io.BytesIO()
    resized.save(buffer, "JPEG", quality=rng.randint(5, 95), subsampling=rng.choice([0, 1, 2]))
    return buffer.getvalue()


MUTATORS = {f.__name__.replace("_", "-"): f for f in (
    byte_set, bit_flip, insert, delete, truncate, segment_swap, segment_duplicate, segment_delete, length_field,
    sof_extreme, sos_extreme, dht_corrupt, dqt_corrupt, dri_rst, splice)}
#: The mutators of each kind of seed (``SEED_KINDS``): the JPEG-aware ones for JPEG files, the
#: format-blind ones plus a header field mutator for decoded-image files and weights files.
_GENERIC = {f.__name__.replace("_", "-"): f for f in (byte_set, bit_flip, insert, delete, truncate, splice)}
#: For JPEGs with metadata, the EXIF and ICC segment mutators; for the memory target's seeds, a
#: new size each time.
MUTATORS_BY_KIND = {"jpeg": MUTATORS,
                    "image": {**_GENERIC, "header-int": header_int},
                    "weights": {**_GENERIC, "safetensors-header": safetensors_header},
                    "metadata": {f.__name__.replace("_", "-"): f for f in (
                        app_insert, app_truncate, app_length, app_duplicate, icc_sequence, exif_field, icc_header,
                        app_bytes)},
                    "resized": {"resize": resize}}


def mutate(seeds: list[bytes], rng: random.Random, mutators: dict | None = None) -> tuple[bytes, list[str]]:
    """One fuzz input: a random seed with one to three random mutations from ``mutators``
    (default ``MUTATORS``, the JPEG ones), and their names."""
    mutators = MUTATORS if mutators is None else mutators
    data, names = rng.choice(seeds), []
    for _ in range(rng.choice([1, 1, 2, 3])):
        name = rng.choice(list(mutators))
        data = mutators[name](data, rng, seeds)
        names.append(name)
    return data, names


# --- targets (run in the child) -----------------------------------------------------------------

#: A blocked child (using no CPU time) is a hang after this many times its target's limit, in wall time.
WALL_FACTOR = 10
#: Per target: seconds of CPU time one input may take before the child counts as hung.
TARGETS = {"read-strict": 10.0, "read-lax": 10.0, "decode": 30.0, "correct": 60.0, "info": 30.0,
           "estimate": 30.0, "correct-blind": 60.0, "weights": 30.0, "metadata": 60.0, "memory": 60.0}
#: Per target: the kind of seed it mutates (``MUTATORS_BY_KIND``): JPEG files (the corpus), the
#: corpus decoded and saved as PNG, BMP, TIFF, WebP and GIF files (``image_seeds``), or small
#: weights files (``weights_seeds``).
SEED_KINDS = {"read-strict": "jpeg", "read-lax": "jpeg", "decode": "jpeg", "correct": "jpeg", "info": "jpeg",
              "estimate": "image", "correct-blind": "image", "weights": "weights", "metadata": "metadata",
              "memory": "resized"}
#: Exception class names each target may raise (anything else is unexpected). ``info`` reports
#: bad files itself as ``path: reason`` and exits 1, which counts as ``exit status 1``; ``estimate``
#: counts a file Pillow cannot open and load as ``not an image`` (Pillow's business, not ours),
#: and with ``correct-blind`` may raise ValueError for what they document (more than 8 bits per
#: sample); ``correct-blind`` raises ImageError for a file Pillow recognises but cannot decode.
EXPECTED = {"read-strict": ("JPEGError", "UnsupportedJPEGError"), "read-lax": ("JPEGError", "UnsupportedJPEGError"),
            "decode": ("JPEGError", "UnsupportedJPEGError"), "correct": ("JPEGError", "UnsupportedJPEGError"),
            "info": ("exit status 1",), "estimate": ("not an image", "ValueError"),
            "correct-blind": ("ImageError", "JPEGError", "UnsupportedJPEGError", "ValueError"),
            "weights": ("WeightsError",), "metadata": ("JPEGError", "UnsupportedJPEGError"), "memory": ()}
#: Pixel limit for the decode and correct targets, so mutated headers cannot make the run slow
#: (for the decoded-image targets, Pillow's ``Image.MAX_IMAGE_PIXELS``).
SMALL_PIXELS = {"decode": 2**20, "correct": 2**16, "estimate": 2**20, "correct-blind": 2**16, "metadata": 2**16}
#: Output formats of the metadata target, one per input (chosen by the input's CRC-32, so that a
#: saved finding replays in its format).
OUTPUT_FORMATS = ("png", "jpeg", "webp")
#: A target leaks when its child's RSS grows by more than this over the second half of its inputs.
LEAK_BYTES = 50 * 2**20
#: Targets that exist to check the harness itself: a crash, a hang, an unexpected exception and a
#: leak (4 MB kept per input).
SELFTEST = {"selftest-crash": 10.0, "selftest-hang": 1.0, "selftest-raise": 10.0, "selftest-leak": 10.0}


def _child() -> None:
    """Serve inputs from stdin: frames ``(target length, data length, target, data)``; after each,
    one line of JSON ``{"error": exception class name, "exit status 1" or null, "rss": bytes}`` on
    stdout."""
    import contextlib
    import io
    import shutil
    import warnings

    from PIL import Image

    warnings.simplefilter("ignore")  # Pillow's on corrupt files: outcomes are what the parent counts
    model = corrector = tiny = None
    leaked = []  # selftest-leak's
    pillow_pixels = Image.MAX_IMAGE_PIXELS  # Pillow's own bomb limit, for the JPEG targets
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    page = os.sysconf("SC_PAGE_SIZE")
    scratch = tempfile.TemporaryDirectory(prefix="qgac-fuzz-")

    def tiny_weights() -> str:
        nonlocal tiny
        if tiny is None:
            tiny = os.path.join(scratch.name, "tiny.safetensors")
            Path(tiny).write_bytes(weights_seeds()[0])
        return tiny

    def run(target: str, data: bytes) -> str | None:
        nonlocal model, corrector
        if target == "selftest-crash":
            os.abort()
        if target == "selftest-leak":
            leaked.append(b"\x01" * 4 * 2**20)  # touched pages: resident
            return None
        if target == "selftest-hang":
            while True:  # spins: a hang costs CPU time, which is what the limit measures
                pass
        if target == "selftest-raise":
            raise KeyError(len(data))
        import qgac_fast  # here, not at the top: the self-test targets start without torch
        from qgac_fast.cli import main as cli_main

        # Pillow refuses images above twice this (DecompressionBombError) before decoding them
        Image.MAX_IMAGE_PIXELS = SMALL_PIXELS[target] if SEED_KINDS[target] == "image" else pillow_pixels
        if target in ("read-strict", "read-lax"):
            qgac_fast.read_coefficients(data, strict=target == "read-strict")
        elif target == "decode":
            qgac_fast.decode(qgac_fast.read_coefficients(data, strict=False, max_pixels=SMALL_PIXELS[target]))
        elif target == "correct":
            model = model or qgac_fast.load_model("default", device="cpu")
            jc = qgac_fast.read_coefficients(data, strict=False, max_pixels=SMALL_PIXELS[target])
            qgac_fast.correct(jc, model=model)
        elif target == "info":
            path = Path(scratch.name) / "input.jpg"
            path.write_bytes(data)
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                return None if cli_main(["info", str(path)]) == 0 else "exit status 1"
        elif target == "estimate":
            try:
                image = Image.open(io.BytesIO(data))
                image.load()
            except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, Image.DecompressionBombError):
                return "not an image"
            qgac_fast.estimate_quantization(image)
        elif target == "correct-blind":
            model = model or qgac_fast.load_model("default", device="cpu")
            qgac_fast.correct(data, model=model)
        elif target == "weights":
            path = Path(scratch.name) / "weights.safetensors"
            path.write_bytes(data)
            qgac_fast.load_model(path, device="cpu")
        elif target == "metadata":
            return correct_file(data)
        elif target == "memory":
            path, outdir = Path(scratch.name) / "input.jpg", Path(scratch.name) / "out"
            path.write_bytes(data)
            try:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    status = cli_main(["correct", str(path), "-o", str(outdir), "--model", tiny_weights(),
                                       "--threads", "1", "--quiet"])
                if status == 0:
                    with Image.open(outdir / "input.png") as image:
                        image.load()
            finally:
                shutil.rmtree(outdir, ignore_errors=True)
            return None if status == 0 else f"exit status {status}"
        else:
            raise SystemExit(f"unknown target {target!r}")
        return None

    def correct_file(data: bytes) -> str | None:
        """``Corrector.correct_files`` on one JPEG, writing the format the input's CRC-32 picks: None
        for a written output that Pillow reads back; a failure's exception class name when reading
        or correcting failed, else ``"write failed: <reason>"`` (encoding or writing the output)."""
        nonlocal corrector
        if corrector is None:
            import qgac_fast

            corrector = qgac_fast.Corrector(tiny_weights(), device="cpu", max_pixels=SMALL_PIXELS["metadata"])
            correct_many = corrector.correct_many

            def recording(items):  # the exceptions, which correct_files turns into reasons
                for result in correct_many(items):
                    errors.append(result.error)
                    yield result

            corrector.correct_many = recording
        fmt = OUTPUT_FORMATS[zlib.crc32(data) % len(OUTPUT_FORMATS)]
        path, output = Path(scratch.name) / "input.jpg", Path(scratch.name) / "out" / f"output.{fmt}"
        path.write_bytes(data)
        errors.clear()
        try:
            (result,) = corrector.correct_files([(path, output)], format=fmt)
            if result.status == "ok":
                with Image.open(output) as image:
                    image.load()
                return None
        finally:
            output.unlink(missing_ok=True)
        if errors and errors[0] is not None:
            return type(errors[0]).__name__
        return f"write failed: {result.error}"

    errors: list = []
    while True:
        header = stdin.read(8)
        if len(header) < 8:
            scratch.cleanup()
            return
        target_length, data_length = struct.unpack("<II", header)
        target = stdin.read(target_length).decode()
        data = stdin.read(data_length)
        try:
            error = run(target, data)
        except Exception as exc:  # noqa: BLE001 - the parent judges which types are expected
            error = type(exc).__name__
        with open("/proc/self/statm") as statm:
            rss = int(statm.read().split()[1]) * page
        stdout.write(json.dumps({"error": error, "rss": rss}).encode() + b"\n")
        stdout.flush()


class _Child:
    """A child process running ``_child``, restarted by the caller after a crash or hang."""

    def __init__(self):
        # the command line's settings for torch's native libraries (bounded oneDNN and ideep caches),
        # which must be in the environment before torch loads: the memory target runs the command line
        from qgac_fast.cli import NATIVE_ENVIRONMENT

        env = {**NATIVE_ENVIRONMENT, **os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen([sys.executable, __file__, "--child"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=env)

    def run(self, target: str, data: bytes, timeout: float) -> dict | str:
        """The child's report for one input, or ``"crash"`` / ``"hang"``."""
        name = target.encode()
        try:
            self.process.stdin.write(struct.pack("<II", len(name), len(data)) + name + data)
            self.process.stdin.flush()
        except BrokenPipeError:
            return "crash"
        cpu_start, wall_end = self._cpu(), time.monotonic() + WALL_FACTOR * timeout
        while not select.select([self.process.stdout], [], [], min(timeout, 1.0))[0]:
            if self._cpu() - cpu_start >= timeout or time.monotonic() >= wall_end:
                return "hang"
        line = self.process.stdout.readline()
        return json.loads(line) if line else "crash"

    def _cpu(self) -> float:
        """Seconds of CPU time the child has used (all its threads); 0 once it has exited."""
        try:
            times = psutil.Process(self.process.pid).cpu_times()
        except psutil.Error:
            return 0.0
        return times.user + times.system

    def close(self) -> int | None:
        """Stop the child; returns its exit status (negative: the signal that killed it)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except BrokenPipeError:
                pass
        return self.process.returncode


# --- the campaign (parent) -----------------------------------------------------------------------


class Campaign:
    """Counts for one target. ``rss_start`` is the child's RSS after its first accepted input of this
    target (libraries, their caches and, for correct, the model loaded: ``info`` builds the
    quantization estimate's lattice kernels only for a file it reads), else after its first input;
    ``rss_peak`` the highest after any input, ``rss_end`` after the last, ``rss_tenths`` after each
    tenth of the inputs (growth shows as a trend there). ``leaks`` is 1 when the RSS grew by more
    than ``LEAK_BYTES`` over the second half of the inputs (``second_half_growth``)."""

    def __init__(self, target: str):
        self.target, self.inputs, self.ok, self.rejected = target, 0, 0, 0
        self.crashes, self.hangs, self.unexpected = 0, 0, 0
        self.crash_statuses: Counter = Counter()  # exit status of crashed children (-6: SIGABRT)
        self.exceptions: Counter = Counter()
        self.rss_start = self.rss_end = None
        self.rss_peak = 0
        self.rss_tenths: list[int] = []
        self.rss: list[int] = []  # after each input that reported
        self.leaks = 0
        self.seconds = 0.0
        self.findings: list[str] = []

    def as_dict(self) -> dict:
        return {"target": self.target, "inputs": self.inputs, "ok": self.ok, "rejected": self.rejected,
                "crashes": self.crashes, "crash_statuses": dict(self.crash_statuses), "hangs": self.hangs,
                "unexpected": self.unexpected, "leaks": self.leaks,
                "rss_growth_second_half_mb": _mb(second_half_growth(self.rss)), "exceptions": dict(self.exceptions.most_common()),
                "rss_start_mb": _mb(self.rss_start), "rss_peak_mb": _mb(self.rss_peak),
                "rss_end_mb": _mb(self.rss_end), "rss_tenths_mb": [_mb(r) for r in self.rss_tenths],
                "seconds": round(self.seconds, 1), "findings": self.findings}


def _mb(value: int | None) -> float | None:
    return None if value is None else round(value / 2**20, 1)


def second_half_growth(rss: list[int]) -> int:
    """How much a series of RSS readings (bytes, one per input) grew over its second half: the
    last minus the last of the first half (a transient peak between them is no leak); 0 for fewer
    than two readings."""
    return rss[-1] - rss[(len(rss) - 1) // 2] if len(rss) >= 2 else 0


def seed_kind(target: str) -> str:
    """The kind of seed ``target`` mutates (``SEED_KINDS``; the self-tests ignore their JPEG input)."""
    return SEED_KINDS.get(target, "jpeg")


#: File name suffix of a saved finding, per kind of seed.
FINDING_SUFFIXES = {"jpeg": "jpg", "image": "image", "weights": "safetensors", "metadata": "jpg", "resized": "jpg"}


def run_campaign(counts: dict[str, int], seeds: dict[str, list[bytes]], seed: int = 0, findings: Path | None = None,
                 timeouts: dict[str, float] | None = None, progress=None) -> list[Campaign]:
    """Run ``counts[target]`` mutated inputs through each target, in one child process restarted
    after every crash or hang; inputs that crash, hang or raise an unexpected exception are saved
    to ``findings`` (when given) as ``<target>-<kind>-<index>.<suffix>`` (``FINDING_SUFFIXES``).

    Args:
        counts: target name (``TARGETS`` or ``SELFTEST``) -> number of inputs.
        seeds: kind of seed (``SEED_KINDS``) -> real files of that kind to mutate; only the kinds
            of the targets in ``counts`` are needed (see ``make_seeds``).
        seed: seeds the generator; the same arguments give the same inputs.
        timeouts: per-target seconds overriding ``TARGETS``.
        progress: optional callable ``(campaign)`` called after each tenth of a target's inputs.

    Raises:
        ValueError: an unknown target, or no seeds of a kind a target needs.
    """
    limits = {**TARGETS, **SELFTEST, **(timeouts or {})}
    unknown = set(counts) - set(limits)
    if unknown:
        raise ValueError(f"unknown targets {sorted(unknown)}; choose from {sorted(TARGETS)}")
    missing = {seed_kind(target) for target in counts} - {kind for kind, files in seeds.items() if files}
    if missing:
        raise ValueError(f"no seeds of kind {', '.join(sorted(missing))}")
    results, child = [], _Child()
    try:
        for target, count in counts.items():
            kind = seed_kind(target)
            rng = random.Random(f"{seed}:{target}")
            campaign = Campaign(target)
            results.append(campaign)
            started = time.perf_counter()
            for index in range(count):
                data, _ = mutate(seeds[kind], rng, MUTATORS_BY_KIND[kind])
                report = child.run(target, data, limits[target])
                campaign.inputs += 1
                outcome = None
                if isinstance(report, str):
                    outcome = report
                    status = child.close()
                    child = _Child()
                    if report == "crash":
                        campaign.crashes += 1
                        campaign.crash_statuses[status] += 1
                    else:
                        campaign.hangs += 1
                else:
                    if report["error"] is None and campaign.ok == 0:  # the target's whole path has run once
                        campaign.rss_start = report["rss"]
                    campaign.rss_start = campaign.rss_start or report["rss"]
                    campaign.rss_end = report["rss"]
                    campaign.rss_peak = max(campaign.rss_peak, report["rss"])
                    campaign.rss.append(report["rss"])
                    if report["error"] is None:
                        campaign.ok += 1
                    else:
                        campaign.exceptions[report["error"]] += 1
                        if report["error"] in EXPECTED.get(target, ()):
                            campaign.rejected += 1
                        else:
                            campaign.unexpected += 1
                            outcome = "unexpected"
                if outcome is not None and findings is not None:
                    findings.mkdir(parents=True, exist_ok=True)
                    path = findings / f"{target}-{outcome}-{index}.{FINDING_SUFFIXES[kind]}"
                    path.write_bytes(data)
                    campaign.findings.append(str(path))
                if (index + 1) % max(1, count // 10) == 0:
                    campaign.rss_tenths.append(campaign.rss_end)
                    campaign.seconds = time.perf_counter() - started
                    if progress is not None:
                        progress(campaign)
            campaign.seconds = time.perf_counter() - started
            campaign.leaks = int(second_half_growth(campaign.rss) > LEAK_BYTES)
    finally:
        child.close()
    return results


def format_table(results: list[Campaign]) -> str:
    """The campaign as a Markdown table."""
    lines = ["| target | inputs | ok | rejected | crashes | hangs | unexpected | leaks | exception types | "
             "RSS start MB | RSS peak MB | RSS end MB | 2nd-half growth MB | seconds |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    for c in (r.as_dict() for r in results):
        types = ", ".join(f"{name} {n}" for name, n in c["exceptions"].items()) or "-"
        lines.append(f"| {c['target']} | {c['inputs']} | {c['ok']} | {c['rejected']} | {c['crashes']} | "
                     f"{c['hangs']} | {c['unexpected']} | {c['leaks']} | {types} | {c['rss_start_mb']} | "
                     f"{c['rss_peak_mb']} | {c['rss_end_mb']} | {c['rss_growth_second_half_mb']} | {c['seconds']} |")
    return "\n".join(lines)


def corpus_seeds() -> list[bytes]:
    """The corpus files (tools/jpeg_corpus.py) as bytes, made in a temporary folder."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import jpeg_corpus

    with tempfile.TemporaryDirectory() as folder:
        return [path.read_bytes() for path in jpeg_corpus.make_corpus(folder)]


#: Formats (with Pillow save options) the decoded-image seeds cycle through.
IMAGE_FORMATS = (("PNG", {}), ("BMP", {}), ("TIFF", {}), ("TIFF", {"compression": "tiff_lzw"}),
                 ("WEBP", {"lossless": True}), ("WEBP", {"quality": 90}), ("GIF", {}))


def image_seeds(jpegs: list[bytes]) -> list[bytes]:
    """The JPEG files decoded by Pillow and saved as PNG, BMP, TIFF, WebP and GIF files, in turn
    (``IMAGE_FORMATS``): pixels with a JPEG history for the blind path to find (lossy WebP and
    GIF's palette blur it), with the JPEG's ICC profile where the format keeps one."""
    import io

    from PIL import Image

    out = []
    for index, data in enumerate(jpegs):
        fmt, options = IMAGE_FORMATS[index % len(IMAGE_FORMATS)]
        with Image.open(io.BytesIO(data)) as image:
            icc = image.info.get("icc_profile")
            if icc and fmt in ("PNG", "TIFF", "WEBP"):
                options = {**options, "icc_profile": icc}
            buffer = io.BytesIO()
            image.save(buffer, fmt, **options)
        out.append(buffer.getvalue())
    return out


def weights_seeds() -> list[bytes]:
    """A tiny QGAC's weights (fixed initialisation) as ``save_model`` writes them, stored as
    float32 and as bfloat16: every header field and tensor of the real format, in kilobytes."""
    import torch
    from qgac_fast.model import QGAC, QGACConfig, save_model

    config = QGACConfig(manifold=4, block_channels=8, tile_channels=4, frequency_channels=1, fusion_channels=2,
                        dense_blocks=1, dense_layers=1, color_channels=4)
    torch.manual_seed(0)
    model = QGAC(config)
    with tempfile.TemporaryDirectory() as folder:
        out = []
        for dtype in (torch.float32, torch.bfloat16):
            path = Path(folder) / "weights.safetensors"
            save_model(model, path, training={"made_by": "tools/fuzz.py"}, dtype=dtype)
            out.append(path.read_bytes())
    return out


def _small(jpegs: list[bytes]) -> list[bytes]:
    """The JPEGs Pillow opens whose pixels fit the metadata target's limit."""
    import io

    from PIL import Image

    out = []
    for data in jpegs:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height <= SMALL_PIXELS["metadata"] and image.mode in ("L", "RGB"):
                out.append(data)
    return out


def _icc_profile() -> bytes:
    """A real ICC profile (Pillow's sRGB, with a fixed creation date so that the seeds are the same
    on every run), or failing LittleCMS a header-only one."""
    try:
        from PIL import ImageCms

        profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
        profile[24:36] = struct.pack(">6H", 2026, 1, 1, 0, 0, 0)
        profile[84:100] = bytes(16)  # no profile ID (an MD5 that would cover the date)
        return bytes(profile)
    except ImportError:
        header = bytearray(128)
        header[0:4], header[12:24], header[36:40] = (128).to_bytes(4, "big"), b"mntrRGB XYZ ", b"acsp"
        return bytes(header)


def metadata_seeds(jpegs: list[bytes]) -> list[bytes]:
    """The small JPEGs (``_small``) with an EXIF block (Orientation, make, date, an IFD pointer)
    and an ICC profile in one, two or three APP2 chunks, or only one of the two, in turn; the
    first seed has both."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112], exif[0x010F], exif[0x0132] = 6, "qgac_fast fuzz", "2026:01:02 03:04:05"
    exif.get_ifd(0x8769)[0x9003] = "2026:01:02 03:04:05"
    exif_segment = _segment(0xE1, exif.tobytes())
    profile = _icc_profile()
    out = []
    for index, data in enumerate(_small(jpegs)):
        chunks = 1 + index // 3 % 3
        step = -(-len(profile) // chunks)
        icc = b"".join(_segment(0xE2, _ICC + bytes([i + 1, chunks]) + profile[i * step : (i + 1) * step])
                       for i in range(chunks))
        at = segments(data)[0][1] if data[2:4] == b"\xff\xe0" else 2  # after JFIF's APP0
        extra = [exif_segment + icc, icc, exif_segment][index % 3]
        out.append(data[:at] + extra + data[at:])
    return out


def resized_seeds(jpegs: list[bytes]) -> list[bytes]:
    """The small JPEGs (``_small``), which the memory target's ``resize`` re-encodes at new sizes."""
    return _small(jpegs)


def make_seeds(targets) -> dict[str, list[bytes]]:
    """The seeds of each kind ``targets`` need (``SEED_KINDS``), made in temporary folders."""
    kinds = {seed_kind(target) for target in targets}
    jpegs = corpus_seeds() if kinds - {"weights"} else []
    makers = {"jpeg": lambda: jpegs, "image": lambda: image_seeds(jpegs), "weights": weights_seeds,
              "metadata": lambda: metadata_seeds(jpegs), "resized": lambda: resized_seeds(jpegs)}
    return {kind: make() for kind, make in makers.items() if kind in kinds}


def _parse_target(text: str) -> tuple[str, int]:
    name, _, count = text.partition("=")
    if name not in TARGETS or not count.isdigit():
        raise argparse.ArgumentTypeError(f"expected TARGET=COUNT with TARGET in {', '.join(TARGETS)}, got {text!r}")
    return name, int(count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--target", action="append", type=_parse_target, metavar="TARGET=COUNT",
                        help=f"inputs per target ({', '.join(TARGETS)}); repeatable")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    parser.add_argument("--findings", type=Path, default=Path("fuzz-findings"),
                        help="where inputs that crash, hang or raise unexpectedly are saved (default %(default)s)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    parser.add_argument("--markdown", type=Path, help="also write the table, with the command, as Markdown")
    args = parser.parse_args(argv)
    if args.child:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
        _child()
        return 0
    if not args.target:
        parser.error("give at least one --target TARGET=COUNT")
    command = "python tools/fuzz.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    seeds = make_seeds(name for name, _ in args.target)

    def progress(c: Campaign) -> None:
        print(f"  {c.target}: {c.inputs} inputs, {c.crashes} crashes, {c.hangs} hangs, {c.unexpected} unexpected, "
              f"RSS {_mb(c.rss_end)} MB, {c.seconds:.0f} s", file=sys.stderr, flush=True)

    results = run_campaign(dict(args.target), seeds, seed=args.seed, findings=args.findings, progress=progress)
    table = format_table(results)
    print(table)
    # The extension module itself: the package's attributes are imported lazily (PEP 562) and
    # ``qgac_fast.codec`` is no attribute until something imports it, which this process never does.
    from qgac_fast import __version__
    from qgac_fast.codec import LIBJPEG_VERSION

    facts = {"command": command, "seed": args.seed, "seeds": {kind: len(files) for kind, files in seeds.items()},
             "mutators": {kind: list(MUTATORS_BY_KIND[kind]) for kind in seeds},
             "qgac_fast": __version__, "libjpeg": LIBJPEG_VERSION,
             "python": sys.version.split()[0], "results": [r.as_dict() for r in results]}
    if args.json:
        args.json.write_text(json.dumps(facts, indent=2) + "\n")
    if args.markdown:
        series = "\n".join(f"- {r.target}: {', '.join(str(_mb(v)) for v in r.rss_tenths)}" for r in results)
        args.markdown.write_text(f"Command: `{command}`\n\n{table}\n\nRSS (MB) after each tenth of the inputs:\n\n"
                                 f"{series}\n")
    failed = any(r.crashes or r.hangs or r.unexpected or r.leaks for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
