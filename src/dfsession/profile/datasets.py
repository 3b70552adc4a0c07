"""Dataset specs: one frozen class per format, with typed options; Delta and Iceberg time-travel.

Every option is optional: ``None`` is "not given" (the engine's default applies), so the
profile writes back exactly what it was given and its fingerprint stays the same.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Literal

import attrs
import pyarrow as pa

from dfsession.profile.arrow_types import to_arrow_type
from dfsession.profile.locations import Location
from dfsession.profile.values import (
    FieldError,
    FrozenMap,
    ImportRef,
    Timestamp,
    doc,
    frozen_map,
    non_negative,
    one_of,
    optional_field,
    parsed_field,
    raise_all,
)

__all__ = [
    "FORMATS",
    "SCHEMA_MODES",
    "ArrowDataset",
    "ArrowOptions",
    "CsvDataset",
    "CsvOptions",
    "DatasetConfig",
    "DatasetSpec",
    "DeltaDataset",
    "DeltaOptions",
    "IcebergDataset",
    "FileDataset",
    "JsonDataset",
    "JsonOptions",
    "ParquetDataset",
    "ParquetOptions",
    "ProviderDataset",
    "LocatedDataset",
    "option_values",
    "plain_options",
    "type_map",
]

SCHEMA_MODES = ("exact", "compatible", "none", "trust")


def type_map(value: Mapping[str, Any] | None) -> FrozenMap[str, pa.DataType]:
    """attrs converter: column names to Arrow types (names or ``pa.DataType`` values)."""
    items = {}
    for column, type_ in frozen_map(value).items():
        try:
            items[column] = to_arrow_type(type_)
        except ValueError as exc:
            raise FieldError(str(column), str(exc)) from None
    return FrozenMap(items)


# --- options, per format ----------------------------------------------------------------------


def _option(text: str, **kwargs: Any) -> Any:
    return attrs.field(default=None, metadata=doc(text), **kwargs)


_EXTENSION = "only files with this extension are read (default: the format's own)"
_INFER = "how many records the engine reads to infer the schema (default 1000)"


@attrs.frozen
class ParquetOptions:
    """Options of a Parquet dataset."""

    unknown_key: ClassVar[str] = "option for format 'parquet'"
    file_extension: str | None = _option(_EXTENSION)
    skip_metadata: bool | None = _option("skip the files' own metadata (default true)")


@attrs.frozen
class CsvOptions:
    """Options of a CSV dataset."""

    unknown_key: ClassVar[str] = "option for format 'csv'"
    file_extension: str | None = _option(_EXTENSION)
    has_header: bool | None = _option("whether files start with a header line (default true)")
    delimiter: str | None = _option("the field delimiter (default ',')")
    schema_infer_max_records: int | None = _option(_INFER, validator=non_negative)


@attrs.frozen
class JsonOptions:
    """Options of a newline-delimited JSON dataset."""

    unknown_key: ClassVar[str] = "option for format 'json'"
    file_extension: str | None = _option(_EXTENSION)
    schema_infer_max_records: int | None = _option(_INFER, validator=non_negative)


@attrs.frozen
class ArrowOptions:
    """Options of an Arrow IPC dataset."""

    unknown_key: ClassVar[str] = "option for format 'arrow'"
    file_extension: str | None = _option(_EXTENSION)


@attrs.frozen
class DeltaOptions:
    """Options of a Delta table."""

    unknown_key: ClassVar[str] = "option for format 'delta'"
    without_files: bool | None = _option("open the table without tracking its files")


# --- what every dataset has ------------------------------------------------------------------


def _format_field(name: str, text: str = "the table's file format") -> Any:
    return attrs.field(default=name, init=False, metadata=doc(text))


def _schema_field() -> Any:
    return optional_field(type_map, "the expected columns: name to Arrow type")


def _schema_mode_field() -> Any:
    return attrs.field(
        default=None,
        validator=one_of(*SCHEMA_MODES),
        metadata=doc(
            "how the schema is checked: exact, compatible or none; trust (files only): given to "
            "the engine as the files' schema, unchecked (no request to read it)"
        ),
    )


def _schema_rules(schema: object, schema_mode: str | None) -> Iterator[FieldError]:
    if schema_mode in ("exact", "compatible", "trust") and schema is None:
        yield FieldError(
            "schema_mode", f"{schema_mode!r} needs a declared schema; add a schema table"
        )


def _trust_refused(schema_mode: str | None, why: str) -> Iterator[FieldError]:
    """The error of ``schema_mode = "trust"`` on a dataset that is not files (``why``)."""
    if schema_mode == "trust":
        yield FieldError(
            "schema_mode", f"'trust' is for files: {why}; use exact, compatible or none"
        )


def _effective_schema_mode(schema: object, schema_mode: str | None) -> str:
    """``compatible`` when a schema is declared and ``none`` otherwise, unless set."""
    if schema_mode is not None:
        return schema_mode
    return "compatible" if schema is not None else "none"


def _options_field(cls: type) -> Any:
    return attrs.field(factory=cls, metadata=doc("options of the format"))


def _time_travel_refused(format_name: str) -> dict[str, str]:
    message = f"time travel needs format 'delta' or 'iceberg' (format is {format_name!r})"
    return {"version": message, "timestamp": message, "snapshot_id": message}


@attrs.frozen
class _Table:
    """The fields every dataset has: where its data is, and the schema it is checked against."""

    location: Location = parsed_field(
        Location.parse, "the file, folder or URL of the data (a URL lies in an object store)"
    )
    schema: FrozenMap[str, pa.DataType] | None = _schema_field()
    schema_mode: str | None = _schema_mode_field()

    def __attrs_post_init__(self) -> None:
        raise_all(self._broken_rules())

    def _broken_rules(self) -> Iterator[FieldError]:
        yield from _schema_rules(self.schema, self.schema_mode)

    @property
    def effective_schema_mode(self) -> str:
        """``compatible`` when a schema is declared and ``none`` otherwise, unless set."""
        return _effective_schema_mode(self.schema, self.schema_mode)


@attrs.frozen
class _Files(_Table):
    """A dataset of files: they may be partitioned by their path (``year=2024/``)."""

    partition_cols: FrozenMap[str, pa.DataType] = attrs.field(
        factory=FrozenMap,
        converter=type_map,
        metadata=doc("hive-style partition columns in the path: name to Arrow type"),
    )


# --- the datasets -----------------------------------------------------------------------------


@attrs.frozen
class ParquetDataset(_Files):
    """Parquet files: one file, or a folder of them (partitioned or not)."""

    refused_keys: ClassVar[Mapping[str, str]] = _time_travel_refused("parquet")
    format: Literal["parquet"] = _format_field("parquet")
    options: ParquetOptions = _options_field(ParquetOptions)


@attrs.frozen
class CsvDataset(_Files):
    """CSV files; the declared schema also gives the columns their types."""

    refused_keys: ClassVar[Mapping[str, str]] = _time_travel_refused("csv")
    format: Literal["csv"] = _format_field("csv")
    options: CsvOptions = _options_field(CsvOptions)


@attrs.frozen
class JsonDataset(_Files):
    """Newline-delimited JSON files; the declared schema also gives the columns their types."""

    refused_keys: ClassVar[Mapping[str, str]] = _time_travel_refused("json")
    format: Literal["json"] = _format_field("json")
    options: JsonOptions = _options_field(JsonOptions)


@attrs.frozen
class ArrowDataset(_Files):
    """Arrow IPC files."""

    refused_keys: ClassVar[Mapping[str, str]] = _time_travel_refused("arrow")
    format: Literal["arrow"] = _format_field("arrow")
    options: ArrowOptions = _options_field(ArrowOptions)


@attrs.frozen
class DeltaDataset(_Table):
    """A Delta table: its latest version, or an earlier one by ``version`` or ``timestamp``."""

    refused_keys: ClassVar[Mapping[str, str]] = {
        "partition_cols": "Delta tables carry their own partitioning; remove this",
        "snapshot_id": "Delta tables time-travel by version or timestamp",
    }
    format: Literal["delta"] = _format_field("delta")
    version: int | None = attrs.field(
        default=None, validator=non_negative, metadata=doc("the table version to read")
    )
    timestamp: Timestamp | None = optional_field(
        Timestamp.parse, "read the table as it was at this RFC 3339 time"
    )
    options: DeltaOptions = _options_field(DeltaOptions)

    def _broken_rules(self) -> Iterator[FieldError]:
        if self.version is not None and self.timestamp is not None:
            yield FieldError("timestamp", "give either version or timestamp, not both")
        yield from _trust_refused(self.schema_mode, "a Delta table's schema is read from its log")
        yield from super()._broken_rules()


def option_values(value: Mapping[str, Any] | None) -> FrozenMap[str, Any]:
    """attrs converter: a table of options, frozen all the way down (tables and lists too)."""
    return FrozenMap((str(key), _frozen(item)) for key, item in frozen_map(value).items())


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return option_values(value)
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    return value


def plain_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Options as plain values again: tables as ``dict``, lists as ``list``."""
    return {key: _plain(value) for key, value in options.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return plain_options(value)
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


_PROVIDER_REFUSED = "a provider dataset reads the table its object provides"


@attrs.frozen
class ProviderDataset:
    """A table another library provides, through the table provider object ``ref`` names.

    ``ref`` names an object exposing ``__datafusion_table_provider__`` (or a
    ``datafusion.catalog.Table``), or a callable that returns one given ``options`` as a dict.
    """

    refused_keys: ClassVar[Mapping[str, str]] = {
        "location": f"{_PROVIDER_REFUSED}; give its place in options",
        "partition_cols": f"{_PROVIDER_REFUSED}, partitions included; remove this",
        **_time_travel_refused("provider"),
    }
    format: Literal["provider"] = _format_field("provider", "the table comes from a provider")
    ref: ImportRef = parsed_field(
        ImportRef.parse,
        "'package.module:attribute' of an object exposing __datafusion_table_provider__, or of "
        "a callable that returns one given the options (as a dict)",
    )
    options: FrozenMap[str, Any] = attrs.field(
        factory=FrozenMap,
        converter=option_values,
        metadata=doc("passed to the callable ref names, as a dict"),
    )
    schema: FrozenMap[str, pa.DataType] | None = _schema_field()
    schema_mode: str | None = _schema_mode_field()

    def __attrs_post_init__(self) -> None:
        raise_all(
            [
                *_schema_rules(self.schema, self.schema_mode),
                *_trust_refused(self.schema_mode, "a provider's table comes with its schema"),
            ]
        )

    @property
    def effective_schema_mode(self) -> str:
        """``compatible`` when a schema is declared and ``none`` otherwise, unless set."""
        return _effective_schema_mode(self.schema, self.schema_mode)


@attrs.frozen
class IcebergDataset:
    """An Iceberg table of a declared catalog: its current snapshot, or one by id or time."""

    refused_keys: ClassVar[Mapping[str, str]] = {
        "location": "an Iceberg table is found through its catalog: give catalog and table",
        "partition_cols": "Iceberg tables carry their own partitioning; remove this",
        "version": "Iceberg tables time-travel by snapshot_id or timestamp",
    }
    catalog: str = attrs.field(metadata=doc("the [catalogs] entry the table is in"))
    table: str = attrs.field(
        validator=lambda _inst, _attribute, value: _check_table_name(value),
        metadata=doc("the table's name in the catalog: 'namespace.table'"),
    )
    schema: FrozenMap[str, pa.DataType] | None = _schema_field()
    schema_mode: str | None = _schema_mode_field()
    format: Literal["iceberg"] = _format_field("iceberg", "an Iceberg table of a catalog")
    snapshot_id: int | None = attrs.field(
        default=None, metadata=doc("the snapshot to read (default: the current one)")
    )
    timestamp: Timestamp | None = optional_field(
        Timestamp.parse, "read the snapshot that was current at this RFC 3339 time"
    )

    def __attrs_post_init__(self) -> None:
        raise_all(self._broken_rules())

    def _broken_rules(self) -> Iterator[FieldError]:
        if self.snapshot_id is not None and self.timestamp is not None:
            yield FieldError("timestamp", "give either snapshot_id or timestamp, not both")
        yield from _schema_rules(self.schema, self.schema_mode)

    @property
    def effective_schema_mode(self) -> str:
        """``compatible`` when a schema is declared and ``none`` otherwise, unless set."""
        return _effective_schema_mode(self.schema, self.schema_mode)


def _check_table_name(value: object) -> None:
    if not isinstance(value, str) or "." not in value.strip(".") or ".." in value:
        raise FieldError(
            "table", f"expected 'namespace.table' such as 'sales.orders' (got {value!r})"
        )


DatasetSpec = (
    ParquetDataset
    | CsvDataset
    | JsonDataset
    | ArrowDataset
    | DeltaDataset
    | ProviderDataset
    | IcebergDataset
)
#: A dataset of files: every format read from a location but Delta (table formats: Delta, Iceberg).
FileDataset = ParquetDataset | CsvDataset | JsonDataset | ArrowDataset
#: The datasets read from a location (every format but ``provider`` and ``iceberg``).
LocatedDataset = FileDataset | DeltaDataset
#: The name the profile used for a dataset entry before the specs were typed.
DatasetConfig = DatasetSpec

#: The ``format`` of each dataset spec, in the order the union lists them.
FORMATS: tuple[str, ...] = tuple(
    attrs.fields(cls).format.default for cls in typing.get_args(DatasetSpec)
)
