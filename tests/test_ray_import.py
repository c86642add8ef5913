"""qgac_fast.ray is an optional extra: the package, and the command without --ray, never import ray;
``--ray`` without Ray installed is a one-line usage error."""

import subprocess
import sys

IMPORTS_NO_RAY = """
import sys
import qgac_fast, qgac_fast.ray, qgac_fast.cli.correct
assert "ray" not in sys.modules, "ray was imported"
"""

RAY_MISSING = """
import sys
sys.modules["ray"] = None  # as if not installed: importing it raises ImportError
from qgac_fast.cli.correct import main
sys.exit(main([sys.argv[1], "-o", sys.argv[2], "--ray"]))
"""


def test_package_imports_without_ray():
    run = subprocess.run([sys.executable, "-c", IMPORTS_NO_RAY], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]


def test_ray_option_without_ray_is_a_usage_error(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8")
    run = subprocess.run([sys.executable, "-c", RAY_MISSING, str(tmp_path / "a.jpg"), str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stderr[-2000:]
    assert run.stderr.strip().splitlines() == ["qgac-fast correct: --ray needs Ray Data: pip install 'qgac_fast[ray]'"]
    assert not (tmp_path / "out").exists()


def test_ray_pool_options_need_ray(tmp_path, capsys):
    from qgac_fast.cli.correct import main

    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8")
    assert main([str(tmp_path / "a.jpg"), "-o", str(tmp_path / "out"), "--ray-actors", "2"]) == 2
    assert capsys.readouterr().err.strip() == (
        "qgac-fast correct: --ray-actors and --ray-gpus-per-actor need --ray or --ray-address")
    assert not (tmp_path / "out").exists()
