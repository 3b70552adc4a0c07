"""The ``delta`` step: Delta tables written by deltalake, read by its native provider."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import datafusion
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from conftest import S3Bucket
from dfsession import (
    IncompatibleVersionsError,
    ProfileError,
    SchemaMismatchError,
    SessionContextBuilder,
    SessionProfile,
    default_steps,
    insert_after,
    replace_step,
    without_step,
)
from dfsession.bootstrap import validate_profile
from dfsession.engine.schemas import schema_fingerprint
from dfsession.engine.versions import (
    DELTALAKE_DATAFUSION_MAJORS,
    check_delta_compatibility,
    deltalake_datafusion_major,
    major,
)
from dfsession.steps.delta import DeltaStep

#: The installed DataFusion major, and another one deltalake cannot work with.
INSTALLED = major(datafusion.__version__)
OTHER = INSTALLED - 1

V0 = pa.table({"id": pa.array([1, 2], pa.int64()), "name": ["a", "b"]})
V1 = pa.table({"id": pa.array([3], pa.int64()), "name": ["c"]})


@pytest.fixture
def orders(tmp_path: Path) -> Path:
    """A Delta table with two versions: 0 holds ids 1 and 2, 1 adds id 3."""
    path = tmp_path / "orders"
    write_deltalake(path, V0)
    time.sleep(0.02)  # distinct commit timestamps
    write_deltalake(path, V1, mode="append")
    return path


def build(datasets: dict[str, Any], steps: Any = None) -> Any:
    profile = SessionProfile.from_dict({"datasets": datasets})
    return SessionContextBuilder(profile, steps=steps).build()


def ids(session: Any, table: str = "orders") -> list[int]:
    result: list[int] = session.ctx.sql(f"SELECT id FROM {table} ORDER BY id").to_pydict()["id"]
    return result


def test_delta_table_is_read_through_the_native_provider(orders: Path) -> None:
    session = build({"orders": {"format": "delta", "location": str(orders)}})
    assert ids(session) == [1, 2, 3]
    plan = session.ctx.sql("EXPLAIN SELECT id FROM orders").to_pydict()["plan"]
    assert any("DeltaScan" in step for step in plan)


def test_record_holds_version_and_schema_fingerprint(orders: Path) -> None:
    session = build({"orders": {"format": "delta", "location": str(orders)}})
    (entry,) = session.record("datasets").applied["datasets"]
    assert entry == {
        "name": "orders",
        "format": "delta",
        "location": str(orders),
        "version": 1,
        "provider": "native",
        "reason": "a table on local disk: deltalake's native provider reads it",
        "schema_mode": "none",
        "schema_fingerprint": schema_fingerprint(session.ctx.table("orders").schema()),
    }
    assert session.record("delta").applied == {"table_factory": "DELTATABLE"}
    assert session.report()["datasets"] == [entry]


def test_version_time_travel_reads_the_older_version(orders: Path) -> None:
    session = build({"orders": {"format": "delta", "location": str(orders), "version": 0}})
    assert ids(session) == [1, 2]
    assert session.record("datasets").applied["datasets"][0]["version"] == 0


def test_timestamp_time_travel_reads_the_version_current_then(orders: Path) -> None:
    first_commit_ms = min(entry["timestamp"] for entry in DeltaTable(orders).history())
    moment = datetime.fromtimestamp(first_commit_ms / 1000, tz=UTC).isoformat()
    session = build({"orders": {"format": "delta", "location": str(orders), "timestamp": moment}})
    assert ids(session) == [1, 2]
    entry = session.record("datasets").applied["datasets"][0]
    assert (entry["version"], entry["timestamp"]) == (0, moment)


def test_declared_schema_is_checked_for_delta_tables(orders: Path) -> None:
    build(
        {
            "orders": {
                "format": "delta",
                "location": str(orders),
                "schema": {"id": "int64", "name": "string"},
                "schema_mode": "exact",
            }
        }
    )
    with pytest.raises(SchemaMismatchError) as caught:
        build(
            {
                "orders": {
                    "format": "delta",
                    "location": str(orders),
                    "schema": {"id": "string"},
                }
            }
        )
    assert caught.value.step == "datasets"
    assert caught.value.differences == ("column 'id': expected string, actual int64",)


def test_missing_delta_path_names_the_dataset_and_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "none"
    with pytest.raises(ProfileError) as caught:
        build({"orders": {"format": "delta", "location": str(missing)}})
    assert caught.value.path == "datasets.orders.location"
    assert str(missing) in str(caught.value)
    assert caught.value.step == "datasets"


def test_a_directory_that_is_not_a_delta_table_names_the_location(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(ProfileError) as caught:
        build({"orders": {"format": "delta", "location": str(tmp_path / "plain")}})
    assert caught.value.path == "datasets.orders.location"
    assert "Delta table 'orders'" in str(caught.value)


def test_a_version_the_table_does_not_have_names_the_version_field(orders: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        build({"orders": {"format": "delta", "location": str(orders), "version": 9}})
    assert caught.value.path == "datasets.orders.version"


def test_a_timestamp_that_is_not_rfc3339_names_the_field_when_the_profile_loads(
    orders: Path,
) -> None:
    with pytest.raises(ProfileError) as caught:
        SessionProfile.from_dict(
            {"datasets": {"orders": {"format": "delta", "location": str(orders), "timestamp": "x"}}}
        )
    assert caught.value.path == "datasets.orders.timestamp"


def test_a_statement_timestamp_that_is_not_rfc3339_names_the_option(orders: Path) -> None:
    session = build({})
    with pytest.raises(Exception, match=r"OPTIONS 'timestamp' expected an RFC 3339 timestamp"):
        session.ctx.sql(
            f"CREATE EXTERNAL TABLE o STORED AS DELTATABLE LOCATION '{orders}' "
            "OPTIONS ('timestamp' 'yesterday')"
        )


def test_create_external_table_stored_as_deltatable_works(orders: Path) -> None:
    session = build({})
    session.ctx.sql(f"CREATE EXTERNAL TABLE o STORED AS DELTATABLE LOCATION '{orders}'")
    assert ids(session, "o") == [1, 2, 3]
    session.ctx.sql(
        f"CREATE EXTERNAL TABLE o0 STORED AS DELTATABLE LOCATION '{orders}' OPTIONS ('version' '0')"
    )
    assert ids(session, "o0") == [1, 2]


# --- the version guard -------------------------------------------------------------------------


def test_installed_deltalake_and_datafusion_pass_the_guard() -> None:
    assert check_delta_compatibility() == int(datafusion.__version__.split(".")[0])


def test_guard_names_both_versions_and_the_fix_when_majors_differ() -> None:
    with pytest.raises(IncompatibleVersionsError) as caught:
        check_delta_compatibility(
            datafusion_version="54.0.0", deltalake_version="1.6.6", deltalake_requires=[]
        )
    message = str(caught.value)
    assert "deltalake 1.6.6" in message and "DataFusion 55" in message
    assert "datafusion 54.0.0" in message
    assert "pip install 'datafusion>=55,<56'" in message


@pytest.mark.parametrize(
    ("datafusion_version", "deltalake_version", "major"),
    [("55.0.0", "1.6.6", 55), ("55.1.0", "1.6.3", 55), ("54.0.0", "1.6.2", 54)],
)
def test_guard_knows_both_engine_sets(
    datafusion_version: str, deltalake_version: str, major: int
) -> None:
    found = check_delta_compatibility(
        datafusion_version=datafusion_version,
        deltalake_version=deltalake_version,
        deltalake_requires=[],
    )
    assert found == major


def test_guard_refuses_the_datafusion_54_deltalake_with_datafusion_55() -> None:
    with pytest.raises(
        IncompatibleVersionsError, match=r"deltalake 1\.6\.2 was built for DataFusion 54"
    ):
        check_delta_compatibility(
            datafusion_version="55.0.0", deltalake_version="1.6.2", deltalake_requires=[]
        )


def test_guard_refuses_a_deltalake_release_it_does_not_know() -> None:
    with pytest.raises(IncompatibleVersionsError) as caught:
        check_delta_compatibility(
            datafusion_version="55.0.0", deltalake_version="9.9.0", deltalake_requires=[]
        )
    assert "deltalake 9.9.0" in str(caught.value)
    assert "DeltaStep(datafusion_major=N)" in str(caught.value)


def test_a_declared_datafusion_requirement_wins_over_the_table() -> None:
    built_for, source = deltalake_datafusion_major("1.6.6", ["pyarrow>=21", "datafusion>=56,<57"])
    assert built_for == 56
    assert "declared requirement" in source
    assert (
        deltalake_datafusion_major("1.6.6", ["datafusion-ffi>=1"])[0]
        == DELTALAKE_DATAFUSION_MAJORS[">=1.6.3,<1.7"]
    )


def test_guard_runs_before_any_native_call_in_a_build(tmp_path: Path) -> None:
    steps = replace_step(default_steps(), "delta", DeltaStep(datafusion_major=OTHER))
    with pytest.raises(IncompatibleVersionsError) as caught:
        # The location does not even exist: the guard fails first, before deltalake is touched.
        build({"orders": {"format": "delta", "location": str(tmp_path / "none")}}, steps=steps)
    assert caught.value.step == "datasets"
    assert f"DataFusion {OTHER}" in str(caught.value)


def test_guard_also_protects_create_external_table(orders: Path) -> None:
    steps = replace_step(default_steps(), "delta", DeltaStep(datafusion_major=OTHER))
    session = build({}, steps=steps)
    with pytest.raises(Exception, match=f"DataFusion {OTHER}"):
        session.ctx.sql(f"CREATE EXTERNAL TABLE o STORED AS DELTATABLE LOCATION '{orders}'")


@pytest.mark.parametrize(
    ("requirement", "built_for"),
    [
        ("datafusion>=56,<57", 56),
        ("datafusion==56.*", 56),
        ("datafusion~=56.1", 56),
        ("datafusion==56.0.1", 56),
        ("datafusion[ffi] (>=56.0.0, <57)", 56),
        ("datafusion>=56,<57 ; extra == 'datafusion'", 56),
        ("datafusion>55", None),  # admits 55.0.1, 56, 57...: built for no one major
        ("datafusion>=56", None),
        ("datafusion<57", None),
        ("datafusion>=56,<58", None),
        ("datafusion", None),
    ],
)
def test_a_requirement_tells_the_major_only_when_it_admits_exactly_one(
    requirement: str, built_for: int | None
) -> None:
    assert deltalake_datafusion_major("9.9.0", ["pyarrow>=21", requirement])[0] == built_for


def test_guard_refuses_a_datafusion_that_deltalakes_requirement_excludes() -> None:
    with pytest.raises(IncompatibleVersionsError) as caught:
        check_delta_compatibility(
            datafusion_version="55.0.0",
            deltalake_version="1.6.6",
            deltalake_requires=["datafusion>55"],
        )
    message = str(caught.value)
    assert "datafusion>55" in message and "55.0.0" in message


@pytest.mark.parametrize("odd", ["dev", "", "55.x", "fifty-five"])
def test_guard_refuses_a_datafusion_version_it_cannot_read(odd: str) -> None:
    with pytest.raises(IncompatibleVersionsError) as caught:
        check_delta_compatibility(datafusion_version=odd, deltalake_requires=[])
    assert f"version {odd!r}" in str(caught.value)


def test_guard_reads_a_version_with_a_v_prefix_as_pep_440_does() -> None:
    assert (
        check_delta_compatibility(
            datafusion_version="v55.0.0", deltalake_version="1.6.6", deltalake_requires=[]
        )
        == 55
    )


def test_an_unreadable_datafusion_version_fails_a_build_as_incompatible_versions(
    orders: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(datafusion, "__version__", "dev")
    with pytest.raises(IncompatibleVersionsError) as caught:
        build({"orders": {"format": "delta", "location": str(orders)}})
    assert caught.value.step == "datasets"
    assert "'dev'" in str(caught.value)


def test_guard_runs_before_a_delta_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session = build({})
    monkeypatch.setattr(datafusion, "__version__", f"{OTHER}.0.0")
    target = tmp_path / "out"
    with pytest.raises(IncompatibleVersionsError, match=rf"datafusion {OTHER}\.0\.0"):
        session.write("SELECT 1 AS id", str(target), format="delta")
    assert not target.exists()


def test_a_delta_write_uses_the_delta_steps_declared_major(tmp_path: Path) -> None:
    steps = replace_step(default_steps(), "delta", DeltaStep(datafusion_major=OTHER))
    session = build({}, steps=steps)
    target = tmp_path / "out"
    with pytest.raises(IncompatibleVersionsError, match=f"DataFusion {OTHER}"):
        session.write("SELECT 1 AS id", str(target), format="delta")
    assert not target.exists()
    steps = replace_step(default_steps(), "delta", DeltaStep(datafusion_major=INSTALLED))
    result = build({}, steps=steps).write("SELECT 1 AS id", str(target), format="delta")
    assert result.rows == 1


def test_validate_refuses_delta_datasets_where_build_does(orders: Path) -> None:
    profile = SessionProfile.from_dict(
        {"datasets": {"orders": {"format": "delta", "location": str(orders)}}}
    )
    steps = replace_step(default_steps(), "delta", DeltaStep(datafusion_major=OTHER))
    with pytest.raises(IncompatibleVersionsError, match=f"DataFusion {OTHER}"):
        SessionContextBuilder(profile, steps=steps).build()
    with pytest.raises(IncompatibleVersionsError, match=f"DataFusion {OTHER}"):
        validate_profile(profile, steps=steps)
    assert validate_profile(profile).ok  # the installed pair passes, as build does


# --- Delta tables in an object store -----------------------------------------------------------


def _s3_orders(s3_bucket: S3Bucket) -> Any:
    location = f"s3://{s3_bucket.name}/orders"
    options = s3_bucket.delta_storage_options()
    write_deltalake(location, V0, storage_options=options)
    write_deltalake(location, V1, mode="append", storage_options=options)
    profile = SessionProfile.from_dict(
        {
            "object_stores": {"lake": s3_bucket.store()},
            "datasets": {"orders": {"format": "delta", "location": location, "version": 0}},
        }
    )
    return SessionContextBuilder(profile).build()


def test_delta_table_in_s3_opens_with_options_from_its_object_store(s3_bucket: S3Bucket) -> None:
    session = _s3_orders(s3_bucket)
    entry = session.record("datasets").applied["datasets"][0]
    assert entry["version"] == 0
    assert entry["schema_fingerprint"] == schema_fingerprint(session.ctx.table("orders").schema())
    assert session.ctx.sql("SELECT count(*) AS n FROM orders").to_pydict() == {"n": [2]}


def test_delta_table_in_s3_scans_the_versions_rows_as_a_pyarrow_dataset(
    s3_bucket: S3Bucket,
) -> None:
    session = _s3_orders(s3_bucket)
    assert ids(session) == [1, 2]
    (entry,) = session.record("datasets").applied["datasets"]
    assert entry["provider"] == "pyarrow-dataset"
    assert "object store" in entry["reason"] and "delta-rs/issues/4623" in entry["reason"]


def _s3_profile(s3_bucket: S3Bucket, **dataset: Any) -> SessionProfile:
    return SessionProfile.from_dict(
        {
            "object_stores": {"lake": s3_bucket.store()},
            "datasets": {"t": {"format": "delta", **dataset}},
        }
    )


def test_delta_table_in_s3_time_travels_by_version_and_timestamp(s3_bucket: S3Bucket) -> None:
    location = f"s3://{s3_bucket.name}/orders"
    options = s3_bucket.delta_storage_options()
    write_deltalake(location, V0, storage_options=options)
    # deltalake times a commit by its log file's modification time: whole seconds on the server.
    time.sleep(1.1)
    between = datetime.now(UTC)
    time.sleep(1.1)
    write_deltalake(location, V1, mode="append", storage_options=options)
    latest = SessionContextBuilder(_s3_profile(s3_bucket, location=location)).build()
    assert ids(latest, "t") == [1, 2, 3]
    assert latest.record("datasets").applied["datasets"][0]["version"] == 1
    first = _s3_profile(s3_bucket, location=location, version=0)
    assert ids(SessionContextBuilder(first).build(), "t") == [1, 2]
    then = _s3_profile(s3_bucket, location=location, timestamp=between.isoformat())
    session = SessionContextBuilder(then).build()
    assert ids(session, "t") == [1, 2]
    assert session.record("datasets").applied["datasets"][0]["version"] == 0


def test_delta_table_in_s3_excludes_the_files_an_overwrite_removed(s3_bucket: S3Bucket) -> None:
    location = f"s3://{s3_bucket.name}/orders"
    options = s3_bucket.delta_storage_options()
    write_deltalake(location, V0, storage_options=options)
    write_deltalake(location, V1, mode="overwrite", storage_options=options)
    listed = s3_bucket.client.list_objects_v2(Bucket=s3_bucket.name, Prefix="orders/")
    data_files = [o["Key"] for o in listed["Contents"] if o["Key"].endswith(".parquet")]
    assert len(data_files) == 2  # the removed file is still in the bucket
    session = SessionContextBuilder(_s3_profile(s3_bucket, location=location)).build()
    assert session.execute("SELECT id, name FROM t").to_pydict() == {"id": [3], "name": ["c"]}
    before = _s3_profile(s3_bucket, location=location, version=0)
    assert ids(SessionContextBuilder(before).build(), "t") == [1, 2]


def test_delta_table_in_s3_reads_its_partitions(s3_bucket: S3Bucket) -> None:
    location = f"s3://{s3_bucket.name}/sales"
    sales = pa.table({"id": pa.array([1, 2, 3, 4], pa.int64()), "region": ["eu", "us", "eu", "ap"]})
    write_deltalake(
        location, sales, partition_by=["region"], storage_options=s3_bucket.delta_storage_options()
    )
    session = SessionContextBuilder(_s3_profile(s3_bucket, location=location)).build()
    eu = session.execute("SELECT id FROM t WHERE region = 'eu' ORDER BY id").to_pydict()
    assert eu == {"id": [1, 3]}
    counts = session.execute(
        "SELECT region, count(*) AS n FROM t GROUP BY region ORDER BY region"
    ).to_pydict()
    assert counts == {"region": ["ap", "eu", "us"], "n": [1, 2, 1]}
    assert session.ctx.table("t").schema().field("region").type == pa.string()


@pytest.mark.parametrize(
    ("configuration", "feature", "fix"),
    [
        ({"delta.enableDeletionVectors": "true"}, "deletionVectors", "REORG TABLE"),
        ({"delta.columnMapping.mode": "name"}, "columnMapping", "without column mapping"),
    ],
)
def test_delta_table_in_s3_with_a_feature_the_dataset_path_cannot_honour_is_refused(
    s3_bucket: S3Bucket, configuration: dict[str, str], feature: str, fix: str
) -> None:
    location = f"s3://{s3_bucket.name}/orders"
    write_deltalake(
        location, V0, configuration=configuration, storage_options=s3_bucket.delta_storage_options()
    )
    with pytest.raises(ProfileError) as caught:
        SessionContextBuilder(_s3_profile(s3_bucket, location=location)).build()
    assert caught.value.path == "datasets.t"
    message = str(caught.value)
    assert "Delta table 't'" in message and repr(feature) in message
    assert fix in message and "local disk" in message


def test_a_local_delta_table_with_deletion_vectors_keeps_the_native_provider(
    tmp_path: Path,
) -> None:
    write_deltalake(tmp_path / "dv", V0, configuration={"delta.enableDeletionVectors": "true"})
    session = build({"t": {"format": "delta", "location": str(tmp_path / "dv")}})
    assert ids(session, "t") == [1, 2]
    assert session.record("datasets").applied["datasets"][0]["provider"] == "native"


def test_delta_table_in_s3_refuses_without_files(s3_bucket: S3Bucket) -> None:
    location = f"s3://{s3_bucket.name}/orders"
    write_deltalake(location, V0, storage_options=s3_bucket.delta_storage_options())
    profile = _s3_profile(s3_bucket, location=location, options={"without_files": True})
    with pytest.raises(ProfileError) as caught:
        SessionContextBuilder(profile).build()
    assert caught.value.path == "datasets.t.options.without_files"


def test_create_external_table_reads_a_delta_table_in_s3(s3_bucket: S3Bucket) -> None:
    location = f"s3://{s3_bucket.name}/orders"
    options = s3_bucket.delta_storage_options()
    write_deltalake(location, V0, storage_options=options)
    write_deltalake(location, V1, mode="append", storage_options=options)
    profile = SessionProfile.from_dict({"object_stores": {"lake": s3_bucket.store()}})
    session = SessionContextBuilder(profile).build()
    session.ctx.sql(f"CREATE EXTERNAL TABLE o STORED AS DELTATABLE LOCATION '{location}'")
    assert ids(session, "o") == [1, 2, 3]
    session.ctx.sql(
        f"CREATE EXTERNAL TABLE o0 STORED AS DELTATABLE LOCATION '{location}' "
        "OPTIONS ('version' '0')"
    )
    assert ids(session, "o0") == [1, 2]


def test_delta_table_in_a_local_store_resolves_to_the_stores_prefix(orders: Path) -> None:
    profile = SessionProfile.from_dict(
        {
            "object_stores": {
                "files": {
                    "url": "myfs://bucket",
                    "kind": "local",
                    "options": {"prefix": str(orders.parent)},
                }
            },
            "datasets": {"orders": {"format": "delta", "location": "myfs://bucket/orders"}},
        }
    )
    session = SessionContextBuilder(profile).build()
    assert ids(session) == [1, 2, 3]
    assert session.record("datasets").applied["datasets"][0]["location"] == "myfs://bucket/orders"


def test_delta_table_survives_a_later_step_replacing_the_context(tmp_path: Path) -> None:
    location = tmp_path / "ids"
    write_deltalake(str(location), pa.table({"id": [1, 2, 3]}))
    profile = SessionProfile.from_dict(
        {
            "features": {"url_table": True},
            "datasets": {"t": {"format": "delta", "location": str(location)}},
        }
    )
    url_table = next(step for step in default_steps() if step.name == "url_table")
    steps = insert_after(without_step(default_steps(), "url_table"), "delta", url_table)
    session = SessionContextBuilder(profile, steps=steps).build()
    assert session.execute("SELECT sum(id) AS n FROM t").to_pydict() == {"n": [6]}


def test_time_travel_to_before_the_first_commit_is_an_error(tmp_path: Path) -> None:
    location = tmp_path / "young"
    write_deltalake(str(location), pa.table({"id": [1]}))
    profile = SessionProfile.from_dict(
        {
            "datasets": {
                "t": {
                    "format": "delta",
                    "location": str(location),
                    "timestamp": "2000-01-01T00:00:00Z",
                }
            }
        }
    )
    with pytest.raises(ProfileError, match=r"did not exist at 2000-01-01") as info:
        SessionContextBuilder(profile).build()
    assert info.value.path == "datasets.t.timestamp"
