"""The query facade: execute, stream, explain, write and prepared statements on a built session.

Real DataFusion sessions over real Parquet files and real Delta tables written in tmp_path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from datafusion import udf
from deltalake import DeltaTable, write_deltalake
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from structlog.testing import capture_logs

from dfsession import (
    BuiltSession,
    SessionBuild,
    SessionContextBuilder,
    SessionProfile,
    SqlPolicyError,
    StepRecord,
    default_steps,
    insert_after,
)
from dfsession.errors import QueryError, SchemaMismatchError
from dfsession.facade import Queries
from dfsession.tracing import SessionTracing

ROWS = 10_000
BATCH = 1_000
LOCKED = {"allow_ddl": False, "allow_dml": False, "allow_statements": False}


@attrs.frozen(cache_hash=True)
class TablesStep:
    """A user step: register Parquet files as tables, and a UDF that fails past a row id."""

    tables: tuple[tuple[str, str], ...]
    name: str = "test_tables"
    requires: frozenset[str] = frozenset({"context"})
    provides: frozenset[str] = frozenset({"test_tables"})

    def install(self, build: SessionBuild) -> StepRecord:
        for table, path in self.tables:
            build.ctx.register_parquet(table, path)
        build.ctx.register_udf(
            udf(_fail_from, [pa.int64(), pa.int64()], pa.int64(), "volatile", name="fail_from")
        )
        return StepRecord(step=self.name, applied={"tables": [t for t, _ in self.tables]})


def _fail_from(ids: pa.Array, limit: pa.Array) -> pa.Array:
    """``ids`` unchanged, unless one reaches ``limit``: then the query fails, part-way."""
    if pc.max(ids).as_py() >= limit[0].as_py():
        raise RuntimeError(f"fail_from: reached id {limit[0].as_py()}")
    return ids


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("data")
    people = pa.table(
        {
            "id": pa.array(range(ROWS), pa.int64()),
            "name": [f"person {i}" for i in range(ROWS)],
            "score": [float(i % 97) for i in range(ROWS)],
        }
    )
    names = pa.table({"id": [1, 2, 3], "name": ["ann", "o'hara", "x' OR '1'='1"]})
    pq.write_table(people, directory / "people.parquet", row_group_size=BATCH)
    pq.write_table(names, directory / "names.parquet")
    return directory


@pytest.fixture
def make_session(data_dir: Path) -> Callable[..., BuiltSession]:
    def make(**sections: Any) -> BuiltSession:
        sections.setdefault("execution", {"target_partitions": 1, "batch_size": BATCH})
        profile = SessionProfile.from_dict(sections)
        tables = TablesStep(
            (
                ("people", str(data_dir / "people.parquet")),
                ("names", str(data_dir / "names.parquet")),
            )
        )
        steps = insert_after(default_steps(), "context", tables)
        return SessionContextBuilder(profile, steps).build()

    return make


@pytest.fixture
def session(make_session: Callable[..., BuiltSession]) -> BuiltSession:
    return make_session()


# -- execute and parameters -----------------------------------------------------------------


def test_execute_returns_the_whole_result_as_an_arrow_table(session: BuiltSession) -> None:
    table = session.execute("SELECT count(*) AS n, sum(id) AS total FROM people")
    assert table.to_pylist() == [{"n": ROWS, "total": ROWS * (ROWS - 1) // 2}]


def test_named_parameters_are_bound_by_the_engine(session: BuiltSession) -> None:
    table = session.execute(
        "SELECT id FROM people WHERE id BETWEEN $low AND $high ORDER BY id",
        {"low": 10, "$high": 12},
    )
    assert table.column("id").to_pylist() == [10, 11, 12]


def test_a_quote_injection_string_matches_only_as_a_value(session: BuiltSession) -> None:
    injection = "x' OR '1'='1"
    matched = session.execute("SELECT id FROM names WHERE name = $name", {"name": injection})
    assert matched.column("id").to_pylist() == [3]  # the one row holding that exact text
    quoted = session.execute("SELECT id FROM names WHERE name = $name", {"name": "o'hara"})
    assert quoted.column("id").to_pylist() == [2]
    nothing = session.execute("SELECT id FROM names WHERE name = $n", {"n": "ann' OR '1'='1"})
    assert nothing.num_rows == 0


def test_params_must_be_a_mapping(session: BuiltSession) -> None:
    with pytest.raises(TypeError, match="mapping of placeholder names"):
        session.execute("SELECT $1", [1])  # type: ignore[arg-type]


def test_a_missing_parameter_is_a_query_error_naming_the_placeholder(
    session: BuiltSession,
) -> None:
    with pytest.raises(QueryError, match=r"\$name") as caught:
        session.execute("SELECT id FROM names WHERE name = $name", {"other": 1})
    assert caught.value.query == "SELECT id FROM names WHERE name = $name"


def test_engine_errors_keep_the_engine_message_and_add_the_query(session: BuiltSession) -> None:
    with pytest.raises(QueryError) as caught:
        session.execute("SELECT no_such_column FROM people")
    message = str(caught.value)
    assert "no_such_column" in caught.value.engine_message
    assert caught.value.engine_message in message
    assert "query: SELECT no_such_column FROM people" in message
    assert caught.value.__cause__ is not None


def test_an_error_while_running_is_a_query_error(session: BuiltSession) -> None:
    with pytest.raises(QueryError, match="fail_from: reached id 5000"):
        session.execute("SELECT fail_from(id, 5000) FROM people")


# -- policy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "kind", "statement", "field"),
    [
        ("CREATE TABLE t2 AS SELECT 1", "DDL", "CreateMemoryTable", "sql_policy.allow_ddl"),
        ("CREATE VIEW v2 AS SELECT 1", "DDL", "CreateView", "sql_policy.allow_ddl"),
        ("DROP TABLE people", "DDL", "DropTable", "sql_policy.allow_ddl"),
        ("INSERT INTO people VALUES (1, 'a', 1.0)", "DML", "Insert Into", "sql_policy.allow_dml"),
        ("COPY people TO 'x.parquet'", "DML", "COPY", "sql_policy.allow_dml"),
        (
            "SET datafusion.execution.batch_size = 10",
            "statement",
            "SetVariable",
            "sql_policy.allow_statements",
        ),
        (
            "PREPARE p(BIGINT) AS SELECT $1",
            "statement",
            "Prepare",
            "sql_policy.allow_statements",
        ),
    ],
)
def test_policy_refusal_names_the_statement_kind_and_the_field_that_allows_it(
    make_session: Callable[..., BuiltSession], sql: str, kind: str, statement: str, field: str
) -> None:
    session = make_session(sql_policy=LOCKED)
    with pytest.raises(SqlPolicyError) as caught:
        session.execute(sql)
    error = caught.value
    assert (error.kind, error.statement, error.field, error.query) == (kind, statement, field, sql)
    assert f"set {field} = true" in str(error)
    assert sql in str(error)


def test_a_refused_statement_does_nothing(make_session: Callable[..., BuiltSession]) -> None:
    session = make_session(sql_policy=LOCKED)
    with pytest.raises(SqlPolicyError):
        session.execute("CREATE TABLE made AS SELECT 1 AS x")
    assert not session.ctx.table_exist("made")


def test_policy_applies_to_every_entry_point(make_session: Callable[..., BuiltSession]) -> None:
    session = make_session(sql_policy=LOCKED)
    ddl = "CREATE TABLE made AS SELECT 1 AS x"
    for run in (
        lambda: session.stream(ddl),
        lambda: session.explain(ddl),
        lambda: session.explain(ddl, analyze=True),
        lambda: session.write(ddl, "unused", format="parquet"),
        lambda: session.queries.dataframe(ddl),
    ):
        with pytest.raises(SqlPolicyError, match="allow_ddl"):
            run()
    assert not session.ctx.table_exist("made")


def test_only_the_forbidden_kind_is_refused(make_session: Callable[..., BuiltSession]) -> None:
    session = make_session(sql_policy={"allow_ddl": True, "allow_dml": False})
    session.execute("CREATE TABLE made AS SELECT 1 AS x")
    assert session.execute("SELECT x FROM made").to_pylist() == [{"x": 1}]
    with pytest.raises(SqlPolicyError, match="allow_dml"):
        session.execute("INSERT INTO made VALUES (2)")


def test_the_default_policy_allows_everything_as_datafusion_does(session: BuiltSession) -> None:
    session.execute("CREATE TABLE made AS SELECT 1 AS x")
    session.execute("INSERT INTO made VALUES (2)")
    session.execute("SET datafusion.execution.batch_size = 512")
    assert session.execute("SELECT count(*) AS n FROM made").to_pylist() == [{"n": 2}]


# -- prepared statements --------------------------------------------------------------------

PREPARED = {
    "person_by_id": {"sql": "SELECT id, name FROM people WHERE id = $1", "params": ["int64"]},
    "names_like": {"sql": "SELECT id FROM names WHERE name = $1 ORDER BY id", "params": ["string"]},
}


def test_prepared_statements_run_even_when_the_policy_forbids_statements(
    make_session: Callable[..., BuiltSession],
) -> None:
    session = make_session(sql_policy=LOCKED, prepared=PREPARED)
    assert session.record("prepared").status == "applied"  # PREPAREd by the build
    with pytest.raises(SqlPolicyError, match="allow_statements"):
        session.execute("EXECUTE person_by_id(7)")
    assert session.execute_prepared("person_by_id", 7).to_pylist() == [
        {"id": 7, "name": "person 7"}
    ]


def test_prepared_parameters_are_bound_not_pasted(
    make_session: Callable[..., BuiltSession],
) -> None:
    session = make_session(prepared=PREPARED)
    assert session.execute_prepared("names_like", "x' OR '1'='1").column("id").to_pylist() == [3]
    assert session.execute_prepared("names_like", "ann' OR '1'='1").num_rows == 0


def test_prepared_statement_errors_name_the_statement_and_the_fix(
    make_session: Callable[..., BuiltSession],
) -> None:
    session = make_session(prepared=PREPARED)
    with pytest.raises(QueryError, match=r"no prepared statement 'nope'.*names_like, person_by_id"):
        session.execute_prepared("nope")
    with pytest.raises(QueryError, match=r"takes 1 parameter\(s\) \(int64\), got 2"):
        session.execute_prepared("person_by_id", 1, 2)
    with pytest.raises(QueryError, match=r"parameter \$1 must be int64.*'seven'"):
        session.execute_prepared("person_by_id", "seven")


# -- stream ---------------------------------------------------------------------------------


def test_stream_yields_the_same_rows_as_execute_in_batches(session: BuiltSession) -> None:
    sql = "SELECT id, name FROM people WHERE id % 3 = 0"
    reader = session.stream(sql)
    assert isinstance(reader, pa.RecordBatchReader)
    batches = list(reader)
    assert len(batches) > 1
    assert pa.Table.from_batches(batches, reader.schema).equals(session.execute(sql))


def test_stream_hands_out_batches_before_the_query_has_finished(session: BuiltSession) -> None:
    # The query fails at id 5000: a materialized result could not give even the first batch.
    reader = session.stream("SELECT fail_from(id, 5000) AS id FROM people")
    first = reader.read_next_batch()
    assert first.column(0).to_pylist()[:3] == [0, 1, 2]
    with pytest.raises(QueryError, match="fail_from: reached id 5000"):
        reader.read_all()


def test_stream_raises_planning_errors_at_once(session: BuiltSession) -> None:
    with pytest.raises(QueryError, match="nope"):
        session.stream("SELECT nope FROM people")


def test_stream_binds_parameters(session: BuiltSession) -> None:
    reader = session.stream("SELECT id FROM names WHERE name = $n", {"n": "o'hara"})
    assert reader.read_all().column("id").to_pylist() == [2]


# -- explain --------------------------------------------------------------------------------


def test_explain_shows_logical_and_physical_plans(session: BuiltSession) -> None:
    text = session.explain("SELECT name FROM people WHERE id > $low", params={"low": 5})
    assert "logical_plan:" in text
    assert "physical_plan:" in text
    assert "TableScan: people" in text


def test_explain_analyze_runs_the_query_and_shows_metrics(session: BuiltSession) -> None:
    text = session.explain("SELECT count(*) FROM people", analyze=True)
    assert "metrics=[" in text
    assert "output_rows" in text


def test_explain_tree_format(session: BuiltSession) -> None:
    assert "┌" in session.explain("SELECT id FROM people", format="tree")


def test_explain_rejects_an_unknown_format(session: BuiltSession) -> None:
    with pytest.raises(QueryError, match="expected one of indent, tree, pgjson, graphviz"):
        session.explain("SELECT 1", format="yaml")


# -- out of memory, metrics, logging, tracing -----------------------------------------------

SORT = "SELECT v, md5(CAST(v AS VARCHAR)) AS h FROM generate_series(1, 300000) AS t(v) ORDER BY h"


def test_out_of_memory_names_the_profile_settings_that_govern_it(
    make_session: Callable[..., BuiltSession],
) -> None:
    session = make_session(
        execution={"memory_pool": "greedy", "memory_limit": "1MiB", "spill": "disabled"}
    )
    with pytest.raises(QueryError) as caught:
        session.execute(SORT)
    message = str(caught.value)
    assert "Resources exhausted" in message
    for field in ("execution.memory_limit (now 1MiB)", "execution.memory_pool", "execution.spill"):
        assert field in message
    assert "memory_pool = 'fair'" in message


def test_each_query_logs_rows_compute_time_and_spills(
    make_session: Callable[..., BuiltSession],
) -> None:
    session = make_session(
        execution={
            "memory_pool": "fair",
            "memory_limit": "8MiB",
            "spill": "os",
            "target_partitions": 1,
        },
        settings={"datafusion.execution.sort_spill_reservation_bytes": "1048576"},
    )
    with capture_logs() as logs:
        table = session.execute(SORT)
    (event,) = [e for e in logs if e["event"] == "dfsession.query"]
    assert event["operation"] == "execute"
    assert event["rows"] == table.num_rows == 300_000
    assert event["elapsed_compute_ms"] > 0
    assert event["spill_count"] > 0
    assert event["spilled_bytes"] > 0
    assert event["log_level"] == "info"


def test_a_streamed_query_is_logged_when_the_reader_is_done(session: BuiltSession) -> None:
    with capture_logs() as logs:
        reader = session.stream("SELECT id FROM people")
        assert not [e for e in logs if e["event"] == "dfsession.query"]
        rows = reader.read_all().num_rows
    (event,) = [e for e in logs if e["event"] == "dfsession.query"]
    assert (event["operation"], event["rows"], event["closed_early"]) == ("stream", rows, False)


@pytest.fixture
def traced(session: BuiltSession) -> Iterator[tuple[Queries, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = SessionTracing(tracer=provider.get_tracer("test"), exporter="global")
    yield Queries(session.ctx, session.profile, tracing=tracing), exporter
    provider.shutdown()


def test_each_query_gets_a_span_with_rows_compute_and_spills(
    traced: tuple[Queries, InMemorySpanExporter],
) -> None:
    queries, exporter = traced
    queries.execute("SELECT name, count(*) FROM people GROUP BY name")
    (span,) = exporter.get_finished_spans()
    assert span.name == "dfsession.query"
    attributes = dict(span.attributes or {})
    assert attributes["dfsession.query.sql"] == "SELECT name, count(*) FROM people GROUP BY name"
    assert attributes["dfsession.query.operation"] == "execute"
    assert attributes["dfsession.query.rows"] == ROWS
    assert attributes["dfsession.query.elapsed_compute_ns"] > 0
    assert attributes["dfsession.query.spill_count"] == 0
    assert attributes["dfsession.query.spilled_bytes"] == 0


def test_a_stream_span_ends_when_the_reader_is_exhausted(
    traced: tuple[Queries, InMemorySpanExporter],
) -> None:
    queries, exporter = traced
    reader = queries.stream("SELECT id FROM people")
    assert exporter.get_finished_spans() == ()
    reader.read_all()
    (span,) = exporter.get_finished_spans()
    assert dict(span.attributes or {})["dfsession.query.rows"] == ROWS


def test_a_failed_query_span_has_error_status(
    traced: tuple[Queries, InMemorySpanExporter],
) -> None:
    queries, exporter = traced
    with pytest.raises(QueryError):
        queries.execute("SELECT nope FROM people")
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR


# -- write: files ---------------------------------------------------------------------------


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("format", ["parquet", "csv", "json"])
def test_write_files_and_read_them_back(session: BuiltSession, tmp_path: Path, format: str) -> None:
    target = tmp_path / "out"
    result = session.write(
        "SELECT id, name FROM people WHERE id < $n", target, format=format, params={"n": 100}
    )
    assert (result.rows, result.format, result.mode) == (100, format, "error")
    reader = {"parquet": "read_parquet", "csv": "read_csv", "json": "read_json"}[format]
    back = getattr(session.ctx, reader)(str(target)).to_arrow_table()
    assert sorted(back.column("id").to_pylist()) == list(range(100))
    assert _files(tmp_path) == ["out"]  # nothing left aside


def test_write_a_single_file_when_the_target_has_the_format_extension(
    session: BuiltSession, tmp_path: Path
) -> None:
    target = tmp_path / "out.parquet"
    session.write("SELECT id FROM people", target, format="parquet")
    assert target.is_file()
    assert pq.read_table(target).num_rows == ROWS


def test_write_modes_for_files(session: BuiltSession, tmp_path: Path) -> None:
    target = tmp_path / "out"
    session.write("SELECT id FROM people WHERE id < 10", target, format="parquet")
    with pytest.raises(QueryError, match="already exists; use mode='overwrite'"):
        session.write("SELECT id FROM people", target, format="parquet")
    session.write("SELECT id FROM people WHERE id < 5", target, format="parquet", mode="append")
    assert pq.read_table(target).num_rows == 15
    session.write("SELECT id FROM people WHERE id < 3", target, format="parquet", mode="overwrite")
    assert pq.read_table(target).num_rows == 3


def test_append_needs_a_directory_target(session: BuiltSession, tmp_path: Path) -> None:
    with pytest.raises(QueryError, match="adds files to a directory"):
        session.write("SELECT 1 AS x", tmp_path / "one.parquet", format="parquet", mode="append")


def test_a_file_write_failing_part_way_leaves_the_target_untouched(
    session: BuiltSession, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    session.write("SELECT id FROM people WHERE id < 10", target, format="parquet")
    before = _files(target)
    for mode in ("overwrite", "append"):
        with pytest.raises(QueryError, match="fail_from"):
            session.write(
                "SELECT fail_from(id, 5000) AS id FROM people", target, format="parquet", mode=mode
            )
        assert _files(target) == before
        assert pq.read_table(target).num_rows == 10
    assert _files(tmp_path) == ["out"]


def test_write_a_dataframe(session: BuiltSession, tmp_path: Path) -> None:
    df = session.ctx.table("names")
    result = session.write(df, tmp_path / "names.csv", format="csv")
    assert result.rows == 3
    assert (tmp_path / "names.csv").read_text().splitlines()[0] == "id,name"


def test_write_rejects_unknown_formats_and_modes(session: BuiltSession, tmp_path: Path) -> None:
    with pytest.raises(QueryError, match="unknown write format 'orc'"):
        session.write("SELECT 1", tmp_path / "x", format="orc")
    with pytest.raises(QueryError, match="unknown write mode 'merge'"):
        session.write("SELECT 1", tmp_path / "x", format="delta", mode="merge")


# -- write: Delta ---------------------------------------------------------------------------


def test_delta_write_modes(session: BuiltSession, tmp_path: Path) -> None:
    target = str(tmp_path / "delta")
    first = session.write("SELECT id, name FROM people WHERE id < 10", target, format="delta")
    assert (first.rows, first.version) == (10, 0)
    with pytest.raises(QueryError, match="use mode='append' or mode='overwrite'"):
        session.write("SELECT id, name FROM people", target, format="delta")
    second = session.write(
        "SELECT id, name FROM people WHERE id < 5", target, format="delta", mode="append"
    )
    assert second.version == 1
    assert DeltaTable(target).to_pyarrow_table().num_rows == 15
    third = session.write(
        "SELECT id, name FROM people WHERE id < 2", target, format="delta", mode="overwrite"
    )
    assert third.version == 2
    assert DeltaTable(target).to_pyarrow_table().num_rows == 2


#: What concurrent writers were told: (the version, the value that write added).
Reported = list[tuple[int | None, int]]


def _concurrent_appends(session: BuiltSession, target: str, writers: int, rounds: int) -> Reported:
    """``writers`` threads append a row each, ``rounds`` times, together: (version, value)s."""
    barrier = threading.Barrier(writers)

    def append(writer: int) -> Reported:
        reported: Reported = []
        for round_ in range(rounds):
            value = writer * 100 + round_ + 1
            barrier.wait()  # the writers commit together, round after round
            try:
                result = session.write(
                    "SELECT CAST($v AS BIGINT) AS x",
                    target,
                    format="delta",
                    mode="append",
                    params={"v": value},
                )
            except QueryError as exc:  # two writers creating the table: one may lose
                assert "Failed to commit transaction" in str(exc)
                continue
            reported.append((result.version, value))
        return reported

    with ThreadPoolExecutor(writers) as pool:
        return [pair for pairs in pool.map(append, range(writers)) for pair in pairs]


def _assert_each_version_adds_its_value(target: str, reported: Reported) -> None:
    for version, value in reported:
        assert version is not None
        now = DeltaTable(target, version=version).to_pyarrow_table().column("x").to_pylist()
        before = []
        if version > 0:
            before = DeltaTable(target, version=version - 1).to_pyarrow_table()["x"].to_pylist()
        assert sorted(now) == sorted([*before, value])


def test_concurrent_delta_appends_each_report_the_version_they_committed(
    session: BuiltSession, tmp_path: Path
) -> None:
    target = str(tmp_path / "delta")
    session.write("SELECT CAST(0 AS BIGINT) AS x", target, format="delta")
    reported = _concurrent_appends(session, target, writers=4, rounds=5)
    assert sorted(version for version, _ in reported) == list(range(1, 21))
    _assert_each_version_adds_its_value(target, reported)


def test_concurrent_appends_creating_a_table_each_report_the_version_they_committed(
    session: BuiltSession, tmp_path: Path
) -> None:
    target = str(tmp_path / "delta")
    reported = _concurrent_appends(session, target, writers=4, rounds=1)
    versions = sorted(version for version, _ in reported)
    assert versions == list(range(DeltaTable(target).version() + 1))
    _assert_each_version_adds_its_value(target, reported)


def test_a_delta_write_reports_progress_per_batch(session: BuiltSession, tmp_path: Path) -> None:
    seen: list[int] = []
    session.write("SELECT id FROM people", tmp_path / "d", format="delta", progress=seen.append)
    assert len(seen) > 2
    assert seen == sorted(seen)
    assert seen[-1] == ROWS


@pytest.mark.parametrize("mode", ["append", "overwrite"])
def test_a_delta_query_failing_part_way_commits_nothing(
    session: BuiltSession, tmp_path: Path, mode: str
) -> None:
    target = str(tmp_path / "delta")
    session.write("SELECT id FROM people WHERE id < 10", target, format="delta")
    with pytest.raises(QueryError, match=r"nothing was committed; the table stays at version 0"):
        session.write(
            "SELECT fail_from(id, 5000) AS id FROM people", target, format="delta", mode=mode
        )
    table = DeltaTable(target)
    assert table.version() == 0
    assert len(table.history()) == 1
    assert table.to_pyarrow_table().num_rows == 10


def test_a_delta_input_stream_failing_after_some_batches_commits_nothing(
    session: BuiltSession, tmp_path: Path
) -> None:
    target = str(tmp_path / "delta")
    write_deltalake(target, pa.table({"x": pa.array([1, 2, 3], pa.int64())}))
    schema = pa.schema([("x", pa.int64())])

    def batches() -> Iterator[pa.RecordBatch]:
        for start in range(0, 30_000, 10_000):
            yield pa.record_batch([pa.array(range(start, start + 10_000), pa.int64())], schema)
        raise OSError("the source went away")

    reader = pa.RecordBatchReader.from_batches(schema, batches())
    with pytest.raises(QueryError, match="the source went away"):
        session.write(reader, target, format="delta", mode="append")
    table = DeltaTable(target)
    assert table.version() == 0
    assert table.to_pyarrow_table().column("x").to_pylist() == [1, 2, 3]


def _failing_stream(
    batches: list[pa.RecordBatch], error: BaseException, folder: Path
) -> pa.RecordBatchReader:
    """A stream of ``batches`` that raises ``error`` once the writer has put a file in ``folder``.

    deltalake writes files while it reads the stream; waiting for one makes the failure leave
    a written file behind every time, not only when the writer happens to be quick.
    """
    present = set(folder.rglob("*.parquet"))

    def generate() -> Iterator[pa.RecordBatch]:
        yield from batches
        for _ in range(3000):  # the writer works on its own threads; give it up to 30 s
            if set(folder.rglob("*.parquet")) - present:
                break
            time.sleep(0.01)
        else:
            raise AssertionError(f"deltalake wrote no file in {folder} to leave behind")
        raise error

    return pa.RecordBatchReader.from_batches(batches[0].schema, generate())


def _big_batches() -> list[pa.RecordBatch]:
    """16 batches of 1M random int64: past deltalake's 100 MB file size, so a file is written."""
    rng = np.random.default_rng(0)
    return [pa.record_batch({"x": rng.integers(0, 2**62, 1 << 20)}) for _ in range(16)]


