"""Developer sessions: nox -s tests, tests_ballista, lint, typecheck, examples, fuzz, bench."""

from __future__ import annotations

import os
import platform

import nox

nox.options.sessions = ["lint", "typecheck", "tests", "examples"]
PYTHON = "3.11"
CODE = ["src", "tests", "examples", "benchmarks", "noxfile.py"]
#: PyPI's ballista wheels need this glibc; below it, .ci/install-ballista patches the wheel.
BALLISTA_GLIBC = (2, 39)


def _glibc() -> tuple[int, ...]:
    """This machine's glibc version, ``(0,)`` when it is not a glibc system."""
    name, version = platform.libc_ver()
    return tuple(int(part) for part in version.split(".")) if name == "glibc" else (0,)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite."""
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def tests_ballista(session: nox.Session) -> None:
    """The suite on the DataFusion 54 set, with Apache Ballista: its cluster tests run too.

    ballista 54.1 pins datafusion 54.0.0, and deltalake 1.6.2 is the last release built for it.
    On a glibc older than 2.39 the official wheel is installed patched (.ci/install-ballista).
    """
    if _glibc() < BALLISTA_GLIBC:
        session.run("bash", ".ci/install-ballista", "python", external=True)
    session.install("-e", ".[dev,ballista]")
    session.run("python", "-c", "import ballista, datafusion; print(datafusion.__version__)")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff")
    session.run("ruff", "check", *CODE)
    session.run("ruff", "format", "--check", *CODE)


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src/."""
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict", "src/dfsession")


@nox.session(python=PYTHON)
def examples(session: nox.Session) -> None:
    """Run every example as the test suite does."""
    session.install("-e", ".[dev]")
    session.run("pytest", "tests/test_examples.py")


@nox.session(python=PYTHON)
def fuzz(session: nox.Session) -> None:
    """The profile fuzz tests at length: DFSESSION_FUZZ_EXAMPLES inputs each (default 20,000)."""
    session.install("-e", ".[dev]")
    examples = os.environ.get("DFSESSION_FUZZ_EXAMPLES", "20000")
    session.run(
        "pytest",
        "tests/test_profile_fuzz.py",
        "--hypothesis-show-statistics",
        *session.posargs,
        env={"DFSESSION_FUZZ_EXAMPLES": examples},
    )


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Every benchmark, with JSON results and plots under benchmarks/results/."""
    session.install("-e", ".[dev,bench]")
    session.run("python", "benchmarks/run_all.py", *session.posargs)
