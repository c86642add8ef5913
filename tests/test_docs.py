"""Every code block of README.md, docs/*.md and experiments/README.md runs, on the CPU, as written.

Each Markdown file's blocks run in document order in a fresh folder laid out like a clone's root
(``qgac_fast/samples`` holds the bundled samples), so a block may use what an earlier block of the
same file wrote (the README's first command runs the demo, which writes ``demo_out/``):

* ``python`` blocks run in this process, in one namespace per file, so later blocks may use the
  names earlier ones defined (and nothing else: an undefined name fails);
* ``sh`` / ``bash`` / ``console`` blocks run with bash (``set -e``, ``pipefail``), the
  environment's ``bin`` first on ``PATH`` so that ``qgac-fast`` and ``python`` are this
  installation's; a ``console`` block runs its ``$ `` lines, the others are their output;
* ``text`` and ``json`` blocks are not code; a block without a language is an error.

A block that cannot run here (it needs a GPU, torchrun, the datasets under ../shared, the network,
root, or takes minutes) carries the line ``<!-- skip-test: REASON -->`` right before its fence. A
failure names the file and line of its block.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "experiments" / "README.md"]
RUN = {"python": "python", "sh": "shell", "bash": "shell", "console": "console"}
NOT_CODE = {"text", "json"}
SKIP = re.compile(r"^<!-- skip-test: (?P<reason>\S.*?) -->$")
FENCE = re.compile(r"^```(?P<language>\S*)\s*$")
QUICK_START = "make demo   # set up .venv, build the extension, run the main job on a bundled sample\n" \
              "make test   # same set-up, then the whole test suite\n"


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the first line of code (after the opening fence)
    language: str
    code: str
    skip: str | None  # the skip-test reason, if any

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file; raises ValueError for a block without a language
    or a skip-test marker that is not right before a fence."""
    lines = path.read_text().splitlines()
    found, i = [], 0
    name = path.relative_to(ROOT)
    while i < len(lines):
        fence = FENCE.match(lines[i])
        marker = SKIP.match(lines[i])
        if marker and not (i + 1 < len(lines) and FENCE.match(lines[i + 1])):
            raise ValueError(f"{name}:{i + 1}: a skip-test marker must be the line right before a code block")
        if not fence:
            if lines[i].startswith("<!--") and "skip-test" in lines[i] and not marker:
                raise ValueError(f"{name}:{i + 1}: malformed marker, write <!-- skip-test: REASON -->")
            i += 1
            continue
        language = fence["language"]
        if language not in RUN and language not in NOT_CODE:
            raise ValueError(f"{name}:{i + 1}: code block language {language!r} is not one of "
                             f"{sorted(RUN) + sorted(NOT_CODE)}")
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
        if end is None:
            raise ValueError(f"{name}:{i + 1}: unclosed code block")
        skip = SKIP.match(lines[i - 1]) if i else None
        found.append(Block(path, i + 2, language, "\n".join(lines[i + 1:end]) + "\n", skip and skip["reason"]))
        i = end + 1
    return found


def _run_python(block: Block, namespace: dict) -> None:
    # padded so that a traceback gives the line in the Markdown file
    code = compile("\n" * (block.line - 1) + block.code, str(block.path.relative_to(ROOT)), "exec")
    try:
        exec(code, namespace)
    except Exception as error:  # noqa: BLE001
        pytest.fail(f"{block.where}: python block failed: {type(error).__name__}: {error}")


def _run_shell(block: Block, env: dict) -> None:
    code = block.code
    if block.language == "console":
        code = "\n".join(line[2:] for line in code.splitlines() if line.startswith("$ ")) + "\n"
    result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", code], env=env, capture_output=True,
                            text=True, timeout=300)
    if result.returncode != 0:
        pytest.fail(f"{block.where}: {block.language} block failed (exit status {result.returncode}):\n"
                    f"{code}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}")


@pytest.fixture
def clone(tmp_path, monkeypatch):
    """A folder laid out like a clone's root for the blocks to run in (the working directory): the
    package is a link to this checkout's (a bare ``qgac_fast/samples`` folder would shadow an
    editable install as a namespace package)."""
    (tmp_path / "qgac_fast").symlink_to(ROOT / "qgac_fast")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("path", DOCUMENTS, ids=[str(p.relative_to(ROOT)) for p in DOCUMENTS])
def test_code_blocks_run(path, clone):
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    namespace = {"__name__": "__docs__"}
    for block in blocks(path):
        if block.skip or block.language in NOT_CODE:
            continue
        if RUN[block.language] == "python":
            _run_python(block, namespace)
        else:
            _run_shell(block, env)


def test_quick_start_is_the_readme_s_first_block_and_what_ci_runs():
    first = blocks(ROOT / "README.md")[0]
    assert first.code == QUICK_START, f"{first.where}: the quick start must stay the first block, exactly"
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith("make test")


def test_blocks_finds_markers_and_languages(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    page = tmp_path / "page.md"
    page.write_text("intro\n<!-- skip-test: needs a GPU -->\n```python\nx = 1\n```\n\n```sh\nls\n```\n")
    assert [(b.line, b.language, b.code, b.skip) for b in blocks(page)] == [
        (4, "python", "x = 1\n", "needs a GPU"), (8, "sh", "ls\n", None)]
    for bad, message in (("<!-- skip-test: x -->\n\n```sh\nls\n```\n", "right before"),
                         ("```\nls\n```\n", "language ''"), ("```sh\nls\n", "unclosed"),
                         ("<!-- skip-test -->\n```sh\nls\n```\n", "malformed")):
        page.write_text(bad)
        with pytest.raises(ValueError, match=message):
            blocks(page)


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    headings = (line.lstrip("#").strip() for line in path.read_text().splitlines() if line.startswith("#"))
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("path", DOCUMENTS, ids=[str(p.relative_to(ROOT)) for p in DOCUMENTS])
def test_relative_links_resolve(path):
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        assert linked.exists(), f"{path.relative_to(ROOT)}: link to a missing file: {target}"
        if anchor and linked.suffix == ".md":
            assert anchor in _anchors(linked), f"{path.relative_to(ROOT)}: link to a missing heading: {target}"
