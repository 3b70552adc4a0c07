"""``schema_mode = "trust"``: the declared schema is the engine's, unchecked and unread."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import REGION, S3Bucket
from dfsession import ProfileError, SessionContextBuilder, SessionProfile
from dfsession.engine.schemas import schema_fingerprint


def _datasets(session: object) -> list[dict[str, object]]:
    records = session.records  # type: ignore[attr-defined]
    found: list[dict[str, object]] = next(r for r in records if r.step == "datasets").applied[
        "datasets"
    ]
    return found


def test_trust_needs_a_declared_schema() -> None:
    with pytest.raises(ProfileError) as caught:
        SessionProfile.from_dict(
            {"datasets": {"t": {"format": "parquet", "location": "t/", "schema_mode": "trust"}}}
        )
    assert caught.value.path == "datasets.t.schema_mode"
    assert "needs a declared schema" in str(caught.value)


def test_trust_is_refused_for_delta_tables() -> None:
    with pytest.raises(ProfileError) as caught:
        SessionProfile.from_dict(
            {
                "datasets": {
                    "d": {
                        "format": "delta",
                        "location": "d",
                        "schema": {"id": "int64"},
                        "schema_mode": "trust",
                    }
                }
            }
        )
    assert caught.value.path == "datasets.d.schema_mode"
    assert "read from its log" in str(caught.value)


def test_a_trusted_schema_is_the_tables_schema_unchecked(tmp_path: Path) -> None:
    pq.write_table(
        pa.table({"id": pa.array([1, 2], pa.int32()), "extra": ["a", "b"]}), tmp_path / "t.parquet"
    )
    declared = {"id": "int64"}
    profile = SessionProfile.from_dict(
        {
            "datasets": {
                "t": {
                    "format": "parquet",
                    "location": str(tmp_path / "t.parquet"),
                    "schema": declared,
                    "schema_mode": "trust",
                }
            }
        }
    )
    session = SessionContextBuilder(profile).build()
    (record,) = _datasets(session)
    assert record["schema_mode"] == "trust"
    assert record["schema_fingerprint"] == schema_fingerprint(pa.schema([("id", pa.int64())]))
    table = session.execute("SELECT id FROM t ORDER BY id")
    assert table.schema.field("id").type == pa.int64()
    assert table.column("id").to_pylist() == [1, 2]


def test_a_trusted_csv_schema_types_its_columns_without_inference(tmp_path: Path) -> None:
    (tmp_path / "codes.csv").write_text("code,n\n01234,5\n", "utf-8")
    profile = SessionProfile.from_dict(
        {
            "datasets": {
                "codes": {
                    "format": "csv",
                    "location": str(tmp_path / "codes.csv"),
                    "schema": {"code": "string", "n": "int32"},
                    "schema_mode": "trust",
                }
            }
        }
    )
    session = SessionContextBuilder(profile).build()
    assert session.execute("SELECT code, n FROM codes").to_pylist() == [{"code": "01234", "n": 5}]


def test_trusted_datasets_in_an_object_store_register_without_a_request(
    s3_bucket: S3Bucket,
) -> None:
    # The store's endpoint listens nowhere: any request would fail the build.
    dead = s3_bucket.store()
    dead["options"] = {"region": REGION, "endpoint": "http://127.0.0.1:9", "allow_http": True}
    profile = SessionProfile.from_dict(
        {
            "object_stores": {"lake": dead},
            "datasets": {
                f"t{i}": {
                    "format": fmt,
                    "location": f"s3://{s3_bucket.name}/t{i}/",
                    "schema": {"id": "int64", "name": "string"},
                    "partition_cols": {"day": "string"},
                    "schema_mode": "trust",
                }
                for i, fmt in enumerate(["parquet", "csv", "json", "arrow"] * 5)
            },
        }
    )
    session = SessionContextBuilder(profile).build()
    records = _datasets(session)
    assert [r["name"] for r in records] == [f"t{i}" for i in range(20)]
    assert session.ctx.table("t0").schema().names == ["id", "name", "day"]


def test_trust_is_refused_for_provider_datasets() -> None:
    with pytest.raises(ProfileError) as caught:
        SessionProfile.from_dict(
            {
                "datasets": {
                    "p": {
                        "format": "provider",
                        "ref": "provider_fixtures.sources:events",
                        "schema": {"id": "int64"},
                        "schema_mode": "trust",
                    }
                }
            }
        )
    assert caught.value.path == "datasets.p.schema_mode"
    assert "comes with its schema" in str(caught.value)
