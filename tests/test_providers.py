"""``format = "provider"``: tables from objects another library makes, named by reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from dfsession import (
    IncompatibleVersionsError,
    ProfileError,
    SchemaMismatchError,
    SessionContextBuilder,
    SessionProfile,
    default_steps,
    replace_step,
)
from dfsession.profile.datasets import ProviderDataset
from dfsession.steps.delta import DeltaStep

FIXTURES = str(Path(__file__).parent)
SOURCES = "provider_fixtures.sources"


def build(datasets: dict[str, Any], steps: Any = None) -> Any:
    profile = SessionProfile.from_dict(
        {"features": {"import_paths": [FIXTURES]}, "datasets": datasets}
    )
    return SessionContextBuilder(profile, steps=steps).build()


def delta_dataset(location: Path) -> dict[str, Any]:
    return {"format": "provider", "ref": f"{SOURCES}:delta", "options": {"location": str(location)}}


@pytest.fixture
def orders(tmp_path: Path) -> Path:
    path = tmp_path / "orders"
    write_deltalake(path, pa.table({"id": pa.array([1, 2], pa.int64())}))
    write_deltalake(path, pa.table({"id": pa.array([3], pa.int64())}), mode="append")
    return path


def test_a_callable_gets_the_options_and_its_ffi_provider_is_scanned(orders: Path) -> None:
    dataset = {
        "format": "provider",
        "ref": f"{SOURCES}:delta",
        "options": {"location": str(orders)},
    }
    session = build({"orders": dataset})
    assert session.execute("SELECT id FROM orders ORDER BY id").to_pydict() == {"id": [1, 2, 3]}
    plan = session.ctx.sql("EXPLAIN SELECT id FROM orders").to_pydict()["plan"]
    assert any("DeltaScan" in step for step in plan)
    (entry,) = session.record("datasets").applied["datasets"]
    assert entry["ref"] == f"{SOURCES}:delta"
    assert (entry["provider"], entry["package"]) == ("native", "deltalake")
    assert "location" not in entry
    assert session.report()["versions"]["deltalake.datafusion_major"] == "55"


def test_options_keep_their_types_nested_values_included(orders: Path) -> None:
    dataset = {
        "format": "provider",
        "ref": f"{SOURCES}:delta",
        "options": {"location": str(orders), "version": 0},
    }
    assert build({"orders": dataset}).execute("SELECT count(*) AS n FROM orders").to_pydict() == {
        "n": [2]
    }
    nested = {"a": {"b": [1, {"c": True}]}}
    assert hash(ProviderDataset(ref=f"{SOURCES}:delta", options=nested))  # frozen all the way
    written = {"format": "provider", "ref": f"{SOURCES}:delta", "options": nested}
    profile = SessionProfile.from_dict({"datasets": {"x": written}})
    assert profile.to_dict()["datasets"]["x"] == {
        "format": "provider",
        "ref": f"{SOURCES}:delta",
        "options": {"a": {"b": [1, {"c": True}]}},
    }


def test_an_object_is_registered_as_it_is_and_checked_against_its_schema() -> None:
    session = build(
        {"t": {"format": "provider", "ref": f"{SOURCES}:FIXED", "schema": {"id": "int64"}}}
    )
    assert session.execute("SELECT sum(id) AS n FROM t").to_pydict() == {"n": [6]}
    assert session.record("datasets").applied["datasets"][0]["provider"] == "datafusion"
    with pytest.raises(SchemaMismatchError):
        build(
            {
                "t": {
                    "format": "provider",
                    "ref": f"{SOURCES}:FIXED",
                    "schema": {"id": "string"},
                    "schema_mode": "exact",
                }
            }
        )


def test_a_pyarrow_dataset_provider_reads_partitions(tmp_path: Path) -> None:
    for region, ids in (("eu", [1, 2]), ("us", [3])):
        (tmp_path / f"region={region}").mkdir()
        pq.write_table(pa.table({"id": ids}), tmp_path / f"region={region}" / "part.parquet")
    dataset = {
        "format": "provider",
        "ref": f"{SOURCES}:parquet_folder",
        "options": {"path": str(tmp_path)},
    }
    session = build({"sales": dataset})
    result = session.execute("SELECT id FROM sales WHERE region = 'eu' ORDER BY id")
    assert result.to_pydict() == {"id": [1, 2]}


@pytest.mark.parametrize(
    ("ref", "options", "says"),
    [
        ("provider_fixtures.missing:x", {}, "provider_fixtures.missing"),
        (f"{SOURCES}:NOT_A_PROVIDER", {}, "int 42, which is no table provider"),
        (f"{SOURCES}:nothing", {}, "returned NoneType None, which is no table provider"),
        (f"{SOURCES}:broken", {"path": "/nowhere"}, "raised FileNotFoundError: no source at"),
        (f"{SOURCES}:FIXED", {"path": "x"}, "takes no options"),
        ("deltalake:DeltaTable", {"location": "x"}, "calling 'deltalake:DeltaTable'"),
    ],
)
def test_a_bad_provider_is_an_error_at_its_ref(
    ref: str, options: dict[str, Any], says: str
) -> None:
    with pytest.raises(ProfileError) as caught:
        build({"t": {"format": "provider", "ref": ref, "options": options}})
    assert caught.value.path == "datasets.t.ref"
    assert says in str(caught.value)


def test_a_provider_from_a_plugin_built_for_another_datafusion_is_refused(orders: Path) -> None:
    steps = replace_step(default_steps(), "delta", DeltaStep(datafusion_major=54))
    dataset = {
        "format": "provider",
        "ref": f"{SOURCES}:delta",
        "options": {"location": str(orders)},
    }
    with pytest.raises(IncompatibleVersionsError) as caught:
        build({"orders": dataset}, steps=steps)
    assert caught.value.step == "datasets"
    assert "deltalake" in str(caught.value) and "DataFusion 54" in str(caught.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [("location", "/data"), ("version", 1), ("partition_cols", {"a": "int64"})],
)
def test_a_provider_dataset_refuses_keys_of_files(key: str, value: Any) -> None:
    with pytest.raises(ProfileError) as caught:
        SessionProfile.from_dict(
            {"datasets": {"t": {"format": "provider", "ref": f"{SOURCES}:FIXED", key: value}}}
        )
    assert caught.value.path == f"datasets.t.{key}"
