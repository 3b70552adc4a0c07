"""Typed profile values: locations, timestamps, store and dataset specs, parsed once at load."""

from __future__ import annotations

import typing
from datetime import UTC, datetime
from typing import Any

import attrs
import pyarrow as pa
import pytest
from hypothesis import given, settings

from dfsession import ProfileError, SessionContextBuilder, SessionProfile
from dfsession.errors import QueryError
from dfsession.profile.convert import VALUE_TYPES
from dfsession.profile.datasets import (
    CsvDataset,
    DatasetSpec,
    DeltaDataset,
    LocatedDataset,
    ParquetDataset,
    ProviderDataset,
)
from dfsession.profile.locations import Location
from dfsession.profile.stores import ObjectStoreSpec, S3Options, S3Store
from dfsession.profile.values import ImportRef, SecretRef, Timestamp
from dfsession.testing import profiles


def problems_of(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ProfileError) as info:
        SessionProfile.from_dict(data)
    return dict(info.value.problems)


# --- Location ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "scheme", "host", "path", "local"),
    [
        ("data/trips.parquet", None, "", "data/trips.parquet", True),
        ("/abs/folder/", None, "", "/abs/folder/", True),
        ("file:///tmp/x.csv", "file", "", "/tmp/x.csv", True),
        ("S3://Lake/trips/", "s3", "Lake", "/trips/", False),
        ("az://container/raw/2024?sv=1", "az", "container", "/raw/2024", False),
        (
            "https://example.com:8443/files/a.parquet",
            "https",
            "example.com:8443",
            "/files/a.parquet",
            False,
        ),
        ("data/odd://name", None, "", "data/odd://name", True),
    ],
)
def test_a_location_is_parsed_once_into_its_parts(
    text: str, scheme: str | None, host: str, path: str, local: bool
) -> None:
    location = Location.parse(text)
    assert (location.scheme, location.host, location.path, location.is_local) == (
        scheme,
        host,
        path,
        local,
    )
    assert str(location) == location.text == text
    assert location.store_key == (scheme, host)
    assert Location.parse(location) is location


def test_a_local_location_names_its_file_path() -> None:
    assert Location.parse("file:///tmp/x.csv").file_path == "/tmp/x.csv"
    assert Location.parse("data/x.csv").file_path == "data/x.csv"
    assert Location.parse("s3://lake/x.csv").file_path is None


def test_a_location_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ValueError, match="user credentials") as caught:
        Location.parse("s3://AKIA:hunter2@lake/trips/")
    assert "hunter2" not in str(caught.value)
    found = problems_of({"datasets": {"t": {"format": "parquet", "location": "s3://k:pw@lake/x"}}})
    assert "user credentials" in found["datasets.t.location"]
    assert "pw" not in str(found)


def test_a_location_shows_only_redacted_in_repr_and_records() -> None:
    location = Location.parse("az://container/raw?sv=2024&sig=s3cr3t")
    assert location.redacted() == "az://container/raw?sv=***&sig=***"
    assert "s3cr3t" not in repr(location)


def test_stores_whose_urls_differ_only_in_scheme_case_are_one_store() -> None:
    found = problems_of(
        {
            "object_stores": {
                "a": {"url": "S3://lake/raw", "kind": "s3"},
                "b": {"url": "s3://lake/curated", "kind": "s3"},
            }
        }
    )
    assert "'a' and 'b' are both registered for s3://lake" in found["object_stores.b.url"]


# --- timestamps --------------------------------------------------------------------------------


def test_a_delta_timestamp_that_is_not_rfc3339_is_refused_when_the_profile_loads() -> None:
    found = problems_of(
        {"datasets": {"t": {"format": "delta", "location": "x", "timestamp": "yesterday"}}}
    )
    assert found == {
        "datasets.t.timestamp": (
            "expected an RFC 3339 timestamp such as '2024-05-01T12:00:00Z' (got 'yesterday')"
        )
    }


def test_a_delta_timestamp_is_a_moment_and_keeps_its_text() -> None:
    data = {"datasets": {"t": {"format": "delta", "location": "x", "timestamp": "2024-05-01"}}}
    profile = SessionProfile.from_dict(data)
    spec = profile.datasets["t"]
    assert isinstance(spec, DeltaDataset) and spec.timestamp is not None
    assert spec.timestamp.moment == datetime(2024, 5, 1, tzinfo=UTC)
    assert profile.to_dict() == data
    assert Timestamp.parse(spec.timestamp) is spec.timestamp


# --- specs -------------------------------------------------------------------------------------


def test_each_format_and_kind_is_its_own_class_with_typed_options() -> None:
    profile = SessionProfile.from_dict(
        {
            "datasets": {
                "p": {"format": "parquet", "location": "p/"},
                "c": {"format": "csv", "location": "c.csv", "options": {"has_header": False}},
                "d": {"format": "delta", "location": "d", "version": 2},
            },
            "object_stores": {"lake": {"url": "s3://lake", "kind": "s3"}},
        }
    )
    kinds = {name: type(spec) for name, spec in profile.datasets.items()}
    assert kinds == {"p": ParquetDataset, "c": CsvDataset, "d": DeltaDataset}
    csv = profile.datasets["c"]
    assert isinstance(csv, CsvDataset)
    assert csv.options.has_header is False and csv.options.delimiter is None
    assert profile.object_stores["lake"] == S3Store(url=Location.parse("s3://lake"))


