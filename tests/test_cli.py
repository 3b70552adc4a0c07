"""The ``dfsession`` command line, run as a user runs it: ``python -m dfsession``, a subprocess."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from dfsession.session import report_schema

SRC = Path(__file__).resolve().parents[1] / "src"
COMMANDS = (
    "plan",
    "build",
    "sql",
    "exec",
    "explain",
    "write",
    "validate",
    "doctor",
    "report",
    "diff",
    "show",
    "schema",
)


def run(
    *args: str, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m dfsession ARGS`` with this checkout's sources; never a terminal."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "dfsession", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
        env=env,
    )


def assert_clean_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit 2, one ``dfsession: error:`` message on stderr naming ``fragments``, no traceback."""
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("dfsession: error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Profiles (a dataset, a view, a prepared statement; DDL forbidden) and a Parquet file."""
    directory = tmp_path_factory.mktemp("cli")
    pq.write_table(
        pa.table({"id": list(range(50)), "name": [f"n{i}" for i in range(50)]}),
        directory / "people.parquet",
    )
    (directory / "profile.toml").write_text(
        "[catalog]\ninformation_schema = true\n\n"
        "[features]\nurl_table = true\n\n"
        "[sql_policy]\nallow_ddl = false\n\n"
        "[datasets.people]\nformat = 'parquet'\nlocation = 'people.parquet'\n"
        "schema = { id = 'int64', name = 'string' }\n\n"
        "[views.early]\nsql = 'SELECT id, name FROM people WHERE id < 5'\n\n"
        "[prepared.person]\nsql = 'SELECT name FROM people WHERE id = $1'\n"
        "params = ['int64']\n",
        encoding="utf-8",
    )
    (directory / "broken.toml").write_text(
        "[datasets.people]\nformat = 'parquet'\nlocation = 'people.parquet'\n"
        "schema = { id = 'int64', name = 'string' }\n\n"
        "[views.bad]\nsql = 'SELECT no_such_column FROM people'\n",
        encoding="utf-8",
    )
    (directory / "other.toml").write_text(
        '[settings]\n"datafusion.optimizer.max_passes" = "2"\n\n'
        "[catalog]\ninformation_schema = true\n",
        encoding="utf-8",
    )
    return directory


PEOPLE = "SELECT id, name FROM 'people.parquet'"


def test_every_command_has_help_with_an_example() -> None:
    for command in COMMANDS:
        result = run(command, "--help")
        assert result.returncode == 0, result.stderr
        assert re.search(f"examples?:\n  dfsession {command} ", result.stdout), result.stdout


def test_plan_lists_the_steps_in_order_with_requires_and_provides(workdir: Path) -> None:
    result = run("plan", "profile.toml", "--json", cwd=workdir)
    assert result.returncode == 0, result.stderr
    steps = json.loads(result.stdout)
    assert steps[0] == {"step": "context", "requires": [], "provides": ["context"]}
    assert {"step": "settings", "requires": ["context"], "provides": ["settings"]} in steps
    table = run("plan", "profile.toml", cwd=workdir)
    assert table.returncode == 0
    assert all(step["step"] in table.stdout for step in steps)


def test_build_prints_a_table_of_records(workdir: Path) -> None:
    result = run("build", "profile.toml", cwd=workdir)
    assert result.returncode == 0, result.stderr
    for text in ("context", "applied", "url_table", "skipped", "no [settings] in the profile"):
        assert text in result.stdout


def test_build_json_prints_the_report_and_nothing_else_on_stdout(workdir: Path) -> None:
    result = run("build", "profile.toml", "--json", "--verbose", cwd=workdir)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # all of stdout is the one JSON document
    jsonschema.validate(report, report_schema())
    assert report["steps"][0]["step"] == "context"
    assert "dfsession.step" in result.stderr  # --verbose logs go to stderr


def test_sql_prints_a_table(workdir: Path) -> None:
    result = run("sql", "profile.toml", f"{PEOPLE} WHERE id < 3 ORDER BY id", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "n2" in result.stdout
    assert "3 rows" in result.stderr


def test_sql_table_shows_at_most_max_rows(workdir: Path) -> None:
    result = run("sql", "profile.toml", PEOPLE, "--max-rows", "5", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "first 5 rows; there are more" in result.stderr


def test_sql_params_are_json_scalars_when_they_parse_else_strings(workdir: Path) -> None:
    query = "SELECT arrow_typeof($a) AS a, arrow_typeof($b) AS b, arrow_typeof($c) AS c, $c AS v"
    result = run(
        "sql", "profile.toml", query, "-p", "a=5", "-p", "b=abc", "-p", 'c="5"',
        "--format", "jsonl", cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"a": "Int64", "b": "Utf8", "c": "Utf8", "v": "5"}


def test_sql_params_are_bound_not_pasted(workdir: Path) -> None:
    query = f"{PEOPLE} WHERE name = $name"
    result = run(
        "sql", "profile.toml", query, "--param", "name=n1' OR '1'='1", "--format", "csv",
        cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert list(csv.reader(io.StringIO(result.stdout))) == [["id", "name"]]


def test_sql_csv_and_jsonl_go_to_stdout(workdir: Path) -> None:
    query = f"{PEOPLE} WHERE id < 2 ORDER BY id"
    as_csv = run("sql", "profile.toml", query, "--format", "csv", cwd=workdir)
    assert list(csv.reader(io.StringIO(as_csv.stdout))) == [
        ["id", "name"],
        ["0", "n0"],
        ["1", "n1"],
    ]
    as_jsonl = run("sql", "profile.toml", query, "--format", "jsonl", cwd=workdir)
    rows = [json.loads(line) for line in as_jsonl.stdout.splitlines()]
    assert rows == [{"id": 0, "name": "n0"}, {"id": 1, "name": "n1"}]


def test_sql_writes_a_parquet_file(workdir: Path, tmp_path: Path) -> None:
    output = tmp_path / "result.parquet"
    result = run(
        "sql", "profile.toml", PEOPLE, "--format", "parquet", "--output", str(output),
        cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert pq.read_table(output).num_rows == 50
    assert "wrote 50 rows" in result.stderr


def test_sql_parquet_needs_an_output_file(workdir: Path) -> None:
    result = run("sql", "profile.toml", PEOPLE, "--format", "parquet", cwd=workdir)
    assert_clean_error(result, "--output FILE")


def test_a_policy_refusal_is_one_clear_message_without_traceback(workdir: Path) -> None:
    result = run("sql", "profile.toml", "CREATE TABLE t AS SELECT 1", cwd=workdir)
    assert_clean_error(result, "DDL (CreateMemoryTable)", "sql_policy.allow_ddl = true")


def test_debug_shows_the_traceback(workdir: Path) -> None:
    result = run("sql", "profile.toml", "CREATE TABLE t AS SELECT 1", "--debug", cwd=workdir)
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert "SqlPolicyError" in result.stderr


def test_engine_errors_name_the_query(workdir: Path) -> None:
    result = run("sql", "profile.toml", "SELECT nope FROM 'people.parquet'", cwd=workdir)
    assert_clean_error(result, "nope", "query: SELECT nope FROM 'people.parquet'")


def test_a_missing_profile_is_a_clear_error(workdir: Path) -> None:
    assert_clean_error(run("build", "missing.toml", cwd=workdir), "'missing.toml' does not exist")


def test_usage_errors_exit_2(workdir: Path) -> None:
    result = run("sql", "profile.toml", "SELECT 1", "--param", "novalue", cwd=workdir)
    assert result.returncode == 2
    assert "expected name=value" in result.stderr


def test_explain_prints_the_plan(workdir: Path) -> None:
    result = run("explain", "profile.toml", PEOPLE, cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "logical_plan:" in result.stdout
    analyzed = run("explain", "profile.toml", f"SELECT count(*) FROM ({PEOPLE})", "--analyze",
                   cwd=workdir)  # fmt: skip
    assert analyzed.returncode == 0, analyzed.stderr
    assert "output_rows" in analyzed.stdout


def test_write_delta_then_refuse_to_overwrite_by_default(workdir: Path, tmp_path: Path) -> None:
    target = str(tmp_path / "delta")
    first = run("write", "profile.toml", PEOPLE, target, "--format", "delta", cwd=workdir)
    assert first.returncode == 0, first.stderr
    assert f"wrote 50 rows to {target} (delta, mode error, version 0)" in first.stdout
    again = run("write", "profile.toml", PEOPLE, target, "--format", "delta", cwd=workdir)
    assert_clean_error(again, "mode='append' or mode='overwrite'", "stays at version 0")
    appended = run(
        "write", "profile.toml", f"{PEOPLE} WHERE id < $n", target, "--format", "delta",
        "--mode", "append", "--param", "n=10", "--json", cwd=workdir,
    )  # fmt: skip
    assert appended.returncode == 0, appended.stderr
    assert json.loads(appended.stdout)["rows"] == 10
    assert DeltaTable(target).to_pyarrow_table().num_rows == 60


def test_write_parquet_files(workdir: Path, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = run("write", "profile.toml", PEOPLE, str(target), "--format", "parquet", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert pq.read_table(target).num_rows == 50


def test_report_to_stdout_and_to_a_file(workdir: Path, tmp_path: Path) -> None:
    printed = run("report", "profile.toml", cwd=workdir)
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout)["settings"]["datafusion.catalog.information_schema"] == "true"
    output = tmp_path / "report.json"
    saved = run("report", "profile.toml", "-o", str(output), cwd=workdir)
    assert saved.returncode == 0, saved.stderr
    assert saved.stdout == ""
    assert (
        json.loads(output.read_text())["fingerprint"] == json.loads(printed.stdout)["fingerprint"]
    )


def test_diff_exits_0_when_equal_and_1_when_different(workdir: Path, tmp_path: Path) -> None:
    a, b, c = (tmp_path / name for name in ("a.json", "b.json", "c.json"))
    for profile, output in (("profile.toml", a), ("profile.toml", b), ("other.toml", c)):
        assert run("report", profile, "-o", str(output), cwd=workdir).returncode == 0
    same = run("diff", str(a), str(b))
    assert same.returncode == 0, same.stderr
    different = run("diff", str(a), str(c))
    assert different.returncode == 1, different.stderr
    assert "datafusion.optimizer.max_passes" in different.stdout
    as_json = run("diff", str(a), str(c), "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["equal"] is False


def test_diff_of_a_file_that_is_not_json_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert_clean_error(run("diff", str(bad), str(bad)), "bad.json: not valid JSON")


def test_sql_reads_the_profile_datasets_and_views(workdir: Path) -> None:
    result = run("sql", "profile.toml", "SELECT count(*) AS n FROM early", "-f", "csv", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ['"n"', "5"]


def test_validate_passes_a_sound_profile(workdir: Path) -> None:
    result = run("validate", "profile.toml", "--seed-rows", cwd=workdir)
    assert result.returncode == 0, result.stderr
    for name in ("people", "early", "person", "ok"):
        assert name in result.stdout


def test_validate_exits_1_naming_what_failed(workdir: Path) -> None:
    result = run("validate", "broken.toml", "--json", cwd=workdir)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False
    (failed,) = [item for item in report["items"] if item["status"] == "failed"]
    assert (failed["kind"], failed["name"]) == ("view", "bad")
    assert "no_such_column" in failed["reason"]


def test_sql_output_file_is_replaced_only_by_a_complete_result(workdir: Path) -> None:
    target = workdir / "previous.csv"
    target.write_text("keep me\n")
    failing = "SELECT id, 10 / (id - 40) AS r FROM people"
    result = run("sql", "profile.toml", failing, "--format", "csv", "-o", str(target), cwd=workdir)
    assert result.returncode == 2
    assert target.read_text() == "keep me\n"
    assert not list(workdir.glob(".previous.csv.partial"))
    ok = run(
        "sql", "profile.toml", "SELECT 1 AS x", "--format", "csv", "-o", str(target), cwd=workdir
    )
    assert ok.returncode == 0
    assert target.read_text().splitlines() == ['"x"', "1"]


def test_sql_output_needs_a_file_format(workdir: Path) -> None:
    result = run("sql", "profile.toml", "SELECT 1", "-o", "out.txt", cwd=workdir)
    assert_clean_error(result, "--format csv, jsonl or parquet")
    assert not (workdir / "out.txt").exists()


def test_jsonl_writes_non_finite_numbers_as_null(workdir: Path) -> None:
    query = "SELECT CAST('NaN' AS DOUBLE) AS a, CAST('inf' AS DOUBLE) AS b, 1.5 AS c"
    result = run("sql", "profile.toml", query, "--format", "jsonl", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"a": None, "b": None, "c": 1.5}


def test_params_that_are_not_json_stay_text_and_names_are_given_once(workdir: Path) -> None:
    result = run(
        "sql",
        "profile.toml",
        "SELECT $v AS v",
        "--param",
        "v=NaN",
        "--format",
        "jsonl",
        cwd=workdir,
    )
    assert json.loads(result.stdout) == {"v": "NaN"}
    twice = run("sql", "profile.toml", "SELECT $v AS v", "-p", "v=1", "-p", "v=2", cwd=workdir)
    assert_clean_error(twice, "--param v given more than once")


# --- one line per error; output folders ----------------------------------------------------


def test_a_failed_build_prints_one_line_and_the_step_log_only_with_verbose(tmp_path: Path) -> None:
    (tmp_path / "missing.toml").write_text(
        "[datasets.t]\nformat = 'parquet'\nlocation = 'nope.parquet'\n", encoding="utf-8"
    )
    quiet = run("sql", "missing.toml", "SELECT 1", cwd=tmp_path)
    # The location leads from the profile's folder: the error names the path it means.
    missing = f"'{tmp_path / 'nope.parquet'}' does not exist"
    assert_clean_error(quiet, "datasets.t.location", missing)
    assert len(quiet.stderr.splitlines()) == 1, quiet.stderr
    verbose = run("sql", "missing.toml", "SELECT 1", "-v", cwd=tmp_path)
    assert verbose.returncode == 2
    assert "dfsession.step.failed" in verbose.stderr
    assert "step=datasets" in verbose.stderr


def test_sql_output_into_a_missing_folder_creates_it(workdir: Path, tmp_path: Path) -> None:
    target = tmp_path / "new" / "deeper" / "x.csv"
    result = run("sql", "profile.toml", "SELECT 1 AS x", "-f", "csv", "-o", str(target),
                 cwd=workdir)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert target.read_text().splitlines() == ['"x"', "1"]
    assert [p.name for p in target.parent.iterdir()] == ["x.csv"]


def test_report_output_into_a_missing_folder_creates_it(workdir: Path, tmp_path: Path) -> None:
    target = tmp_path / "reports" / "r.json"
    result = run("report", "profile.toml", "-o", str(target), cwd=workdir)
    assert result.returncode == 0, result.stderr
    jsonschema.validate(json.loads(target.read_text()), report_schema())


# --- examples as a user copies them into a shell -------------------------------------------

CLI_RECIPE = Path(__file__).resolve().parents[1] / "docs" / "recipes" / "cli-sql.md"


@pytest.fixture(scope="module")
def analytics(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the ``--help`` examples assume: analytics.toml over trips, two reports."""
    directory = tmp_path_factory.mktemp("analytics")
    pq.write_table(
        pa.table(
            {
                "id": list(range(10)),
                "fare": [float(i * 30) for i in range(10)],
                "city": ["Oslo", "Lima"] * 5,
            }
        ),
        directory / "trips.parquet",
    )
    (directory / "analytics.toml").write_text(
        "[datasets.trips]\nformat = 'parquet'\nlocation = 'trips.parquet'\n"
        "schema = { id = 'int64', fare = 'float64', city = 'string' }\n\n"
        "[prepared.trip_by_id]\nsql = 'SELECT * FROM trips WHERE id = $1'\nparams = ['int64']\n\n"
        "[env.prod.execution]\ntarget_partitions = 4\n",
        encoding="utf-8",
    )
    (directory / "report.sql").write_text(
        "CREATE VIEW lima AS SELECT * FROM trips WHERE city = 'Lima';\n"
        "SELECT count(*) AS n FROM lima;\n",
        encoding="utf-8",
    )
    for name in ("before.json", "after.json"):
        assert run("report", "analytics.toml", "-o", name, cwd=directory).returncode == 0
    return directory


def shell(script: str, cwd: Path, function: str) -> subprocess.CompletedProcess[str]:
    """``script`` run by bash, as typed at a prompt, with ``dfsession`` defined as ``function``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env["PY"] = sys.executable
    return subprocess.run(
        ["bash", "-c", f"dfsession() {{ {function}; }}\n{script}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
        env=env,
    )


def help_example(command: str) -> str:
    result = run(command, "--help")
    assert result.returncode == 0, result.stderr
    return re.split("examples?:\n", result.stdout, maxsplit=1)[1].strip()


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_example_runs_as_copied_into_a_shell(
    command: str, analytics: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(analytics, folder)
    example = help_example(command)
    result = shell(example, folder, '"$PY" -m dfsession "$@"')
    assert result.returncode == 0, f"{example}\n{result.stderr}"


def readme_command_lines() -> list[str]:
    """The command lines of the documentation's CLI recipe that hold a ``$`` placeholder."""
    lines = CLI_RECIPE.read_text(encoding="utf-8").splitlines()
    typed = [line.removeprefix("$ ") for line in lines if line.startswith(("dfsession ", "$ dfs"))]
    return [line for line in typed if "$" in line]


def test_readme_command_lines_keep_their_placeholders_through_the_shell(tmp_path: Path) -> None:
    lines = readme_command_lines()
    assert any("$" in line for line in lines)
    for line in lines:
        typed = re.sub(r"\s+#\s.*$", "", re.sub(r"\[[^\]]*\]", "", line))
        printed = shell(
            typed, tmp_path, '"$PY" -c \'import json, sys; print(json.dumps(sys.argv[1:]))\' "$@"'
        )
        assert printed.returncode == 0, printed.stderr
        arguments = " ".join(json.loads(printed.stdout))
        for placeholder in re.findall(r"\$\w+", typed):
            assert placeholder in arguments, f"the shell ate {placeholder} in: {line}"


def test_a_param_the_query_does_not_use_is_an_error_naming_it(workdir: Path) -> None:
    unused = run("sql", "profile.toml", "SELECT $id AS a", "-p", "id=1", "-p", "other=2",
                 cwd=workdir)  # fmt: skip
    assert_clean_error(unused, "--param other", "$other")
    assert "--param id" not in unused.stderr


def test_placeholders_in_strings_and_comments_are_not_uses(workdir: Path) -> None:
    query = "SELECT '$id' AS s -- $id\n"
    result = run("sql", "profile.toml", query, "-p", "id=1", cwd=workdir)
    assert_clean_error(result, "--param id")
    used = run("sql", "profile.toml", "SELECT $1 AS a, '$2' AS b", "-p", "1=7", "-f", "jsonl",
               cwd=workdir)  # fmt: skip
    assert used.returncode == 0, used.stderr
    assert json.loads(used.stdout) == {"a": 7, "b": "$2"}


def test_explain_and_write_refuse_unused_params_too(workdir: Path, tmp_path: Path) -> None:
    explain = run("explain", "profile.toml", "SELECT 1", "-p", "x=1", cwd=workdir)
    assert_clean_error(explain, "--param x")
    write = run("write", "profile.toml", "SELECT 1 AS a", str(tmp_path / "o"), "--format",
                "parquet", "-p", "x=1", cwd=workdir)  # fmt: skip
    assert_clean_error(write, "--param x")
    assert not (tmp_path / "o").exists()


# --- validate: what it checks, --check-data, --strict ---------------------------------------


def test_validate_help_says_it_reads_no_data_unless_check_data() -> None:
    text = " ".join(run("validate", "--help").stdout.split())
    assert "reads no data" in text
    assert "--check-data" in text
    assert "--strict" in text


def test_validate_check_data_fails_a_missing_file_and_a_csv_that_does_not_parse(
    tmp_path: Path,
) -> None:
    (tmp_path / "bad.csv").write_text("id\n1\nx\n", encoding="utf-8")
    (tmp_path / "p.toml").write_text(
        "[datasets.gone]\nformat = 'parquet'\nlocation = 'gone.parquet'\n"
        "schema = { id = 'int64' }\n\n"
        "[datasets.bad]\nformat = 'csv'\nlocation = 'bad.csv'\nschema = { id = 'int64' }\n",
        encoding="utf-8",
    )
    plain = run("validate", "p.toml", cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr  # zero-row validation: no data read
    checked = run("validate", "p.toml", "--check-data", "--json", cwd=tmp_path)
    assert checked.returncode == 1, checked.stderr
    report = json.loads(checked.stdout)
    reasons = {i["name"]: i["reason"] for i in report["items"] if i["kind"] == "data"}
    assert f"'{tmp_path / 'gone.parquet'}' does not exist" in reasons["gone"]
    assert "'x'" in reasons["bad"]
    table = run("validate", "p.toml", "--check-data", cwd=tmp_path)
    assert table.returncode == 1
    assert "FAILED" in table.stdout


def test_validate_sample_rows_sets_how_many_rows_are_parsed(tmp_path: Path) -> None:
    rows = ["id", *map(str, range(20_000))]
    rows[15_000] = "x"
    (tmp_path / "big.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "p.toml").write_text(
        "[datasets.big]\nformat = 'csv'\nlocation = 'big.csv'\nschema = { id = 'int64' }\n",
        encoding="utf-8",
    )
    few = run("validate", "p.toml", "--check-data", "--sample-rows", "5", cwd=tmp_path)
    assert few.returncode == 0, few.stdout + few.stderr
    assert "5 rows parsed" in few.stdout
    every = run("validate", "p.toml", "--check-data", "--sample-rows", "20000", cwd=tmp_path)
    assert every.returncode == 1, every.stdout + every.stderr


def test_validate_strict_fails_on_anything_skipped(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("id\n1\n", encoding="utf-8")
    (tmp_path / "p.toml").write_text(
        "[datasets.raw]\nformat = 'csv'\nlocation = 'r.csv'\n", encoding="utf-8"
    )
    assert run("validate", "p.toml", cwd=tmp_path).returncode == 0
    strict = run("validate", "p.toml", "--strict", "--json", cwd=tmp_path)
    assert strict.returncode == 1, strict.stderr
    assert json.loads(strict.stdout)["counts"]["skipped"] == 1


# --- SQL from files and standard input; scripts ----------------------------------------------

SCRIPT = """
-- a table over a CSV file, then a query of it
CREATE EXTERNAL TABLE cities (code VARCHAR, name VARCHAR)
STORED AS CSV LOCATION 'cities.csv' OPTIONS ('format.has_header' 'true');
SELECT name FROM cities WHERE code = $code;  -- the result printed
"""


@pytest.fixture
def ddl_allowed(tmp_path: Path) -> Path:
    """A folder with a profile that allows DDL, a CSV file, and the script that reads it."""
    (tmp_path / "cities.csv").write_text("code,name\nosl,Oslo\nlim,Lima\n", encoding="utf-8")
    (tmp_path / "open.toml").write_text("[catalog]\ninformation_schema = true\n", encoding="utf-8")
    (tmp_path / "script.sql").write_text(SCRIPT, encoding="utf-8")
    return tmp_path


def test_sql_file_runs_a_script_in_order_and_prints_the_last_result(ddl_allowed: Path) -> None:
    result = run("sql", "open.toml", "--file", "script.sql", "-p", "code=lim", "-f", "jsonl",
                 cwd=ddl_allowed)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [{"name": "Lima"}]


def test_sql_file_dash_reads_standard_input(ddl_allowed: Path) -> None:
    result = run("sql", "open.toml", "--file", "-", "-p", "code=osl", "-f", "csv",
                 cwd=ddl_allowed, stdin=SCRIPT)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ['"name"', '"Oslo"']


def test_every_statement_of_a_script_runs_under_the_sql_policy(
    workdir: Path, tmp_path: Path
) -> None:
    script = tmp_path / "s.sql"
    script.write_text("CREATE VIEW v AS SELECT 1 AS x; SELECT * FROM v", encoding="utf-8")
    result = run("sql", "profile.toml", "--file", str(script), cwd=workdir)
    assert_clean_error(result, "sql_policy.allow_ddl = true")


def test_a_script_may_be_the_query_argument_too(ddl_allowed: Path) -> None:
    result = run("sql", "open.toml", "CREATE VIEW v AS SELECT 2 AS x; SELECT x * 3 AS y FROM v",
                 "-f", "jsonl", cwd=ddl_allowed)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"y": 6}


def test_sql_needs_exactly_one_of_a_query_and_a_file(ddl_allowed: Path) -> None:
    both = run("sql", "open.toml", "SELECT 1", "--file", "script.sql", cwd=ddl_allowed)
    assert_clean_error(both, "not both")
    neither = run("sql", "open.toml", cwd=ddl_allowed)
    assert_clean_error(neither, "--file FILE")
    missing = run("sql", "open.toml", "--file", "nope.sql", cwd=ddl_allowed)
    assert_clean_error(missing, "SQL file 'nope.sql' does not exist")
    empty = run("sql", "open.toml", "--file", "-", cwd=ddl_allowed, stdin="-- nothing\n")
    assert_clean_error(empty, "--file - holds no SQL statement")


def test_explain_and_write_take_a_script_and_use_its_last_statement(ddl_allowed: Path) -> None:
    explained = run("explain", "open.toml", "--file", "script.sql", "-p", "code=osl",
                    cwd=ddl_allowed)  # fmt: skip
    assert explained.returncode == 0, explained.stderr
    assert "cities" in explained.stdout
    target = ddl_allowed / "out.parquet"
    written = run("write", "open.toml", str(target), "--file", "script.sql", "-p", "code=osl",
                  "--format", "parquet", cwd=ddl_allowed)  # fmt: skip
    assert written.returncode == 0, written.stderr
    assert pq.read_table(target).to_pylist() == [{"name": "Oslo"}]


# --- exec: prepared statements of the profile ------------------------------------------------


def test_exec_runs_a_prepared_statement_with_its_arguments(workdir: Path) -> None:
    result = run("exec", "profile.toml", "person", "3", "-f", "jsonl", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"name": "n3"}
    table = run("exec", "profile.toml", "person", "4", cwd=workdir)
    assert table.returncode == 0, table.stderr
    assert "n4" in table.stdout


def test_exec_reads_arguments_as_json_scalars_else_text(tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text(
        "[prepared.echo]\nsql = 'SELECT $1 AS a, $2 AS b, $3 AS c'\n"
        "params = ['int64', 'string', 'string']\n",
        encoding="utf-8",
    )
    result = run("exec", "p.toml", "echo", "5", "Oslo", '"7"', "-f", "jsonl", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"a": 5, "b": "Oslo", "c": "7"}


def test_exec_errors_name_the_statement_and_its_parameters(workdir: Path) -> None:
    assert_clean_error(run("exec", "profile.toml", "nobody", cwd=workdir), "'nobody'", "person")
    assert_clean_error(run("exec", "profile.toml", "person", cwd=workdir), "takes 1 parameter")
    wrong = run("exec", "profile.toml", "person", "abc", cwd=workdir)
    assert_clean_error(wrong, "$1", "prepared.person.params")


# --- write --partition-by --------------------------------------------------------------------

PARTED = "SELECT id, name, id % 2 AS part FROM people WHERE id < 6"


def test_write_partition_by_writes_hive_partitions(workdir: Path, tmp_path: Path) -> None:
    target = tmp_path / "parts"
    result = run("write", "profile.toml", PARTED, str(target), "--format", "parquet",
                 "--partition-by", "part", "--json", cwd=workdir)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["partition_by"] == ["part"]
    assert sorted(p.name for p in target.iterdir()) == ["part=0", "part=1"]
    again = run("write", "profile.toml", PARTED, str(target), "--format", "parquet",
                "--partition-by", "part", "--mode", "append", cwd=workdir)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in target.iterdir()) == ["part=0", "part=1"]
    table = pq.read_table(target)
    assert sorted(table.column("id").to_pylist()) == sorted([*range(6), *range(6)])
    assert len(list((target / "part=1").iterdir())) == 2


def test_write_partition_by_several_columns_as_csv(workdir: Path, tmp_path: Path) -> None:
    target = tmp_path / "csv"
    query = "SELECT id, id % 2 AS a, id % 3 AS b FROM people WHERE id < 6"
    result = run("write", "profile.toml", query, str(target), "--format", "csv",
                 "--partition-by", "a", "--partition-by", "b", cwd=workdir)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (target / "a=1" / "b=2").is_dir()


def test_write_partition_by_a_delta_table(workdir: Path, tmp_path: Path) -> None:
    target = tmp_path / "delta"
    result = run("write", "profile.toml", PARTED, str(target), "--format", "delta",
                 "--partition-by", "part", cwd=workdir)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert DeltaTable(str(target)).metadata().partition_columns == ["part"]
    assert DeltaTable(str(target)).to_pyarrow_table().num_rows == 6


def test_write_partition_by_errors_name_the_column_or_the_target(
    workdir: Path, tmp_path: Path
) -> None:
    unknown = run("write", "profile.toml", PARTED, str(tmp_path / "u"), "--format", "parquet",
                  "--partition-by", "nope", cwd=workdir)  # fmt: skip
    assert_clean_error(unknown, "'nope'", "id, name, part")
    one_file = run("write", "profile.toml", PARTED, str(tmp_path / "one.parquet"), "--format",
                   "parquet", "--partition-by", "part", cwd=workdir)  # fmt: skip
    assert_clean_error(one_file, "one.parquet", "folder")
    assert not (tmp_path / "u").exists()


# --- wide results: --layout vertical ---------------------------------------------------------


def test_layout_vertical_prints_one_record_per_block(workdir: Path) -> None:
    query = "SELECT id, name, NULL AS nothing FROM people WHERE id < 2 ORDER BY id"
    result = run("sql", "profile.toml", query, "--layout", "vertical", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "-[ RECORD 1 ]-",
        "id      | 0",
        "name    | n0",
        "nothing | NULL",
        "-[ RECORD 2 ]-",
        "id      | 1",
        "name    | n1",
        "nothing | NULL",
    ]
    assert "2 rows" in result.stderr


def test_layout_vertical_keeps_duplicate_column_names(workdir: Path) -> None:
    query = "SELECT * FROM (SELECT 1 AS a, 'long value' AS b) x CROSS JOIN (SELECT 2 AS a) y"
    result = run("sql", "profile.toml", query, "--layout", "vertical", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["-[ RECORD 1 ]-", "a | 1", "b | long value", "a | 2"]


def test_layout_is_for_the_table_format(workdir: Path) -> None:
    result = run("sql", "profile.toml", "SELECT 1", "--layout", "vertical", "-f", "csv",
                 cwd=workdir)  # fmt: skip
    assert_clean_error(result, "--layout", "--format table")


def test_sql_output_to_a_folder_or_under_a_file_names_the_culprit(
    workdir: Path, tmp_path: Path
) -> None:
    (tmp_path / "plain").write_text("x", encoding="utf-8")
    into_folder = run("sql", "profile.toml", "SELECT 1 AS x", "-f", "csv", "-o", str(tmp_path),
                      cwd=workdir)  # fmt: skip
    assert_clean_error(into_folder, f"--output {tmp_path} is a folder")
    under_file = run("sql", "profile.toml", "SELECT 1 AS x", "-f", "csv", "-o",
                     str(tmp_path / "plain" / "x.csv"), cwd=workdir)  # fmt: skip
    assert_clean_error(under_file, f"{tmp_path / 'plain'} is a file, not a folder")
    assert ".partial" not in into_folder.stderr + under_file.stderr
