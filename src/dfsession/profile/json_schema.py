"""The JSON Schema of the profile format, generated from the spec classes.

Each section is an attrs class: its fields give the properties, their ``doc`` metadata the
descriptions, their validators the choices and bounds; each value type says how a profile writes
it (``input_schema``). Unions of specs (a class per dataset format or store kind) become
``oneOf`` on their tag. Draft 7, the dialect TOML editors (taplo, Even Better TOML) read.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any, Literal

import attrs
import pyarrow as pa

from dfsession.profile.convert import VALUE_TYPES, tag_field
from dfsession.profile.model import SessionProfile
from dfsession.profile.shape import entry_type, field_types, is_section, members
from dfsession.profile.values import OneOf, non_negative, positive

__all__ = ["SCHEMA_ID", "profile_schema"]

SCHEMA_ID = "https://dfsession.dev/schemas/profile.json"
_SCALARS: Mapping[type, str] = {str: "string", bool: "boolean", int: "integer", float: "number"}
#: Bounds that validators put on numbers.
_BOUNDS: Mapping[Any, Mapping[str, int]] = {positive: {"minimum": 1}, non_negative: {"minimum": 0}}
_ARROW_TYPE = {
    "type": "string",
    "description": "an Arrow type name",
    "examples": ["int64", "string", "timestamp[us, UTC]", "decimal128(38, 10)"],
}
#: A string that a ``${NAME}`` fills in when the profile loads.
_VARIABLE = {"type": "string", "pattern": r"\$\{"}
#: A setting's value: DataFusion reads numbers and booleans as their text.
_SETTING = {"type": ["string", "number", "boolean"]}


def profile_schema() -> dict[str, Any]:
    """The JSON Schema of a profile file: its sections, ``extends`` and ``[env.NAME]``."""
    builder = _Builder()
    sections = builder.section(SessionProfile)
    layers = {
        "extends": {
            "description": "profiles applied first, in order (paths relative to this file)",
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        },
        "env": {
            "description": "overlays of profile sections, applied over the profile when selected "
            "(--env NAME, or DFSESSION_ENV)",
            "type": "object",
            "additionalProperties": {"$ref": "#/definitions/SessionProfile"},
        },
    }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "title": "dfsession profile",
        "description": _first_line(SessionProfile),
        **sections,
        "properties": {**layers, **sections["properties"]},
        "definitions": {"SessionProfile": sections, **builder.definitions},
    }


class _Builder:
    """Walks the spec classes once; each section class becomes one definition."""

    def __init__(self) -> None:
        self.definitions: dict[str, Any] = {}

    def section(self, cls: type) -> dict[str, Any]:
        """A section: an object with its fields as properties, no other keys."""
        types = field_types(cls)
        properties: dict[str, Any] = {}
        required: list[str] = []
        for field in attrs.fields(cls):
            if field.name.startswith("_"):
                continue
            properties[field.name] = {**self.field(field, types[field.name])}
            if field.default is attrs.NOTHING or not field.init:  # not init: a tag to write
                required.append(field.name)
        schema: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }
        return {**schema, "required": required} if required else schema

    def field(self, field: attrs.Attribute[Any], type_: Any) -> dict[str, Any]:
        """A field's schema: its type's, narrowed by its validator, with its description."""
        schema = self.value(type_)
        if isinstance(field.validator, OneOf):
            schema = {"anyOf": [{"enum": list(field.validator.choices)}, _VARIABLE]}
        schema = {**schema, **_BOUNDS.get(field.validator, {})}
        if "$ref" in schema:  # draft 7 reads nothing beside a $ref
            schema = {"allOf": [schema]}
        text = field.metadata.get("doc")
        return {**schema, "description": text} if text else schema

    def value(self, type_: Any) -> dict[str, Any]:
        """How a profile writes a value of ``type_``."""
        if type_ is Any:  # free options a library reads: any TOML value
            return {}
        options = members(type_)
        return self._union(options) if len(options) > 1 else self._single(options[0])

    def _single(self, type_: Any) -> dict[str, Any]:
        """How a profile writes a value of ``type_``, which is not a union."""
        if type_ in VALUE_TYPES:
            return {"description": _first_line(type_), **type_.input_schema}
        if isinstance(type_, type) and issubclass(type_, pa.DataType):
            return dict(_ARROW_TYPE)
        if typing.get_origin(type_) is Literal:
            return {"enum": list(typing.get_args(type_))}
        if type_ in _SCALARS:
            return {"type": _SCALARS[type_]}
        if is_section(type_):
            return self._reference(type_)
        return self._container(type_)

    def _union(self, options: tuple[Any, ...]) -> dict[str, Any]:
        if all(tag_field(option) is not None for option in options):
            return {"oneOf": [self._reference(option) for option in options]}
        if all(option in _SCALARS for option in options):
            return {"type": sorted({_SCALARS[option] for option in options})}
        return {"anyOf": [self.value(option) for option in options]}

    def _container(self, type_: Any) -> dict[str, Any]:
        item = entry_type(type_)
        if item is not None:
            values = _SETTING if item is str else self.value(item)
            return {"type": "object", "additionalProperties": values}
        if typing.get_origin(type_) is tuple:
            return {"type": "array", "items": self.value(typing.get_args(type_)[0])}
        raise TypeError(f"no JSON Schema for the profile type {type_!r}")

    def _reference(self, cls: type) -> dict[str, Any]:
        name = cls.__name__
        if name not in self.definitions:
            self.definitions[name] = {}  # taken: a class that names itself stops here
            self.definitions[name] = {"description": _first_line(cls), **self.section(cls)}
        return {"$ref": f"#/definitions/{name}"}


def _first_line(cls: type) -> str:
    return (cls.__doc__ or cls.__name__).strip().splitlines()[0]
