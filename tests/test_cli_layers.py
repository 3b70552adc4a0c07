"""The command line with profiles in layers: --env, --set, show and diff's origins."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dfsession import load_profile
from test_cli import assert_clean_error, run

#: Every command that takes a profile, with the arguments it needs besides.
PROFILE_COMMANDS = {
    "plan": [],
    "build": [],
    "sql": ["SELECT 1"],
    "exec": ["by_id", "1"],
    "explain": ["SELECT 1"],
    "write": ["SELECT 1 AS x", "out", "--format", "parquet"],
    "validate": [],
    "doctor": [],
    "report": [],
    "show": [],
}


@pytest.fixture(scope="module")
def layered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """conf/analytics.toml over conf/base.toml, with dev and prod; data beside them."""
    folder = tmp_path_factory.mktemp("layered")
    (folder / "conf" / "data").mkdir(parents=True)
    pq.write_table(pa.table({"id": [1, 2, 3]}), folder / "conf" / "data" / "ids.parquet")
    (folder / "conf" / "base.toml").write_text(
        textwrap.dedent(
            """
            [execution]
            target_partitions = 2

            [datasets.ids]
            format = "parquet"
            location = "data/ids.parquet"
            """
        ),
        encoding="utf-8",
    )
    (folder / "conf" / "analytics.toml").write_text(
        textwrap.dedent(
            """
            extends = "base.toml"

            [prepared.by_id]
            sql = "SELECT * FROM ids WHERE id = $1"
            params = ["int64"]

            [env.dev.catalog]
            information_schema = true

            [env.prod.execution]
            target_partitions = 8
            """
        ),
        encoding="utf-8",
    )
    return folder


@pytest.mark.parametrize("command", PROFILE_COMMANDS)
def test_every_profile_command_takes_env_and_set(command: str, layered: Path) -> None:
    extra = PROFILE_COMMANDS[command]
    unknown = run(command, "conf/analytics.toml", *extra, "--env", "stage", cwd=layered)
    assert_clean_error(unknown, "environment 'stage' is not defined", "defines: dev, prod")
    typo = run(command, "conf/analytics.toml", *extra, "--set", "execution.batch_sise=8",
               cwd=layered)  # fmt: skip
    assert_clean_error(typo, "did you mean 'batch_size'?", "override 'execution.batch_sise'")
    fine = run(command, "conf/analytics.toml", *extra, "--env", "prod",
               "--set", "execution.batch_size=64", cwd=layered)  # fmt: skip
    assert fine.returncode == 0, fine.stderr


def test_set_reads_toml_values_and_text_otherwise(layered: Path) -> None:
    shown = run(
        "show", "conf/analytics.toml",
        "--set", 'execution.spill=["s1", "s2"]',
        "--set", "catalog.default_schema=lake",
        "--set", "catalog.information_schema=true",
        cwd=layered,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    (layered / "shown.toml").write_text(shown.stdout, encoding="utf-8")
    profile = load_profile(layered / "shown.toml")
    assert profile.execution.spill == (str(layered / "s1"), str(layered / "s2"))
    assert profile.catalog.default_schema == "lake"
    assert profile.catalog.information_schema is True


def test_set_of_the_wrong_type_or_twice_is_an_error(layered: Path) -> None:
    wrong = run("build", "conf/analytics.toml", "--set", "execution.target_partitions=many",
                cwd=layered)  # fmt: skip
    assert_clean_error(wrong, "execution.target_partitions: expected an integer", "override")
    twice = run("build", "conf/analytics.toml", "--set", "execution.batch_size=1",
                "--set", "execution.batch_size=2", cwd=layered)  # fmt: skip
    assert_clean_error(twice, "--set execution.batch_size given more than once")
    bad = run("build", "conf/analytics.toml", "--set", "execution.batch_size", cwd=layered)
    assert bad.returncode == 2
    assert "expected KEY=VALUE" in bad.stderr


def test_show_origin_prints_the_effective_profile_with_each_values_origin(layered: Path) -> None:
    result = run("show", "conf/analytics.toml", "--env", "prod", "--origin",
                 "--set", "execution.batch_size=4096", cwd=layered)  # fmt: skip
    assert result.returncode == 0, result.stderr
    location = f'location = "{layered / "conf" / "data" / "ids.parquet"}"'
    file_format = 'format = "parquet"'.ljust(len(location))
    assert result.stdout.splitlines() == [
        "[execution]",
        "target_partitions = 8  # analytics.toml [env.prod]",
        "batch_size = 4096      # override",
        "",
        "[datasets.ids]",
        f"{file_format}  # base.toml",
        f"{location}  # base.toml",
        "",
        "[prepared.by_id]",
        'sql = "SELECT * FROM ids WHERE id = $1"  # analytics.toml',
        'params = ["int64"]                       # analytics.toml',
    ]
    plain = run("show", "conf/analytics.toml", "--env", "prod", cwd=layered)
    assert "#" not in plain.stdout
    (layered / "effective.toml").write_text(plain.stdout, encoding="utf-8")
    assert load_profile(layered / "effective.toml") == load_profile(
        layered / "conf" / "analytics.toml", env="prod"
    )


def test_diff_of_two_environments_names_each_sides_origin(layered: Path, tmp_path: Path) -> None:
    for env in ("dev", "prod"):
        output = str(tmp_path / f"{env}.json")
        made = run("report", "conf/analytics.toml", "--env", env, "-o", output, cwd=layered)
        assert made.returncode == 0, made.stderr
    result = run("diff", str(tmp_path / "dev.json"), str(tmp_path / "prod.json"))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[1] == "provenance:"
    assert (
        f"  execution.target_partitions: 2 ({tmp_path / 'dev.json'}, from base.toml) -> "
        f"8 ({tmp_path / 'prod.json'}, from analytics.toml [env.prod])"
    ) in lines
    assert (
        f"  catalog.information_schema: only in {tmp_path / 'dev.json'}: true "
        "(from analytics.toml [env.dev])"
    ) in lines
    as_json = json.loads(run("diff", "dev.json", "prod.json", "--json", cwd=tmp_path).stdout)
    origins = {d["path"]: d.get("origin_b") for d in as_json["differences"]["provenance"]}
    assert origins["execution.target_partitions"] == "analytics.toml [env.prod]"
