"""Module sizes and imports of a checkout: what docs/architecture.md's layering rests on.

Usage (from a checkout's root; any revision: ``git worktree add /tmp/old REV`` and run it there)::

    python tools/module_map.py [ROOT]

Prints the README's length, the ``qgac_fast`` modules over 400 lines, the benchmark and experiment
files, every import between ``qgac_fast``'s top-level units (``cli``, ``inference``, ``codec``...;
module level and inside functions, read with :mod:`ast`, nothing imported), and the pairs of modules
or units that import each other. :func:`mutual_imports` is what ``tests/test_module_map.py`` checks.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path


def _module(path: Path, root: Path) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


def imports(root: Path) -> dict[str, set[str]]:
    """``{module: the qgac_fast modules it imports}`` for every module of ``root/qgac_fast``."""
    files = sorted((root / "qgac_fast").rglob("*.py"))
    modules = {_module(path, root) for path in files}
    edges: dict[str, set[str]] = defaultdict(set)
    for path in files:
        name = _module(path, root)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                for target in [base, *(f"{base}.{alias.name}" for alias in node.names)]:
                    if target in modules and target != name:
                        edges[name].add(target)
            elif isinstance(node, ast.Import):
                edges[name].update(alias.name for alias in node.names if alias.name in modules and alias.name != name)
    return edges


def _unit(module: str) -> str:
    return ".".join(module.split(".")[:2])


def units(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Imports between top-level units (``qgac_fast.cli``, ``qgac_fast.codec``...), the package's own
    ``__init__`` left out (it re-exports lazily)."""
    between: dict[str, set[str]] = defaultdict(set)
    for source, targets in edges.items():
        for target in targets:
            if _unit(source) != _unit(target) and target != "qgac_fast" and source != "qgac_fast":
                between[_unit(source)].add(_unit(target))
    return between


def mutual_imports(root: Path) -> list[tuple[str, str]]:
    """Pairs of modules (package ``__init__`` files left out) or of top-level units that import each
    other, sorted."""
    edges = imports(root)
    pairs = {tuple(sorted((a, b))) for a, targets in edges.items() for b in targets
             if a in edges.get(b, ()) and not a.endswith("__init__") and "__init__" not in b
             and (root / (b.replace(".", "/") + ".py")).exists() and (root / (a.replace(".", "/") + ".py")).exists()}
    between = units(edges)
    pairs |= {tuple(sorted((a, b))) for a, targets in between.items() for b in targets if a in between.get(b, ())}
    return sorted(pairs)


def main(argv: list[str]) -> int:
    root = Path(argv[0] if argv else ".").resolve()
    readme = (root / "README.md").read_text(encoding="utf-8")
    sizes = {path: path.read_text(encoding="utf-8").count("\n") for path in (root / "qgac_fast").rglob("*.py")}
    big = sorted((path for path in sizes if sizes[path] > 400), key=sizes.get, reverse=True)
    print(f"README: {len(readme):,} characters, {readme.count(chr(10))} lines")
    print(f"qgac_fast: {len(sizes)} modules, {sum(sizes.values()):,} lines; over 400 lines: "
          + (", ".join(f"{path.relative_to(root / 'qgac_fast')} {sizes[path]}" for path in big) or "none"))
    for folder in ("bench", "experiments"):
        files = list((root / folder).rglob("*.py")) if (root / folder).is_dir() else []
        largest = max(files, key=lambda p: p.read_text(encoding="utf-8").count("\n"), default=None)
        print(f"{folder}: {len(files)} Python files" + (f", largest {largest.relative_to(root)} "
              f"{largest.read_text(encoding='utf-8').count(chr(10))} lines" if largest else ""))
    between = units(imports(root))
    print(f"imports between top-level units: {sum(map(len, between.values()))}")
    for source in sorted(between):
        print(f"  {source.removeprefix('qgac_fast.')} -> {', '.join(sorted(t.removeprefix('qgac_fast.') for t in between[source]))}")
    print("modules or units importing each other:", mutual_imports(root) or "none")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