def test_an_explicit_false_option_stays_in_the_profile_and_its_fingerprint() -> None:
    given = SessionProfile.from_dict(
        {"object_stores": {"l": {"url": "s3://l", "kind": "s3", "options": {"allow_http": False}}}}
    )
    left_out = SessionProfile.from_dict({"object_stores": {"l": {"url": "s3://l", "kind": "s3"}}})
    assert given.to_dict()["object_stores"]["l"]["options"] == {"allow_http": False}
    assert given.fingerprint() != left_out.fingerprint()


def test_a_spec_built_in_python_writes_its_kind() -> None:
    store = S3Store(url="s3://lake", options=S3Options(region="eu-west-1"))  # type: ignore[arg-type]
    profile = SessionProfile(object_stores={"lake": store})
    assert profile.to_dict()["object_stores"] == {
        "lake": {"kind": "s3", "url": "s3://lake", "options": {"region": "eu-west-1"}}
    }
    assert SessionProfile.from_dict(profile.to_dict()) == profile


def test_an_unknown_format_or_kind_suggests_the_close_one() -> None:
    found = problems_of(
        {
            "datasets": {"t": {"format": "parquett", "location": "x"}},
            "object_stores": {"l": {"url": "s3://l", "kind": "azur"}},
        }
    )
    assert found["datasets.t.format"] == (
        "expected one of parquet, csv, json, arrow, delta, provider, iceberg (got 'parquett'); "
        "did you mean 'parquet'?"
    )
    assert "did you mean 'azure'?" in found["object_stores.l.kind"]


def test_a_missing_format_is_reported_with_the_other_problems_of_the_dataset() -> None:
    found = problems_of({"datasets": {"t": {"fromat": "csv", "location": " "}}})
    assert found == {
        "datasets.t.format": "required, but missing (one of parquet, csv, json, arrow, delta, "
        "provider, iceberg)",
        "datasets.t.fromat": "unknown key; did you mean 'format'?",
        "datasets.t.location": "expected a path or a URL (got ' ' that is a string)",
    }


def test_partition_columns_of_a_delta_table_are_refused_with_the_reason() -> None:
    found = problems_of(
        {"datasets": {"t": {"format": "delta", "location": "x", "partition_cols": {"y": "int32"}}}}
    )
    assert found == {
        "datasets.t.partition_cols": "Delta tables carry their own partitioning; remove this"
    }


def test_an_import_reference_is_checked_and_split() -> None:
    ref = ImportRef.parse("pkg.mod:obj.attr")
    assert (ref.module, ref.attribute) == ("pkg.mod", "obj.attr")
    assert ImportRef.parse(ref) is ref
    with pytest.raises(ValueError, match=r"package\.module:attribute"):
        ImportRef.parse("pkg.mod")


def test_profile_error_at_is_one_problem_at_one_path() -> None:
    error = ProfileError.at("datasets.t.location", "missing")
    assert (error.path, error.problems, str(error)) == (
        "datasets.t.location",
        (("datasets.t.location", "missing"),),
        "datasets.t.location: missing",
    )


def _profile_classes() -> set[type]:
    """Every attrs class a profile is made of: sections, specs, options, secrets.

    Value types (a ``Location``, a ``Timestamp``) are values, written as one string each.
    """
    found: set[type] = set()
    todo: list[Any] = [
        SessionProfile,
        *typing.get_args(DatasetSpec),
        *typing.get_args(ObjectStoreSpec),
    ]
    while todo:
        cls = todo.pop()
        if cls in VALUE_TYPES and cls is not SecretRef:
            continue
        if not (isinstance(cls, type) and attrs.has(cls)) or cls in found:
            todo.extend(typing.get_args(cls))
            continue
        found.add(cls)
        todo.extend(field.type for field in attrs.fields(attrs.resolve_types(cls)))
    return found


def test_every_profile_field_says_what_it_is() -> None:
    classes = _profile_classes()
    assert {ParquetDataset, S3Options, SessionProfile} <= classes
    undocumented = [
        f"{cls.__name__}.{field.name}"
        for cls in classes
        for field in attrs.fields(cls)
        if field.init and not field.metadata.get("doc")
    ]
    assert undocumented == []


@settings(max_examples=200, deadline=None)
@given(profiles(buildable=False))
def test_every_drawn_profile_round_trips_through_its_dict(profile: SessionProfile) -> None:
    again = SessionProfile.from_dict(profile.to_dict())
    assert again == profile
    assert again.fingerprint() == profile.fingerprint()
    for spec in again.datasets.values():
        if isinstance(spec, ProviderDataset):
            assert isinstance(spec.ref, ImportRef)
        if isinstance(spec, LocatedDataset):  # not Iceberg (a catalog's) nor provider tables
            assert isinstance(spec.location, Location)
        if spec.schema is not None:
            assert all(isinstance(t, pa.DataType) for t in spec.schema.values())


def test_an_option_typo_is_reported_beside_a_bad_schema_type() -> None:
    found = problems_of(
        {
            "datasets": {
                "t": {
                    "format": "csv",
                    "location": "x",
                    "schema": {"a": "int65"},
                    "options": {"has_heder": True},
                }
            }
        }
    )
    assert set(found) == {"datasets.t.schema.a", "datasets.t.options.has_heder"}


@pytest.mark.parametrize("format", ["parquet", "delta"])
def test_a_write_target_with_credentials_is_refused_without_echoing_them(format: str) -> None:
    session = SessionContextBuilder(SessionProfile()).build()
    with pytest.raises(QueryError, match="user credentials") as caught:
        session.write("SELECT 1 AS x", "s3://AKIA:hunter2@lake/out/", format=format, mode="append")
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in caught.value.query
