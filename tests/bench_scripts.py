"""Loading the scripts under ``bench/`` in tests: they import ``bench/conftest.py`` as ``conftest``,
so the tests' own ``conftest`` module is set aside while one loads."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load(name: str) -> ModuleType:
    """The module of ``bench/<name>.py``."""
    ours = sys.modules.pop("conftest", None)
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))
        if ours is not None:
            sys.modules["conftest"] = ours
