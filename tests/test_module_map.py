"""The layering of docs/architecture.md: no two modules of qgac_fast, and no two of its top-level
units, import each other (``tools/module_map.py``)."""

from pathlib import Path

import module_map  # tools/ (tests/conftest.py puts it on sys.path)

ROOT = Path(__file__).resolve().parents[1]


def test_no_modules_import_each_other():
    assert module_map.mutual_imports(ROOT) == []


def test_a_cycle_is_found(tmp_path):
    package = tmp_path / "qgac_fast"
    (package / "inner").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "inner" / "__init__.py").write_text("")
    (package / "a.py").write_text("from .inner import b\n")
    (package / "inner" / "b.py").write_text("def f():\n    from ..a import x\n")
    assert ("qgac_fast.a", "qgac_fast.inner.b") in module_map.mutual_imports(tmp_path)
