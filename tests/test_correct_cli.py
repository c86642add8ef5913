"""``qgac-fast correct`` (``qgac_fast.cli.correct``): inputs, mirrored outputs, failures, resume, shards."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from qgac_fast.codec import read_coefficients
from qgac_fast.inference import outputs, step
from qgac_fast.cli.correct import main, plan_outputs, shard
from qgac_fast.jpeg_files import collect_inputs
from qgac_fast.inference import Corrector
from qgac_fast.model import QGAC, QGACConfig, load_model, save_model

from images import big_profile, cjpeg, data_path, pillow_jpeg, synthetic_image, tagged_jpeg

TINY = QGACConfig(manifold=4, block_channels=8, tile_channels=4, frequency_channels=1, fusion_channels=2,
                  dense_blocks=1, dense_layers=1, color_channels=4, init_scale=1.0, output_init_scale=1.0,
                  chroma_skip="fancy")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model(QGAC(TINY), path, training={"hardware": "test"})
    return str(path)


def _tree(root):
    """photos/{a.jpg, B.JPG, sub/c.jpeg, sub/deeper/d.jpg, notes.txt, bad.jpg (not a JPEG), cut.jpg (truncated)}."""
    photos = root / "photos"
    (photos / "sub" / "deeper").mkdir(parents=True)
    files = {"a.jpg": (40, 56, 1), "B.JPG": (24, 40, 2), "sub/c.jpeg": (33, 47, 3), "sub/deeper/d.jpg": (16, 16, 4)}
    for name, (h, w, seed) in files.items():
        (photos / name).write_bytes(pillow_jpeg(synthetic_image(h, w, seed=seed), quality=30))
    (photos / "notes.txt").write_text("not an image")
    (photos / "bad.jpg").write_bytes(b"this is not a JPEG")
    (photos / "cut.jpg").write_bytes(pillow_jpeg(synthetic_image(32, 32), quality=30)[:300])
    return photos


def _run(weights, *args):
    return main([*map(str, args), "--model", weights, "--device", "cpu"])


def test_folder_is_mirrored_and_bad_files_are_reported(weights, tmp_path, capsys):
    photos = _tree(tmp_path)
    out = tmp_path / "out"
    status = _run(weights, photos, "-o", out, "--json", tmp_path / "results.json")
    err = capsys.readouterr().err
    assert status == 1
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["B.png", "a.png", "sub/c.png", "sub/deeper/d.png"]
    assert f"{photos / 'bad.jpg'}: Not a JPEG file" in err
    assert f"{photos / 'cut.jpg'}: " in err
    assert "4 corrected" in err and "2 failed" in err
    document = json.loads((tmp_path / "results.json").read_text())
    statuses = {os.path.basename(f["input"]): f["status"] for f in document["files"]}
    assert statuses == {"a.jpg": "ok", "B.JPG": "ok", "c.jpeg": "ok", "d.jpg": "ok", "bad.jpg": "failed",
                        "cut.jpg": "failed"}
    assert document["summary"]["corrected"] == 4 and document["summary"]["failed"] == 2
    a = next(f for f in document["files"] if f["input"].endswith("a.jpg"))
    assert (a["width"], a["height"], a["output"]) == (56, 40, str(out / "a.png"))


def test_outputs_equal_the_engine_result(weights, tmp_path):
    photos = _tree(tmp_path)
    assert _run(weights, photos / "a.jpg", "-o", tmp_path / "out", "--quiet") == 0
    expected = Corrector(load_model(weights), tile=None).correct(photos / "a.jpg")
    written = np.asarray(Image.open(tmp_path / "out" / "a.png")).transpose(2, 0, 1)
    assert np.array_equal(written, expected.numpy())


@pytest.mark.parametrize("format,suffix", [("png", ".png"), ("jpeg", ".jpg"), ("webp", ".webp")])
def test_output_formats(weights, tmp_path, format, suffix):
    photos = _tree(tmp_path)
    out = tmp_path / "out"
    assert _run(weights, photos / "a.jpg", "-o", out, "--format", format, "--jpeg-quality", "80", "--quiet") == 0
    with Image.open(out / f"a{suffix}") as image:
        assert image.format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[format]
        assert image.size == (56, 40)


def test_skip_existing_resumes_without_rewriting(weights, tmp_path, capsys):
    photos = _tree(tmp_path)
    for name in ("bad.jpg", "cut.jpg"):
        (photos / name).unlink()
    out = tmp_path / "out"
    assert _run(weights, photos, "-o", out, "--quiet") == 0
    first = out / "a.png"
    first.unlink()  # as if the first run had stopped before this file
    old = 1_000_000_000
    for path in out.rglob("*.png"):
        os.utime(path, (old, old))
    assert _run(weights, photos, "-o", out, "--skip-existing", "--json", tmp_path / "r.json") == 0
    assert first.is_file() and first.stat().st_mtime > old
    assert all(p.stat().st_mtime == old for p in out.rglob("*.png") if p != first)
    statuses = sorted(f["status"] for f in json.loads((tmp_path / "r.json").read_text())["files"])
    assert statuses == ["ok", "skipped", "skipped", "skipped"]
    assert "1 corrected" in capsys.readouterr().err


def test_a_table_slot_beyond_3_fails_its_file_and_the_run_goes_on(weights, tmp_path, capsys):
    # the file used to kill the run with a segmentation fault, before the summary and the JSON,
    # and again on every --skip-existing resume (tests/data/README.md)
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(pillow_jpeg(synthetic_image(40, 56, seed=1), quality=30))
    (photos / "slot.jpg").write_bytes(data_path("sof-table-slot-0x28-no-scan.jpg").read_bytes())
    out = tmp_path / "out"
    for resume, ok in ((), "ok"), (("--skip-existing",), "skipped"):
        assert _run(weights, photos, "-o", out, *resume, "--json", tmp_path / "r.json") == 1
        err = capsys.readouterr().err
        assert f"{photos / 'slot.jpg'}: component 2 (id 3) names quantization table slot 40" in err
        document = json.loads((tmp_path / "r.json").read_text())
        statuses = {os.path.basename(f["input"]): f["status"] for f in document["files"]}
        assert statuses == {"a.jpg": ok, "slot.jpg": "failed"} and document["summary"]["failed"] == 1
        assert sorted(p.name for p in out.iterdir()) == ["a.png"]


def test_never_overwrites_inputs(weights, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("x.jpg", "y.jpeg"):
        (folder / name).write_bytes(pillow_jpeg(synthetic_image(24, 24), quality=30))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    # --format jpeg into the input folder: x.jpg would be its own output
    assert _run(weights, folder, "-o", folder, "--format", "jpeg", "--quiet") == 1
    assert "x.jpg: refusing to overwrite an input file" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name in before} == before
    assert (folder / "y.jpg").is_file()  # y.jpeg -> y.jpg is not an input: written


def test_two_inputs_with_one_output_are_refused(weights, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("x.jpg", "x.jpeg"):
        (folder / name).write_bytes(pillow_jpeg(synthetic_image(24, 24), quality=30))
    assert _run(weights, folder, "-o", tmp_path / "out", "--quiet") == 1
    # names both inputs, the output and the way out
    assert (f"{folder / 'x.jpg'}: {folder / 'x.jpeg'} and {folder / 'x.jpg'} would both be written to "
            f"{tmp_path / 'out' / 'x.png'}: rename one of them, or correct them in separate runs with different -o"
            in capsys.readouterr().err)
    assert (tmp_path / "out" / "x.png").is_file()


def test_a_full_disk_stops_the_run(weights, tmp_path, monkeypatch, capsys):
    """The write of 02.png meets ENOSPC: it fails naming the output, and the files after it are no
    longer read (``not_done``; a few already in flight when the writer thread failed may finish),
    nothing partial is left, and the exit status is 1."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(14):
        (photos / f"{i:02d}.jpg").write_bytes(pillow_jpeg(synthetic_image(16, 24, seed=i), quality=30))
    real = outputs.write_atomic

    def full(dst, data):
        if dst.endswith("02.png"):
            raise OSError(28, "No space left on device")
        return real(dst, data)

    monkeypatch.setattr(outputs, "write_atomic", full)
    out = tmp_path / "out"
    assert _run(weights, photos, "-o", out, "--quiet", "--json", tmp_path / "r.json") == 1
    err = capsys.readouterr().err
    assert f"02.jpg: cannot write {out / '02.png'}: No space left on device" in err
    assert "stopping, the remaining files are not done: cannot write" in err
    statuses = [f["status"] for f in json.loads((tmp_path / "r.json").read_text())["files"]]
    assert statuses[:3] == ["ok", "ok", "failed"]
    after = statuses[3:]
    stop = after.index("not_done")  # at most the in-flight window (2 writers' worth + prefetch) ran on
    assert stop <= 6 and set(after[:stop]) <= {"ok"} and set(after[stop:]) == {"not_done"}
    written = sorted(p.name for p in out.iterdir())
    assert written == [f"{i:02d}.png" for i in range(14) if i != 2 and statuses[i] == "ok"]  # no temporaries


