"""The profile: parsing, errors that name the culprit, round trips and fingerprints."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import attrs
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dfsession import ProfileError, SessionProfile, load_profile
from dfsession.profile.datasets import DeltaDataset, ParquetDataset
from dfsession.profile.sections import ExecutionConfig
from dfsession.profile.stores import S3Store
from dfsession.profile.values import ByteSize, SecretRef
from dfsession.testing import profiles

FULL_TOML = textwrap.dedent(
    """
    [execution]
    target_partitions = 4
    batch_size = 8192
    memory_pool = "fair"
    memory_limit = "2GiB"
    spill = ["/data/spill1", "/data/spill2"]

    [catalog]
    default_catalog = "analytics"
    default_schema = "public"
    information_schema = true

    [settings]
    "datafusion.optimizer.max_passes" = "3"
    "datafusion.runtime.metadata_cache_limit" = "64M"

    [sql_policy]
    allow_ddl = false

    [features]
    url_table = true

    [object_stores.lake]
    url = "s3://lake"
    kind = "s3"
    options = { region = "us-east-1", endpoint = "http://127.0.0.1:9000", allow_http = true }
    secrets = { access_key_id = { env = "LAKE_KEY" }, secret_access_key = { env = "LAKE_SECRET" } }

    [datasets.trips]
    format = "parquet"
    location = "s3://lake/trips/"
    partition_cols = { year = "int32" }
    schema = { id = "int64", fare = "float64", pickup = "timestamp[us, UTC]" }
    schema_mode = "compatible"

    [datasets.customers]
    format = "delta"
    location = "data/customers"
    version = 3

    [views.big_trips]
    sql = "SELECT * FROM trips WHERE fare > 100"

    [prepared.trip_by_id]
    sql = "SELECT * FROM trips WHERE id = $1"
    params = ["int64"]

    [[udfs]]
    ref = "mypkg.functions:haversine"

    [[udfs]]
    ref = "mypkg.functions:clean_name"
    name = "clean_name"
    args = ["string"]
    returns = "string"
    volatility = "immutable"

    [planner]
    disable_rules = ["push_down_limit"]
    record_rules = true

    [tracing]
    enabled = true
    exporter = "otlp"
    endpoint = "http://127.0.0.1:4318"
    """
)


def problems_of(data: object) -> dict[str, str]:
    with pytest.raises(ProfileError) as info:
        SessionProfile.from_dict(data)  # type: ignore[arg-type]
    return dict(info.value.problems)


def test_full_design_profile_loads_into_typed_values(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(FULL_TOML)
    profile = load_profile(path)
    assert profile.execution.memory_limit == 2 * 1024**3
    assert profile.execution.spill == ("/data/spill1", "/data/spill2")
    assert profile.datasets["trips"].schema is not None
    assert profile.datasets["trips"].schema["pickup"] == pa.timestamp("us", tz="UTC")
    trips = profile.datasets["trips"]
    assert isinstance(trips, ParquetDataset)
    assert trips.partition_cols["year"] == pa.int32()
    assert (trips.location.scheme, trips.location.host, trips.location.path) == (
        "s3",
        "lake",
        "/trips/",
    )
    customers = profile.datasets["customers"]
    assert isinstance(customers, DeltaDataset) and customers.version == 3
    assert customers.location.is_local and customers.location.scheme is None
    lake = profile.object_stores["lake"]
    assert isinstance(lake, S3Store)
    assert lake.secrets.access_key_id == SecretRef(env="LAKE_KEY")
    assert lake.options.allow_http is True and lake.options.imdsv1_fallback is None
    assert lake.options.endpoint is not None and lake.options.endpoint.host == "127.0.0.1:9000"
    assert profile.udfs[0].ref.module == "mypkg.functions"
    assert profile.prepared["trip_by_id"].params == (pa.int64(),)
    assert profile.udfs[1].args == (pa.string(),)
    assert profile.tracing.endpoint == "http://127.0.0.1:4318"


def test_profile_round_trips_through_dict_and_toml(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(FULL_TOML)
    profile = load_profile(path)
    assert SessionProfile.from_dict(profile.to_dict()) == profile
    again = tmp_path / "again.toml"
    again.write_text(profile.to_toml())
    assert load_profile(again) == profile
    assert load_profile(again).fingerprint() == profile.fingerprint()


def test_profile_is_immutable() -> None:
    profile = SessionProfile.from_dict({"settings": {"datafusion.optimizer.max_passes": "3"}})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        profile.catalog = profile.catalog  # type: ignore[misc]
    with pytest.raises(TypeError):
        profile.settings["datafusion.optimizer.max_passes"] = "4"  # type: ignore[index]


def test_bad_enum_names_the_path_the_choices_and_the_value() -> None:
    with pytest.raises(ProfileError) as info:
        SessionProfile.from_dict({"execution": {"memory_pool": "huge"}})
    assert str(info.value) == (
        "execution.memory_pool: expected one of greedy, fair, unbounded (got 'huge')"
    )
    assert info.value.path == "execution.memory_pool"
    assert isinstance(info.value, ValueError)


def test_unknown_key_suggests_the_close_name() -> None:
    found = problems_of({"execution": {"target_partitons": 4}})
    assert found == {"execution.target_partitons": "unknown key; did you mean 'target_partitions'?"}


def test_unknown_section_suggests_the_close_section() -> None:
    found = problems_of({"catalg": {}})
    assert "did you mean 'catalog'" in found["catalg"]


def test_several_problems_are_reported_together() -> None:
    found = problems_of(
        {
            "execution": {"batch_size": "big"},
            "catalog": {"information_schema": "yes"},
            "datasets": {"t": {"format": "parquet", "location": "x", "schema": {"a": "int65"}}},
            "sql_policy": {"allow_dml": 1},
        }
    )
    assert set(found) == {
        "execution.batch_size",
        "catalog.information_schema",
        "datasets.t.schema.a",
        "sql_policy.allow_dml",
    }
    assert "expected an integer (got 'big'" in found["execution.batch_size"]
    assert "int65" in found["datasets.t.schema.a"]
    assert "int64" in found["datasets.t.schema.a"]


def test_wrong_scalar_types_are_never_coerced() -> None:
    assert (
        "expected an integer"
        in problems_of({"execution": {"target_partitions": "4"}})["execution.target_partitions"]
    )
    assert (
        "expected true or false"
        in problems_of({"features": {"url_table": "true"}})["features.url_table"]
    )
    assert (
        "positive integer"
        in problems_of({"execution": {"target_partitions": 0}})["execution.target_partitions"]
    )


def test_missing_required_key_names_it() -> None:
    found = problems_of({"datasets": {"t": {"format": "csv"}}})
    assert found == {"datasets.t.location": "required, but missing"}


def test_cross_field_rules_name_the_field_and_the_fix() -> None:
    found = problems_of({"execution": {"memory_pool": "fair"}})
    assert found == {"execution.memory_limit": "required when memory_pool is 'fair' (say '2GiB')"}
    found = problems_of({"datasets": {"t": {"format": "parquet", "location": "x", "version": 2}}})
    assert "needs format 'delta'" in found["datasets.t.version"]
    found = problems_of(
        {"views": {"t": {"sql": "SELECT 1"}}, "datasets": {"t": {"format": "csv", "location": "x"}}}
    )
    assert "a dataset is also named 't'" in found["views.t"]


def test_object_store_option_typo_is_caught_at_load_time() -> None:
    found = problems_of(
        {"object_stores": {"lake": {"url": "s3://lake", "kind": "s3", "options": {"regoin": "x"}}}}
    )
    assert "did you mean 'region'" in found["object_stores.lake.options.regoin"]


def test_plain_string_secret_is_rejected_with_the_reference_forms() -> None:
    found = problems_of(
        {
            "object_stores": {
                "l": {"url": "s3://l", "kind": "s3", "secrets": {"access_key_id": "AKIA"}}
            }
        }
    )
    message = found["object_stores.l.secrets.access_key_id"]
    assert "env" in message and "literal" in message
    assert "AKIA" not in message


def test_secret_values_never_show_in_repr_or_fingerprint() -> None:
    literal = SecretRef(literal="s3cr3t-value")
    assert "s3cr3t-value" not in repr(literal)
    profile = SessionProfile.from_dict(
        {
            "object_stores": {
                "l": {
                    "url": "s3://l",
                    "kind": "s3",
                    "secrets": {"access_key_id": {"literal": "s3cr3t-value"}},
                }
            }
        }
    )
    assert "s3cr3t-value" not in repr(profile)
    assert "s3cr3t-value" not in profile.fingerprint()
    other = SessionProfile.from_dict(
        {
            "object_stores": {
                "l": {
                    "url": "s3://l",
                    "kind": "s3",
                    "secrets": {"access_key_id": {"literal": "other"}},
                }
            }
        }
    )
    assert other.fingerprint() != profile.fingerprint()


def test_secret_reference_resolves_from_the_environment_only_on_demand() -> None:
    ref = SecretRef(env="DFSESSION_TEST_SECRET")
    with pytest.raises(ValueError, match="DFSESSION_TEST_SECRET"):
        ref.resolve({})
    assert ref.resolve({"DFSESSION_TEST_SECRET": "v"}) == "v"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2GiB", 2 * 1024**3),
        ("512MB", 512 * 1000**2),
        ("64M", 64 * 1024**2),
        (1024, 1024),
        ("1.5GiB", 3 * 1024**3 // 2),
    ],
)
def test_sizes_parse_to_bytes(text: str | int, expected: int) -> None:
    assert ByteSize.parse(text) == expected


@pytest.mark.parametrize("text", ["2 parsecs", "-1", "", "GiB", True])
def test_bad_sizes_say_what_is_accepted(text: object) -> None:
    with pytest.raises(ValueError, match="size"):
        ByteSize.parse(text)


def test_python_construction_parses_like_the_file() -> None:
    execution = ExecutionConfig(memory_pool="greedy", memory_limit="1GiB")  # type: ignore[arg-type]
    assert execution.memory_limit == 1024**3
    dataset = ParquetDataset(location="x", schema={"a": "int64"})  # type: ignore[arg-type]
    assert dataset.location.text == "x" and dataset.format == "parquet"
    assert dataset.schema == {"a": pa.int64()}
    assert dataset.effective_schema_mode == "compatible"


def test_missing_file_and_bad_toml_are_profile_errors(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[execution\n")
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(bad)


def test_fingerprint_ignores_key_order_and_is_memoized() -> None:
    a = SessionProfile.from_dict(
        {
            "settings": {"datafusion.a.b": "1", "datafusion.c.d": "2"},
            "catalog": {"information_schema": True},
        }
    )
    b = SessionProfile.from_dict(
        {
            "catalog": {"information_schema": True},
            "settings": {"datafusion.c.d": "2", "datafusion.a.b": "1"},
        }
    )
    assert a.fingerprint() == b.fingerprint()
    assert len(a.fingerprint()) == 64
    assert a.fingerprint() is a.fingerprint()


def test_fingerprint_is_identical_across_processes_and_hash_seeds() -> None:
    code = (
        "from dfsession import SessionProfile;"
        "print(SessionProfile.from_dict({"
        "'settings': {'datafusion.a.b': '1', 'datafusion.c.d': '2'},"
        "'datasets': {'t': {'format': 'csv', 'location': 'x',"
        " 'schema': {'a': 'int64', 'b': 'string'}}}}).fingerprint())"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("0", "1", "4242")
    }
    assert len(outputs) == 1


@settings(max_examples=60, deadline=None)
@given(profiles(buildable=False))
def test_dict_toml_round_trip_is_the_identity(profile: SessionProfile) -> None:
    assert SessionProfile.from_dict(tomllib.loads(profile.to_toml())) == profile
    assert SessionProfile.from_dict(profile.to_dict()).fingerprint() == profile.fingerprint()


@settings(max_examples=60, deadline=None)
@given(profiles(buildable=False), profiles(buildable=False))
def test_profiles_that_differ_have_different_fingerprints(
    a: SessionProfile, b: SessionProfile
) -> None:
    assert (a == b) == (a.fingerprint() == b.fingerprint())


@given(st.sampled_from(["1", "2", "3"]), st.sampled_from(["1", "2", "3"]))
def test_one_changed_setting_changes_the_fingerprint(x: str, y: str) -> None:
    a = SessionProfile.from_dict({"settings": {"datafusion.optimizer.max_passes": x}})
    b = SessionProfile.from_dict({"settings": {"datafusion.optimizer.max_passes": y}})
    assert (x == y) == (a.fingerprint() == b.fingerprint())


def test_section_written_as_a_plain_value_says_a_table_is_expected() -> None:
    found = problems_of({"views": {"v": "SELECT 1"}, "udfs": ["pkg.mod:fn"]})
    assert found["views.v"] == "expected a table with keys sql (got 'SELECT 1' that is a string)"
    assert found["udfs.0"].startswith("expected a table with keys ref, name")


def test_a_string_where_a_list_belongs_is_an_error_not_characters() -> None:
    found = problems_of(
        {
            "planner": {"disable_rules": "push_down_limit"},
            "prepared": {"p": {"sql": "SELECT $1", "params": "int64"}},
        }
    )
    assert found == {
        "planner.disable_rules": "expected a list (got 'push_down_limit' that is a string)",
        "prepared.p.params": "expected a list (got 'int64' that is a string)",
    }


def test_dataset_option_types_are_checked_at_load_time() -> None:
    found = problems_of(
        {"datasets": {"t": {"format": "csv", "location": "x", "options": {"has_header": "false"}}}}
    )
    assert found == {
        "datasets.t.options.has_header": "expected true or false (got 'false' that is a string)"
    }


def test_spill_directories_given_as_a_python_list_are_accepted() -> None:
    assert ExecutionConfig(spill=["/a", "/b"]).spill == ("/a", "/b")  # type: ignore[arg-type]


def test_credentials_in_urls_are_refused_without_being_echoed() -> None:
    found = problems_of(
        {"object_stores": {"l": {"url": "http://alice:hunter2@127.0.0.1:9", "kind": "http"}}}
    )
    assert "user credentials" in found["object_stores.l.url"]
    assert "hunter2" not in str(found)
    found = problems_of(
        {
            "object_stores": {
                "l": {
                    "url": "s3://l",
                    "kind": "s3",
                    "secrets": {"access_key_id": {"literal": 9876543210}},
                }
            }
        }
    )
    assert "9876543210" not in str(found)
    assert "type int" in found["object_stores.l.secrets.access_key_id"]


def test_two_object_stores_for_one_scheme_and_host_are_refused() -> None:
    found = problems_of(
        {
            "object_stores": {
                "raw": {"url": "s3://lake/raw", "kind": "s3"},
                "curated": {"url": "s3://lake/curated", "kind": "s3"},
            }
        }
    )
    message = found["object_stores.raw.url"]
    assert "'curated' and 'raw'" in message and "s3://lake" in message


def test_runtime_settings_that_shadow_execution_are_refused() -> None:
    found = problems_of(
        {
            "execution": {"memory_pool": "fair", "memory_limit": "20MiB"},
            "settings": {"datafusion.runtime.memory_limit": "2G"},
        }
    )
    assert found == {
        "settings.datafusion.runtime.memory_limit": (
            "conflicts with execution.memory_limit; set it in one place only"
        )
    }


def test_tracing_endpoint_may_stay_while_another_exporter_is_chosen() -> None:
    profile = SessionProfile.from_dict(
        {"tracing": {"enabled": True, "exporter": "global", "endpoint": "http://127.0.0.1:4318"}}
    )
    assert profile.tracing.endpoint == "http://127.0.0.1:4318"


def test_dataset_option_typo_names_the_format_and_the_close_option() -> None:
    found = problems_of(
        {"datasets": {"t": {"format": "csv", "location": "x", "options": {"has_heder": True}}}}
    )
    message = found["datasets.t.options.has_heder"]
    assert "unknown option for format 'csv'" in message
    assert "did you mean 'has_header'?" in message


def test_a_bad_choice_is_reported_beside_a_wrongly_typed_field() -> None:
    found = problems_of({"execution": {"memory_pool": "huge", "batch_size": "big"}})
    assert found == {
        "execution.memory_pool": "expected one of greedy, fair, unbounded (got 'huge')",
        "execution.batch_size": "expected an integer (got 'big' that is a string)",
    }


def test_every_failing_validator_of_a_section_is_reported() -> None:
    found = problems_of(
        {
            "execution": {"target_partitions": 0, "batch_size": -1, "memory_pool": "huge"},
            "datasets": {"t": {"format": "xml", "location": " "}},
        }
    )
    assert set(found) == {
        "execution.target_partitions",
        "execution.batch_size",
        "execution.memory_pool",
        "datasets.t.format",
        "datasets.t.location",
    }


def test_every_broken_rule_between_fields_of_a_section_is_reported() -> None:
    found = problems_of(
        {
            "datasets": {
                "t": {
                    "format": "parquet",
                    "location": "x",
                    "version": 2,
                    "schema_mode": "exact",
                    "options": {"has_header": True, "skip_metadata": "no"},
                }
            },
            "object_stores": {
                "l": {"url": "s3://l", "kind": "s3", "options": {"regoin": "x", "allow_http": 1}}
            },
        }
    )
    assert set(found) == {
        "datasets.t.version",
        "datasets.t.schema_mode",
        "datasets.t.options.has_header",
        "datasets.t.options.skip_metadata",
        "object_stores.l.options.regoin",
        "object_stores.l.options.allow_http",
    }


def test_every_clash_between_sections_is_reported() -> None:
    found = problems_of(
        {
            "datasets": {n: {"format": "csv", "location": "x"} for n in ("a", "b")},
            "views": {n: {"sql": "SELECT 1"} for n in ("a", "b")},
            "execution": {"memory_limit": "1GiB", "spill": "os"},
            "settings": {
                "datafusion.runtime.memory_limit": "2G",
                "datafusion.runtime.temp_directory": "/tmp",
            },
        }
    )
    assert set(found) == {
        "views.a",
        "views.b",
        "settings.datafusion.runtime.memory_limit",
        "settings.datafusion.runtime.temp_directory",
    }


def test_keys_that_are_not_strings_are_profile_errors() -> None:
    # YAML reads an unquoted `on:` key as True; a Python caller may pass any key.
    found = problems_of({True: {}, "execution": {1: 4}, "datasets": {None: {}}})
    assert set(found) == {"True", "execution.1", "datasets.None"}
    assert "keys must be strings" in found["True"]
    assert "quote" in found["True"]


def test_nesting_deeper_than_any_profile_is_a_profile_error(tmp_path: Path) -> None:
    deep: object = "x"
    for _ in range(5000):
        deep = [deep]
    found = problems_of({"datasets": {"t": {"format": "csv", "location": "x", "options": deep}}})
    ((path, message),) = found.items()
    assert path.startswith("datasets.t.options.0.0.0")
    assert message.startswith("nested deeper than")
    file = tmp_path / "deep.toml"
    file.write_text("x = " + "[" * 5000 + "]" * 5000)
    with pytest.raises(ProfileError, match="nested too deeply"):
        load_profile(file)


def test_integers_beyond_64_bits_are_refused_without_being_printed(tmp_path: Path) -> None:
    found = problems_of({"execution": {"batch_size": 10**5000, "target_partitions": 2**63}})
    assert set(found) == {"execution.batch_size", "execution.target_partitions"}
    assert "64-bit" in found["execution.batch_size"]
    assert "9999" not in found["execution.batch_size"]
    path = tmp_path / "big.toml"
    path.write_text("[execution]\nbatch_size = " + "9" * 5000)
    with pytest.raises(ProfileError, match="64-bit"):
        load_profile(path)


def test_lone_surrogates_are_refused_where_they_stand() -> None:
    found = problems_of(
        {
            "catalog": {"default_catalog": "a\ud800"},
            "object_stores": {
                "l": {
                    "url": "s3://l",
                    "kind": "s3",
                    "secrets": {"access_key_id": {"literal": "\udc00"}},
                }
            },
        }
    )
    assert set(found) == {
        "catalog.default_catalog",
        "object_stores.l.secrets.access_key_id.literal",
    }
    assert "UTF-8" in found["catalog.default_catalog"]


def test_sizes_are_exact_whole_bytes_and_round_trip() -> None:
    assert ByteSize.parse("9007199254740993") == 9007199254740993
    assert ByteSize.parse("0.5KiB") == 512
    profile = SessionProfile.from_dict({"execution": {"memory_limit": 2**60 + 1}})
    again = SessionProfile.from_dict(profile.to_dict())
    assert again.execution.memory_limit == 2**60 + 1
    assert again.fingerprint() == profile.fingerprint()
    with pytest.raises(ValueError, match="whole number of bytes"):
        ByteSize.parse("1.5")
    with pytest.raises(ValueError, match="64-bit"):
        ByteSize.parse("9000000TiB")


def test_a_folder_given_as_the_profile_file_is_a_profile_error(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="is a folder"):
        load_profile(tmp_path)


def test_a_negative_count_of_records_to_infer_from_is_refused_at_load() -> None:
    found = problems_of(
        {
            "datasets": {
                "t": {"format": "csv", "location": "x", "options": {"schema_infer_max_records": -1}}
            }
        }
    )
    assert found == {"datasets.t.options.schema_infer_max_records": "expected an int >= 0 (got -1)"}
