"""Arrow schemas of datasets: fingerprints, declared schemas, and comparing them."""

from __future__ import annotations

import hashlib
from typing import Any

import datafusion
import pyarrow

from dfsession.errors import SchemaMismatchError
from dfsession.profile.arrow_types import format_arrow_type
from dfsession.profile.datasets import DatasetSpec, DeltaDataset


def schema_fingerprint(schema: pyarrow.Schema) -> str:
    """Hex SHA-256 of an Arrow schema: each field's name, type and nullability, in order.

    Metadata takes no part. Stable for a given pyarrow version.
    """
    text = schema.to_string(show_field_metadata=False, show_schema_metadata=False)
    return hashlib.sha256(text.encode()).hexdigest()


def type_name(data_type: pyarrow.DataType) -> str:
    """A type as the profile writes it (``timestamp[us, UTC]``), else as pyarrow prints it."""
    try:
        return format_arrow_type(data_type)
    except ValueError:
        return str(data_type)


_TYPE = pyarrow.lib


#: Type ids whose values are compared as-is (no nesting, nothing a reader changes).
_NESTED_OR_READ_IDS = frozenset(
    {
        _TYPE.Type_DICTIONARY,
        _TYPE.Type_STRING,
        _TYPE.Type_LARGE_STRING,
        _TYPE.Type_STRING_VIEW,
        _TYPE.Type_BINARY,
        _TYPE.Type_LARGE_BINARY,
        _TYPE.Type_BINARY_VIEW,
        _TYPE.Type_LIST,
        _TYPE.Type_LARGE_LIST,
        _TYPE.Type_LIST_VIEW,
        _TYPE.Type_LARGE_LIST_VIEW,
        _TYPE.Type_FIXED_SIZE_LIST,
        _TYPE.Type_STRUCT,
        _TYPE.Type_MAP,
    }
)


_STRING_IDS = frozenset({_TYPE.Type_STRING, _TYPE.Type_LARGE_STRING, _TYPE.Type_STRING_VIEW})


_BINARY_IDS = frozenset({_TYPE.Type_BINARY, _TYPE.Type_LARGE_BINARY, _TYPE.Type_BINARY_VIEW})


_LIST_IDS = frozenset(
    {_TYPE.Type_LIST, _TYPE.Type_LARGE_LIST, _TYPE.Type_LIST_VIEW, _TYPE.Type_LARGE_LIST_VIEW}
)


def comparable_type(data_type: pyarrow.DataType) -> pyarrow.DataType:
    """The type with reading details erased, for schema checks.

    DataFusion reads strings as ``string_view``, dictionary-encodes some partition columns and
    names list items ``element`` or ``item`` by file format; none of that is the data's schema.
    """
    pa, t = pyarrow, data_type
    type_id = t.id
    if type_id not in _NESTED_OR_READ_IDS:
        return t
    if type_id == _TYPE.Type_DICTIONARY:
        return comparable_type(t.value_type)
    if type_id in _STRING_IDS:
        return pa.string()
    if type_id in _BINARY_IDS:
        return pa.binary()
    if type_id in _LIST_IDS:
        return pa.list_(comparable_type(t.value_type))
    if type_id == _TYPE.Type_FIXED_SIZE_LIST:
        return pa.list_(comparable_type(t.value_type), t.list_size)
    if type_id == _TYPE.Type_STRUCT:
        return pa.struct([pa.field(f.name, comparable_type(f.type)) for f in t])
    return pa.map_(comparable_type(t.key_type), comparable_type(t.item_type))


def schema_differences(expected: pyarrow.Schema, actual: pyarrow.Schema, mode: str) -> list[str]:
    """Each way ``actual`` differs from ``expected`` under a schema mode, as readable lines.

    ``exact``: the same columns with the same types in the same order. ``compatible``: every
    declared column exists with its type; others may be added. ``none``: no check.
    """
    if mode == "none":
        return []
    found = {field.name: field for field in actual}
    differences: list[str] = []
    for field in expected:
        other = found.get(field.name)
        if other is None:
            differences.append(
                f"column {field.name!r}: expected {type_name(field.type)}, actual missing"
            )
        elif other.type != field.type and comparable_type(other.type) != comparable_type(
            field.type
        ):
            differences.append(
                f"column {field.name!r}: expected {type_name(field.type)}, "
                f"actual {type_name(other.type)}"
            )
    if mode == "exact":
        declared = set(expected.names)
        for field in actual:
            if field.name not in declared:
                differences.append(
                    f"column {field.name!r}: expected nothing (not declared), "
                    f"actual {type_name(field.type)}"
                )
        if not differences and expected.names != actual.names:
            differences.append(
                f"column order: expected ({', '.join(expected.names)}), "
                f"actual ({', '.join(actual.names)})"
            )
    return differences


def declared_schema(spec: DatasetSpec) -> pyarrow.Schema | None:
    """The schema a dataset declares: its columns, then partition columns not listed there."""
    if spec.schema is None:
        return None
    fields = [pyarrow.field(name, type_) for name, type_ in spec.schema.items()]
    if not isinstance(spec, DeltaDataset):  # a Delta table carries its own partitioning
        fields += [
            pyarrow.field(name, type_)
            for name, type_ in spec.partition_cols.items()
            if name not in spec.schema
        ]
    return pyarrow.schema(fields)


def check_declared_schema(name: str, spec: DatasetSpec, actual: pyarrow.Schema) -> None:
    """Raise ``SchemaMismatchError`` listing each column that differs from the declared schema."""
    expected = declared_schema(spec)
    mode = spec.effective_schema_mode
    if expected is None or mode == "none":
        return
    differences = schema_differences(expected, actual, mode)
    if differences:
        lines = "\n".join(f"  {line}" for line in differences)
        raise SchemaMismatchError(
            f"dataset {name!r} does not match its declared schema (schema_mode {mode!r}):\n"
            f"{lines}\nfix the data, or datasets.{name}.schema / schema_mode in the profile",
            dataset=name,
            differences=differences,
        )


def table_schema(ctx: datafusion.SessionContext, tables: Any, name: str) -> pyarrow.Schema:
    """A registered table's schema as the engine sees it (through the schema provider: cheap)."""
    try:
        schema: pyarrow.Schema = tables.table(name).schema
    except Exception:  # a name the engine normalizes (upper case): ask the context
        schema = ctx.table(name).schema()
    return schema
