"""A profile with ``[engine] kind = "ballista"`` runs its queries on a real cluster.

A scheduler and an executor run as their own processes on 127.0.0.1 (the executor's work
folder under the test's temporary folder): a query ran there when the executor wrote that job's
shuffle files. Skipped, with the reason, only where the Ballista client cannot be imported
(``nox -s tests_ballista`` installs it, on the DataFusion 54 set).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ballista_cluster import (
    BALLISTA_MISSING,
    QUERIES,
    VIEWS,
    Cluster,
    datasets,
    running_cluster,
    write_tables,
)
from dfsession import SessionContextBuilder, SessionProfile, doctor
from dfsession.session import BuiltSession

pytestmark = [
    pytest.mark.skipif(BALLISTA_MISSING is not None, reason=str(BALLISTA_MISSING)),
    pytest.mark.timeout(180),
]

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_tables(tmp_path_factory.mktemp("tpch"), orders=5_000)


def profile_data(
    tables: dict[str, Path], engine: dict[str, Any], **sections: Any
) -> dict[str, Any]:
    return {
        "engine": engine,
        "datasets": datasets(tables),
        "views": VIEWS,
        **sections,
    }


@pytest.fixture(scope="module")
def session(cluster: Cluster, tables: dict[str, Path]) -> BuiltSession:
    data = profile_data(
        tables,
        {"kind": "ballista", "url": cluster.url},
        execution={"target_partitions": 3},
        prepared={
            "orders_of": {
                "sql": "SELECT count(*) AS n FROM orders WHERE o_custkey = $1",
                "params": ["int64"],
            }
        },
    )
    return SessionContextBuilder(SessionProfile.from_dict(data)).build()


def new_jobs(cluster: Cluster, before: set[str]) -> set[str]:
    return cluster.job_ids() - before


def test_execute_runs_the_query_on_the_cluster(cluster: Cluster, session: BuiltSession) -> None:
    before = cluster.job_ids()
    table = session.execute("SELECT o_status, count(*) AS n FROM orders GROUP BY o_status")
    assert sum(table.column("n").to_pylist()) == 5_000
    assert new_jobs(cluster, before)


def test_the_context_is_a_ballista_context_and_the_record_names_the_scheduler(
    cluster: Cluster, session: BuiltSession
) -> None:
    import ballista  # noqa: PLC0415 - only here, where it imports

    assert isinstance(session.ctx, ballista.BallistaSessionContext)
    applied = session.record("context").applied
    assert applied["engine"] == "ballista"
    assert applied["scheduler"] == cluster.url
    assert applied["standalone"] is False
    assert applied["ballista"] == ballista.__version__
    assert applied["cluster_settings"] == {"datafusion.execution.target_partitions": "3"}


def test_stream_collects_on_the_cluster_and_yields_every_batch(
    cluster: Cluster, session: BuiltSession
) -> None:
    before = cluster.job_ids()
    reader = session.stream("SELECT l_orderkey FROM lineitem")
    rows = sum(batch.num_rows for batch in reader)
    assert rows == pq.read_table(session.profile.datasets["lineitem"].location.text).num_rows
    assert new_jobs(cluster, before)


def test_execute_prepared_runs_on_the_cluster(cluster: Cluster, session: BuiltSession) -> None:
    before = cluster.job_ids()
    table = session.execute_prepared("orders_of", 7)
    local = session.ctx.sql("SELECT count(*) AS n FROM orders WHERE o_custkey = 7").to_pydict()
    assert table.column("n").to_pylist() == local["n"]  # to_pydict runs in this process
    assert new_jobs(cluster, before)


def test_explain_shows_the_clusters_stages_with_the_profiles_partitions(
    session: BuiltSession,
) -> None:
    plan = session.explain("SELECT o_status, count(*) FROM orders GROUP BY o_status")
    assert "ResolvedStage" in plan or "UnresolvedShuffleExec" in plan
    assert "ShuffleWriterExec" in plan
    assert "Hash([o_status@0], 3)" in plan  # execution.target_partitions reached the scheduler


def test_write_parquet_runs_on_the_cluster(
    cluster: Cluster, session: BuiltSession, tmp_path: Path
) -> None:
    before = cluster.job_ids()
    result = session.write(
        "SELECT * FROM orders WHERE o_priority = 1", tmp_path / "urgent", format="parquet"
    )
    written = pq.read_table(tmp_path / "urgent")
    assert result.rows == written.num_rows > 0
    assert new_jobs(cluster, before)


def test_write_of_a_dataframe_runs_on_the_cluster(
    cluster: Cluster, session: BuiltSession, tmp_path: Path
) -> None:
    before = cluster.job_ids()
    df = session.ctx.sql("SELECT c_custkey FROM customer WHERE c_region = 'ASIA'")
    result = session.write(df, tmp_path / "asia.csv", format="csv")
    assert result.rows == 100
    assert new_jobs(cluster, before)


def test_write_delta_computes_on_the_cluster_and_commits_from_the_client(
    cluster: Cluster, session: BuiltSession, tmp_path: Path
) -> None:
    from deltalake import DeltaTable  # noqa: PLC0415

    before = cluster.job_ids()
    result = session.write("SELECT * FROM customer", tmp_path / "customers", format="delta")
    assert result.rows == 500
    assert DeltaTable(str(tmp_path / "customers")).version() == 0
    assert new_jobs(cluster, before)


def test_an_arrow_stream_is_refused_on_a_cluster(session: BuiltSession, tmp_path: Path) -> None:
    from dfsession.errors import QueryError  # noqa: PLC0415

    with pytest.raises(QueryError, match="Arrow stream cannot be written from a Ballista"):
        session.write(pa.table({"a": [1]}), tmp_path / "a.parquet", format="parquet")


def test_files_in_an_object_store_are_refused_as_write_targets(
    session: BuiltSession,
) -> None:
    from dfsession.errors import QueryError  # noqa: PLC0415

    with pytest.raises(QueryError, match="object stores do not reach the cluster"):
        session.write("SELECT 1 AS a", "s3://lake/out/", format="parquet", mode="append")


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_the_cluster_gives_the_same_answers_as_this_process(
    name: str, session: BuiltSession, tables: dict[str, Path], cluster: Cluster
) -> None:
    local = SessionContextBuilder(
        SessionProfile.from_dict(profile_data(tables, {"kind": "local"}))
    ).build()
    before = cluster.job_ids()
    remote = session.execute(QUERIES[name])
    assert new_jobs(cluster, before)
    expected = local.execute(QUERIES[name])
    assert remote.num_rows > 0
    assert remote.to_pylist() == expected.to_pylist()


def test_the_command_line_runs_queries_on_the_cluster(
    cluster: Cluster, tables: dict[str, Path], tmp_path: Path
) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(
        f'[engine]\nkind = "ballista"\nurl = "{cluster.url}"\n\n'
        f'[datasets.orders]\nformat = "parquet"\nlocation = "{tables["orders"]}"\n'
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    }
    before = cluster.job_ids()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dfsession",
            "sql",
            str(path),
            "SELECT count(*) AS n FROM orders",
            "--format",
            "jsonl",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"n": 5000}
    assert new_jobs(cluster, before)


def test_a_standalone_engine_starts_its_own_cluster(
    tables: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where its in-process executor works
    profile = SessionProfile.from_dict(
        profile_data(tables, {"kind": "ballista", "standalone": True})
    )
    session = SessionContextBuilder(profile).build()
    assert session.record("context").applied["standalone"] is True
    table = session.execute("SELECT count(*) AS n FROM customer")
    assert table.column("n").to_pylist() == [500]
    assert Cluster(url="", work=tmp_path).job_ids()


def test_plan_refuses_a_udf_a_delta_table_and_an_in_memory_step_on_a_cluster(
    cluster: Cluster, tables: dict[str, Path], tmp_path: Path
) -> None:
    from deltalake import write_deltalake  # noqa: PLC0415

    from dfsession import default_steps  # noqa: PLC0415
    from dfsession.errors import NotPortableError  # noqa: PLC0415
    from test_portability import MemoryTableStep  # noqa: PLC0415

    write_deltalake(str(tmp_path / "delta"), pa.table({"a": [1]}))
    data = profile_data(tables, {"kind": "ballista", "url": cluster.url})
    data["datasets"]["events"] = {"format": "delta", "location": str(tmp_path / "delta")}
    data["udfs"] = [
        {
            "ref": "udf_fixtures.functions:clean_name",
            "name": "clean_name",
            "args": ["string"],
            "returns": "string",
        }
    ]
    builder = SessionContextBuilder(
        SessionProfile.from_dict(data), steps=(*default_steps(), MemoryTableStep())
    )
    before = cluster.job_ids()
    with pytest.raises(NotPortableError) as caught:
        builder.build()
    assert [path for path, _ in caught.value.problems] == ["udfs.0", "datasets.events", ""]
    assert cluster.job_ids() == before


def test_the_report_of_a_cluster_session_validates(session: BuiltSession) -> None:
    import jsonschema  # noqa: PLC0415

    from dfsession.session import report_schema  # noqa: PLC0415

    report = session.report()
    jsonschema.validate(report, report_schema())
    assert report["steps"][0]["applied"]["engine"] == "ballista"
    assert report["provenance"]["engine.kind"]["value"] == "ballista"


def test_the_doctor_finds_the_scheduler_and_a_fitting_client(cluster: Cluster) -> None:
    report = doctor(SessionProfile.from_dict({"engine": {"kind": "ballista", "url": cluster.url}}))
    statuses = {check.what: check.status for check in report.checks if check.kind == "cluster"}
    assert statuses == {"engine (Ballista client)": "ok", f"engine.url ({cluster.url})": "ok"}
    assert report.ok
