"""The ``datasets`` step: the schema registry over real parquet, csv, json and Arrow IPC files."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from dfsession import (
    ProfileError,
    SchemaMismatchError,
    SessionContextBuilder,
    SessionProfile,
    StepFailedError,
)
from dfsession.engine.schemas import schema_fingerprint

TRIPS = pa.table(
    {
        "id": pa.array([1, 2, 3], pa.int64()),
        "fare": pa.array([10.0, 250.0, 99.5], pa.float64()),
        "city": ["Oslo", "Lima", "Oslo"],
    }
)


def build(datasets: dict[str, Any], **more: Any) -> Any:
    return SessionContextBuilder(SessionProfile.from_dict({"datasets": datasets, **more})).build()


def rows(session: Any, sql: str) -> dict[str, list[Any]]:
    result: dict[str, list[Any]] = session.ctx.sql(sql).to_pydict()
    return result


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """The same trips written in every format, plus a hive-partitioned Parquet directory."""
    pq.write_table(TRIPS, tmp_path / "trips.parquet")
    pcsv.write_csv(TRIPS, tmp_path / "trips.csv")
    feather.write_feather(TRIPS, tmp_path / "trips.arrow", compression="uncompressed")
    lines = "".join(json.dumps(row) + "\n" for row in TRIPS.to_pylist())
    (tmp_path / "trips.json").write_text(lines)
    (tmp_path / "trips.ndjson").write_text(lines)
    for year in (2023, 2024):
        part = tmp_path / "by_year" / f"year={year}"
        part.mkdir(parents=True)
        pq.write_table(TRIPS, part / "part-0.parquet")
        jpart = tmp_path / "json_by_year" / f"year={year}"
        jpart.mkdir(parents=True)
        (jpart / "part-0.json").write_text(lines)
    return tmp_path


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json", "arrow"])
def test_each_file_format_registers_and_queries(files: Path, fmt: str) -> None:
    session = build(
        {
            "trips": {
                "format": fmt,
                "location": str(files / f"trips.{fmt}"),
                "schema": {"id": "int64", "fare": "float64", "city": "string"},
                "schema_mode": "exact",
            }
        }
    )
    assert rows(session, "SELECT city, sum(fare) AS f FROM trips GROUP BY city ORDER BY city") == {
        "city": ["Lima", "Oslo"],
        "f": [250.0, 109.5],
    }


def test_a_single_file_keeps_its_own_extension(files: Path) -> None:
    session = build({"trips": {"format": "json", "location": str(files / "trips.ndjson")}})
    assert rows(session, "SELECT count(*) AS n FROM trips") == {"n": [3]}


def test_csv_options_reach_the_reader(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("1;a\n2;b\n")
    session = build(
        {
            "t": {
                "format": "csv",
                "location": str(tmp_path / "t.csv"),
                "options": {"has_header": False, "delimiter": ";"},
            }
        }
    )
    assert rows(session, "SELECT count(*) AS n FROM t") == {"n": [2]}


def test_listing_table_with_partition_columns_reads_them_from_directories(files: Path) -> None:
    session = build(
        {
            "trips": {
                "format": "parquet",
                "location": str(files / "by_year") + "/",
                "partition_cols": {"year": "int32"},
                "schema": {"id": "int64", "fare": "float64", "city": "string"},
                "schema_mode": "exact",
            },
            "jtrips": {
                "format": "json",
                "location": str(files / "json_by_year") + "/",
                "partition_cols": {"year": "string"},
            },
        }
    )
    assert rows(session, "SELECT year, count(*) AS n FROM trips GROUP BY year ORDER BY year") == {
        "year": [2023, 2024],
        "n": [3, 3],
    }
    assert rows(session, "SELECT count(*) AS n FROM jtrips WHERE year = '2024'") == {"n": [3]}


def test_record_lists_name_format_location_and_schema_fingerprint(files: Path) -> None:
    location = str(files / "trips.parquet")
    session = build({"trips": {"format": "parquet", "location": location}})
    (entry,) = session.record("datasets").applied["datasets"]
    actual = session.ctx.table("trips").schema()
    assert entry == {
        "name": "trips",
        "format": "parquet",
        "location": location,
        "schema_mode": "none",
        "schema_fingerprint": schema_fingerprint(actual),
    }
    assert session.report()["datasets"] == [entry]


def test_schema_fingerprint_is_stable_and_follows_the_schema() -> None:
    a = pa.schema([("id", pa.int64()), ("name", pa.string())])
    assert schema_fingerprint(a) == schema_fingerprint(pa.schema(list(a)))
    assert schema_fingerprint(a) != schema_fingerprint(
        pa.schema([("id", pa.int32()), ("name", pa.string())])
    )
    assert schema_fingerprint(a) != schema_fingerprint(
        pa.schema([("name", pa.string()), ("id", pa.int64())])
    )
    assert len(schema_fingerprint(a)) == 64


def test_exact_mode_reports_an_extra_column(files: Path) -> None:
    with pytest.raises(SchemaMismatchError) as caught:
        build(
            {
                "trips": {
                    "format": "parquet",
                    "location": str(files / "trips.parquet"),
                    "schema": {"id": "int64", "fare": "float64"},
                    "schema_mode": "exact",
                }
            }
        )
    error = caught.value
    assert error.dataset == "trips"
    assert error.step == "datasets"
    assert error.differences == (
        "column 'city': expected nothing (not declared), actual string_view",
    )


def test_exact_mode_reports_a_different_column_order(files: Path) -> None:
    with pytest.raises(SchemaMismatchError) as caught:
        build(
            {
                "trips": {
                    "format": "parquet",
                    "location": str(files / "trips.parquet"),
                    "schema": {"fare": "float64", "id": "int64", "city": "string"},
                    "schema_mode": "exact",
                }
            }
        )
    assert caught.value.differences == (
        "column order: expected (fare, id, city), actual (id, fare, city)",
    )


def test_compatible_mode_allows_extra_columns(files: Path) -> None:
    session = build(
        {
            "trips": {
                "format": "parquet",
                "location": str(files / "trips.parquet"),
                "schema": {"fare": "float64"},
            }
        }
    )
    assert session.record("datasets").applied["datasets"][0]["schema_mode"] == "compatible"


def test_compatible_mode_lists_each_wrong_type_and_missing_column(files: Path) -> None:
    with pytest.raises(SchemaMismatchError) as caught:
        build(
            {
                "trips": {
                    "format": "parquet",
                    "location": str(files / "trips.parquet"),
                    "schema": {
                        "id": "int32",
                        "fare": "decimal128(10, 2)",
                        "city": "string",
                        "pickup": "timestamp[us, UTC]",
                    },
                    "schema_mode": "compatible",
                }
            }
        )
    assert caught.value.differences == (
        "column 'id': expected int32, actual int64",
        "column 'fare': expected decimal128(10, 2), actual float64",
        "column 'pickup': expected timestamp[us, UTC], actual missing",
    )
    message = str(caught.value)
    assert "dataset 'trips'" in message and "datasets.trips.schema" in message


def test_mode_none_checks_nothing(files: Path) -> None:
    build(
        {
            "trips": {
                "format": "parquet",
                "location": str(files / "trips.parquet"),
                "schema": {"id": "string"},
                "schema_mode": "none",
            }
        }
    )


def test_nested_and_typed_columns_match_their_declared_types(tmp_path: Path) -> None:
    table = pa.table(
        {
            "tags": pa.array([[1, 2], [3]], pa.list_(pa.int32())),
            "point": pa.array([{"a": 1}, {"a": 2}], pa.struct([("a", pa.int64())])),
            "amount": pa.array([Decimal("1.50"), Decimal("2.25")], pa.decimal128(10, 2)),
            "at": pa.array([0, 1], pa.timestamp("us", "UTC")),
            "name": pa.array(["x", "y"], pa.large_string()),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    session = build(
        {
            "t": {
                "format": "parquet",
                "location": str(tmp_path / "t.parquet"),
                "schema": {
                    "tags": "list<int32>",
                    "point": "struct<a: int64>",
                    "amount": "decimal128(10, 2)",
                    "at": "timestamp[us, UTC]",
                    "name": "string",
                },
                "schema_mode": "exact",
            }
        }
    )
    assert rows(session, "SELECT sum(amount) AS s FROM t") == {"s": [Decimal("3.75")]}


def test_missing_path_is_an_error_naming_the_dataset_and_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "trips.parquet"
    with pytest.raises(ProfileError) as caught:
        build({"trips": {"format": "parquet", "location": str(missing)}})
    assert caught.value.step == "datasets"
    assert caught.value.path == "datasets.trips.location"
    assert "dataset 'trips'" in str(caught.value)
    assert str(missing) in str(caught.value)


def test_bad_type_name_is_a_load_error_naming_the_column() -> None:
    with pytest.raises(ProfileError) as caught:
        SessionProfile.from_dict(
            {
                "datasets": {
                    "trips": {"format": "parquet", "location": "x", "schema": {"fare": "flaot64"}}
                }
            }
        )
    assert caught.value.path == "datasets.trips.schema.fare"
    assert "did you mean 'float" in str(caught.value)


def test_an_unreadable_file_fails_naming_the_dataset(tmp_path: Path) -> None:
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(StepFailedError) as caught:
        build({"bad": {"format": "parquet", "location": str(tmp_path / "bad.parquet")}})
    assert "dataset 'bad'" in str(caught.value)
    assert caught.value.step == "datasets"


def test_every_format_delta_included_registers_in_one_step_in_declaration_order(
    tmp_path: Path, files: Path
) -> None:
    write_deltalake(tmp_path / "orders", pa.table({"id": [1]}))
    session = build(
        {
            "trips": {"format": "parquet", "location": str(files / "trips.parquet")},
            "orders": {"format": "delta", "location": str(tmp_path / "orders")},
            "csv_trips": {"format": "csv", "location": str(files / "trips.csv")},
        }
    )
    entries = session.record("datasets").applied["datasets"]
    assert [(d["name"], d["format"]) for d in entries] == [
        ("trips", "parquet"),
        ("orders", "delta"),
        ("csv_trips", "csv"),
    ]
    assert entries[1]["version"] == 0
    assert session.record("delta").applied == {"table_factory": "DELTATABLE"}
    assert rows(session, "SELECT count(*) AS n FROM orders") == {"n": [1]}


def test_no_datasets_means_a_skipped_record() -> None:
    session = build({})
    record = session.record("datasets")
    assert record.status == "skipped"
    assert "datasets" in record.applied["reason"]


def test_declared_csv_types_are_how_the_text_is_read(tmp_path: Path) -> None:
    path = tmp_path / "zips.csv"
    path.write_text("zip,fare\n01234,1.5\n99999,2\n")
    profile = SessionProfile.from_dict(
        {
            "datasets": {
                "zips": {
                    "format": "csv",
                    "location": str(path),
                    "schema": {"zip": "string", "fare": "float64"},
                    "schema_mode": "exact",
                }
            }
        }
    )
    session = SessionContextBuilder(profile).build()
    assert session.execute("SELECT zip FROM zips ORDER BY zip").to_pydict() == {
        "zip": ["01234", "99999"]
    }


def csv_dataset(location: Path, **more: Any) -> dict[str, Any]:
    return {"format": "csv", "location": str(location), **more}


@pytest.mark.parametrize("mode", ["exact", "compatible", "none"])
def test_a_headerless_csv_takes_its_column_names_from_the_declared_schema(
    tmp_path: Path, mode: str
) -> None:
    (tmp_path / "t.csv").write_text("01;a\n2;b\n")
    session = build(
        {
            "t": csv_dataset(
                tmp_path / "t.csv",
                options={"has_header": False, "delimiter": ";"},
                schema={"code": "string", "name": "string"},
                schema_mode=mode,
            )
        }
    )
    assert rows(session, "SELECT code, name FROM t ORDER BY code") == {
        "code": ["01", "2"],
        "name": ["a", "b"],
    }


def test_a_csv_with_a_header_still_reads_the_declared_types_by_name(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("code;name\n01;a\n2;b\n")
    session = build(
        {
            "t": csv_dataset(
                tmp_path / "t.csv",
                options={"delimiter": ";"},
                schema={"code": "string", "name": "string"},
                schema_mode="exact",
            )
        }
    )
    assert rows(session, "SELECT code FROM t ORDER BY code") == {"code": ["01", "2"]}


def test_a_headerless_partitioned_csv_names_its_columns_and_keeps_the_partitions(
    tmp_path: Path,
) -> None:
    for year in (2023, 2024):
        part = tmp_path / "t" / f"year={year}"
        part.mkdir(parents=True)
        (part / "part-0.csv").write_text(f"{year % 100};x\n")
    session = build(
        {
            "t": csv_dataset(
                tmp_path / "t",
                options={"has_header": False, "delimiter": ";"},
                partition_cols={"year": "int32"},
                schema={"n": "int64", "tag": "string", "year": "int32"},
                schema_mode="exact",
            )
        }
    )
    assert rows(session, "SELECT year, n, tag FROM t ORDER BY year") == {
        "year": [2023, 2024],
        "n": [23, 24],
        "tag": ["x", "x"],
    }


def test_a_headerless_csv_with_fewer_columns_than_declared_names_the_missing_ones(
    tmp_path: Path,
) -> None:
    (tmp_path / "t.csv").write_text("1;a\n")
    with pytest.raises(SchemaMismatchError) as caught:
        build(
            {
                "t": csv_dataset(
                    tmp_path / "t.csv",
                    options={"has_header": False, "delimiter": ";"},
                    schema={"id": "int64", "name": "string", "fare": "float64"},
                )
            }
        )
    assert list(caught.value.differences) == ["column 'fare': expected float64, actual missing"]


def test_a_headerless_csv_without_a_schema_keeps_the_engine_column_names(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("1;a\n2;b\n")
    session = build(
        {"t": csv_dataset(tmp_path / "t.csv", options={"has_header": False, "delimiter": ";"})}
    )
    assert rows(session, "SELECT column_1, column_2 FROM t ORDER BY column_1") == {
        "column_1": [1, 2],
        "column_2": ["a", "b"],
    }