def _small_batches() -> list[pa.RecordBatch]:
    """3 batches of 10,000 rows: many files for a table of 1 KiB files."""
    rows = range(0, 30_000, 10_000)
    return [pa.record_batch({"x": pa.array(range(n, n + 10_000), pa.int64())}) for n in rows]


def _tree(folder: Path) -> list[str]:
    """Every file and folder under ``folder``, relative, sorted."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.mark.parametrize("exists", [False, True])
def test_a_failed_new_delta_table_write_leaves_no_files_and_a_retry_succeeds(
    session: BuiltSession, tmp_path: Path, exists: bool
) -> None:
    target = tmp_path / "new"
    if exists:
        target.mkdir()
    reader = _failing_stream(_big_batches(), OSError("the source went away"), tmp_path)
    with pytest.raises(QueryError, match="no table was created"):
        session.write(reader, target, format="delta")
    assert target.exists() == exists
    if exists:
        assert _tree(target) == []
    result = session.write(pa.table({"x": [1, 2]}), target, format="delta")
    assert (result.rows, result.version) == (2, 0)


@pytest.fixture
def small_files_table(tmp_path: Path) -> Path:
    """A Delta table writing 1 KiB files, at version 1 after an overwrite (v0's file remains)."""
    target = tmp_path / "small_files"
    first = pa.table({"x": pa.array([1], pa.int64())})
    write_deltalake(str(target), first, configuration={"delta.targetFileSize": "1024"})
    write_deltalake(str(target), pa.table({"x": pa.array([2], pa.int64())}), mode="overwrite")
    return target


@pytest.mark.parametrize("mode", ["append", "overwrite"])
def test_a_failed_write_to_a_delta_table_leaves_its_folder_as_it_was(
    session: BuiltSession, small_files_table: Path, mode: str
) -> None:
    target = small_files_table
    before = _tree(target)
    reader = _failing_stream(_small_batches(), OSError("the source went away"), target)
    with pytest.raises(QueryError, match="the table stays at version 1"):
        session.write(reader, target, format="delta", mode=mode)
    assert _tree(target) == before
    assert DeltaTable(str(target), version=0).to_pyarrow_table()["x"].to_pylist() == [1]
    result = session.write(
        pa.table({"x": pa.array([3], pa.int64())}), target, format="delta", mode=mode
    )
    assert result.version == 2


def test_a_keyboard_interrupt_during_a_delta_write_stays_one_and_leaves_the_folder(
    session: BuiltSession, small_files_table: Path
) -> None:
    target = small_files_table
    before = _tree(target)
    reader = _failing_stream(_small_batches(), KeyboardInterrupt(), target)
    with pytest.raises(KeyboardInterrupt):
        session.write(reader, target, format="delta", mode="append")
    assert _tree(target) == before
    assert DeltaTable(str(target)).version() == 1


def test_a_failed_delta_write_leaves_the_files_of_another_running_write_alone(
    session: BuiltSession, small_files_table: Path
) -> None:
    target = small_files_table
    present = set(target.rglob("*.parquet"))
    running, release = threading.Event(), threading.Event()

    def held_batches() -> Iterator[pa.RecordBatch]:
        yield from _small_batches()
        while not set(target.rglob("*.parquet")) - present:
            time.sleep(0.01)  # until the writer has put files down
        running.set()
        release.wait()

    held = pa.RecordBatchReader.from_batches(_small_batches()[0].schema, held_batches())
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(session.write, held, target, format="delta", mode="append")
        try:
            assert running.wait(30)
            failing = _failing_stream(_small_batches(), OSError("the source went away"), target)
            with pytest.raises(QueryError, match="another write to this table is running"):
                session.write(failing, target, format="delta", mode="append")
        finally:
            release.set()
        assert other.result().version == 2
    assert DeltaTable(str(target)).to_pyarrow_table().num_rows == 1 + 30_000


def test_a_keyboard_interrupt_during_a_file_write_stays_one(
    session: BuiltSession, tmp_path: Path
) -> None:
    def batches() -> Iterator[pa.RecordBatch]:
        yield from _small_batches()
        raise KeyboardInterrupt

    reader = pa.RecordBatchReader.from_batches(_small_batches()[0].schema, batches())
    with pytest.raises(KeyboardInterrupt):
        session.write(reader, tmp_path / "out.parquet", format="parquet")
    assert _tree(tmp_path) == []


def test_write_an_arrow_stream_to_files_leaves_no_table_behind(
    make_session: Callable[..., BuiltSession], tmp_path: Path
) -> None:
    session = make_session(catalog={"default_catalog": "analytics", "default_schema": "main"})
    schema = session.ctx.catalog("analytics").schema("main")
    before = set(schema.names())
    data = pa.table({"x": [1, 2, 3]})
    result = session.write(data.to_reader(), tmp_path / "x.parquet", format="parquet")
    assert result.rows == 3
    assert pq.read_table(tmp_path / "x.parquet").equals(data)
    session.write(session.ctx.table("names"), tmp_path / "names.json", format="json")
    assert set(schema.names()) == before


def test_write_into_the_profile_object_store(s3_bucket: Any, data_dir: Path) -> None:
    profile = SessionProfile.from_dict({"object_stores": {"lake": s3_bucket.store()}})
    steps = insert_after(
        default_steps(), "context", TablesStep((("people", str(data_dir / "people.parquet")),))
    )
    session = SessionContextBuilder(profile, steps).build()
    table = f"s3://{s3_bucket.name}/tables/people"
    result = session.write("SELECT id, name FROM people WHERE id < 100", table, format="delta")
    assert (result.rows, result.version) == (100, 0)
    more = session.write(
        "SELECT id, name FROM people WHERE id < 5", table, format="delta", mode="append"
    )
    assert (more.rows, more.version) == (5, 1)
    back = DeltaTable(table, storage_options=s3_bucket.delta_storage_options())
    assert back.to_pyarrow_table().num_rows == 105
    files = f"s3://{s3_bucket.name}/files/"
    session.write("SELECT id FROM people", files, format="parquet", mode="append")
    assert session.ctx.read_parquet(files).count() == ROWS
    with pytest.raises(QueryError, match="use mode='append', or format='delta'"):
        session.write("SELECT id FROM people", files, format="parquet", mode="overwrite")


def _trips_session(tmp_path: Path, **policy: bool) -> Any:
    folder = tmp_path / "trips"
    folder.mkdir()
    pq.write_table(pa.table({"id": [1, 2, 3]}), folder / "part-0.parquet")
    profile = SessionProfile.from_dict(
        {
            "datasets": {"trips": {"format": "parquet", "location": f"{folder}/"}},
            "prepared": {"everything": {"sql": "SELECT count(*) AS n FROM trips"}},
            "sql_policy": policy,
        }
    )
    return SessionContextBuilder(profile).build(), folder


def test_writing_files_where_a_registered_dataset_reads_is_refused(tmp_path: Path) -> None:
    session, folder = _trips_session(tmp_path)
    for target in (folder, folder / "more.parquet"):
        with pytest.raises(QueryError, match="overlaps dataset 'trips'"):
            session.write("SELECT * FROM trips", target, format="parquet", mode="append")
    assert session.execute("SELECT count(*) AS n FROM trips").to_pydict() == {"n": [3]}
    assert [p.name for p in folder.iterdir()] == ["part-0.parquet"]


def test_write_is_refused_when_the_policy_forbids_dml(tmp_path: Path) -> None:
    session, _ = _trips_session(tmp_path, allow_dml=False)
    target = tmp_path / "out.parquet"
    with pytest.raises(SqlPolicyError, match=r"sql_policy.allow_dml") as info:
        session.write("SELECT * FROM trips", target, format="parquet")
    assert info.value.kind == "DML"
    assert not target.exists()


def test_prepared_statement_without_parameters_refuses_arguments(tmp_path: Path) -> None:
    session, _ = _trips_session(tmp_path)
    assert session.execute_prepared("everything").to_pydict() == {"n": [3]}
    with pytest.raises(QueryError, match=r"takes 0 parameter\(s\).*got 1"):
        session.execute_prepared("everything", 5)


def test_explain_errors_point_into_the_users_sql() -> None:
    session = SessionContextBuilder(SessionProfile()).build()
    with pytest.raises(QueryError) as explained:
        session.explain("SELECT 1 FROM WHERE")
    with pytest.raises(QueryError) as executed:
        session.execute("SELECT 1 FROM WHERE")
    assert explained.value.engine_message == executed.value.engine_message


def test_delta_append_of_other_types_is_refused_instead_of_cast(tmp_path: Path) -> None:
    target = tmp_path / "ids"
    write_deltalake(str(target), pa.table({"id": pa.array([1, 2], pa.int64())}))
    session = SessionContextBuilder(SessionProfile()).build()
    with pytest.raises(SchemaMismatchError, match=r"column 'id': expected int64, actual float64"):
        session.write("SELECT 1.9 AS id", target, format="delta", mode="append")
    assert DeltaTable(str(target)).version() == 0
    session.write("SELECT CAST(3 AS BIGINT) AS id", target, format="delta", mode="append")
    assert sorted(DeltaTable(str(target)).to_pyarrow_table()["id"].to_pylist()) == [1, 2, 3]


def test_delta_write_into_a_registered_parquet_folder_is_refused(tmp_path: Path) -> None:
    session, folder = _trips_session(tmp_path)
    with pytest.raises(QueryError, match="overlaps dataset 'trips'"):
        session.write("SELECT * FROM trips", folder, format="delta", mode="append")
    assert not (folder / "_delta_log").exists()


def test_new_delta_table_is_not_created_inside_a_folder_of_other_files(tmp_path: Path) -> None:
    folder = tmp_path / "busy"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    session = SessionContextBuilder(SessionProfile()).build()
    with pytest.raises(QueryError, match="already holds files"):
        session.write("SELECT 1 AS x", folder, format="delta")
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_integers_past_int64_bind_as_uint64_or_are_refused_by_name() -> None:
    session = SessionContextBuilder(SessionProfile()).build()
    assert session.execute("SELECT $v AS v", {"v": 2**63}).to_pydict() == {"v": [2**63]}
    with pytest.raises(QueryError, match=r"parameter \$v = .* does not fit a 64-bit integer"):
        session.execute("SELECT $v AS v", {"v": 2**70})


def test_prepared_integer_parameter_refuses_a_fraction() -> None:
    profile = SessionProfile.from_dict(
        {"prepared": {"p": {"sql": "SELECT $1 AS v", "params": ["int64"]}}}
    )
    session = SessionContextBuilder(profile).build()
    with pytest.raises(QueryError, match=r"\$1 must be int64.*not a whole number"):
        session.execute_prepared("p", 5.5)
    assert session.execute_prepared("p", 5.0).to_pydict() == {"v": [5]}