def test_a_read_only_folder_fails_its_files_and_the_others_go_on(weights, tmp_path, monkeypatch, capsys):
    """EROFS in one output subfolder is about that folder: its files fail (the later ones unread),
    the files bound for other folders are written, and the run does not stop."""
    photos = tmp_path / "photos"
    for folder in ("a_ro", "b_rw"):
        (photos / folder).mkdir(parents=True)
        for i in range(3):
            (photos / folder / f"{i}.jpg").write_bytes(pillow_jpeg(synthetic_image(16, 24, seed=i), quality=30))
    out = tmp_path / "out"
    real = outputs.write_atomic

    def read_only(dst, data):
        if os.path.basename(os.path.dirname(dst)) == "a_ro":
            raise OSError(30, "Read-only file system")
        return real(dst, data)

    monkeypatch.setattr(outputs, "write_atomic", read_only)
    assert _run(weights, photos, "-o", out, "--quiet", "--json", tmp_path / "r.json") == 1
    err = capsys.readouterr().err
    assert "stopping" not in err
    files = json.loads((tmp_path / "r.json").read_text())["files"]
    assert [f["status"] for f in files] == ["failed"] * 3 + ["ok"] * 3
    first = f"cannot write {out / 'a_ro' / '0.png'}: Read-only file system"
    assert files[0]["error"] == first
    assert all(f["error"] in (f"cannot write {f['output']}: Read-only file system", f"not attempted: {first}")
               for f in files[1:3])
    assert sorted(p.name for p in (out / "b_rw").iterdir()) == ["0.png", "1.png", "2.png"]


