"""Start-up: what ``import dfsession`` and the quick commands load (each in a fresh process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
#: Packages a quick start-up must not load: the engine, and logging or SQL tooling it does not use.
HEAVY = ("datafusion", "pyarrow", "deltalake", "structlog", "rich", "sqlglot", "cattrs")


def _loaded_after(code: str, watched: tuple[str, ...] = HEAVY) -> set[str]:
    """The packages of ``watched`` loaded after running ``code`` in a fresh process."""
    probe = (
        "import contextlib, io, json, sys\n"
        f"{code}\n"
        f"print(json.dumps([name for name in {watched!r} if name in sys.modules]), "
        "file=sys.__stderr__)\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_importing_the_package_loads_nothing_heavy() -> None:
    assert _loaded_after("import dfsession; dfsession.__version__") == set()


def test_a_public_name_loads_its_module_on_first_use() -> None:
    assert "datafusion" in _loaded_after("import dfsession; dfsession.SessionContextBuilder")


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_load_no_engine(flag: str) -> None:
    code = (
        "from dfsession.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    main([{flag!r}])"
    )
    assert _loaded_after(code) == set()


def test_the_package_exports_every_public_name() -> None:
    import dfsession  # noqa: PLC0415 - the names resolve on first use

    for name in dfsession.__all__:
        assert getattr(dfsession, name) is not None
    assert set(dfsession.__all__) <= set(dir(dfsession))


def test_a_query_through_the_command_line_loads_no_delta_packaging_or_sql_tokenizer(
    tmp_path: Path,
) -> None:
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    pq.write_table(pa.table({"x": [1]}), tmp_path / "t.parquet")
    profile = tmp_path / "p.toml"
    profile.write_text(f'[datasets.t]\nformat = "parquet"\nlocation = "{tmp_path / "t.parquet"}"\n')
    code = (
        "from dfsession.cli import main\n"
        "quiet = contextlib.redirect_stdout(io.StringIO())\n"
        "with quiet, contextlib.redirect_stderr(io.StringIO()):\n"
        f"    assert main(['sql', {str(profile)!r}, 'SELECT x FROM t']) == 0"
    )
    assert _loaded_after(code, ("deltalake", "packaging", "sqlglot")) == set()
