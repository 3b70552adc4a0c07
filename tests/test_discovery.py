"""Discovery: ``[discover.NAME]`` turns every table folder of a lake into a dataset.

Lakes are real folders under tmp_path, and prefixes of a bucket on the S3-compatible server
the suite starts (conftest.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from conftest import S3Bucket
from dfsession import ProfileError, SessionContextBuilder, SessionProfile, load_profile
from dfsession.bootstrap import validate_profile
from dfsession.engine.schemas import schema_fingerprint
from dfsession.errors import NotPortableError
from dfsession.session import report_schema

ORDERS = pa.table({"id": pa.array([1, 2], pa.int64()), "amount": [9.5, 20.0]})


def parquet(root: Path, path: str, table: pa.Table = ORDERS) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, target)


def build(data: dict[str, Any]) -> Any:
    return SessionContextBuilder(SessionProfile.from_dict(data)).build()


def raw(location: str | Path, **keys: Any) -> dict[str, Any]:
    return {"discover": {"raw": {"location": str(location), "format": "parquet", **keys}}}


def datasets_record(session: Any) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in session.record("datasets").applied["datasets"]}


# --- what discovery finds -----------------------------------------------------------------


def test_every_table_folder_becomes_a_dataset_with_its_partition_columns(tmp_path: Path) -> None:
    parquet(tmp_path, "orders/year=2024/month=1/a.parquet")
    parquet(tmp_path, "orders/year=2025/month=12/b.parquet")
    parquet(tmp_path, "customers/part-0.parquet")
    (tmp_path / "customers" / "_SUCCESS").write_text("")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not a table")

    session = build(raw(f"{tmp_path}/"))

    rows = session.execute(
        "SELECT year, month, sum(amount) AS total FROM orders GROUP BY year, month ORDER BY year"
    ).to_pydict()
    assert rows == {"year": [2024, 2025], "month": [1, 12], "total": [29.5, 29.5]}
    assert session.execute("SELECT count(*) AS n FROM customers").to_pydict() == {"n": [2]}
    records = datasets_record(session)
    assert list(records) == ["customers", "orders"]  # sorted; the folder of text is no table
    orders = records["orders"]
    assert orders["discovered_by"] == "discover.raw"
    assert orders["partition_cols"] == {"year": "int64", "month": "int64"}
    assert orders["location"] == f"{tmp_path}/orders/"
    assert orders["schema_fingerprint"] == schema_fingerprint(session.ctx.table("orders").schema())
    assert session.record("discover").applied["discover"] == [
        {
            "name": "raw",
            "location": f"{tmp_path}/",
            "format": "parquet",
            "layout": "{table}/",
            "tables": ["customers", "orders"],
            "shadowed": [],
        }
    ]


def test_a_partition_of_words_is_a_string_column(tmp_path: Path) -> None:
    parquet(tmp_path, "events/region=eu/a.parquet")
    parquet(tmp_path, "events/region=us/a.parquet")
    session = build(raw(tmp_path))
    assert datasets_record(session)["events"]["partition_cols"] == {"region": "string"}
    rows = session.execute("SELECT DISTINCT region FROM events ORDER BY region").to_pydict()
    assert rows == {"region": ["eu", "us"]}


def test_a_schema_layout_puts_tables_in_schemas_and_globs_match_schema_dot_table(
    tmp_path: Path,
) -> None:
    parquet(tmp_path, "sales/orders/a.parquet")
    parquet(tmp_path, "sales/tmp_orders/a.parquet")
    parquet(tmp_path, "hr/people/a.parquet")
    parquet(tmp_path, "audit/log/a.parquet")
    data = raw(
        tmp_path, layout="{schema}/{table}/", include=["sales.*", "hr.*"], exclude=["*.tmp_*"]
    )
    session = build(data)
    assert session.execute("SELECT count(*) AS n FROM sales.orders").to_pydict() == {"n": [2]}
    assert session.execute("SELECT count(*) AS n FROM hr.people").to_pydict() == {"n": [2]}
    assert sorted(datasets_record(session)) == ["hr.people", "sales.orders"]
    assert session.record("discover").applied["discover"][0]["tables"] == [
        "hr.people",
        "sales.orders",
    ]
    schemas = session.ctx.catalog().schema_names()
    assert "audit" not in schemas
    assert {"sales", "hr"} <= schemas


def test_names_are_kept_as_the_folders_spell_them(tmp_path: Path) -> None:
    parquet(tmp_path, "Daily-Sales/a.parquet")
    session = build(raw(tmp_path))
    rows = session.execute('SELECT count(*) AS n FROM "Daily-Sales"').to_pydict()
    assert rows == {"n": [2]}


def test_a_declared_dataset_of_the_same_name_wins_and_the_record_says_so(tmp_path: Path) -> None:
    parquet(tmp_path, "lake/orders/a.parquet")
    parquet(tmp_path, "lake/customers/a.parquet")
    parquet(tmp_path, "pinned/orders.parquet", ORDERS.slice(0, 1))
    data = raw(tmp_path / "lake")
    data["datasets"] = {
        "orders": {"format": "parquet", "location": str(tmp_path / "pinned" / "orders.parquet")}
    }
    session = build(data)
    assert session.execute("SELECT count(*) AS n FROM orders").to_pydict() == {"n": [1]}
    entry = session.record("discover").applied["discover"][0]
    assert entry["tables"] == ["customers"]
    assert entry["shadowed"] == [{"table": "orders", "by": "datasets.orders"}]
    orders = datasets_record(session)["orders"]
    assert "discovered_by" not in orders


def test_csv_tables_take_the_formats_options(tmp_path: Path) -> None:
    folder = tmp_path / "people"
    folder.mkdir()
    pacsv.write_csv(
        pa.table({"name": ["ann", "bob"], "age": [30, 40]}),
        folder / "a.csv",
        write_options=pacsv.WriteOptions(delimiter=";"),
    )
    data = {
        "discover": {
            "raw": {"location": str(tmp_path), "format": "csv", "options": {"delimiter": ";"}}
        }
    }
    session = build(data)
    assert session.execute("SELECT sum(age) AS s FROM people").to_pydict() == {"s": [70]}


def test_delta_tables_are_discovered_by_their_log(tmp_path: Path) -> None:
    write_deltalake(str(tmp_path / "orders"), ORDERS)
    write_deltalake(str(tmp_path / "orders"), ORDERS, mode="append")
    parquet(tmp_path, "loose/a.parquet")  # Parquet files, no log: not a Delta table
    session = build({"discover": {"raw": {"location": str(tmp_path), "format": "delta"}}})
    assert session.execute("SELECT count(*) AS n FROM orders").to_pydict() == {"n": [4]}
    records = datasets_record(session)
    assert list(records) == ["orders"]
    assert records["orders"]["version"] == 1


def test_a_relative_location_leads_from_the_profile_file(tmp_path: Path) -> None:
    parquet(tmp_path, "lake/orders/a.parquet")
    (tmp_path / "conf").mkdir()
    profile_file = tmp_path / "conf" / "p.toml"
    profile_file.write_text('[discover.raw]\nlocation = "../lake/"\nformat = "parquet"\n')
    profile = load_profile(profile_file)
    assert str(profile.discover["raw"].location) == f"{tmp_path}/lake/"
    session = SessionContextBuilder(profile).build()
    assert session.execute("SELECT count(*) AS n FROM orders").to_pydict() == {"n": [2]}


def test_the_same_lake_gives_the_same_records_and_runtime_hash(tmp_path: Path) -> None:
    for name in ("zeta", "alpha", "mid"):
        parquet(tmp_path, f"{name}/year=2024/a.parquet")
    first, second = build(raw(tmp_path)), build(raw(tmp_path))
    report = first.report()
    assert [d["name"] for d in report["datasets"]] == ["alpha", "mid", "zeta"]
    jsonschema.validate(report, report_schema())
    assert first.runtime_hash == second.runtime_hash


def test_a_location_in_a_local_store_is_listed_under_its_prefix(tmp_path: Path) -> None:
    parquet(tmp_path, "raw/orders/a.parquet")
    data = raw("local://lake/raw/")
    data["object_stores"] = {
        "files": {"url": "local://lake", "kind": "local", "options": {"prefix": str(tmp_path)}}
    }
    session = build(data)
    assert session.execute("SELECT count(*) AS n FROM orders").to_pydict() == {"n": [2]}
    assert datasets_record(session)["orders"]["location"] == "local://lake/raw/orders/"


def test_views_read_discovered_tables(tmp_path: Path) -> None:
    parquet(tmp_path, "orders/a.parquet")
    data = raw(tmp_path)
    data["views"] = {"big": {"sql": "SELECT * FROM orders WHERE amount > 10"}}
    assert build(data).execute("SELECT count(*) AS n FROM big").to_pydict() == {"n": [1]}


def test_validation_lists_no_folder_and_skips_views_of_discovered_tables(tmp_path: Path) -> None:
    data = raw(tmp_path / "does-not-exist")
    data["views"] = {"big": {"sql": "SELECT * FROM orders WHERE amount > 10"}}
    report = validate_profile(SessionProfile.from_dict(data))
    assert report.ok
    (item,) = report.items
    assert item.status == "skipped"
    assert "[discover] may find it" in item.reason


# --- errors name discover.NAME.KEY ----------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "path", "words"),
    [
        ({"layout": "{tabel}/"}, "discover.raw.layout", "unknown placeholder {tabel}"),
        ({"layout": "tables"}, "discover.raw.layout", "expected one of '{table}/'"),
        ({"include": ["sales/*"]}, "discover.raw.include.0", "not a glob over table names"),
        ({"exclude": ["tmp_[ab"]}, "discover.raw.exclude.0", "not a glob"),
        ({"exclude": "tmp_*"}, "discover.raw.exclude", "expected a list"),
        ({"format": "orc"}, "discover.raw.format", "expected one of parquet, csv"),
        ({"options": {"has_header": True}}, "discover.raw.options.has_header", "format 'parquet'"),
        ({"version": 3}, "discover.raw.version", "unknown key"),
    ],
)
def test_a_bad_discovery_entry_names_its_key(keys: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(ProfileError) as caught:
        SessionProfile.from_dict(raw("/lake/", **keys))
    assert caught.value.path == path
    assert words in str(caught.value)


def test_a_missing_location_key_is_named() -> None:
    with pytest.raises(ProfileError) as caught:
        SessionProfile.from_dict({"discover": {"raw": {"format": "parquet"}}})
    assert caught.value.path == "discover.raw.location"


def test_a_location_that_does_not_exist_fails_the_build_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        build(raw(tmp_path / "nowhere"))
    assert caught.value.path == "discover.raw.location"
    assert "does not exist" in str(caught.value)


def test_a_discovered_table_named_like_a_view_is_refused(tmp_path: Path) -> None:
    parquet(tmp_path, "orders/a.parquet")
    data = raw(tmp_path)
    data["views"] = {"orders": {"sql": "SELECT 1 AS x"}}
    with pytest.raises(ProfileError) as caught:
        build(data)
    assert caught.value.path == "discover.raw.exclude"
    assert "views.orders" in str(caught.value)


def test_two_entries_finding_the_same_name_are_refused_naming_both(tmp_path: Path) -> None:
    parquet(tmp_path, "a/orders/x.parquet")
    parquet(tmp_path, "b/orders/x.parquet")
    data = {
        "discover": {
            "one": {"location": str(tmp_path / "a"), "format": "parquet"},
            "two": {"location": str(tmp_path / "b"), "format": "parquet"},
        }
    }
    with pytest.raises(ProfileError) as caught:
        build(data)
    assert caught.value.path == "discover.two.exclude"
    assert "discover.one" in str(caught.value)


def test_a_table_with_two_partition_layouts_is_refused(tmp_path: Path) -> None:
    parquet(tmp_path, "orders/year=2024/a.parquet")
    parquet(tmp_path, "orders/region=eu/b.parquet")
    with pytest.raises(ProfileError) as caught:
        build(raw(tmp_path))
    assert caught.value.path == "discover.raw.exclude"
    assert "partition_cols" in str(caught.value)


# --- the S3-compatible server ------------------------------------------------------------


def test_tables_under_an_s3_prefix_are_discovered_with_secrets_kept_out(
    s3_bucket: S3Bucket,
) -> None:
    s3_bucket.put_parquet("raw/sales/orders/year=2024/a.parquet", ORDERS)
    s3_bucket.put_parquet("raw/sales/orders/year=2025/b.parquet", ORDERS)
    s3_bucket.put_parquet("raw/hr/people/a.parquet", ORDERS)
    data = raw(f"s3://{s3_bucket.name}/raw/", layout="{schema}/{table}/")
    data["object_stores"] = {"lake": s3_bucket.store()}
    session = build(data)
    rows = session.execute(
        "SELECT year, count(*) AS n FROM sales.orders GROUP BY year ORDER BY year"
    ).to_pydict()
    assert rows == {"year": [2024, 2025], "n": [2, 2]}
    assert sorted(datasets_record(session)) == ["hr.people", "sales.orders"]
    text = json.dumps(session.report())
    assert s3_bucket.secret not in text
    assert s3_bucket.key_id not in text


def test_an_empty_s3_prefix_fails_naming_the_location(s3_bucket: S3Bucket) -> None:
    data = raw(f"s3://{s3_bucket.name}/nothing/")
    data["object_stores"] = {"lake": s3_bucket.store()}
    with pytest.raises(ProfileError) as caught:
        build(data)
    assert caught.value.path == "discover.raw.location"
    assert "does not exist" in str(caught.value)


def test_a_remote_location_without_a_store_is_named() -> None:
    with pytest.raises(ProfileError) as caught:
        build(raw("s3://elsewhere/raw/"))
    assert caught.value.path == "discover.raw.location"
    assert "no [object_stores] entry covers 's3://elsewhere'" in str(caught.value)


def test_a_lake_without_tables_registers_nothing_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    session = build(raw(tmp_path))
    assert session.record("discover").applied["discover"][0]["tables"] == []
    datasets = session.record("datasets")
    assert datasets.status == "skipped"
    assert datasets.applied["reason"].endswith("and [discover] found no table")


def test_a_cluster_engine_refuses_discovered_delta_tables_and_remote_lakes_at_plan() -> None:
    data = {
        "engine": {"kind": "ballista", "url": "df://127.0.0.1:50050"},
        "discover": {
            "deltas": {"location": "/lake/delta/", "format": "delta"},
            "remote": {"location": "s3://lake/raw/", "format": "parquet"},
            "files": {"location": "/lake/files/", "format": "parquet"},
        },
    }
    with pytest.raises(NotPortableError) as caught:
        SessionContextBuilder(SessionProfile.from_dict(data)).plan()
    paths = [path for path, _reason in caught.value.problems]
    assert paths == ["discover.deltas.format", "discover.remote.location"]
