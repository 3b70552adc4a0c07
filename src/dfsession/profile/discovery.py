"""Discovery specs: ``[discover.NAME]``, a folder of tables that each become a dataset.

One frozen class per file format, as for datasets, so each takes its format's typed options.
Which folders are tables is found at build time (``dfsession.engine.discovery``); the spec
says where to look, how tables are laid out and which names to take.
"""

from __future__ import annotations

import fnmatch
import re
import typing
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Literal

import attrs
import pyarrow as pa

from dfsession.profile.datasets import (
    ArrowDataset,
    ArrowOptions,
    CsvDataset,
    CsvOptions,
    DeltaDataset,
    DeltaOptions,
    JsonDataset,
    JsonOptions,
    LocatedDataset,
    ParquetDataset,
    ParquetOptions,
)
from dfsession.profile.locations import Location
from dfsession.profile.values import FieldError, OneOf, doc, frozen_tuple, parsed_field

__all__ = [
    "DISCOVER_FORMATS",
    "LAYOUTS",
    "PLACEHOLDERS",
    "DiscoverArrow",
    "DiscoverCsv",
    "DiscoverDelta",
    "DiscoverJson",
    "DiscoverParquet",
    "DiscoverSpec",
    "LayoutChoice",
    "Partitions",
    "check_globs",
]

#: The layouts of a lake: each table in a folder of its own name, or under a schema folder.
LAYOUTS = ("{table}/", "{schema}/{table}/")
#: The placeholders a layout may hold.
PLACEHOLDERS = ("schema", "table")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@attrs.frozen
class LayoutChoice(OneOf):
    """attrs validator: one of ``LAYOUTS``; an unknown placeholder is named as such."""

    def __call__(self, _inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value in self.choices:
            return
        shown = ", ".join(map(repr, self.choices))
        unknown = [p for p in _PLACEHOLDER.findall(str(value)) if p not in PLACEHOLDERS]
        if unknown:
            message = (
                f"unknown placeholder {{{unknown[0]}}} in {value!r}: a layout may hold "
                f"{{table}} and {{schema}}; use one of {shown}"
            )
        else:
            message = f"expected one of {shown} (got {value!r})"
        raise FieldError(attribute.name, message)


def check_globs(field: str, patterns: Iterable[Any]) -> None:
    """Each pattern is a glob over table names (``sales_*``, ``[ab]*``); ``FieldError`` if not."""
    for index, pattern in enumerate(patterns):
        where = f"{field}.{index}"
        if not isinstance(pattern, str) or not pattern:
            raise FieldError(where, f"expected a glob such as 'sales_*' (got {pattern!r})")
        if "/" in pattern:
            raise FieldError(
                where,
                f"{pattern!r} is not a glob over table names: names hold no '/' (with the "
                "layout '{schema}/{table}/' a name is 'schema.table')",
            )
        if pattern.count("[") != pattern.count("]"):
            raise FieldError(where, f"{pattern!r} is not a glob: a '[' set is not closed")


def _globs(field: str) -> Any:
    return lambda _inst, _attribute, value: check_globs(field, value)


@attrs.frozen
class _Discover:
    """What every discovery has: where to look, the layout, which table names to take."""

    location: Location = parsed_field(
        Location.parse, "the folder or URL whose sub-folders are tables (a URL lies in a store)"
    )
    layout: str = attrs.field(
        default=LAYOUTS[0],
        validator=LayoutChoice(LAYOUTS),
        metadata=doc("'{table}/', or '{schema}/{table}/' to put tables in schemas of that name"),
    )
    include: tuple[str, ...] = attrs.field(
        default=("*",),
        converter=frozen_tuple,
        validator=_globs("include"),
        metadata=doc("globs of the table names to take ('schema.table' under a schema layout)"),
    )
    exclude: tuple[str, ...] = attrs.field(
        default=(),
        converter=frozen_tuple,
        validator=_globs("exclude"),
        metadata=doc("globs of the table names to leave out"),
    )

    @property
    def has_schema(self) -> bool:
        """Whether tables lie under schema folders (``{schema}/{table}/``)."""
        return "{schema}" in self.layout

    def takes(self, name: str) -> bool:
        """Whether the table called ``name`` is included and not excluded."""

        def matches(patterns: tuple[str, ...]) -> bool:
            return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)

        return matches(self.include) and not matches(self.exclude)


def _format_field(name: str) -> Any:
    return attrs.field(default=name, init=False, metadata=doc("the tables' file format"))


def _options_field(cls: type) -> Any:
    return attrs.field(factory=cls, metadata=doc("options of the format, for every table"))


#: Partition columns found in a table's folders: name to Arrow type.
Partitions = Mapping[str, pa.DataType]


@attrs.frozen
class DiscoverParquet(_Discover):
    """A folder of Parquet tables."""

    format: Literal["parquet"] = _format_field("parquet")
    options: ParquetOptions = _options_field(ParquetOptions)

    def dataset(self, location: Location, partitions: Partitions) -> LocatedDataset:
        """The dataset of one table found at ``location``."""
        return ParquetDataset(location, partition_cols=partitions, options=self.options)


@attrs.frozen
class DiscoverCsv(_Discover):
    """A folder of CSV tables."""

    format: Literal["csv"] = _format_field("csv")
    options: CsvOptions = _options_field(CsvOptions)

    def dataset(self, location: Location, partitions: Partitions) -> LocatedDataset:
        """The dataset of one table found at ``location``."""
        return CsvDataset(location, partition_cols=partitions, options=self.options)


@attrs.frozen
class DiscoverJson(_Discover):
    """A folder of newline-delimited JSON tables."""

    format: Literal["json"] = _format_field("json")
    options: JsonOptions = _options_field(JsonOptions)

    def dataset(self, location: Location, partitions: Partitions) -> LocatedDataset:
        """The dataset of one table found at ``location``."""
        return JsonDataset(location, partition_cols=partitions, options=self.options)


@attrs.frozen
class DiscoverArrow(_Discover):
    """A folder of Arrow IPC tables."""

    format: Literal["arrow"] = _format_field("arrow")
    options: ArrowOptions = _options_field(ArrowOptions)

    def dataset(self, location: Location, partitions: Partitions) -> LocatedDataset:
        """The dataset of one table found at ``location``."""
        return ArrowDataset(location, partition_cols=partitions, options=self.options)


@attrs.frozen
class DiscoverDelta(_Discover):
    """A folder of Delta tables (each a folder holding ``_delta_log/``), read at their latest."""

    refused_keys: ClassVar[Mapping[str, str]] = {
        "version": "discovered Delta tables are read at their latest version; declare a "
        "[datasets] entry of the same name to pin one",
        "timestamp": "discovered Delta tables are read at their latest version; declare a "
        "[datasets] entry of the same name to pin a time",
    }
    format: Literal["delta"] = _format_field("delta")
    options: DeltaOptions = _options_field(DeltaOptions)

    def dataset(self, location: Location, partitions: Partitions) -> LocatedDataset:
        """The dataset of one table found at ``location`` (Delta keeps its own partitions)."""
        del partitions
        return DeltaDataset(location, options=self.options)


DiscoverSpec = DiscoverParquet | DiscoverCsv | DiscoverJson | DiscoverArrow | DiscoverDelta

#: The ``format`` of each discovery spec, in the order the union lists them.
DISCOVER_FORMATS: tuple[str, ...] = tuple(
    attrs.fields(cls).format.default for cls in typing.get_args(DiscoverSpec)
)
