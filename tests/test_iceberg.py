"""Iceberg tables from real catalogs: PyIceberg's SQL catalog on SQLite, with its warehouse in a
local folder or on the S3-compatible server the suite starts.

Rows are compared with PyIceberg's own scan of the same snapshot (``table.scan().to_arrow()``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import datafusion
import jsonschema
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow.fs import FileSystem, S3FileSystem
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.manifest import (
    DataFile,
    DataFileContent,
    FileFormat,
    ManifestContent,
    ManifestWriterV2,
)
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Operation
from pyiceberg.table.update.snapshot import _FastAppendFiles
from pyiceberg.typedef import Record
from pyiceberg.types import StringType

from conftest import DATAFUSION_MAJOR, KEY_ENV, REGION, SECRET_ENV, S3Bucket
from dfsession import SessionContextBuilder, SessionProfile, doctor
from dfsession.engine.iceberg import files_reason, native_route
from dfsession.engine.versions import PluginVersion
from dfsession.errors import IncompatibleVersionsError, ProfileError
from dfsession.profile.json_schema import profile_schema
from dfsession.session import report_schema

#: On DataFusion 54, pyiceberg-core's native provider (built for 54) fits and is used: the
#: snapshot-files route these tests describe is DataFusion 55's.
files_route = pytest.mark.skipif(
    DATAFUSION_MAJOR < 55, reason="on DataFusion 54 the native Iceberg provider is used"
)


ORDERS = pa.schema([("id", pa.int64()), ("amount", pa.float64()), ("note", pa.string())])


def _batch(ids: list[int]) -> pa.Table:
    return pa.table(
        {"id": ids, "amount": [i * 1.5 for i in ids], "note": [f"n{i}" for i in ids]},
        schema=ORDERS,
    )


class PutObjectIO(PyArrowFileIO):
    """PyIceberg's pyarrow file IO, writing small objects with one PUT.

    Only for writing the test tables: the S3-compatible server fails pyarrow's multipart
    uploads (CompleteMultipartUpload: INTERNAL_FAILURE); reads need no such help.
    """

    def _initialize_s3_fs(self, netloc: str | None) -> FileSystem:
        return S3FileSystem(
            endpoint_override=self.properties["s3.endpoint"],
            access_key=self.properties["s3.access-key-id"],
            secret_key=self.properties["s3.secret-access-key"],
            region=self.properties["s3.region"],
            allow_delayed_open=True,
        )


class Lake:
    """A PyIceberg SQL catalog on SQLite and its warehouse, and profiles that read it."""

    def __init__(
        self,
        properties: dict[str, str],
        secrets: dict[str, Any] | None = None,
        writer: dict[str, str] | None = None,
    ) -> None:
        self.properties = properties
        self.secrets = secrets or {}
        resolved = {k: os.environ[v["env"]] for k, v in self.secrets.items()}
        self.catalog = SqlCatalog("lake", **properties, **resolved, **(writer or {}))

    def orders(self, *batches: list[int]) -> Table:
        """``sales.orders`` (format version 2), one snapshot per batch."""
        self.catalog.create_namespace_if_not_exists("sales")
        table = self.catalog.create_table(
            "sales.orders", schema=ORDERS, properties={"format-version": "2"}
        )
        for ids in batches:
            time.sleep(0.005)  # snapshots at distinct milliseconds
            table.append(_batch(ids))
        return table

    def profile(self, datasets: dict[str, Any], **catalog: Any) -> SessionProfile:
        entry = {"kind": "iceberg", "properties": self.properties, **catalog}
        if self.secrets:
            entry["secrets"] = self.secrets
        return SessionProfile.from_dict({"catalogs": {"lake": entry}, "datasets": datasets})


def dataset(**extra: Any) -> dict[str, Any]:
    return {"format": "iceberg", "catalog": "lake", "table": "sales.orders", **extra}


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    (tmp_path / "warehouse").mkdir()
    return Lake(
        {
            "type": "sql",
            "uri": f"sqlite:///{tmp_path / 'catalog.db'}",
            "warehouse": (tmp_path / "warehouse").as_uri(),
        }
    )


def rows(table: pa.Table) -> list[dict[str, Any]]:
    return sorted(table.to_pylist(), key=lambda row: row["id"])


def pyiceberg_rows(table: Table, snapshot_id: int | None = None) -> list[dict[str, Any]]:
    return rows(table.scan(snapshot_id=snapshot_id).to_arrow())


def record_of(session: Any, name: str) -> dict[str, Any]:
    return next(entry for entry in session.report()["datasets"] if entry["name"] == name)


def add_position_delete(table: Table, data_file: str, position: int) -> None:
    """Commit a positional delete file (row ``position`` of ``data_file``): merge-on-read.

    PyIceberg 0.12 writes deletes copy-on-write only, so the delete file and its manifest are
    written here with PyIceberg's manifest writer, marked as a delete manifest.
    """

    class DeleteManifest(ManifestWriterV2):
        def content(self) -> ManifestContent:
            return ManifestContent.DELETES

        @property
        def _meta(self) -> dict[str, str]:
            return {**super()._meta, "content": "deletes"}

    class AppendDeletes(_FastAppendFiles):
        def new_manifest_writer(self, spec: Any) -> Any:
            output = self.new_manifest_output()
            return DeleteManifest(spec, self.schema(), output, self._snapshot_id, self._compression)

    path = f"{table.location()}/data/deletes-{position}.parquet"
    ids = {b"PARQUET:field_id": b"2147483546"}, {b"PARQUET:field_id": b"2147483545"}
    schema = pa.schema(
        [
            pa.field("file_path", pa.string(), nullable=False, metadata=ids[0]),
            pa.field("pos", pa.int64(), nullable=False, metadata=ids[1]),
        ]
    )
    with table.io.new_output(path).create(overwrite=True) as out:
        pq.write_table(pa.table({"file_path": [data_file], "pos": [position]}, schema), out)
    size = len(table.io.new_input(path).open().read())
    delete = DataFile.from_args(
        content=DataFileContent.POSITION_DELETES,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=Record(),
        record_count=1,
        file_size_in_bytes=size,
    )
    delete.spec_id = 0
    with table.transaction() as tx:
        producer = AppendDeletes(operation=Operation.DELETE, transaction=tx, io=table.io)
        producer.append_data_file(delete)
        producer.commit()


# --- reading snapshots ---------------------------------------------------------------------------


def test_a_dataset_reads_the_current_snapshot_as_pyiceberg_does(lake: Lake) -> None:
    table = lake.orders([1, 2, 3], [4, 5])
    session = SessionContextBuilder(lake.profile({"orders": dataset()})).build()
    assert rows(session.execute("SELECT * FROM orders")) == pyiceberg_rows(table)
    assert len(pyiceberg_rows(table)) == 5
    entry = record_of(session, "orders")
    assert entry["snapshot_id"] == table.current_snapshot().snapshot_id
    assert entry["catalog"] == "lake" and entry["table"] == "sales.orders"
    assert "location" not in entry


@files_route
def test_the_record_says_which_way_the_table_was_read_and_why(lake: Lake) -> None:
    lake.orders([1])
    session = SessionContextBuilder(lake.profile({"orders": dataset()})).build()
    entry = record_of(session, "orders")
    assert entry["provider"] == "pyarrow-dataset"
    assert entry["files"] == 1
    # pyiceberg-core 0.11 builds its provider for DataFusion 54; this engine is 55.
    assert "pyiceberg-core" in entry["reason"]
    assert f"datafusion {datafusion.__version__}" in entry["reason"]


def test_snapshot_id_reads_that_snapshot(lake: Lake) -> None:
    table = lake.orders([1, 2], [3], [4, 5, 6])
    first, second, _ = (s.snapshot_id for s in table.snapshots())
    profile = lake.profile(
        {"first": dataset(snapshot_id=first), "second": dataset(snapshot_id=second)}
    )
    session = SessionContextBuilder(profile).build()
    assert rows(session.execute("SELECT * FROM first")) == pyiceberg_rows(table, first)
    assert rows(session.execute("SELECT * FROM second")) == pyiceberg_rows(table, second)
    assert [r["id"] for r in rows(session.execute("SELECT id FROM second"))] == [1, 2, 3]
    assert record_of(session, "first")["snapshot_id"] == first


def test_timestamp_reads_the_snapshot_current_at_that_time(lake: Lake) -> None:
    table = lake.orders([1, 2], [3])
    first, second = table.snapshots()
    between = dt.datetime.fromtimestamp(first.timestamp_ms / 1000, tz=dt.UTC)
    assert first.timestamp_ms < second.timestamp_ms
    profile = lake.profile({"then": dataset(timestamp=between.isoformat())})
    session = SessionContextBuilder(profile).build()
    assert rows(session.execute("SELECT * FROM then")) == pyiceberg_rows(table, first.snapshot_id)
    entry = record_of(session, "then")
    assert entry["snapshot_id"] == first.snapshot_id
    assert entry["timestamp"] == between.isoformat()


def test_a_timestamp_before_the_first_snapshot_is_refused_naming_it(lake: Lake) -> None:
    lake.orders([1])
    profile = lake.profile({"then": dataset(timestamp="2001-01-01T00:00:00Z")})
    with pytest.raises(ProfileError) as caught:
        SessionContextBuilder(profile).build()
    assert caught.value.problems[0][0] == "datasets.then.timestamp"
    assert "had no snapshot at 2001-01-01" in str(caught.value)
    assert "its first is at" in str(caught.value)


def test_an_unknown_snapshot_id_is_refused_listing_the_latest(lake: Lake) -> None:
    table = lake.orders([1])
    profile = lake.profile({"orders": dataset(snapshot_id=42)})
    with pytest.raises(ProfileError) as caught:
        SessionContextBuilder(profile).build()
    assert caught.value.problems[0][0] == "datasets.orders.snapshot_id"
    assert str(table.current_snapshot().snapshot_id) in str(caught.value)


def test_a_missing_table_is_refused_with_the_closest_name(lake: Lake) -> None:
    lake.orders([1])
    profile = lake.profile({"orders": dataset(table="sales.order")})
    with pytest.raises(ProfileError) as caught:
        SessionContextBuilder(profile).build()
    assert caught.value.problems[0][0] == "datasets.orders.table"
    assert "has no table 'sales.order'; did you mean 'sales.orders'?" in str(caught.value)


def test_an_empty_table_registers_with_its_columns(lake: Lake) -> None:
    lake.orders()
    session = SessionContextBuilder(lake.profile({"orders": dataset()})).build()
    result = session.execute("SELECT * FROM orders")
    assert result.num_rows == 0
    assert result.schema.names == ["id", "amount", "note"]


def test_a_declared_schema_is_checked_against_the_table(lake: Lake) -> None:
    lake.orders([1])
    good = dataset(schema={"id": "int64", "amount": "float64"})
    SessionContextBuilder(lake.profile({"orders": good})).build()
    bad = dataset(schema={"id": "string"})
    with pytest.raises(Exception, match="does not match its declared schema"):
        SessionContextBuilder(lake.profile({"orders": bad})).build()


# --- what the data files alone cannot give -----------------------------------------------------


@files_route
def test_a_snapshot_with_delete_files_is_refused_naming_both_versions(lake: Lake) -> None:
    table = lake.orders([1, 2, 3])
    before = table.current_snapshot().snapshot_id
    data_file = next(iter(table.scan().plan_files())).file.file_path
    add_position_delete(table, data_file, 1)
    table = lake.catalog.load_table("sales.orders")
    assert [r["id"] for r in pyiceberg_rows(table)] == [1, 3]  # the delete applies
    with pytest.raises(IncompatibleVersionsError) as caught:
        SessionContextBuilder(lake.profile({"orders": dataset()})).build()
    message = str(caught.value)
    assert "the snapshot has 1 delete file(s)" in message
    assert "pyiceberg-core 0.11.0" in message and "DataFusion 54" in message
    assert f"datafusion {datafusion.__version__}" in message
    assert "pip install 'datafusion>=54,<55'" in message
    error = caught.value
    assert (error.package, error.built_for) == ("pyiceberg-core", 54)
    assert error.installed == int(datafusion.__version__.split(".")[0])
    # The snapshot before the delete has none: it reads.
    session = SessionContextBuilder(lake.profile({"v1": dataset(snapshot_id=before)})).build()
    assert rows(session.execute("SELECT * FROM v1")) == pyiceberg_rows(table, before)


def test_an_added_column_reads_null_for_older_files_as_pyiceberg_does(lake: Lake) -> None:
    table = lake.orders([1, 2])
    with table.update_schema() as update:
        update.add_column("tier", StringType())
    table.append(pa.table({**_batch([3]).to_pydict(), "tier": ["gold"]}))
    session = SessionContextBuilder(lake.profile({"orders": dataset()})).build()
    result = rows(session.execute("SELECT * FROM orders"))
    assert result == pyiceberg_rows(table)
    assert [r["tier"] for r in result] == [None, None, "gold"]


@files_route
def test_a_renamed_column_is_refused_rather_than_read_as_nulls(lake: Lake) -> None:
    table = lake.orders([1, 2])
    with table.update_schema() as update:
        update.rename_column("note", "comment")
    with pytest.raises(IncompatibleVersionsError, match="column 'comment' was renamed"):
        SessionContextBuilder(lake.profile({"orders": dataset()})).build()
    # Any rename in the table's history refuses the files route, time travel included.
    first = table.snapshots()[0].snapshot_id
    with pytest.raises(IncompatibleVersionsError, match="column 'note' was renamed"):
        SessionContextBuilder(lake.profile({"orders": dataset(snapshot_id=first)})).build()


# --- the way a table is registered ---------------------------------------------------------------


def _plugin(built_for: int | None) -> PluginVersion:
    return PluginVersion("pyiceberg-core", "9.9.0", built_for, "a test")


def test_the_native_provider_is_used_only_for_the_current_snapshot_of_a_matching_build() -> None:
    engine = datafusion.__version__
    installed = int(engine.split(".")[0])
    route = native_route(engine, _plugin(installed), current=True)
    assert route is not None and route.provider == "native"
    assert native_route(engine, _plugin(installed), current=False) is None
    assert native_route(engine, _plugin(installed - 1), current=True) is None
    assert native_route(engine, _plugin(None), current=True) is None
    assert "reads only the current snapshot" in files_reason(engine, _plugin(installed), False)
    assert f"DataFusion {installed - 1}" in files_reason(engine, _plugin(installed - 1), True)
    assert "no DataFusion major dfsession knows" in files_reason(engine, _plugin(None), True)


# --- include: mounting a catalog ---------------------------------------------------------------


def test_include_mounts_every_matching_table_under_the_catalogs_schema(lake: Lake) -> None:
    orders = lake.orders([1, 2])
    lake.catalog.create_namespace("sales.eu")
    shops = lake.catalog.create_table("sales.eu.shops", schema=pa.schema([("name", pa.string())]))
    shops.append(pa.table({"name": ["x"]}))
    lake.catalog.create_namespace("hr")
    lake.catalog.create_table("hr.people", schema=pa.schema([("name", pa.string())]))
    profile = lake.profile({}, include=["sales.*"])
    session = SessionContextBuilder(profile).build()
    assert rows(session.execute("SELECT * FROM lake.orders")) == pyiceberg_rows(orders)
    # A nested namespace's table is mounted by its own name too.
    assert session.execute("SELECT * FROM lake.shops").to_pylist() == [{"name": "x"}]
    names = {entry["name"]: entry["table"] for entry in session.report()["datasets"]}
    assert names == {"lake.orders": "sales.orders", "lake.shops": "sales.eu.shops"}
    catalogs = next(r for r in session.records if r.step == "datasets").applied["catalogs"]
    assert catalogs[0]["include"] == ["sales.*"]
    jsonschema.validate(json.loads(json.dumps(session.report())), report_schema())


def test_include_refuses_two_tables_that_would_share_a_name(lake: Lake) -> None:
    lake.orders([1])
    lake.catalog.create_namespace("archive")
    lake.catalog.create_table("archive.orders", schema=ORDERS)
    with pytest.raises(ProfileError) as caught:
        SessionContextBuilder(lake.profile({}, include=["*.orders"])).build()
    assert caught.value.problems[0][0] == "catalogs.lake.include"
    assert "'archive.orders' and 'sales.orders' would both be mounted as lake.orders" in str(
        caught.value
    )


def test_a_declared_dataset_and_an_include_read_the_same_table(lake: Lake) -> None:
    lake.orders([1, 2, 3])
    session = SessionContextBuilder(
        lake.profile({"orders": dataset()}, include=["sales.*"])
    ).build()
    both = session.execute(
        "SELECT (SELECT count(*) FROM orders) AS a, (SELECT count(*) FROM lake.orders) AS b"
    ).to_pylist()
    assert both == [{"a": 3, "b": 3}]


# --- the warehouse on the S3-compatible server ---------------------------------------------------


@pytest.fixture
def s3_lake(tmp_path: Path, s3_bucket: S3Bucket) -> Lake:
    return Lake(
        {
            "type": "sql",
            "uri": f"sqlite:///{tmp_path / 'catalog.db'}",
            "warehouse": f"s3://{s3_bucket.name}/warehouse",
            "s3.endpoint": s3_bucket.endpoint,
            "s3.region": REGION,
        },
        {
            "s3.access-key-id": {"env": KEY_ENV},
            "s3.secret-access-key": {"env": SECRET_ENV},
        },
        writer={"py-io-impl": f"{__name__}.PutObjectIO"},
    )


@pytest.mark.skipif(
    DATAFUSION_MAJOR < 55,
    reason="on DataFusion 54 the native provider of pyiceberg-core 0.11 is used for the current "
    "snapshot, and it refuses the S3-compatible server's endpoint ('request url is invalid': "
    "a known limitation of that route, see docs/limitations.md)",
)
def test_a_warehouse_in_s3_reads_every_snapshot_as_pyiceberg_does(
    s3_lake: Lake, s3_bucket: S3Bucket
) -> None:
    table = s3_lake.orders([1, 2, 3], [4])
    first = table.snapshots()[0].snapshot_id
    profile = s3_lake.profile({"orders": dataset(), "first": dataset(snapshot_id=first)})
    session = SessionContextBuilder(profile).build()
    assert rows(session.execute("SELECT * FROM orders")) == pyiceberg_rows(table)
    assert rows(session.execute("SELECT * FROM first")) == pyiceberg_rows(table, first)
    report = json.dumps(session.report())
    assert s3_bucket.secret not in report and s3_bucket.key_id not in report
    catalog = session.report()["steps"]
    secrets = next(s for s in catalog if s["step"] == "datasets")["applied"]["catalogs"][0]
    assert secrets["secrets"] == {
        "s3.access-key-id": f"env:{KEY_ENV}",
        "s3.secret-access-key": f"env:{SECRET_ENV}",
    }
    assert s3_bucket.secret not in repr(profile) and s3_bucket.secret not in profile.to_toml()


def test_a_missing_secret_names_its_profile_path(
    s3_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3_lake.orders([1])
    monkeypatch.delenv(SECRET_ENV)
    with pytest.raises(ProfileError) as caught:
        SessionContextBuilder(s3_lake.profile({"orders": dataset()})).build()
    assert caught.value.problems == (
        (
            "catalogs.lake.secrets.s3.secret-access-key",
            f"environment variable {SECRET_ENV!r} is not set; export it before building the "
            "session",
        ),
    )


def test_a_catalog_pyiceberg_cannot_load_is_refused_at_its_path(lake: Lake) -> None:
    profile = SessionProfile.from_dict(
        {
            "catalogs": {"lake": {"kind": "iceberg", "properties": {"type": "no-such-kind"}}},
            "datasets": {"orders": dataset()},
        }
    )
    with pytest.raises(ProfileError) as caught:
        SessionContextBuilder(profile).build()
    assert caught.value.problems[0][0] == "catalogs.lake"
    assert "PyIceberg could not load catalog 'lake'" in str(caught.value)


# --- Iceberg is optional --------------------------------------------------------------------------


def test_without_pyiceberg_a_profile_with_iceberg_names_the_extra(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake.orders([1])
    profile = lake.profile({"orders": dataset()})
    monkeypatch.setitem(sys.modules, "pyiceberg.catalog", None)  # as if not installed
    with pytest.raises(ProfileError) as caught:
        SessionContextBuilder(profile).build()
    assert caught.value.problems[0][0] == "catalogs.lake"
    assert 'pip install "dfsession[iceberg]"' in str(caught.value)


def test_sessions_without_iceberg_never_import_pyiceberg(tmp_path: Path) -> None:
    pq.write_table(pa.table({"x": [1]}), tmp_path / "t.parquet")
    datasets = {"t": {"format": "parquet", "location": str(tmp_path / "t.parquet")}}
    code = (
        "import sys, dfsession\n"
        f"p = dfsession.SessionProfile.from_dict({{'datasets': {datasets!r}}})\n"
        "dfsession.SessionContextBuilder(p).build().execute('SELECT * FROM t')\n"
        "assert not [m for m in sys.modules if m.startswith('pyiceberg')], 'pyiceberg loaded'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr


# --- the profile ---------------------------------------------------------------------------------


def problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ProfileError) as caught:
        SessionProfile.from_dict(data)
    return dict(caught.value.problems)


CATALOG = {"lake": {"kind": "iceberg", "properties": {"type": "sql"}}}


def test_a_dataset_of_an_undeclared_catalog_is_refused_with_a_hint() -> None:
    found = problems({"catalogs": CATALOG, "datasets": {"o": dataset(catalog="lak")}})
    assert found == {
        "datasets.o.catalog": "no catalog 'lak' is declared (declared: lake); did you mean 'lake'?"
    }


def test_snapshot_id_and_timestamp_together_are_refused() -> None:
    both = dataset(snapshot_id=1, timestamp="2026-01-01T00:00:00Z")
    found = problems({"catalogs": CATALOG, "datasets": {"o": both}})
    assert found == {"datasets.o.timestamp": "give either snapshot_id or timestamp, not both"}


def test_a_dataset_without_a_table_or_with_a_bare_name_is_refused() -> None:
    no_table = {"format": "iceberg", "catalog": "lake"}
    assert problems({"catalogs": CATALOG, "datasets": {"o": no_table}}) == {
        "datasets.o.table": "required, but missing"
    }
    bare = dataset(table="orders")
    assert (
        "expected 'namespace.table'"
        in problems({"catalogs": CATALOG, "datasets": {"o": bare}})["datasets.o.table"]
    )


def test_keys_of_other_formats_are_refused_saying_why() -> None:
    found = problems({"catalogs": CATALOG, "datasets": {"o": dataset(location="x", version=1)}})
    assert found["datasets.o.location"].startswith("an Iceberg table is found through its catalog")
    assert found["datasets.o.version"] == "Iceberg tables time-travel by snapshot_id or timestamp"
    parquet = {"format": "parquet", "location": "x", "snapshot_id": 3}
    assert (
        "needs format 'delta' or 'iceberg'"
        in problems({"datasets": {"p": parquet}})["datasets.p.snapshot_id"]
    )


def test_bad_include_globs_are_refused() -> None:
    found = problems({"catalogs": {"lake": {"kind": "iceberg", "include": ["sales", "a.[b", " "]}}})
    assert found == {
        "catalogs.lake.include.0": (
            "'sales' matches no table: a table is named 'namespace.table'; "
            "write 'sales.*' for every table of namespace 'sales'"
        ),
        "catalogs.lake.include.1": "'a.[b' has an unclosed '[' character class",
        "catalogs.lake.include.2": "expected a glob such as 'sales.*' (got ' ')",
    }


def test_credentials_in_properties_are_refused_and_point_to_secrets() -> None:
    found = problems(
        {
            "catalogs": {
                "lake": {
                    "kind": "iceberg",
                    "properties": {
                        "s3.secret-access-key": "abc",
                        "uri": "postgresql://me:pw@db/cat",
                        "warehouse": "s3://w",
                    },
                    "secrets": {"warehouse": {"env": "W"}},
                }
            }
        }
    )
    assert set(found) == {
        "catalogs.lake.properties.s3.secret-access-key",
        "catalogs.lake.properties.uri",
        "catalogs.lake.properties.warehouse",
    }
    assert "move it to secrets" in found["catalogs.lake.properties.uri"]
    assert found["catalogs.lake.properties.warehouse"] == "also given in secrets; keep one"


def test_an_unknown_catalog_kind_and_a_missing_kind_are_refused() -> None:
    assert problems({"catalogs": {"lake": {"kind": "hive"}}}) == {
        "catalogs.lake.kind": "expected one of iceberg (got 'hive')"
    }
    assert problems({"catalogs": {"lake": {}}}) == {"catalogs.lake.kind": "required, but missing"}


def test_a_mounting_catalog_cannot_take_the_default_schemas_name() -> None:
    found = problems({"catalogs": {"public": {"kind": "iceberg", "include": ["a.*"]}}})
    assert "is the default schema" in found["catalogs.public.include"]


def test_catalogs_round_trip_and_keep_secret_values_out_of_the_fingerprint() -> None:
    data = {
        "catalogs": {
            "lake": {
                "kind": "iceberg",
                "properties": {"type": "sql", "uri": "sqlite:///c.db", "pool-size": 4},
                "secrets": {"s3.secret-access-key": {"literal": "hunter2"}},
                "include": ["sales.*"],
            }
        },
        "datasets": {"o": dataset(snapshot_id=7)},
    }
    profile = SessionProfile.from_dict(data)
    assert SessionProfile.from_dict(profile.to_dict()) == profile
    assert profile.catalogs["lake"].properties["pool-size"] == "4"
    assert "hunter2" not in repr(profile)
    other = json.loads(json.dumps(data))
    other["catalogs"]["lake"]["secrets"]["s3.secret-access-key"]["literal"] = "other"
    assert SessionProfile.from_dict(other).fingerprint() != profile.fingerprint()


def test_the_json_schema_covers_catalogs_and_iceberg_datasets() -> None:
    schema = profile_schema()
    good = {
        "catalogs": {
            "lake": {
                "kind": "iceberg",
                "properties": {"type": "sql", "uri": "sqlite:///c.db"},
                "secrets": {"s3.secret-access-key": {"env": "S"}},
                "include": ["sales.*"],
            }
        },
        "datasets": {"o": dataset(timestamp="2026-01-01T00:00:00Z")},
    }
    jsonschema.validate(good, schema)
    for bad in (
        {"catalogs": {"lake": {"kind": "iceberg", "properties": {"x": [1]}}}},
        {"catalogs": {"lake": {"kind": "iceberg", "include": "sales.*"}}},
        {"catalogs": {"lake": {"kind": "iceberg", "secrets": {"k": "plain"}}}},
        {"datasets": {"o": {"format": "iceberg", "catalog": "lake"}}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_a_catalog_property_can_be_overridden_by_its_dotted_key() -> None:
    data = {"catalogs": {"lake": {"kind": "iceberg", "properties": {"uri": "sqlite:///a.db"}}}}
    profile = SessionProfile.from_dict(
        data,
        overrides={
            "catalogs.lake.properties.uri": "sqlite:///b.db",
            "catalogs.lake.properties.s3.endpoint": "http://127.0.0.1:9000",
        },
    )
    assert dict(profile.catalogs["lake"].properties) == {
        "uri": "sqlite:///b.db",
        "s3.endpoint": "http://127.0.0.1:9000",
    }
    assert profile.provenance()["catalogs.lake.properties.s3.endpoint"] == "override"


def test_one_bad_include_glob_is_named_by_its_dotted_path() -> None:
    found = problems({"catalogs": {"lake": {"kind": "iceberg", "include": ["sales"]}}})
    assert list(found) == ["catalogs.lake.include.0"]


def test_the_doctor_reads_an_iceberg_tables_metadata_at_its_snapshot(lake: Lake) -> None:
    table = lake.orders([1, 2], [3])
    first = table.snapshots()[0].snapshot_id
    report = doctor(lake.profile({"o": dataset(snapshot_id=first)}))
    (check,) = [c for c in report.checks if c.kind == "iceberg"]
    assert check.status == "ok"
    assert check.detail == f"metadata readable at snapshot {first}"
    assert report.ok


def test_the_doctor_fails_an_unknown_iceberg_snapshot_with_the_field_to_fix(lake: Lake) -> None:
    lake.orders([1])
    report = doctor(lake.profile({"o": dataset(snapshot_id=4242), "p": dataset(table="sales.x")}))
    checks = {c.what.split(" ")[0]: c for c in report.checks if c.kind == "iceberg"}
    assert checks["datasets.o"].status == "failed"
    assert "has no snapshot 4242" in checks["datasets.o"].detail
    assert checks["datasets.o"].fix == "fix datasets.o.snapshot_id"
    assert checks["datasets.p"].fix == "fix datasets.p.table"
    assert not report.ok
