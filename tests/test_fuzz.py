"""The fuzz harness (tools/fuzz.py): a short fixed-seed campaign over every target must end with
no crash, no hang, no unexpected exception and flat memory; the harness itself must catch a
crash, a hang and an unexpected exception and keep their inputs; its command line (what ``make
fuzz`` runs, for the long campaign) must run every target and write its reports."""

from __future__ import annotations

import io
import json
import random

import fuzz
import pytest

# A few thousand inputs, about half a minute on two cores: the same inputs on every run.
SHORT = {"read-strict": 1500, "read-lax": 1500, "decode": 300, "info": 150, "correct": 20}


@pytest.fixture(scope="module")
def seeds(corpus) -> dict[str, list[bytes]]:
    jpegs = [path.read_bytes() for path in corpus]
    return {"jpeg": jpegs, "image": fuzz.image_seeds(jpegs), "weights": fuzz.weights_seeds(),
            "metadata": fuzz.metadata_seeds(jpegs), "resized": fuzz.resized_seeds(jpegs)}


def test_short_campaign_finds_nothing(seeds, tmp_path):
    results = fuzz.run_campaign(SHORT, seeds, seed=0, findings=tmp_path)
    table = fuzz.format_table(results)
    for result in results:
        assert (result.crashes, result.hangs, result.unexpected) == (0, 0, 0), table
        assert result.inputs == SHORT[result.target] and result.ok + result.rejected == result.inputs
        # no growth beyond allocator noise between a target's first and last input
        assert result.rss_end - result.rss_start < 32 * 2**20, table
    assert not list(tmp_path.iterdir())
    by_target = {r.target: r for r in results}
    # the mutations reach both outcomes: some inputs still read, most are rejected
    assert 0 < by_target["read-strict"].ok < by_target["read-lax"].ok < SHORT["read-lax"]


def test_harness_catches_crash_hang_and_unexpected_exceptions(seeds, tmp_path):
    counts = {"selftest-crash": 2, "selftest-hang": 1, "selftest-raise": 2}
    results = fuzz.run_campaign(counts, {"jpeg": seeds["jpeg"]}, findings=tmp_path, timeouts={"selftest-hang": 0.5})
    results = {r.target: r for r in results}
    assert results["selftest-crash"].crashes == 2 and dict(results["selftest-crash"].crash_statuses) == {-6: 2}
    assert results["selftest-hang"].hangs == 1
    assert results["selftest-raise"].unexpected == 2 and results["selftest-raise"].exceptions == {"KeyError": 2}
    saved = sorted(p.name for p in tmp_path.iterdir())
    assert saved == ["selftest-crash-crash-0.jpg", "selftest-crash-crash-1.jpg", "selftest-hang-hang-0.jpg",
                     "selftest-raise-unexpected-0.jpg", "selftest-raise-unexpected-1.jpg"]
    assert "| selftest-crash | 2 | 0 | 0 | 2 | 0 | 0 | 0 |" in fuzz.format_table(list(results.values()))


def test_harness_counts_a_leak_and_fails_the_run(seeds, tmp_path, monkeypatch):
    # selftest-leak keeps 4 MB per input: 30 inputs grow 60 MB over their second half
    results = fuzz.run_campaign({"selftest-leak": 30, "selftest-raise": 1}, {"jpeg": seeds["jpeg"]}, findings=tmp_path)
    assert [r.leaks for r in results] == [1, 0]
    assert fuzz.second_half_growth(results[0].rss) > fuzz.LEAK_BYTES
    assert "| selftest-leak | 30 | 30 | 0 | 0 | 0 | 0 | 1 |" in fuzz.format_table(results)
    # the command line fails on a leak alone
    monkeypatch.setattr(fuzz, "TARGETS", {**fuzz.TARGETS, "selftest-leak": 10.0})
    monkeypatch.setitem(fuzz.SEED_KINDS, "selftest-leak", "jpeg")
    assert fuzz.main(["--target", "selftest-leak=30", "--findings", str(tmp_path)]) == 1


@pytest.mark.parametrize(("series", "growth"), [
    ([], 0), ([100], 0), ([100, 300], 200),
    # the second half is what counts: growth in the first half (caches warming up) is not a leak
    ([0, 40, 80, 80, 80, 81], 1),
    # a transient peak is not a leak: the last reading against the middle one
    ([10, 10, 10, 500, 10, 12], 2),
    ([10, 10, 10, 10, 5, 70], 60),
])
def test_second_half_growth(series, growth):
    mb = 2**20
    assert fuzz.second_half_growth([v * mb for v in series]) == growth * mb
    assert (growth * mb > fuzz.LEAK_BYTES) == (growth > 50)


def test_mutators_are_deterministic_and_cover_the_segments(seeds):
    markers = [marker for _, _, marker in fuzz.segments(seeds["jpeg"][0])]
    assert markers[0] == 0xE0 and 0xDB in markers and 0xC0 in markers and 0xC4 in markers and markers[-1] == 0xD9
    assert fuzz.MUTATORS_BY_KIND["jpeg"] is fuzz.MUTATORS and set(fuzz.SEED_KINDS) == set(fuzz.TARGETS)
    for kind, mutators in fuzz.MUTATORS_BY_KIND.items():
        baseline, files = seeds[kind][0], seeds[kind]
        for name, mutator in mutators.items():
            outputs = [mutator(baseline, random.Random(7), files) for _ in range(2)]
            assert outputs[0] == outputs[1] and isinstance(outputs[0], bytes), (kind, name)
        changed = {name for name, mutator in mutators.items()
                   if any(mutator(baseline, random.Random(i), files) != baseline for i in range(20))}
        assert changed == set(mutators), kind


