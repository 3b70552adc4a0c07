"""Zero-row validation: views and prepared statements planned against empty declared tables."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from conftest import SECRET_ENV, S3Bucket
from dfsession import SessionProfile
from dfsession.bootstrap import (
    ValidationItem,
    ValidationReport,
    seed_batch,
    validate_profile,
    zero_scalar,
)

TRIPS = {
    "format": "parquet",
    "location": "/nonexistent/trips/",  # never read: validation touches no real data
    "schema": {"id": "int64", "fare": "float64", "city": "string"},
    "partition_cols": {"year": "int32"},
}


def profile(**sections: Any) -> SessionProfile:
    data: dict[str, Any] = {"datasets": {"trips": TRIPS}}
    for key, value in sections.items():
        data[key] = {n: {"sql": s} for n, s in value.items()} if key == "views" else value
    return SessionProfile.from_dict(data)


def statuses(report: ValidationReport) -> dict[tuple[str, str], str]:
    return {(item.kind, item.name): item.status for item in report.items}


def item(report: ValidationReport, kind: str, name: str) -> ValidationItem:
    return next(i for i in report.items if (i.kind, i.name) == (kind, name))


def test_a_sound_profile_validates_without_touching_data_or_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NEVER_SET_SECRET", raising=False)
    report = validate_profile(
        profile(
            object_stores={
                "lake": {
                    "url": "s3://lake",
                    "kind": "s3",
                    "secrets": {"secret_access_key": {"env": "NEVER_SET_SECRET"}},
                }
            },
            views={
                "by_city": "SELECT city, sum(fare) AS total FROM expensive GROUP BY city",
                "expensive": "SELECT * FROM trips WHERE fare > 100 AND year = 2024",
            },
            prepared={
                "by_id": {"sql": "SELECT * FROM by_city WHERE city = $1", "params": ["string"]}
            },
        )
    )
    assert report.ok
    assert statuses(report) == {
        ("dataset", "trips"): "ok",
        ("view", "expensive"): "ok",
        ("view", "by_city"): "ok",
        ("prepared", "by_id"): "ok",
    }


def test_a_view_reading_an_undeclared_column_fails_with_the_engine_reason() -> None:
    report = validate_profile(profile(views={"bad": "SELECT pickup FROM trips"}))
    assert not report.ok
    bad = item(report, "view", "bad")
    assert bad.status == "failed"
    assert "pickup" in bad.reason
    assert report.failures == (bad,)


def test_datasets_without_a_schema_are_skipped_with_what_reads_them() -> None:
    report = validate_profile(
        profile(
            datasets={
                "trips": TRIPS,
                "raw": {"format": "csv", "location": "/nonexistent/raw.csv"},
            },
            views={"raw_view": "SELECT * FROM raw", "on_top": "SELECT * FROM raw_view"},
            prepared={"raw_q": {"sql": "SELECT * FROM raw WHERE a = $1", "params": ["int64"]}},
        )
    )
    assert report.ok
    assert statuses(report) == {
        ("dataset", "trips"): "ok",
        ("dataset", "raw"): "skipped",
        ("view", "raw_view"): "skipped",
        ("view", "on_top"): "skipped",
        ("prepared", "raw_q"): "skipped",
    }
    assert "datasets.raw.schema" in item(report, "dataset", "raw").reason
    assert item(report, "view", "raw_view").reason == "depends on dataset 'raw', which was skipped"
    assert item(report, "view", "on_top").reason == "depends on view 'raw_view', which was skipped"


def test_a_cycle_fails_each_member_and_skips_what_reads_it() -> None:
    report = validate_profile(
        profile(
            views={
                "a": "SELECT * FROM b",
                "b": "SELECT * FROM a",
                "reader": "SELECT * FROM a",
                "fine": "SELECT count(*) AS n FROM trips",
            }
        )
    )
    assert statuses(report) == {
        ("dataset", "trips"): "ok",
        ("view", "a"): "failed",
        ("view", "b"): "failed",
        ("view", "fine"): "ok",
        ("view", "reader"): "skipped",
    }
    assert "views 'a', 'b' form a dependency cycle" in item(report, "view", "b").reason


def test_a_failed_view_skips_its_dependents_and_prepared_statements_fail_on_bad_types() -> None:
    report = validate_profile(
        profile(
            views={"broken": "SELECT nope FROM trips", "child": "SELECT * FROM broken"},
            prepared={
                "q": {"sql": "SELECT * FROM trips WHERE id = $1", "params": ["duration[s]"]},
                "q2": {"sql": "SELECT * FROM child", "params": []},
            },
        )
    )
    assert statuses(report)[("view", "child")] == "skipped"
    assert item(report, "view", "child").reason == "depends on view 'broken', which failed"
    assert item(report, "prepared", "q").status == "failed"
    assert "no SQL type name" in item(report, "prepared", "q").reason
    assert item(report, "prepared", "q2").status == "skipped"


def test_seed_rows_runs_the_views_and_catches_failures_that_need_a_row() -> None:
    views = {"parsed": "SELECT to_timestamp(coalesce(city, 'not a time')) AS t FROM trips"}
    assert validate_profile(profile(views=views)).ok
    seeded = validate_profile(profile(views=views), seed_rows=True)
    assert not seeded.ok
    assert item(seeded, "view", "parsed").status == "failed"
    assert seeded.seed_rows


def test_seed_rows_runs_prepared_statements_with_zero_parameters() -> None:
    report = validate_profile(
        profile(
            prepared={
                "by_id": {
                    "sql": "SELECT fare FROM trips WHERE id = $1 AND city = $2",
                    "params": ["int64", "string"],
                },
            }
        ),
        seed_rows=True,
    )
    assert report.ok


def test_report_to_dict_is_json_with_counts_and_items() -> None:
    p = profile(views={"bad": "SELECT nope FROM trips"})
    document = validate_profile(p).to_dict()
    assert json.loads(json.dumps(document)) == document
    assert document["ok"] is False
    assert document["fingerprint"] == p.fingerprint()
    assert document["counts"] == {"ok": 1, "failed": 1, "skipped": 0}
    assert document["items"][1]["kind"] == "view"
    assert set(document["items"][1]) == {"kind", "name", "status", "reason"}


def test_report_is_frozen() -> None:
    report = validate_profile(profile())
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        report.items = ()  # type: ignore[misc]


def test_profile_functions_are_available_to_the_views() -> None:
    report = validate_profile(
        profile(
            udfs=[{"ref": "udf_fixtures.functions:plus_one"}],
            views={"next": "SELECT plus_one(id) AS n FROM trips"},
        )
    )
    assert report.ok


def test_delta_datasets_with_a_schema_are_checked_too(tmp_path: Path) -> None:
    report = validate_profile(
        profile(
            datasets={
                "orders": {
                    "format": "delta",
                    "location": str(tmp_path / "no-such-table"),
                    "schema": {"id": "int64"},
                }
            },
            views={"o": "SELECT id FROM orders"},
        )
    )
    assert statuses(report) == {("dataset", "orders"): "ok", ("view", "o"): "ok"}


# --- seed rows ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data_type", "zero"),
    [
        (pa.int64(), 0),
        (pa.float32(), 0.0),
        (pa.bool_(), False),
        (pa.string(), ""),
        (pa.binary(), b""),
        (pa.decimal128(10, 2), Decimal("0.00")),
        (pa.date32(), datetime.date(1970, 1, 1)),
        (pa.timestamp("us", "UTC"), datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)),
        (pa.list_(pa.int32()), []),
        (
            pa.struct([pa.field("a", pa.int64(), nullable=False), ("b", pa.string())]),
            {"a": 0, "b": None},
        ),
        (pa.dictionary(pa.int32(), pa.string()), ""),
    ],
)
def test_zero_scalar_is_the_types_zero(data_type: pa.DataType, zero: Any) -> None:
    scalar = zero_scalar(data_type)
    assert scalar.type == data_type
    assert scalar.as_py() == zero


def test_seed_row_is_null_where_nullable_and_zero_otherwise() -> None:
    schema = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("name", pa.string())])
    batch = seed_batch(schema)
    assert batch.schema == schema
    assert batch.to_pylist() == [{"id": 0, "name": None}]
    assert seed_batch(schema, rows=0).num_rows == 0


def test_validation_reports_progress_item_by_item() -> None:
    profile = SessionProfile.from_dict(
        {
            "datasets": {
                "t": {"format": "parquet", "location": "nowhere", "schema": {"a": "int64"}}
            },
            "views": {"v": {"sql": "SELECT a FROM t"}},
        }
    )
    seen: list[int] = []
    report = validate_profile(profile, progress=seen.append)
    assert seen == list(range(1, len(report.items) + 1))
    assert report.ok


# --- check_data: the files themselves ------------------------------------------------------


def data_profile(datasets: dict[str, Any], **sections: Any) -> SessionProfile:
    return SessionProfile.from_dict({"datasets": datasets, **sections})


def write_csv(path: Path, rows: list[str]) -> str:
    path.write_text("\n".join(["id,city", *rows]) + "\n", encoding="utf-8")
    return str(path)


def test_without_check_data_no_file_is_read() -> None:
    report = validate_profile(profile())  # TRIPS lies at /nonexistent
    assert report.ok
    assert not report.check_data
    assert "data" not in {i.kind for i in report.items}


def test_check_data_fails_a_dataset_whose_files_are_missing(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.parquet")
    report = validate_profile(profile(), check_data=True)
    failed = item(report, "data", "trips")
    assert failed.status == "failed"
    assert "/nonexistent/trips/" in failed.reason
    assert "does not exist" in failed.reason
    assert item(report, "dataset", "trips").status == "ok"  # the declared schema itself is fine
    unchecked = data_profile({"t": {"format": "parquet", "location": missing}})
    assert item(validate_profile(unchecked, check_data=True), "data", "t").status == "failed"


def test_check_data_parses_csv_rows_with_the_declared_types(tmp_path: Path) -> None:
    location = write_csv(tmp_path / "a.csv", ["1,Oslo", "2,Lima", "three,Rome"])
    datasets = {"a": {"format": "csv", "location": location, "schema": {"id": "int64"}}}
    report = validate_profile(data_profile(datasets), check_data=True)
    assert not report.ok
    failed = item(report, "data", "a")
    assert failed.status == "failed"
    assert "'three'" in failed.reason
    assert "Int64" in failed.reason
    assert validate_profile(data_profile(datasets)).ok  # zero-row validation reads no data


def test_check_data_parses_as_many_csv_rows_as_asked(tmp_path: Path) -> None:
    rows = [f"{i},x" for i in range(20_000)]
    rows[15_000] = "bad,x"  # past the first batch the engine reads for a small limit
    location = write_csv(tmp_path / "big.csv", rows)
    datasets = {"big": {"format": "csv", "location": location, "schema": {"id": "int64"}}}
    few = validate_profile(data_profile(datasets), check_data=True, sample_rows=10)
    assert item(few, "data", "big").status == "ok"
    assert "10 rows" in item(few, "data", "big").reason
    every = validate_profile(data_profile(datasets), check_data=True, sample_rows=20_000)
    assert item(every, "data", "big").status == "failed"


def test_check_data_parses_json_lines_with_the_declared_types(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    path.write_text('{"id": 1}\n{"id": "not a number"}\n', encoding="utf-8")
    datasets = {"e": {"format": "json", "location": str(path), "schema": {"id": "int64"}}}
    report = validate_profile(data_profile(datasets), check_data=True)
    assert item(report, "data", "e").status == "failed"


def test_check_data_reads_parquet_schemas_back_and_compares_them(tmp_path: Path) -> None:
    pq.write_table(pa.table({"id": pa.array([1], pa.int32())}), tmp_path / "t.parquet")
    datasets = {
        "t": {
            "format": "parquet",
            "location": str(tmp_path / "t.parquet"),
            "schema": {"id": "int64"},
        }
    }
    report = validate_profile(data_profile(datasets), check_data=True)
    failed = item(report, "data", "t")
    assert failed.status == "failed"
    assert "column 'id': expected int64, actual int32" in failed.reason


def test_check_data_passes_sound_data_of_every_format(tmp_path: Path) -> None:
    table = pa.table({"id": pa.array([1, 2], pa.int64()), "city": ["Oslo", "Lima"]})
    pq.write_table(table, tmp_path / "p.parquet")
    feather.write_feather(table, tmp_path / "a.arrow")
    write_deltalake(str(tmp_path / "delta"), table)
    (tmp_path / "j.json").write_text('{"id": 1, "city": "Oslo"}\n', encoding="utf-8")
    schema = {"id": "int64", "city": "string"}
    datasets = {
        "p": {"format": "parquet", "location": str(tmp_path / "p.parquet"), "schema": schema},
        "a": {"format": "arrow", "location": str(tmp_path / "a.arrow"), "schema": schema},
        "d": {"format": "delta", "location": str(tmp_path / "delta"), "schema": schema},
        "c": {
            "format": "csv",
            "location": write_csv(tmp_path / "c.csv", ["1,Oslo"]),
            "schema": schema,
        },
        "j": {"format": "json", "location": str(tmp_path / "j.json"), "schema": schema},
        "raw": {"format": "csv", "location": str(tmp_path / "c.csv")},
    }
    report = validate_profile(
        data_profile(datasets, views={"v": {"sql": "SELECT p.id FROM p JOIN d USING (id)"}}),
        check_data=True,
    )
    assert report.ok, report.failures
    assert {i.name: i.status for i in report.items if i.kind == "data"} == dict.fromkeys(
        datasets, "ok"
    )
    assert report.to_dict()["check_data"] is True


def test_strict_fails_on_anything_skipped(tmp_path: Path) -> None:
    location = write_csv(tmp_path / "r.csv", ["1,Oslo"])
    unschemed = data_profile({"raw": {"format": "csv", "location": location}})
    assert validate_profile(unschemed).ok
    strict = validate_profile(unschemed, strict=True)
    assert not strict.ok
    assert strict.skipped == (item(strict, "dataset", "raw"),)
    assert strict.to_dict()["ok"] is False
    assert strict.to_dict()["strict"] is True
    assert validate_profile(profile(), strict=True).ok


def test_check_data_reaches_an_object_store_with_its_secrets(s3_bucket: S3Bucket) -> None:
    s3_bucket.put_parquet("trips/part-0.parquet", pa.table({"id": pa.array([1], pa.int64())}))
    datasets = {
        "trips": {
            "format": "parquet",
            "location": f"s3://{s3_bucket.name}/trips/",
            "schema": {"id": "int64"},
        },
        "gone": {"format": "parquet", "location": f"s3://{s3_bucket.name}/gone/"},
    }
    report = validate_profile(
        data_profile(datasets, object_stores={"lake": s3_bucket.store()}), check_data=True
    )
    assert item(report, "data", "trips").status == "ok"
    gone = item(report, "data", "gone")
    assert gone.status == "failed"
    assert "gone" in gone.reason
    assert s3_bucket.secret not in json.dumps(report.to_dict())


def test_check_data_names_an_unset_secret(
    s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV)
    datasets = {"trips": {"format": "parquet", "location": f"s3://{s3_bucket.name}/trips/"}}
    p = data_profile(datasets, object_stores={"lake": s3_bucket.store()})
    assert validate_profile(p).ok  # zero-row validation resolves no secret
    failed = item(validate_profile(p, check_data=True), "data", "trips")
    assert failed.status == "failed"
    assert SECRET_ENV in failed.reason
