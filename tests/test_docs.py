"""Every code block of the documentation runs, and the reference pages follow the code.

Each page of docs/ runs in a fresh folder holding a copy of examples/, its blocks in order:

- ``python``: executed, the page's blocks sharing one namespace; when the next block is
  ``text`` titled "Output", what the block printed must match it;
- ``python title="path"``: written to that file (later blocks import or run it) and compiled;
- ``toml title="path"``: written to that file and loaded as a profile (``pyproject.toml`` is
  only parsed); ``toml`` without a title: a fragment, parsed and validated as a profile;
- ``bash``: run as one script (``set -e``); ``pip install`` lines are checked (the extras they
  name exist) rather than run, and ``python -m pytest`` alone collects this suite;
- ``console``: each ``$ command`` runs and its output must match the lines below it;
- ``text`` elsewhere: a diagram or prose, not run.

A page marked ``<!-- docs-test: needs MODULE -->`` is skipped, with the reason, where MODULE
(an optional extra's package) is not installed.

In expected output, a line ``...`` stands for any lines and ``...`` in a line for any text.
The S3 recipe reads a moto bucket and the tracing recipe sends spans to a local collector,
through the variables they name (``LAKE_*``, ``OTLP_ENDPOINT``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from dfsession import SessionProfile, load_profile

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
TITLE = re.compile(r'title="([^"]+)"')
KNOWN = {"python", "toml", "bash", "console", "text", "json"}
#: A page whose code needs an optional package says so; it runs where that package is installed
#: (the Ballista page runs in ``nox -s tests_ballista``).
NEEDS = re.compile(r"<!-- docs-test: needs ([\w.]+) -->")


@attrs.frozen
class Block:
    """A fenced code block: its language, its title (a file name, or "Output") and its text."""

    language: str
    title: str | None
    text: str
    line: int


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a page, in order."""
    source = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(source):
        title = TITLE.search(match.group(2))
        line = source.count("\n", 0, match.start()) + 1
        found.append(Block(match.group(1), title and title.group(1), match.group(3), line))
    return found


def matches(expected: str, actual: str) -> bool:
    """Whether ``actual`` has the lines of ``expected``, ``...`` standing for any text."""
    pattern = []
    for line in expected.rstrip("\n").splitlines():
        if line.strip() == "...":
            pattern.append(r"(?:.*\n)*?")
        else:
            parts = [re.escape(part) for part in line.rstrip().split("...")]
            pattern.append(r"[ \t]*".join([""]) + ".*".join(parts) + r"[ \t]*\n")
    return re.fullmatch("".join(pattern), actual.rstrip("\n") + "\n") is not None


class PageRun:
    """Runs the blocks of one page in its own folder."""

    def __init__(self, page: Path, folder: Path, environ: dict[str, str]) -> None:
        self.page = page
        self.folder = folder
        self.environ = environ
        self.driver: subprocess.Popen[str] | None = None

    def run(self) -> None:
        try:
            self.run_blocks()
        finally:
            if self.driver is not None:
                self.driver.communicate(timeout=60)

    def execute(self, code: str, where: str) -> str:
        """Run a block in the page's Python process (started on first use); what it printed."""
        if self.driver is None:
            self.driver = subprocess.Popen(
                [sys.executable, str(ROOT / "tests" / "docs_driver.py")],
                cwd=self.folder,
                env=self.environ,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        assert self.driver.stdin is not None and self.driver.stdout is not None
        self.driver.stdin.write(json.dumps({"code": code, "where": where}) + "\n")
        self.driver.stdin.flush()
        answer = json.loads(self.driver.stdout.readline() or "null")
        assert answer is not None, f"{where}: the page's Python process ended"
        assert answer["error"] is None, f"{where}: failed\n{answer['error']}"
        printed: str = answer["printed"]
        return printed

    def run_blocks(self) -> None:
        items = blocks(self.page)
        for index, block in enumerate(items):
            following = items[index + 1] if index + 1 < len(items) else None
            where = f"{self.page.relative_to(ROOT)}:{block.line}"
            assert block.language in KNOWN, f"{where}: no check for ```{block.language} blocks"
            if block.language == "python":
                expected = following.text if following and following.title == "Output" else None
                self.python(block, expected, where)
            elif block.language == "toml":
                self.toml(block, where)
            elif block.language == "json":
                json.loads(block.text)
            elif block.language == "bash":
                self.bash(block.text, where)
            elif block.language == "console":
                self.console(block.text, where)

    def write(self, block: Block, where: str) -> Path:
        """Write a titled block to its file; a file of the repository must read the same."""
        shipped = ROOT / str(block.title)
        if str(block.title).startswith("examples/"):
            assert block.text == shipped.read_text(encoding="utf-8"), f"{where}: not {shipped}"
        path = self.folder / str(block.title)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.text, encoding="utf-8")
        return path

    def python(self, block: Block, expected: str | None, where: str) -> None:
        if block.title:
            path = self.write(block, where)
            compile(block.text, str(path), "exec")
            return
        printed = self.execute(block.text, where)
        if expected is not None:
            assert matches(expected, printed), (
                f"{where}: printed\n{printed}\nbut the page shows\n{expected}"
            )

    def toml(self, block: Block, where: str) -> None:
        data = tomllib.loads(block.text)
        if block.title is None:
            SessionProfile.from_dict(data, base_dir=self.folder, environ=self.environ)
            return
        path = self.write(block, where)
        if path.name != "pyproject.toml":
            load_profile(path, environ=self.environ)

    def bash(self, script: str, where: str) -> None:
        kept = [_this_suite(_without_installs(line)) for line in script.splitlines()]
        result = self.shell("set -euo pipefail\n" + "\n".join(kept), self.folder)
        assert result.returncode == 0, f"{where}: exit {result.returncode}\n{result.stderr}"

    def console(self, text: str, where: str) -> None:
        for command, expected in _commands(text):
            result = self.shell(f"{{ {command}\n}} 2>&1", self.folder)  # a terminal shows both
            assert result.returncode == 0, f"{where}: {command}\n{result.stdout}"
            assert matches(expected, result.stdout), (
                f"{where}: {command} printed\n{result.stdout}\nbut the page shows\n{expected}"
            )

    def shell(self, script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", script],
            cwd=cwd,
            env=self.environ,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )


