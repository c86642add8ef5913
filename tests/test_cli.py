"""The qgac-fast command line, run in-process through main() and once through python -m."""

import io
import json
import struct
import subprocess
import sys
import zlib

import pytest
from PIL import Image, ImageCms

from images import cjpeg, data_path, pillow_jpeg, sample_image, srgb_profile, synthetic_image, tagged_jpeg, turbo_jpeg
from qgac_fast.cli import main
from qgac_fast.compression import compress


@pytest.fixture
def files(tmp_path):
    """Named JPEG files (and a bad one) written by independent encoders."""
    contents = {
        "q75.jpg": pillow_jpeg(sample_image(size=(40, 56)), 75, "4:2:0"),
        "gray-q30.jpg": pillow_jpeg(synthetic_image(24, 17, channels=1)[..., 0], 30),
        "progressive-440.jpg": turbo_jpeg(synthetic_image(33, 21), 90, "4:4:0", progressive=True),
        "custom-table.jpg": compress(synthetic_image(16, 16), quantization=[[3] * 8] * 8, subsampling="4:4:4"),
        "not-a-jpeg.jpg": b"GIF89a, not a JPEG at all",
    }
    for name, data in contents.items():
        (tmp_path / name).write_bytes(data)
    return {name: str(tmp_path / name) for name in contents}


def test_info_text_reports_quality_75(files, capsys):
    assert main(["info", files["q75.jpg"]]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{files['q75.jpg']}: 56x40, ycbcr, 4:2:0, sequential\n")
    assert "  table 0 (component 0): IJG quality 75 (exact luma table)\n" in out
    assert "  table 1 (components 1, 2): IJG quality 75 (exact chroma table)\n" in out
    assert "      8   6   5   8  12  20  26  31\n" in out  # first row of the q75 luma table


def test_info_gray_and_progressive(files, capsys):
    assert main(["info", files["gray-q30.jpg"], files["progressive-440.jpg"]]) == 0
    out = capsys.readouterr().out
    assert f"{files['gray-q30.jpg']}: 17x24, gray, gray, sequential\n" in out
    assert "  table 0 (component 0): IJG quality 30 (exact luma table)\n" in out
    assert f"{files['progressive-440.jpg']}: 21x33, ycbcr, 4:4:0, progressive\n" in out


def test_info_recognises_cjpeg_non_baseline_tables(tmp_path, capsys):
    path = tmp_path / "q5.jpg"
    path.write_bytes(cjpeg(synthetic_image(16, 16), "-quality", "5"))
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "  table 0 (component 0): IJG quality 5 (exact luma, non-baseline table)\n" in out
    assert "  table 1 (components 1, 2): IJG quality 5 (exact chroma, non-baseline table)\n" in out
    assert " 1210 " in out and " 990" in out  # steps above 255
    assert main(["info", "--json", str(path)]) == 0
    assert [t["baseline"] for t in json.loads(capsys.readouterr().out)[0]["tables"]] == [False, False]


def test_info_non_ijg_table_is_approximate(files, capsys):
    assert main(["info", files["custom-table.jpg"]]) == 0
    out = capsys.readouterr().out
    assert "  table 0 (components 0, 1, 2): closest IJG quality " in out
    assert "(approximate luma table, sum of |differences| " in out


def test_bad_files_reported_others_still_printed(files, tmp_path, capsys):
    missing = str(tmp_path / "missing.jpg")
    status = main(["info", files["not-a-jpeg.jpg"], files["q75.jpg"], missing])
    captured = capsys.readouterr()
    assert status == 1
    errors = captured.err.splitlines()
    assert errors[0] == f"{missing}: No such file or directory"  # arguments that name nothing come first
    assert errors[1].startswith(f"{files['not-a-jpeg.jpg']}: Not a JPEG file")
    assert f"{files['q75.jpg']}: 56x40" in captured.out


def test_info_reports_a_table_slot_beyond_3_as_one_line(files, capsys):
    # it used to die of a segmentation fault (tests/data/README.md)
    bad = str(data_path("sof-table-slot-0x28-no-scan.jpg"))
    assert main(["info", bad, files["q75.jpg"]]) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"{bad}: component 2 (id 3) names quantization table slot 40 in the frame header; JPEG has slots 0..3"]
    assert f"{files['q75.jpg']}: 56x40" in captured.out
