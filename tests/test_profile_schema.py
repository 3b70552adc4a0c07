"""The JSON Schema of the profile format: generated from the spec classes, it accepts every
profile the loader accepts and names what editors should flag."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest
from hypothesis import given, settings

from dfsession.profile.datasets import DeltaDataset
from dfsession.profile.json_schema import profile_schema
from dfsession.profile.stores import S3Options
from dfsession.testing import profiles
from test_cli import run

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").rglob("*.toml"))
VALIDATOR = jsonschema.Draft7Validator(profile_schema())


def errors_of(data: dict[str, Any]) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(data)]


def test_the_schema_is_a_valid_draft_7_schema_printed_by_the_cli() -> None:
    schema = profile_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    printed = run("schema")
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == schema


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_profile_validates(example: Path) -> None:
    assert errors_of(tomllib.loads(example.read_text("utf-8"))) == []


def test_there_are_example_profiles_in_layers() -> None:
    assert any(path.parent.name == "layers" for path in EXAMPLES)


@given(profiles(buildable=False))
@settings(max_examples=60, deadline=None)
def test_every_profile_the_loader_accepts_validates(profile: Any) -> None:
    assert errors_of(profile.to_dict()) == []


def _properties(schema: Any, where: str = "") -> list[tuple[str, Any]]:
    found = []
    if isinstance(schema, dict):
        for name, spec in schema.get("properties", {}).items():
            found.append((f"{where}.{name}", spec))
        for key, value in schema.items():
            if key != "properties":
                found.extend(_properties(value, f"{where}/{key}"))
    elif isinstance(schema, list):
        for item in schema:
            found.extend(_properties(item, where))
    return found


def test_every_key_of_every_section_has_a_description() -> None:
    schema = profile_schema()
    undescribed = [where for where, spec in _properties(schema) if not spec.get("description")]
    assert undescribed == []
    for name, definition in schema["definitions"].items():
        assert definition.get("description") or name == "SessionProfile", name


def test_it_is_generated_from_the_spec_classes_field_by_field() -> None:
    definitions = profile_schema()["definitions"]
    for cls in (DeltaDataset, S3Options):
        fields = {field.name for field in attrs.fields(cls)}
        assert set(definitions[cls.__name__]["properties"]) == fields
    delta_version = definitions["DeltaDataset"]["properties"]["version"]
    assert delta_version == {
        "type": "integer",
        "minimum": 0,
        "description": attrs.fields(DeltaDataset).version.metadata["doc"],
    }


def test_what_editors_should_flag_is_flagged() -> None:
    assert errors_of({"execution": {"target_partition": 4}}) == [
        "Additional properties are not allowed ('target_partition' was unexpected)"
    ]
    assert errors_of({"execution": {"target_partitions": "4"}}) == ["'4' is not of type 'integer'"]
    assert errors_of({"execution": {"target_partitions": 0}}) == ["0 is less than the minimum of 1"]
    assert errors_of({"datasets": {"t": {"format": "orc", "location": "x"}}})
    assert errors_of({"datasets": {"t": {"format": "parquet", "location": "x", "version": 3}}})
    assert errors_of({"env": {"prod": {"execution": {"batch_sise": 1}}}})
    assert errors_of({"extends": 3})
    assert errors_of({"execution": {"memory_pool": "fiar"}})


def test_what_the_loader_accepts_in_layers_validates() -> None:
    assert (
        errors_of(
            {
                "extends": ["base.toml"],
                "execution": {"memory_pool": "${POOL:-fair}", "memory_limit": "2GiB"},
                "env": {"prod": {"execution": {"target_partitions": 16}}},
                "settings": {"datafusion.optimizer.max_passes": 3},
                "object_stores": {
                    "lake": {
                        "url": "s3://lake",
                        "kind": "s3",
                        "secrets": {"access_key_id": {"env": "K"}},
                    }
                },
            }
        )
        == []
    )