def _commands(text: str) -> Iterator[tuple[str, str]]:
    """Each ``$ command`` of a console block and the output lines below it."""
    command, output = None, []
    for line in text.splitlines():
        if line.startswith("$ "):
            if command is not None:
                yield command, "\n".join(output)
            command, output = line[2:], []
        else:
            output.append(line)
    if command is not None:
        yield command, "\n".join(output)


def _this_suite(line: str) -> str:
    """``python -m pytest`` alone is this suite: collected here, not run inside itself."""
    if line.split("#", maxsplit=1)[0].strip() != "python -m pytest":
        return line
    suite = "python -m pytest --collect-only -q -p no:cacheprovider"
    return f"(cd {shlex.quote(str(ROOT))} && {suite})"


def _without_installs(line: str) -> str:
    """A command line less its ``pip install`` parts, whose extras must exist (not run here)."""
    kept = []
    for part in line.split("&&"):
        words = shlex.split(part.split("#")[0]) if "pip install" in part else []
        if "install" not in words:
            kept.append(part.strip())
            continue
        for word in words[words.index("install") + 1 :]:
            named = re.search(r"\[([\w,]+)\]", word)
            for extra in named.group(1).split(",") if named else ():
                assert extra in pyproject_extras(), f"{line!r}: no extra {extra!r} in pyproject"
    return " && ".join(kept)


def pyproject_extras() -> set[str]:
    document = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return set(document["project"]["optional-dependencies"])


def test_every_page_has_a_check_for_each_block() -> None:
    assert PAGES, "no documentation pages"
    for page in PAGES:
        for block in blocks(page):
            assert block.language in KNOWN, f"{page}:{block.line}: ```{block.language}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_code_runs(page: Path, tmp_path: Path, s3_bucket: Any, collector: Any) -> None:
    for module in NEEDS.findall(page.read_text(encoding="utf-8")):
        pytest.importorskip(module, reason=f"{page.name} needs {module} (an optional extra)")
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=_no_data)
    environ = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        "LAKE_BUCKET": s3_bucket.name,
        "LAKE_ENDPOINT": s3_bucket.endpoint,
        "LAKE_KEY": s3_bucket.key_id,
        "LAKE_SECRET": s3_bucket.secret,
        "OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_address[1]}",
    }
    environ.pop("DFSESSION_ENV", None)
    PageRun(page, tmp_path, environ).run()
    if "OTLP_ENDPOINT" in page.read_text(encoding="utf-8"):
        assert collector.received, "the tracing recipe sent no span to the collector"


def _no_data(folder: str, names: list[str]) -> list[str]:
    return [name for name in names if name in ("data", "__pycache__")]