def test_info_takes_folders_as_correct_does(files, tmp_path, capsys):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deeper.JPEG").write_bytes(pillow_jpeg(synthetic_image(8, 8), 50))
    (tmp_path / "picture.png").write_bytes(b"not searched for")
    assert main(["info", str(tmp_path)]) == 1  # not-a-jpeg.jpg fails, the others are shown
    captured = capsys.readouterr()
    shown = [line.split(":")[0] for line in captured.out.splitlines() if not line.startswith(" ")]
    assert shown == [str(tmp_path / name) for name in ("custom-table.jpg", "gray-q30.jpg", "progressive-440.jpg",
                                                       "q75.jpg", "sub/deeper.JPEG")]
    assert captured.err.startswith(f"{files['not-a-jpeg.jpg']}: Not a JPEG file")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["info", str(empty)]) == 1
    assert capsys.readouterr().err == "no JPEG files found in the inputs\n"


def test_info_shows_orientation_and_icc_profile(tmp_path, capsys):
    tagged, plain = tmp_path / "tagged.jpg", tmp_path / "plain.jpg"
    tagged.write_bytes(tagged_jpeg(6, srgb_profile()))
    plain.write_bytes(pillow_jpeg(synthetic_image(8, 8), 50))
    description = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(srgb_profile()))).strip()
    assert main(["info", str(tagged), str(plain)]) == 0
    out = capsys.readouterr().out
    assert (f"  EXIF orientation 6 (rotate 90 clockwise); ICC profile {description!r}, "
            f"{len(srgb_profile()):,} bytes\n") in out
    assert "  no EXIF; no ICC profile\n" in out
    assert main(["info", "--json", str(tagged), str(plain)]) == 0
    tagged_info, plain_info = json.loads(capsys.readouterr().out)
    assert tagged_info["orientation"] == 6 and plain_info["orientation"] is None
    assert tagged_info["icc_profile"] == {"description": description, "bytes": len(srgb_profile())}
    assert plain_info["icc_profile"] is None


def test_info_json(files, capsys):
    assert main(["info", "--json", files["q75.jpg"], files["custom-table.jpg"]]) == 0
    q75, custom = json.loads(capsys.readouterr().out)
    assert {k: q75[k] for k in ("path", "width", "height", "color_space", "subsampling", "progressive")} == {
        "path": files["q75.jpg"], "width": 56, "height": 40, "color_space": "ycbcr", "subsampling": "4:2:0",
        "progressive": False}
    assert q75["components"] == [{"index": 0, "sampling": [2, 2], "table": 0},
                                 {"index": 1, "sampling": [1, 1], "table": 1},
                                 {"index": 2, "sampling": [1, 1], "table": 1}]
    assert [(t["slot"], t["components"], t["quality"], t["exact"], t["compared_with"]) for t in q75["tables"]] == [
        (0, [0], 75, True, "luma"), (1, [1, 2], 75, True, "chroma")]
    assert q75["tables"][0]["values"][0] == [8, 6, 5, 8, 12, 20, 26, 31]
    assert custom["tables"][0]["exact"] is False and custom["tables"][0]["distance"] > 0


def test_info_json_with_a_bad_file_lists_only_good_ones(files, capsys):
    assert main(["info", "--json", files["not-a-jpeg.jpg"], files["gray-q30.jpg"]]) == 1
    captured = capsys.readouterr()
    assert [info["path"] for info in json.loads(captured.out)] == [files["gray-q30.jpg"]]
    assert captured.err.startswith(f"{files['not-a-jpeg.jpg']}: ")


@pytest.mark.parametrize("argv", [[], ["info"], ["frobnicate"]], ids=["no-command", "no-file", "unknown-command"])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage: qgac-fast" in capsys.readouterr().err