def test_write_failures_name_the_output(weights, tmp_path, capsys):
    photos = _tree(tmp_path)
    out = tmp_path / "out"
    (out / "a.png").mkdir(parents=True)  # the output path is taken by a folder
    assert _run(weights, photos, "-o", out, "--quiet") == 1
    assert f"a.jpg: cannot write {out / 'a.png'}: Is a directory" in capsys.readouterr().err
    assert (out / "B.png").is_file() and (out / "sub" / "c.png").is_file()  # not fatal: the others go on


def test_unusable_output_folder_is_one_line(weights, tmp_path, capsys):
    photos = _tree(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert _run(weights, photos, "-o", blocker, "--quiet") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"qgac-fast correct: cannot write to -o {blocker}: ") and "Traceback" not in "".join(err)


def test_unwritable_json_is_one_line(weights, tmp_path, capsys):
    photos = _tree(tmp_path)
    assert _run(weights, photos / "a.jpg", "-o", tmp_path / "out", "--quiet", "--json",
                tmp_path / "missing" / "r.json") == 1
    json_path = tmp_path / "missing" / "r.json"
    assert capsys.readouterr().err.strip() == f"qgac-fast correct: cannot write --json {json_path}: No such file or directory"
    assert (tmp_path / "out" / "a.png").is_file()


@pytest.mark.parametrize("report", ["input", "symlink", "hardlink", "output"])
def test_the_report_may_be_neither_an_input_nor_an_output(weights, tmp_path, capsys, report):
    """--json naming an input (or a link to it) or an output of the run is refused before any work,
    as a usage error, and nothing is written."""
    photos = _tree(tmp_path)
    original = (photos / "a.jpg").read_bytes()
    out = tmp_path / "out"
    target = {"input": photos / "a.jpg", "symlink": tmp_path / "link.json", "hardlink": tmp_path / "hard.json",
              "output": out / "B.png"}[report]
    if report == "symlink":
        target.symlink_to(photos / "a.jpg")
    elif report == "hardlink":
        os.link(photos / "a.jpg", target)
    assert _run(weights, photos / "a.jpg", photos / "B.JPG", "-o", out, "--json", target) == 2
    err = capsys.readouterr().err.strip()
    kind = "an output of this run" if report == "output" else "an input file"
    assert err == f"qgac-fast correct: --json {target}: refusing to overwrite {kind} with the report"
    assert (photos / "a.jpg").read_bytes() == original and not out.exists()


def test_a_symlink_loop_says_so(weights, tmp_path, capsys):
    loop = tmp_path / "loop.jpg"
    loop.symlink_to(loop)
    assert _run(weights, loop, "-o", tmp_path / "out", "--quiet") == 1
    assert f"{loop}: Too many levels of symbolic links" in capsys.readouterr().err


def test_resume_removes_stale_temporary_files(weights, tmp_path):
    """--skip-existing removes what a killed run left (``.NAME.<hex>.tmp`` that no writer holds
    locked) beside the outputs, however recent, and keeps other files."""
    photos = _tree(tmp_path)
    out = tmp_path / "out"
    assert _run(weights, photos / "a.jpg", "-o", out, "--quiet") == 0
    stale, recent, other = out / ".a.png.0123456789abcdef.tmp", out / ".B.png.fedcba9876543210.tmp", out / ".x.tmp"
    for path in (stale, recent, other):
        path.write_bytes(b"partial")
    os.utime(stale, (1_000_000_000, 1_000_000_000))
    os.utime(recent, (4_000_000_000, 4_000_000_000))
    _run(weights, photos, "-o", out, "--quiet", "--skip-existing")
    assert not stale.exists() and not recent.exists() and other.exists()


