"""Discovery: the tables under a ``[discover.NAME]`` location, each made a dataset spec.

A table is a folder at the layout's depth that holds files of the format (at any depth below,
hidden ``_``/``.`` folders aside) or, for Delta, a ``_delta_log/``. Its partition columns are
the ``key=value`` folders below it: ``int64`` when every value is an integer, else ``string``.
The order is sorted, so the same lake gives the same datasets in the same order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import attrs
import pyarrow as pa

from dfsession.engine.listing import ListingError, open_listing
from dfsession.engine.stores import ObjectStores
from dfsession.engine.tables import DEFAULT_EXTENSIONS
from dfsession.errors import ProfileError
from dfsession.profile.datasets import LocatedDataset
from dfsession.profile.discovery import DiscoverDelta, DiscoverSpec
from dfsession.profile.locations import Location

__all__ = [
    "DELTA_LOG",
    "Discovered",
    "FoundTable",
    "discover",
    "find_tables",
]

#: The folder that makes a folder a Delta table.
DELTA_LOG = "_delta_log"
#: The folder name Hive-style writers give a null partition value.
_NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
_INTEGER = re.compile(r"^-?\d+$")


@attrs.frozen
class FoundTable:
    """One table discovery found: by which entry, its schema (or none) and name, its spec."""

    source: str
    schema: str | None
    name: str
    spec: LocatedDataset

    @property
    def key(self) -> str:
        """The name ``include``/``exclude`` match: ``table``, or ``schema.table``."""
        return self.name if self.schema is None else f"{self.schema}.{self.name}"


@attrs.frozen
class Discovered:
    """What the ``discover`` step hands on: the tables to register, sorted per entry."""

    tables: tuple[FoundTable, ...] = ()


def discover(source: str, spec: DiscoverSpec, stores: ObjectStores) -> list[FoundTable]:
    """List ``spec``'s location and find its tables; errors name ``discover.SOURCE.location``."""
    where = f"discover.{source}.location"
    try:
        listing = open_listing(spec.location, stores)
        if not listing.exists():
            raise ListingError(
                f"{spec.location.redacted()!r} does not exist (no folder, or no object under "
                "the prefix); fix the location or write the tables there"
            )
        files = listing.files()
    except ListingError as exc:
        raise ProfileError.at(where, str(exc)) from None
    return find_tables(source, spec, files)


def find_tables(source: str, spec: DiscoverSpec, files: Iterable[str]) -> list[FoundTable]:
    """The tables of ``spec`` among ``files`` (paths relative to its location), sorted."""
    depth = 2 if spec.has_schema else 1
    by_folder: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for path in files:
        parts = tuple(path.split("/"))
        folder, below = parts[:depth], parts[depth:]
        if below and not any(_hidden(part) for part in folder):
            by_folder.setdefault(folder, []).append(below)
    found = []
    for folder, paths in sorted(by_folder.items()):
        table = _table(source, spec, folder, paths)
        if table is not None and spec.takes(table.key):
            found.append(table)
    return found


def _table(
    source: str, spec: DiscoverSpec, folder: tuple[str, ...], paths: list[tuple[str, ...]]
) -> FoundTable | None:
    """The table in ``folder``, if it is one: it holds data files of the format (or a log)."""
    location = Location.parse(_join(spec.location.text, folder))
    if isinstance(spec, DiscoverDelta):
        if not any(path[0] == DELTA_LOG for path in paths):
            return None
        partitions: dict[str, pa.DataType] = {}
    else:
        extension = spec.options.file_extension or DEFAULT_EXTENSIONS[spec.format]
        data = [p for p in paths if p[-1].endswith(extension) and not any(map(_hidden, p))]
        if not data:
            return None
        partitions = _partitions(source, location, data)
    schema, name = (folder[0], folder[1]) if spec.has_schema else (None, folder[0])
    return FoundTable(source, schema, name, spec.dataset(location, partitions))


def _partitions(
    source: str, location: Location, data: Sequence[tuple[str, ...]]
) -> dict[str, pa.DataType]:
    """The ``key=value`` folders every data file lies under, typed; the same keys for each."""
    keys = [_keys(path[:-1]) for path in data]
    first = keys[0]
    for path, found in zip(data, keys, strict=True):
        if found != first:
            raise ProfileError.at(
                f"discover.{source}.exclude",
                f"table at {location.redacted()!r} has files under different partition "
                f"folders ({'/'.join(data[0])} and {'/'.join(path)}); exclude it and declare "
                "it in [datasets] with its partition_cols",
            )
    values: dict[str, set[str]] = {key: set() for key in first}
    for path in data:
        for part in path[:-1]:
            key, _, value = part.partition("=")
            if key in values and value != _NULL_PARTITION:
                values[key].add(value)
    return {
        key: pa.int64() if seen and all(_INTEGER.match(v) for v in seen) else pa.string()
        for key, seen in values.items()
    }


def _keys(folders: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(part.partition("=")[0] for part in folders if "=" in part)


def _hidden(part: str) -> bool:
    """Files and folders writers keep for themselves (``_SUCCESS``, ``.tmp``, ``_delta_log``)."""
    return part.startswith(("_", "."))


def _join(base: str, folder: tuple[str, ...]) -> str:
    """``base`` with ``folder`` below it, ending in ``/`` (a folder, as the engine needs)."""
    return base.rstrip("/") + "/" + "/".join(folder) + "/"


@attrs.frozen
class Shadowed:
    """A discovered table a declared dataset of the same name replaces."""

    table: FoundTable
    by: str


def settle(
    found: Sequence[FoundTable],
    *,
    declared: Iterable[str],
    views: Iterable[str],
    default_schema: str,
) -> tuple[list[FoundTable], list[Shadowed]]:
    """The tables to register, and those a declared dataset of the same name wins over.

    A table named like a view, or found by two entries, is a ``ProfileError`` at the later
    entry's ``exclude``, naming both.
    """
    datasets, named_views = set(declared), set(views)
    kept: list[FoundTable] = []
    shadowed: list[Shadowed] = []
    seen: dict[tuple[str, str], FoundTable] = {}
    for table in found:
        place = (table.schema or default_schema, table.name)
        plain = table.name if place[0] == default_schema else None
        if plain in datasets:
            shadowed.append(Shadowed(table, f"datasets.{plain}"))
            continue
        if plain in named_views:
            raise _clash(table, f"views.{plain}", "rename the view")
        if place in seen:
            first = seen[place]
            raise _clash(table, f"discover.{first.source} ({first.spec.location.redacted()!r})", "")
        seen[place] = table
        kept.append(table)
    return kept, shadowed


def _clash(table: FoundTable, other: str, fix: str) -> ProfileError:
    location = table.spec.location.redacted()
    also = f", or {fix}" if fix else ""
    return ProfileError.at(
        f"discover.{table.source}.exclude",
        f"table {table.key!r} found at {location!r} has the name of {other}; add "
        f"{table.key!r} to discover.{table.source}.exclude{also}",
    )