def test_image_and_weights_seeds_are_what_their_targets_read(seeds, tmp_path):
    from PIL import Image
    from qgac_fast.model import read_metadata

    formats = [Image.open(io.BytesIO(data)).format for data in seeds["image"]]
    assert len(formats) == len(seeds["jpeg"]) and set(formats) == {"PNG", "BMP", "TIFF", "WEBP", "GIF"}
    dtypes = []
    for index, data in enumerate(seeds["weights"]):
        (tmp_path / f"{index}.safetensors").write_bytes(data)
        dtypes.append(read_metadata(tmp_path / f"{index}.safetensors")["dtype"])
    assert dtypes == ["float32", "bfloat16"]
    # only the kinds the targets mutate (the JPEG corpus is made for the images, not kept)
    assert set(fuzz.make_seeds(["estimate", "correct-blind"])) == {"image"}


def test_metadata_and_resized_seeds(seeds):
    from PIL import Image

    profile = fuzz._icc_profile()
    carried = []
    for data in seeds["metadata"]:
        with Image.open(io.BytesIO(data)) as image:  # Pillow joins the ICC chunks
            assert image.width * image.height <= fuzz.SMALL_PIXELS["metadata"]
            carried.append((image.getexif().get(0x0112), image.info.get("icc_profile") == profile))
    # EXIF and ICC, ICC alone, EXIF alone, in turn; the ICC profile in one, two or three chunks
    assert carried[:3] == [(6, True), (None, True), (6, False)]
    chunks = {sum(seg[2] == 0xE2 for seg in fuzz.segments(data)) for data in seeds["metadata"]}
    assert chunks == {0, 1, 2, 3}
    sizes = set()
    for i in range(10):
        with Image.open(io.BytesIO(fuzz.resize(seeds["resized"][0], random.Random(i), seeds["resized"]))) as image:
            assert image.format == "JPEG"
            assert all(fuzz.RESIZE_SIDES[0] <= side <= fuzz.RESIZE_SIDES[1] for side in image.size)
            sizes.add(image.size)
    assert len(sizes) == 10


def _header_and_data(data: bytes) -> tuple[object, bytes]:
    length = int.from_bytes(data[:8], "little")
    try:
        return json.loads(data[8 : 8 + length]), data[8 + length :]
    except ValueError:
        return None, b""


def test_safetensors_header_mutations_mostly_keep_a_parsable_header(seeds):
    # most change one field of a header that still parses, so that loading gets past the
    # safetensors parser to qgac_fast's own checks
    baseline = seeds["weights"][0]
    _, tensor_data = _header_and_data(baseline)
    kept = 0
    for i in range(40):
        header, rest = _header_and_data(fuzz.safetensors_header(baseline, random.Random(i), seeds["weights"]))
        kept += isinstance(header, dict) and rest == tensor_data
    assert kept >= 25


# A few inputs per target of the command line: seconds, enough to run every target's whole path.
COMMAND_LINE = {"read-strict": 20, "read-lax": 20, "decode": 8, "info": 6, "correct": 3, "estimate": 10,
                "correct-blind": 6, "weights": 10, "metadata": 12, "memory": 4}


def test_command_line_runs_every_target_and_writes_its_reports(corpus, tmp_path, capsys):
    # what `make fuzz` runs, shortened: the table on stdout, the JSON and Markdown reports
    assert set(COMMAND_LINE) == set(fuzz.TARGETS)
    targets = [f"--target={name}={count}" for name, count in COMMAND_LINE.items()]
    json_path, markdown_path, findings = tmp_path / "fuzz.json", tmp_path / "fuzz.md", tmp_path / "findings"
    status = fuzz.main(["--seed", "3", *targets, "--findings", str(findings), "--json", str(json_path),
                        "--markdown", str(markdown_path)])
    table = capsys.readouterr().out
    assert status == 0, table
    facts = json.loads(json_path.read_text())
    small = len(fuzz.resized_seeds([path.read_bytes() for path in corpus]))
    assert facts["seed"] == 3 and facts["seeds"] == {"jpeg": len(corpus), "image": len(corpus), "weights": 2,
                                                     "metadata": small, "resized": small}
    assert facts["mutators"] == {kind: list(mutators) for kind, mutators in fuzz.MUTATORS_BY_KIND.items()}
    assert facts["libjpeg"].startswith("libjpeg") and facts["command"].startswith("python tools/fuzz.py --seed 3")
    results = {r["target"]: r for r in facts["results"]}
    assert {name: r["inputs"] for name, r in results.items()} == COMMAND_LINE
    for r in results.values():
        assert r["ok"] + r["rejected"] == r["inputs"] and r["findings"] == [] and r["leaks"] == 0, table
    # the metadata target writes outputs (in each format, by the inputs' CRC-32) and the memory
    # target's inputs are valid JPEGs of new sizes: all corrected
    assert results["metadata"]["ok"] > 0 and results["memory"]["ok"] == COMMAND_LINE["memory"], table
    markdown = markdown_path.read_text()
    assert markdown.startswith(f"Command: `{facts['command']}`") and table.strip() in markdown
    assert not findings.exists()
