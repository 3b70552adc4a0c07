"""Arrow schemas of datasets: fingerprints, declared schemas, and comparing them."""

from __future__ import annotations

import hashlib

import pyarrow

from dfsession.errors import SchemaMismatchError
from dfsession.profile.arrow_types import format_arrow_type
from dfsession.profile.datasets import DatasetSpec, FileDataset

__all__ = [
    "check_declared_schema",
    "comparable_type",
    "declared_schema",
    "schema_differences",
    "schema_fingerprint",
    "type_name",
]


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


#: Types a reader gives for text and bytes, and the plain type each stands for.
_PLAIN_TYPES = {
    **dict.fromkeys(
        (pyarrow.string(), pyarrow.large_string(), pyarrow.string_view()), pyarrow.string()
    ),
    **dict.fromkeys(
        (pyarrow.binary(), pyarrow.large_binary(), pyarrow.binary_view()), pyarrow.binary()
    ),
}


def comparable_type(data_type: pyarrow.DataType) -> pyarrow.DataType:
    """The type with reading details erased, for schema checks.

    DataFusion reads strings as ``string_view``, dictionary-encodes some partition columns and
    names list items ``element`` or ``item`` by file format; none of that is the data's schema.
    """
    plain = _PLAIN_TYPES.get(data_type)
    if plain is not None:
        return plain
    if pyarrow.types.is_dictionary(data_type):
        return comparable_type(data_type.value_type)
    if pyarrow.types.is_nested(data_type):
        return _comparable_nested(data_type)
    return data_type


_LIST_CHECKS = (
    pyarrow.types.is_list,
    pyarrow.types.is_large_list,
    pyarrow.types.is_list_view,
    pyarrow.types.is_large_list_view,
)


def _comparable_nested(t: pyarrow.DataType) -> pyarrow.DataType:
    """``comparable_type`` of a list, struct or map: the same erasure inside."""
    types = pyarrow.types
    if types.is_fixed_size_list(t):
        return pyarrow.list_(comparable_type(t.value_type), t.list_size)
    if any(check(t) for check in _LIST_CHECKS):
        return pyarrow.list_(comparable_type(t.value_type))
    if types.is_struct(t):
        return pyarrow.struct([pyarrow.field(f.name, comparable_type(f.type)) for f in t])
    if types.is_map(t):
        return pyarrow.map_(comparable_type(t.key_type), comparable_type(t.item_type))
    return t


def schema_differences(expected: pyarrow.Schema, actual: pyarrow.Schema, mode: str) -> list[str]:
    """Each way ``actual`` differs from ``expected`` under a schema mode, as readable lines.

    ``exact``: the same columns with the same types in the same order. ``compatible``: every
    declared column exists with its type; others may be added. ``none`` and ``trust``: no
    check.
    """
    if mode in ("none", "trust"):
        return []
    differences = _declared_differences(expected, actual)
    if mode == "exact":
        differences += _undeclared_differences(expected, actual)
        if not differences and expected.names != actual.names:
            differences.append(
                f"column order: expected ({', '.join(expected.names)}), "
                f"actual ({', '.join(actual.names)})"
            )
    return differences


def _declared_differences(expected: pyarrow.Schema, actual: pyarrow.Schema) -> list[str]:
    """Each declared column that ``actual`` lacks or reads as another type."""
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
    return differences


def _undeclared_differences(expected: pyarrow.Schema, actual: pyarrow.Schema) -> list[str]:
    """Each column of ``actual`` that ``expected`` does not declare."""
    declared = set(expected.names)
    return [
        f"column {field.name!r}: expected nothing (not declared), actual {type_name(field.type)}"
        for field in actual
        if field.name not in declared
    ]


def declared_schema(spec: DatasetSpec) -> pyarrow.Schema | None:
    """The schema a dataset declares: its columns, then partition columns not listed there."""
    if spec.schema is None:
        return None
    fields = [pyarrow.field(name, type_) for name, type_ in spec.schema.items()]
    if isinstance(spec, FileDataset):  # table formats (Delta, Iceberg) carry their own partitions
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
    if expected is None or mode in ("none", "trust"):
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
