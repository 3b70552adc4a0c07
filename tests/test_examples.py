"""Every runnable example in examples/ runs, as a user would run it, from the repository root."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ballista_cluster import BALLISTA_MISSING

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(
    path
    for path in (ROOT / "examples").glob("*.py")
    if 'if __name__ == "__main__":' in path.read_text(encoding="utf-8")
)


def test_there_are_examples() -> None:
    assert {p.name for p in EXAMPLES} >= {"quickstart.py", "custom_step.py", "discovery.py"}


#: Examples that need an optional client, and why they cannot run without it (or ``None``).
NEEDS = {"ballista_cluster.py": BALLISTA_MISSING}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(example: Path) -> None:
    missing = NEEDS.get(example.name)
    if missing is not None:
        pytest.skip(missing)
    result = subprocess.run(
        [sys.executable, str(example)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{example.name} failed:\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip(), f"{example.name} printed nothing"