def test_a_file_in_place_of_the_command_names_the_commands(files, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([files["q75.jpg"]])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"'qgac-fast info {files['q75.jpg']}'" in err and f"'qgac-fast correct {files['q75.jpg']}'" in err


def test_python_dash_m_entry_point(files):
    result = subprocess.run([sys.executable, "-m", "qgac_fast", "info", "--json", files["q75.jpg"]],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["tables"][0]["quality"] == 75


def test_importing_the_package_and_the_command_line_loads_no_torch():
    # The command line has to set the process up before torch (and its OpenMP runtime) loads.
    code = ("import sys, qgac_fast, qgac_fast.cli; assert 'torch' not in sys.modules, 'torch imported';"
            "qgac_fast.Corrector, qgac_fast.metrics; assert 'torch' in sys.modules;"
            "assert set(qgac_fast.__all__) <= set(dir(qgac_fast));"
            "import qgac_fast.correct; assert callable(qgac_fast.correct), 'the module shadows the function'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


# Help and usage errors must not wait for torch (seconds to load) or numpy: what they print comes
# from the parsers alone, built from qgac_fast.options and qgac_fast.train.config.
_NO_HEAVY_IMPORTS = """
import sys
from qgac_fast.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    heavy = sorted(m for m in ("torch", "numpy", "PIL", "tqdm") if m in sys.modules)
    print(exit.code, heavy)
"""


@pytest.mark.parametrize("argv, status", [
    (["--help"], 0), (["correct", "--help"], 0), (["train", "--help"], 0), (["eval", "--help"], 0),
    (["info", "--help"], 0), (["correct", "x.jpg", "--tile", "7"], 2), (["correct", "x.jpg", "--threads", "0"], 2),
    (["correct", "x.jpg", "--flips", "3"], 2), (["eval", "x", "--quality", "10", "--flips", "8"], 2),
    (["train", "--out", "run", "--stages", "z"], 2), (["frobnicate"], 2),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_help_and_usage_errors_load_no_torch(argv, status):
    result = subprocess.run([sys.executable, "-c", _NO_HEAVY_IMPORTS, *argv], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"{status} []", result.stdout[-500:] + result.stderr


# Runs the console script's function (qgac_fast.cli:main) in a fresh interpreter and prints the
# OMP_WAIT_POLICY and GOMP_SPINCOUNT that torch found when it was imported, and the policy left in
# the environment.
_ENTRY = """
import importlib.abc, os, sys
seen = []
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and not seen:
            seen.append(f'{os.environ.get("OMP_WAIT_POLICY")}/{os.environ.get("GOMP_SPINCOUNT")}')
        return None
sys.meta_path.insert(0, Watch())
from qgac_fast.cli import main
assert main(sys.argv[1:]) == 0
print(seen[0], os.environ.get("OMP_WAIT_POLICY"))
"""


@pytest.mark.parametrize("user, expected", [(None, "PASSIVE/1000 PASSIVE"), ("active", "active/None active")])
def test_command_line_sets_a_passive_omp_wait_policy_before_torch_loads(files, monkeypatch, user, expected):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    if user is not None:
        monkeypatch.setenv("OMP_WAIT_POLICY", user)  # the user's own policy is kept, with libgomp's spin count
    result = subprocess.run([sys.executable, "-c", _ENTRY, "info", files["q75.jpg"]], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == expected


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, idat: bytes, end: bytes = _png_chunk(b"IEND", b"")) -> bytes:
    """An 8-bit RGB PNG: its header, one IDAT chunk holding ``idat``, then ``end``."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + end


_ROWS = zlib.compress(bytes(8 * (1 + 8 * 3)))  # 8 rows of 8 black pixels, each after its filter byte


@pytest.mark.parametrize("data, reason", [
    (_png(30000, 30000, _ROWS), "refusing a possible decompression bomb"),
    # half the pixel data, then no valid chunk where the rest should continue: Pillow's SyntaxError
    (_png(8, 8, _ROWS[:len(_ROWS) // 2], end=b"\x00\x00\x00\x05\x01\x02\x03\x04" + bytes(20)), "cannot decode this PNG file"),
], ids=["bomb", "broken"])
def test_info_on_an_image_too_large_or_broken_is_one_line(tmp_path, capsys, data, reason):
    path = tmp_path / "image.png"
    path.write_bytes(data)
    assert main(["info", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}: {reason}") and len(err.splitlines()) == 1


def test_eval_json_in_a_missing_folder_is_one_line(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    Image.fromarray(synthetic_image(16, 16)).save(tmp_path / "data" / "a.png")
    report = tmp_path / "missing" / "r.json"
    assert main(["eval", str(tmp_path / "data"), "--quality", "50", "--jpeg-only", "--quiet",
                 "--json", str(report)]) == 1
    err = capsys.readouterr().err
    assert err.endswith(f"qgac-fast eval: cannot write --json {report}: No such file or directory\n")
    assert "Traceback" not in err


@pytest.mark.parametrize("command", [["eval", ".", "--quality", "50"], ["correct", ".", "-o", "out"],
                                     ["train", "--out", "run"]], ids=["eval", "correct", "train"])
def test_threads_beyond_the_limit_are_usage_errors(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--threads", "99999999999"])
    assert exit_info.value.code == 2
    assert "--threads: must be at most 1024, got '99999999999'" in capsys.readouterr().err


def test_info_on_a_broken_compressed_tiff_is_one_line_with_libtiff_s_reason(tmp_path, capfd):
    """libtiff prints its decoding errors on file descriptor 2 itself; they become the one line's
    reason instead of a stray line next to Pillow's bare 'decoder error -2'."""
    path = tmp_path / "broken.tif"
    Image.fromarray(synthetic_image(64, 64)).save(path, compression="tiff_adobe_deflate")
    data = bytearray(path.read_bytes())
    data[20:200] = bytes(b ^ 0x5A for b in data[20:200])  # inside the deflated strip, after the 8-byte header
    path.write_bytes(bytes(data))
    assert main(["info", str(path)]) == 1
    err = capfd.readouterr().err
    assert err.startswith(f"{path}: cannot decode this TIFF file: ZIPDecode: ") and len(err.splitlines()) == 1


def test_eval_refuses_a_json_report_over_one_of_its_images(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    image = tmp_path / "data" / "a.png"
    Image.fromarray(synthetic_image(16, 16)).save(image)
    before = image.read_bytes()
    assert main(["eval", str(tmp_path / "data"), "--quality", "50", "--jpeg-only", "--quiet",
                 "--json", str(image)]) == 2
    assert capsys.readouterr().err == (f"qgac-fast eval: --json {image}: refusing to overwrite an input file "
                                       "with the report\n")
    assert image.read_bytes() == before


@pytest.mark.parametrize("old, name, new", [
    ("qgac_fast.commands", "main", "qgac_fast.cli.run"),
    ("qgac_fast.commands", "build_parser", "qgac_fast.cli.parser.build_parser"),
    ("qgac_fast.commands", "freeze_collector", "qgac_fast.cli.freeze_collector"),
    ("qgac_fast.correct_cli", "main", "qgac_fast.cli.correct.main"),
    ("qgac_fast.correct_cli", "collect_inputs", "qgac_fast.jpeg_files.collect_inputs"),
    ("qgac_fast.correct_cli", "tally", "qgac_fast.cli.report.tally"),
    ("qgac_fast.argtypes", "positive_int", "qgac_fast.cli.argtypes.positive_int"),
    ("qgac_fast.train.cli", "default_data", "qgac_fast.cli.train.default_data"),
])
def test_the_old_command_line_modules_keep_their_names_for_a_release(old, name, new):
    import importlib

    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=f"^{old}.{name} is deprecated .*; use {new}$"):
        value = getattr(module, name)
    path, attribute = new.rsplit(".", 1)
    assert value is getattr(importlib.import_module(path), attribute)
    with pytest.raises(AttributeError):
        module.no_such_name


def test_a_moved_name_still_runs_a_command(files, capsys):
    with pytest.warns(DeprecationWarning):
        from qgac_fast.commands import main as old_main
    assert old_main(["info", "--json", files["q75.jpg"]]) == 0
    assert json.loads(capsys.readouterr().out)[0]["tables"][0]["quality"] == 75


# As the process's own entry, correct and eval end the process when their work is done, without
# the interpreter's teardown: what they wrote must all be there, the exit handlers run, the
# status kept.
_OWN_ENTRY = """
import atexit, sys
atexit.register(lambda: print("exit handlers ran", file=sys.stderr))
from qgac_fast.cli import main
main()
print("not reached", file=sys.stderr)
"""


def test_correct_ends_its_process_with_everything_written(tmp_path):
    good = tmp_path / "good.jpg"
    good.write_bytes(turbo_jpeg(sample_image(size=(48, 64)), 30))
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    out, report = tmp_path / "out", tmp_path / "run.json"
    result = subprocess.run([sys.executable, "-c", _OWN_ENTRY, "correct", str(good), str(tmp_path / "bad.jpg"),
                             "-o", str(out), "--threads", "1", "--json", str(report)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr  # one file failed
    assert result.stderr.rstrip().endswith("exit handlers ran") and "not reached" not in result.stderr
    assert "1 corrected" in result.stderr and "1 failed" in result.stderr
    assert Image.open(out / "good.png").size == (64, 48)
    assert sorted(f["status"] for f in json.loads(report.read_text())["files"]) == ["failed", "ok"]


def test_correct_flips_reach_the_engine_and_the_report(tmp_path):
    jpeg = tmp_path / "in.jpg"
    jpeg.write_bytes(turbo_jpeg(sample_image(size=(48, 64)), 20))
    pixels = {}
    for flips in (1, 2):
        out, report = tmp_path / f"out{flips}", tmp_path / f"run{flips}.json"
        assert main(["correct", str(jpeg), "-o", str(out), "--threads", "1", "--flips", str(flips), "--quiet",
                     "--json", str(report)]) == 0
        assert json.loads(report.read_text())["summary"]["flips"] == flips
        pixels[flips] = Image.open(out / "in.png").tobytes()
    assert pixels[1] != pixels[2]
