"""``dfsession.testing``: the documented Hypothesis snippet passes, as written, on a cold start."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dfsession.testing

ROOT = Path(__file__).resolve().parents[1]
#: How many cold runs, all at once (as a CI machine runs test suites side by side).
COLD_RUNS = 3


def readme_snippet() -> str:
    """The property test of the documentation's custom-steps recipe."""
    page = (ROOT / "docs" / "recipes" / "custom-steps.md").read_text(encoding="utf-8")
    return page.split('```python title="test_custom_step.py"\n', 1)[1].split("```", 1)[0]


def docstring_snippet() -> str:
    """The literal block after ``::``: its indented (and blank) lines."""
    doc = dfsession.testing.__doc__ or ""
    lines = []
    for line in doc.split("::\n", 1)[1].splitlines():
        if line and not line.startswith(" "):
            break
        lines.append(line)
    return textwrap.dedent("\n".join(lines)) + "\n"


def cold_run(test_file: Path, storage: Path) -> subprocess.Popen[str]:
    """pytest on ``test_file`` with a new Hypothesis directory: no example database, no caches."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT / "examples")])
    env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(storage)
    env.pop("HYPOTHESIS_PROFILE", None)
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=test_file.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_the_documented_snippets_pass_their_health_checks_on_cold_runs(tmp_path: Path) -> None:
    """The docs' snippet several times and the module docstring's once, all at once."""
    snippets = {"readme": readme_snippet(), "doc": docstring_snippet()}
    runs: list[tuple[Path, subprocess.Popen[str]]] = []
    for number, name in enumerate(["readme"] * COLD_RUNS + ["doc"]):
        folder = tmp_path / f"{name}-{number}"
        folder.mkdir()
        test_file = folder / "test_snippet.py"
        test_file.write_text(snippets[name], encoding="utf-8")
        storage = folder / "hypothesis"
        runs.append((storage, cold_run(test_file, storage)))
    for storage, run in runs:
        output = run.communicate(timeout=300)[0]
        assert run.returncode == 0, output
        assert "1 passed" in output
        # Hypothesis builds its Unicode tables (over a second, once per storage directory) only
        # for strategies that draw from character classes; the shipped strategies must not.
        assert not (storage / "unicode_data").exists()
