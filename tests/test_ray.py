"""The Ray Data integration (qgac_fast.ray) on a real local Ray cluster, started once for the module
on the loopback interface with 2 CPUs: faults (a worker killed mid-write, bad files), bit-identical
outputs, URI file systems, resume."""

from __future__ import annotations

import io
import json
import logging
import os
import struct

import numpy as np
import pytest
from images import MAKE, exif_block, sample_image, srgb_profile
from PIL import Image

ray = pytest.importorskip("ray")  # loopback only: tests/conftest.py set Ray's switch before this
pytest.importorskip("ray.data")

import qgac_fast  # noqa: E402
import qgac_fast.ray  # noqa: E402
from qgac_fast import metadata  # noqa: E402
from qgac_fast.atomic import TEMPORARY_NAME  # noqa: E402
from qgac_fast.ray import CorrectBatch, correct_dataset, correct_files  # noqa: E402

SIZE = 64
ICC = srgb_profile()  # made once: the profile's header holds its creation time


_S3_ENVIRONMENT = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
                   "AWS_EC2_METADATA_DISABLED")


@pytest.fixture(scope="module")
def s3():
    """An S3 endpoint on loopback (moto's server, on a free port) for the module, named to pyarrow
    and boto3 by the environment (``AWS_ENDPOINT_URL``...), which the Ray workers inherit: the
    cluster starts after it. Yields a boto3 client, or None where moto is not installed."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        yield None
        return
    import boto3

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    saved = {name: os.environ.get(name) for name in _S3_ENVIRONMENT}
    host, port = server.get_host_and_port()
    os.environ.update(AWS_ENDPOINT_URL=f"http://{host}:{port}", AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                      AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    try:
        yield boto3.client("s3")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()


@pytest.fixture(scope="module")
def cluster(s3):
    """A local Ray cluster for the module: loopback only, 2 CPUs, no dashboard."""
    assert ray._private.services.get_node_ip_address() == "127.0.0.1"  # the environment above took
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", object_store_memory=200 * 2**20,
             logging_level=logging.WARNING, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.execution_no_progress_timeout_s = 300  # a stalled pipeline fails instead of hanging
    yield
    ray.shutdown()


def _jpegs() -> dict[str, bytes]:
    """Four 64x64 JPEGs of crops of the bundled samples (qgac_fast.compress), one carrying EXIF and
    an ICC profile."""
    crops = {"astronaut_a.jpg": sample_image("astronaut.png")[:SIZE, :SIZE],
             "astronaut_b.jpg": sample_image("astronaut.png")[200:200 + SIZE, 200:200 + SIZE],
             "chelsea_a.jpg": sample_image("chelsea.png")[:SIZE, :SIZE],
             "sub/chelsea_b.jpg": sample_image("chelsea.png")[100:100 + SIZE, 100:100 + SIZE]}
    files = {name: qgac_fast.compress(np.ascontiguousarray(pixels), 20) for name, pixels in crops.items()}
    files["astronaut_a.jpg"] = metadata.insert_markers(files["astronaut_a.jpg"],
                                                       metadata.metadata_markers(exif_block(6), ICC))
    return files


def _bomb(jpeg: bytes) -> bytes:
    """``jpeg`` with its frame header declaring 60000 x 60000 pixels: a decompression bomb."""
    at = jpeg.index(b"\xff\xc0") + 5
    return jpeg[:at] + struct.pack(">HH", 60000, 60000) + jpeg[at + 4:]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A folder of good JPEGs and of a corrupt, a truncated and a bomb one; ``(folder, good names)``."""
    folder = tmp_path_factory.mktemp("corpus")
    good = _jpegs()
    for name, data in good.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    sample = good["chelsea_a.jpg"]
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8" + bytes(range(256)) * 4)
    (folder / "truncated.jpg").write_bytes(sample[:len(sample) // 2])
    (folder / "bomb.jpg").write_bytes(_bomb(sample))
    return folder, sorted(good)



@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    """The good inputs corrected by a local Corrector (float32, 1 thread), as files: name -> bytes."""
    import torch

    folder, good = corpus
    out = tmp_path_factory.mktemp("reference")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        corrector = qgac_fast.Corrector("default", device="cpu", precision="float32", workers=0)
        pairs = [(str(folder / name), str(out / name.replace(".jpg", ".png"))) for name in good]
        assert [r.status for r in corrector.correct_files(pairs)] == ["ok"] * len(good)
    finally:
        torch.set_num_threads(threads)
    return {name: (out / name.replace(".jpg", ".png")).read_bytes() for name in good}


def _files(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _killing_class(marker):
    """A CorrectBatch whose worker process dies in the middle of writing ``chelsea_a``'s output the
    first time (while ``marker`` exists): it leaves a partial temporary file, then ``os._exit``."""

    class KillOnce(CorrectBatch):
        def correct_files(self, batch):
            for output_path in batch["output_path"]:
                if str(output_path).endswith("chelsea_a.png") and os.path.exists(marker):
                    os.unlink(marker)
                    folder, name = os.path.split(str(output_path))
                    os.makedirs(folder, exist_ok=True)
                    with open(os.path.join(folder, f".{name}.0123456789abcdef.tmp"), "wb") as file:
                        file.write(b"\x89PNG partial")
                    os._exit(1)
            return super().correct_files(batch)

    return KillOnce


def test_worker_killed_mid_write_bad_files_reported_outputs_bit_identical(cluster, corpus, reference, tmp_path):
    folder, good = corpus
    marker = tmp_path / "kill-once"
    marker.touch()
    out = tmp_path / "out"
    results = correct_files([str(folder)], str(out), precision="float32", actors=2, rows_per_batch=2,
                            batch_class=_killing_class(str(marker)))
    assert not marker.exists()  # the worker did die
    inputs = sorted(os.path.relpath(r.input, folder) for r in results)
    assert inputs == sorted(good + ["bomb.jpg", "corrupt.jpg", "truncated.jpg"])  # each input once
    status = {os.path.relpath(r.input, folder): r for r in results}
    assert {name for name, r in status.items() if r.status == "ok"} == set(good)
    for name in ("bomb.jpg", "corrupt.jpg", "truncated.jpg"):
        assert status[name].status == "failed" and status[name].error
    assert "60000" in status["bomb.jpg"].error or "pixels" in status["bomb.jpg"].error
    # every good input has exactly its one complete output, bit for bit the local Corrector's, and
    # nothing else is there (no partial or temporary file)
    assert _files(out) == {name.replace(".jpg", ".png"): reference[name] for name in good}
    tagged = Image.open(out / "astronaut_a.png")
    assert tagged.getexif()[MAKE] == "TestCam"
    assert tagged.info["icc_profile"] == ICC


def test_rerun_with_skip_existing_does_no_work(cluster, corpus, tmp_path):
    folder, good = corpus
    inputs = [str(folder / name) for name in good]  # the bad files would be tried again, as by the command
    out = tmp_path / "out"
    first = correct_files(inputs, str(out), precision="float32", actors=1)
    assert [r.status for r in first] == ["ok"] * len(good)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    stale = out / ".chelsea_a.png.0123456789abcdef.tmp"  # what a killed earlier run left
    stale.write_bytes(b"partial")
    os.utime(stale, (1, 1))

    class Refuses(CorrectBatch):
        def __call__(self, batch):
            raise AssertionError("no batch should run")

    again = correct_files(inputs, str(out), precision="float32", actors=1, skip_existing=True, batch_class=Refuses)
    assert [r.status for r in again] == ["skipped"] * len(good)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before  # nothing written, the stale file gone


def test_a_batch_that_raises_leaves_its_files_not_done(cluster, corpus, tmp_path):
    folder, good = corpus

    class Raises(CorrectBatch):
        def __call__(self, batch):
            raise RuntimeError("broken actor")

    results = correct_files([str(folder / good[0])], str(tmp_path / "out"), actors=1, batch_class=Raises)
    assert [r.status for r in results] == ["not_done"], results
    assert "broken actor" in results[0].error, results[0].error
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_uri_file_system_in_and_out(cluster, corpus, reference, tmp_path):
    folder, good = corpus
    out = tmp_path / "out"
    results = correct_files([f"file://{folder}"], f"file://{out}", precision="float32", actors=1)
    ok = sorted(r.input for r in results if r.status == "ok")
    assert ok == [f"file://{folder}/{name}" for name in good]
    assert all(r.output.startswith(f"file://{out}/") for r in results if r.status == "ok")
    assert _files(out) == {name.replace(".jpg", ".png"): reference[name] for name in good}


def test_s3_endpoint_in_and_out_and_resume(s3, cluster, corpus, reference):
    if s3 is None:
        pytest.skip("needs moto (requirements.txt) for an S3 endpoint on loopback")
    folder, good = corpus
    s3.create_bucket(Bucket="photos")
    for path in sorted(folder.rglob("*.jpg")):
        s3.put_object(Bucket="photos", Key=f"in/{path.relative_to(folder)}", Body=path.read_bytes())
    results = correct_files(["s3://photos/in"], "s3://photos/out", precision="float32", actors=1)
    status = {r.input: r.status for r in results}
    assert status == {f"s3://photos/in/{name}": "ok" if name in good else "failed"
                      for name in good + ["bomb.jpg", "corrupt.jpg", "truncated.jpg"]}

    def objects() -> dict[str, bytes]:
        listed = s3.list_objects_v2(Bucket="photos", Prefix="out/").get("Contents", [])
        return {o["Key"]: s3.get_object(Bucket="photos", Key=o["Key"])["Body"].read()
                for o in listed if not o["Key"].endswith("/")}  # pyarrow's folder markers

    written = objects()  # each good input's complete output, the local Corrector's bits; no temporary
    assert written == {f"out/{name.replace('.jpg', '.png')}": reference[name] for name in good}
    again = correct_files(["s3://photos/in"], "s3://photos/out", precision="float32", actors=1, skip_existing=True)
    assert {r.input: r.status for r in again} == {uri: "skipped" if done == "ok" else "failed"
                                                  for uri, done in status.items()}  # bad files are tried again
    assert objects() == written


def test_plan_takes_each_file_once_and_reports_arguments_naming_nothing(corpus, tmp_path):
    from qgac_fast.ray import plan_files

    folder, good = corpus
    plan = plan_files([str(folder), str(folder / "chelsea_a.jpg"), f"file://{tmp_path}/missing"], str(tmp_path / "out"))
    assert sorted(os.path.relpath(row["input"], folder) for row in plan.rows) == sorted(
        good + ["bomb.jpg", "corrupt.jpg", "truncated.jpg"])
    assert plan.errors == [(f"file://{tmp_path}/missing", "No such file or directory")]
    assert [(r.input, r.status) for r in plan.decided] == [(f"file://{tmp_path}/missing", "failed")]
    assert {row["output"] for row in plan.rows} >= {str(tmp_path / "out" / "sub" / "chelsea_b.png")}


def test_correct_dataset_rows_carry_images_and_errors(cluster, corpus, reference):
    folder, good = corpus
    paths = [str(folder / name) for name in good] + [str(folder / "corrupt.jpg"), str(folder / "bomb.jpg")]
    ds = ray.data.read_binary_files(paths, include_paths=True)
    # the default pool leaves the read tasks a CPU: actors on both CPUs would stall the pipeline
    assert (qgac_fast.ray.actor_count(), qgac_fast.ray.actor_count(spare_cpus=1)) == (2, 1)
    rows = {os.path.basename(row["path"]): row for row in correct_dataset(ds, precision="float32").take_all()}
    assert set(rows) == {os.path.basename(p) for p in paths}
    for name in good:
        row = rows[os.path.basename(name)]
        assert row["error"] is None and (row["height"], row["width"], row["tiles"]) == (SIZE, SIZE, 1)
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(row["image"]))),
                              np.asarray(Image.open(io.BytesIO(reference[name]))))
    for name in ("corrupt.jpg", "bomb.jpg"):
        assert rows[name]["error"] and rows[name]["image"] == b"" and rows[name]["tiles"] == 0


def test_command_with_ray_writes_report(cluster, corpus, tmp_path, capsys):
    from qgac_fast.cli.correct import main

    folder, good = corpus
    report = tmp_path / "report.json"
    status = main([str(folder), "-o", str(tmp_path / "out"), "--ray", "--ray-actors", "1", "--precision", "float32",
                   "--json", str(report)])
    assert status == 1  # three bad files
    document = json.loads(report.read_text())
    assert document["summary"]["corrected"] == len(good) and document["summary"]["failed"] == 3
    assert document["summary"]["ray"]["actors"] == 1
    assert sorted(os.path.relpath(f["input"], folder) for f in document["files"]) == sorted(
        good + ["bomb.jpg", "corrupt.jpg", "truncated.jpg"])
    err = capsys.readouterr().err
    assert "corrupt.jpg:" in err and f"{len(good)} corrected" in err and "Traceback" not in err