def test_two_ranks_correct_every_file_exactly_once(weights, tmp_path, monkeypatch):
    photos = _tree(tmp_path)
    out = tmp_path / "out"
    done = []
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("LOCAL_RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        assert _run(weights, photos, "-o", out, "--quiet", "--json", tmp_path / "r.json") == 1  # bad files
        files = json.loads((tmp_path / f"r.rank{rank}.json").read_text())["files"]
        done.append({f["input"] for f in files if f["status"] == "ok"})
        failed = {f["input"] for f in files if f["status"] == "failed"}
        assert failed and failed.isdisjoint(done[-1])
    assert done[0] and done[1] and done[0].isdisjoint(done[1])
    assert len(done[0] | done[1]) == 4
    assert len(list(out.rglob("*.png"))) == 4


def test_shard_takes_every_world_th_item():
    items = list(range(7))
    assert shard(items, 0, 3) == [0, 3, 6] and shard(items, 2, 3) == [2, 5]
    assert sorted(shard(items, 0, 2) + shard(items, 1, 2)) == items
    with pytest.raises(ValueError, match="RANK"):
        shard(items, 2, 2)


def test_collect_inputs_files_folders_and_globs(tmp_path, monkeypatch):
    _tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    found, errors = collect_inputs(["photos/sub", "photos/a.jpg", "photos/**/*.jp*g", "missing.jpg", "none/*.jpg"])
    relative = {os.path.relpath(path, "photos"): rel for path, rel in found}
    assert relative == {
        "sub/c.jpeg": "c.jpeg", "sub/deeper/d.jpg": "deeper/d.jpg",  # folder: relative to it
        "a.jpg": "a.jpg",  # a file by name: to OUTDIR itself; the glob's later match is the same file
        "bad.jpg": "bad.jpg", "cut.jpg": "cut.jpg",  # glob: relative to its fixed prefix 'photos'
    }
    assert errors == [("missing.jpg", "No such file or directory"), ("none/*.jpg", "no file matches this pattern")]
    pairs, refused = plan_outputs(found, "out", "webp")
    assert [p for p, _ in pairs] == sorted(p for p, _ in found) and not refused
    assert dict(pairs)[os.path.join("photos", "sub", "deeper", "d.jpg")] == os.path.join("out", "deeper", "d.webp")


@pytest.mark.parametrize("name", ["nope.safetensors", "not-weights.safetensors"])
def test_a_model_that_cannot_load_is_one_line(tmp_path, capsys, name):
    photos = _tree(tmp_path)
    (tmp_path / "not-weights.safetensors").write_text("not a safetensors file\n")
    assert main([str(photos / "a.jpg"), "-o", str(tmp_path / "out"), "--model", str(tmp_path / name),
                 "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"qgac-fast correct: cannot load model {str(tmp_path / name)!r}: ") and name in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_fp16_on_the_cpu_is_a_usage_error(weights, tmp_path, capsys):
    photos = _tree(tmp_path)
    assert _run(weights, photos / "a.jpg", "-o", tmp_path / "out", "--precision", "fp16") == 2
    assert "autocast on CUDA only" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_compile_option_reaches_the_engine(weights, tmp_path, monkeypatch):
    """``--compile MODE`` compiles the model's networks with that mode (dynamo tracing only here:
    the inductor path is tested in test_engine.py); the output equals the eager one."""
    modes = []

    def traced(model, mode, backend="inductor"):
        modes.append(mode)
        return torch.compile(model.networks, backend="eager")

    monkeypatch.setattr(step, "compile_networks", traced)
    photos = _tree(tmp_path)
    assert _run(weights, photos / "a.jpg", "-o", tmp_path / "out", "--compile", "reduce-overhead", "--quiet") == 0
    assert modes == ["reduce-overhead"]
    expected = Corrector(load_model(weights), tile=None).correct(photos / "a.jpg")
    written = np.asarray(Image.open(tmp_path / "out" / "a.png")).transpose(2, 0, 1)
    assert np.array_equal(written, expected.numpy())



def test_read_limits_are_options(weights, tmp_path, capsys):
    """A compact arithmetic-coded file trips the decompression-bomb guard by default; the options
    lift it (``none``) or tighten the pixel limit."""
    flat = tmp_path / "flat.jpg"
    flat.write_bytes(cjpeg(np.full((512, 512), 128, np.uint8), "-arithmetic", "-grayscale"))
    assert _run(weights, flat, "-o", tmp_path / "out", "--quiet") == 1
    assert "max_pixels_per_byte" in capsys.readouterr().err
    assert _run(weights, flat, "-o", tmp_path / "out", "--quiet", "--max-pixels-per-byte", "none") == 0
    assert np.asarray(Image.open(tmp_path / "out" / "flat.png")).shape == (512, 512)
    assert _run(weights, flat, "-o", tmp_path / "small", "--quiet", "--max-pixels-per-byte", "none",
                "--max-pixels", "1000") == 1
    assert "pixel limit" in capsys.readouterr().err


def _layouts(tmp_path):
    """inputs/{s444.jpg, s422.jpg, s411.jpg (cjpeg-free: compress), gray.jpg}."""
    from qgac_fast.compression import compress

    folder = tmp_path / "inputs"
    folder.mkdir()
    pixels = synthetic_image(32, 48, seed=7)
    for name, subsampling in (("s444", "4:4:4"), ("s422", "4:2:2"), ("s411", "4:1:1")):
        (folder / f"{name}.jpg").write_bytes(compress(pixels, 40, subsampling=subsampling))
    (folder / "gray.jpg").write_bytes(compress(pixels[..., 0], 40))
    return folder


def test_jpeg_outputs_keep_the_input_subsampling_and_gray(weights, tmp_path):
    folder = _layouts(tmp_path)
    assert _run(weights, folder, "-o", tmp_path / "kept", "--format", "jpeg", "--quiet") == 0
    kept = {p.stem: read_coefficients(p).subsampling for p in (tmp_path / "kept").iterdir()}
    assert kept == {"s444": "4:4:4", "s422": "4:2:2", "s411": "4:1:1", "gray": "gray"}
    assert _run(weights, folder, "-o", tmp_path / "set", "--format", "jpeg", "--subsampling", "4:2:0", "--quiet") == 0
    chosen = {p.stem: read_coefficients(p).subsampling for p in (tmp_path / "set").iterdir()}
    assert chosen == {"s444": "4:2:0", "s422": "4:2:0", "s411": "4:2:0", "gray": "gray"}
    assert _run(weights, folder / "gray.jpg", "-o", tmp_path / "png", "--quiet") == 0
    with Image.open(tmp_path / "png" / "gray.png") as image:
        assert image.mode == "L"  # gray stays gray; WebP has no gray mode (documented)


def test_webp_quality_lossy_and_lossless(weights, tmp_path):
    photos = _tree(tmp_path)
    expected = Corrector(load_model(weights), tile=None).correct(photos / "a.jpg").numpy()
    assert _run(weights, photos / "a.jpg", "-o", tmp_path / "lossless", "--format", "webp",
                "--webp-quality", "lossless", "--quiet") == 0
    with Image.open(tmp_path / "lossless" / "a.webp") as image:
        assert np.array_equal(np.asarray(image).transpose(2, 0, 1), expected)
    assert _run(weights, photos / "a.jpg", "-o", tmp_path / "lossy", "--format", "webp", "--webp-quality", "50",
                "--quiet") == 0
    with Image.open(tmp_path / "lossy" / "a.webp") as image:
        lossy = np.asarray(image.convert("RGB")).transpose(2, 0, 1)
    assert lossy.shape == expected.shape and not np.array_equal(lossy, expected)
    assert (tmp_path / "lossy" / "a.webp").stat().st_size < (tmp_path / "lossless" / "a.webp").stat().st_size


@pytest.mark.parametrize("args, message", [
    (["--subsampling", "4:4:4"], "--subsampling applies to --format jpeg, not png"),
    (["--format", "jpeg", "--webp-quality", "80"], "--webp-quality applies to --format webp, not jpeg"),
    (["--format", "webp", "--png-level", "3"], "--png-level applies to --format png, not webp"),
])
def test_output_options_of_another_format_are_usage_errors(weights, tmp_path, capsys, args, message):
    photos = _tree(tmp_path)
    assert _run(weights, photos / "a.jpg", "-o", tmp_path / "out", *args) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "out").exists()
    with pytest.raises(SystemExit) as exit_info:
        _run(weights, photos / "a.jpg", "-o", tmp_path / "out", "--format", "webp", "--webp-quality", "0")
    assert exit_info.value.code == 2 and "expected 'lossless' or a quality 1..100" in capsys.readouterr().err


def test_memory_budget_tiles_what_does_not_fit(weights, tmp_path, capsys):
    (tmp_path / "big.jpg").write_bytes(pillow_jpeg(synthetic_image(256, 320, seed=9), quality=30))
    tiles = {}
    for budget in ("1", "4096"):
        report = tmp_path / f"run-{budget}.json"
        assert _run(weights, tmp_path / "big.jpg", "-o", tmp_path / budget, "--memory-budget", budget, "--quiet",
                    "--json", report) == 0
        tiles[budget] = json.loads(report.read_text())["files"][0]["tiles"]
    assert tiles["1"] > tiles["4096"] == 1
    with pytest.raises(SystemExit) as exit_info:
        _run(weights, tmp_path / "big.jpg", "-o", tmp_path / "out", "--memory-budget", "0")
    assert exit_info.value.code == 2


def test_png_level_changes_the_size_not_the_pixels(weights, tmp_path, capsys):
    photos = _tree(tmp_path)
    for level in ("0", "9"):
        assert _run(weights, photos / "a.jpg", "-o", tmp_path / level, "--png-level", level, "--quiet") == 0
    stored, smallest = (np.asarray(Image.open(tmp_path / level / "a.png")) for level in ("0", "9"))
    assert np.array_equal(stored, smallest)
    assert (tmp_path / "0" / "a.png").stat().st_size > (tmp_path / "9" / "a.png").stat().st_size
    with pytest.raises(SystemExit) as exit_info:
        _run(weights, photos / "a.jpg", "-o", tmp_path / "out", "--png-level", "10")
    assert exit_info.value.code == 2 and "expected a zlib level 0..9" in capsys.readouterr().err


def test_no_strict_corrects_what_libjpeg_recovers(weights, tmp_path, capsys):
    photos = _tree(tmp_path)
    data = pillow_jpeg(synthetic_image(64, 64), quality=90)
    (photos / "half.jpg").write_bytes(data[: len(data) * 2 // 3])  # cut inside the scan data
    assert _run(weights, photos / "half.jpg", "-o", tmp_path / "strict", "--quiet", "--json",
                tmp_path / "strict.json") == 1
    assert ("half.jpg: Premature end of JPEG file (--no-strict corrects what libjpeg can recover)\n"
            in capsys.readouterr().err)
    [record] = json.loads((tmp_path / "strict.json").read_text())["files"]  # the report in the command's words
    assert record["error"] == "Premature end of JPEG file (--no-strict corrects what libjpeg can recover)"
    assert _run(weights, photos / "half.jpg", photos / "bad.jpg", "-o", tmp_path / "out", "--no-strict",
                "--quiet") == 1  # not a JPEG at all still fails
    assert "--no-strict" not in capsys.readouterr().err  # it would not help there: not offered
    assert (tmp_path / "out" / "half.png").is_file() and not (tmp_path / "out" / "bad.png").exists()


def test_no_constrain_is_the_engine_without_the_clamp(weights, tmp_path):
    photos = _tree(tmp_path)
    assert _run(weights, photos / "a.jpg", "-o", tmp_path / "out", "--no-constrain", "--quiet") == 0
    expected = Corrector(load_model(weights), tile=None, constrain=False).correct(photos / "a.jpg")
    written = np.asarray(Image.open(tmp_path / "out" / "a.png")).transpose(2, 0, 1)
    assert np.array_equal(written, expected.numpy())


def _tagged(folder, orientations):
    """JPEGs named o<N>.jpg with EXIF Orientation N and a four-chunk ICC profile; returns the profile."""
    folder.mkdir()
    icc = big_profile()
    for orientation in orientations:
        (folder / f"o{orientation}.jpg").write_bytes(tagged_jpeg(orientation, icc))
    return icc


@pytest.mark.parametrize("format,suffix", [("png", ".png"), ("jpeg", ".jpg"), ("webp", ".webp")])
def test_outputs_carry_exif_and_icc(weights, tmp_path, format, suffix):
    icc = _tagged(tmp_path / "in", [6])
    assert _run(weights, tmp_path / "in", "-o", tmp_path / "out", "--format", format, "--quiet") == 0
    with Image.open(tmp_path / "out" / f"o6{suffix}") as image:
        assert image.info["icc_profile"] == icc
        assert image.getexif()[0x0112] == 6 and image.getexif()[0x010F] == "TestCam"
        assert image.size == (56, 40)  # the pixels as stored: viewers turn them per the tag


def test_results_carry_the_metadata(weights, tmp_path):
    icc = _tagged(tmp_path / "in", [6])
    plain = pillow_jpeg(synthetic_image(16, 16))
    tagged, untagged = Corrector(load_model(weights), tile=None).correct_many([tmp_path / "in" / "o6.jpg", plain])
    assert tagged.icc_profile == icc and tagged.exif == read_coefficients(tmp_path / "in" / "o6.jpg").exif
    assert untagged.ok and untagged.exif is None and untagged.icc_profile is None


def test_apply_orientation_turns_the_pixels(weights, tmp_path):
    orientations = [1, 2, 3, 4, 5, 6, 7, 8]
    _tagged(tmp_path / "in", orientations)
    assert _run(weights, tmp_path / "in", "-o", tmp_path / "kept", "--quiet") == 0
    assert _run(weights, tmp_path / "in", "-o", tmp_path / "upright", "--apply-orientation", "--quiet") == 0
    # (H, W, C) arrays: the rotation / flip Orientation N asks for, on the image as stored
    turn = {1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: np.rot90(a, 2), 4: lambda a: a[::-1],
            5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
            7: lambda a: np.rot90(a.transpose(1, 0, 2), 2), 8: lambda a: np.rot90(a, 1)}
    for orientation in orientations:
        kept = np.asarray(Image.open(tmp_path / "kept" / f"o{orientation}.png"))
        with Image.open(tmp_path / "upright" / f"o{orientation}.png") as image:
            assert np.array_equal(np.asarray(image), turn[orientation](kept)), orientation
            assert image.getexif()[0x0112] == 1 and image.getexif()[0x010F] == "TestCam"


@pytest.fixture
def torch_threads():
    """Restores torch's intra-op threads, which ``--threads`` sets for the whole process."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_threads_are_set_and_the_summary_names_device_precision_and_threads(weights, tmp_path, capsys,
                                                                              torch_threads):
    photos = _tree(tmp_path)
    status = _run(weights, photos / "a.jpg", "-o", tmp_path / "out", "--threads", "1", "--precision", "float32",
                  "--json", tmp_path / "results.json")
    assert status == 0 and torch.get_num_threads() == 1
    assert "(cpu, float32, 1 thread)" in capsys.readouterr().err
    summary = json.loads((tmp_path / "results.json").read_text())["summary"]
    assert (summary["device"], summary["precision"], summary["threads"]) == ("cpu", "float32", 1)


def test_threads_must_be_positive(weights, tmp_path, capsys):
    with pytest.raises(SystemExit):
        _run(weights, tmp_path, "-o", tmp_path / "out", "--threads", "0")
    assert "--threads: must be a positive int" in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_counts_megapixels_and_files(weights, tmp_path, monkeypatch):
    photos = _tree(tmp_path)
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)  # a terminal: tqdm draws its bar
    assert _run(weights, photos / "a.jpg", photos / "B.JPG", "-o", tmp_path / "out", "--tile", "16") == 0
    drawn = terminal.getvalue()
    # the total comes from the headers: a percentage and a time left from the start
    assert f"correct:   0%|" in drawn and f"| 0.0/{(40 * 56 + 24 * 40) / 1e6:.1f} MP [00:00<?" in drawn
    assert "0/2 files" in drawn and "correct: 100%|" in drawn and "2/2 files" in drawn
    assert "0/2 files, writing B.png" in drawn and " files, writing a.png" in drawn  # the writes show


def test_progress_bar_reaches_the_total_with_skipped_and_failed_files(weights, tmp_path, monkeypatch):
    photos = _tree(tmp_path)
    assert _run(weights, photos / "a.jpg", "-o", tmp_path / "out", "--quiet") == 0
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    # a.jpg skipped, cut.jpg failed: neither runs the model, both count as done
    assert _run(weights, photos / "a.jpg", photos / "cut.jpg", photos / "B.JPG", "-o", tmp_path / "out",
                "--skip-existing") == 1
    drawn = terminal.getvalue()
    assert "correct: 100%|" in drawn and "3/3 files" in drawn


def test_output_defaults_to_a_folder_of_its_own(weights, tmp_path, monkeypatch):
    photos = _tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert _run(weights, "photos/a.jpg", "--quiet") == 0
    assert (tmp_path / "corrected" / "a.png").is_file()
    assert sorted(p.name for p in photos.iterdir() if p.suffix == ".png") == []  # nothing beside the inputs


def test_a_rerun_in_the_input_folder_does_not_correct_earlier_outputs(weights, tmp_path, monkeypatch):
    photos = _tree(tmp_path)
    for name in ("bad.jpg", "cut.jpg"):
        (photos / name).unlink()
    monkeypatch.chdir(photos)
    for _ in range(2):  # `qgac-fast correct .` twice, JPEG outputs (which a folder search takes)
        assert _run(weights, ".", "--format", "jpeg", "--quiet") == 0
    written = sorted(str(p.relative_to(photos / "corrected")) for p in (photos / "corrected").rglob("*"))
    assert written == ["B.jpg", "a.jpg", "sub", "sub/c.jpg", "sub/deeper", "sub/deeper/d.jpg"]
    # the same with an explicit -o inside the searched folder, and through a glob
    for _ in range(2):
        assert _run(weights, photos, "-o", photos / "out", "--format", "jpeg", "--quiet") == 0
        assert _run(weights, str(photos / "**" / "*.jpg"), "-o", photos / "globbed", "--format", "jpeg",
                    "--quiet") == 0
    assert not (photos / "out" / "out").exists()
    assert not (photos / "globbed" / "globbed").exists()


def test_a_search_inside_the_output_folder_takes_its_files(tmp_path):
    photos = _tree(tmp_path)
    found, _ = collect_inputs([str(photos / "sub")], exclude=str(photos))
    assert [relative for _, relative in found] == ["c.jpeg", "deeper/d.jpg"]
    found, _ = collect_inputs([str(photos)], exclude=str(photos / "sub"))
    assert sorted(relative for _, relative in found) == ["B.JPG", "a.jpg", "bad.jpg", "cut.jpg"]
    found, _ = collect_inputs([str(photos / "sub" / "c.jpeg")], exclude=str(photos / "sub"))  # named: taken
    assert [relative for _, relative in found] == ["c.jpeg"]


# ------------------------------------------------------------------------------------------
# special files: each input is opened once


_LIMITED_CLI = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # a reader without bound fails here, not the machine
from qgac_fast.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _cli_process(*args, stdin=None):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", _LIMITED_CLI, *map(str, args)], stdin=stdin, capture_output=True,
                          timeout=300)


def test_stdin_as_a_pipe_is_read_once(weights, tmp_path):
    """``cat x.jpg | qgac-fast correct /dev/stdin``: the type is told from the bytes read, not by a
    second open that would find the stream's first bytes gone."""
    import subprocess

    data = pillow_jpeg(synthetic_image(40, 56, seed=1), quality=30)
    (tmp_path / "x.jpg").write_bytes(data)
    feeder = subprocess.Popen(["cat", str(tmp_path / "x.jpg")], stdout=subprocess.PIPE)
    run = _cli_process("correct", "/dev/stdin", "-o", tmp_path / "out", "--model", weights, "--device", "cpu",
                       "--quiet", stdin=feeder.stdout)
    feeder.wait()
    assert run.returncode == 0, run.stderr.decode()
    expected = Corrector(load_model(weights), device="cpu").correct(data)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "stdin.png")), expected.permute(1, 2, 0).numpy())


def test_a_device_is_refused_at_once(weights, tmp_path):
    run = _cli_process("correct", "/dev/zero", "-o", tmp_path / "out", "--model", weights, "--device", "cpu", "--quiet")
    assert run.returncode == 1
    assert run.stderr.decode().strip() == "/dev/zero: a character device, not a regular file or a pipe"
    assert not any((tmp_path / "out").iterdir())


def _fifo_with(path, data):
    """A FIFO at ``path`` that a thread writes ``data`` into once a reader opens it; returns an
    event to set when done. Should a reader open it again after that writer is gone (a second open
    waits for a writer for ever), a watchdog opens it for writing every 30 s, so that the test
    fails instead of hanging."""
    import threading

    os.mkfifo(path)
    done = threading.Event()

    def write():
        try:
            with open(path, "wb") as fifo:
                fifo.write(data)
        except BrokenPipeError:  # the reader closed after a few bytes
            pass

    def unblock():
        while not done.wait(30):
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # no reader waiting
                pass

    threading.Thread(target=write, daemon=True).start()
    threading.Thread(target=unblock, daemon=True).start()
    return done


@pytest.mark.parametrize("kind", ["jpeg", "png"])
def test_a_fifo_is_corrected_and_described(weights, tmp_path, capsys, kind):
    from qgac_fast.cli import main as qgac_main
    from qgac_fast.compression import compress

    pixels = synthetic_image(40, 56, seed=2)
    data = compress(pixels, 30)
    if kind == "png":  # a decoded JPEG: the blind way
        buffer = io.BytesIO()
        Image.open(io.BytesIO(data)).save(buffer, format="PNG")
        data = buffer.getvalue()
    done = _fifo_with(tmp_path / "pipe", data)
    try:
        assert _run(weights, tmp_path / "pipe", "-o", tmp_path / "out", "--quiet") == 0, capsys.readouterr().err
    finally:
        done.set()
    expected = Corrector(load_model(weights), device="cpu").correct(data)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "pipe.png")), expected.permute(1, 2, 0).numpy())
    os.remove(tmp_path / "pipe")
    done = _fifo_with(tmp_path / "pipe", data)
    try:
        assert qgac_main(["info", str(tmp_path / "pipe")]) == 0, capsys.readouterr().err
    finally:
        done.set()
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'pipe'}: 56x40, ")
