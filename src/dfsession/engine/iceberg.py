"""Iceberg tables through PyIceberg: load a catalog, pick a snapshot, register the table.

PyIceberg is optional (``dfsession[iceberg]``) and imported only here, when a profile has
Iceberg tables. A table is registered one of two ways, and its record says which and why:

- ``native``: PyIceberg's own DataFusion table provider (``__datafusion_table_provider__``),
  when pyiceberg-core was built for the installed DataFusion major (checked before the call)
  and the current snapshot is read (the provider reads no other);
- ``pyarrow-dataset``: the snapshot's data files as a pyarrow dataset, read through PyIceberg's
  file IO with the catalog's own properties, when the snapshot has no delete files and its
  columns were never renamed or retyped (the files then hold exactly the snapshot's rows).

Otherwise the table is refused with ``IncompatibleVersionsError``, naming both versions.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs
import datafusion
import pyarrow as pa
import pyarrow.dataset as pads
from datafusion import SessionContext

from dfsession.engine.text import one_line
from dfsession.engine.versions import PYICEBERG_CORE, PluginGuard, PluginVersion, major
from dfsession.errors import IncompatibleVersionsError, ProfileError, StepFailedError
from dfsession.profile.catalogs import IcebergCatalog
from dfsession.profile.datasets import IcebergDataset
from dfsession.profile.locations import redact_url
from dfsession.profile.values import did_you_mean, resolve_secrets

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import FileScanTask, Table
    from pyiceberg.table.snapshots import Snapshot

__all__ = [
    "INSTALL_HINT",
    "IcebergCatalogs",
    "Route",
    "catalog_record",
    "included_tables",
    "mount_included",
    "mount_table",
    "mounted_name",
    "files_reason",
    "native_route",
    "refusal",
    "register_iceberg",
]

#: How to install what Iceberg tables need.
INSTALL_HINT = 'pip install "dfsession[iceberg]"'
#: Snapshot ids shown in an error, newest last.
_SHOWN_SNAPSHOTS = 5


def _pyiceberg_catalog(path: str) -> Any:
    """``pyiceberg.catalog``; a clear error naming the extra to install when it is missing."""
    try:
        import pyiceberg.catalog  # noqa: PLC0415 - optional, loaded only for Iceberg tables
    except ImportError:
        raise ProfileError.at(
            path, f"Iceberg tables need PyIceberg, which is not installed: {INSTALL_HINT}"
        ) from None
    return pyiceberg.catalog


# --- catalogs ----------------------------------------------------------------------------------


class IcebergCatalogs:
    """The profile's Iceberg catalogs, each loaded once, on first use; thread-safe.

    Secrets are resolved when a catalog is loaded, and only then; ``scrub`` masks their values.
    """

    __slots__ = ("_environ", "_loaded", "_lock", "_secrets", "_specs", "guard")

    def __init__(
        self,
        specs: Mapping[str, IcebergCatalog],
        environ: Mapping[str, str],
        *,
        guard: PluginGuard | None = None,
    ) -> None:
        #: The version guard PyIceberg's native table provider goes through.
        self.guard = guard or PluginGuard()
        self._specs = dict(specs)
        self._environ = environ
        self._lock = threading.Lock()
        self._loaded: dict[str, Catalog] = {}
        self._secrets: dict[str, dict[str, str]] = {}

    def __repr__(self) -> str:
        return f"IcebergCatalogs({', '.join(map(repr, self._specs))})"

    def get(self, name: str) -> Catalog:
        """The loaded catalog ``name`` (a ``ProfileError`` at ``catalogs.NAME`` if it fails)."""
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = self._load(name)
            return self._loaded[name]

    def scrub(self, text: str) -> str:
        """``text`` with every resolved secret value masked as ``***``."""
        for values in self._secrets.values():
            for value in values.values():
                if value:
                    text = text.replace(value, "***")
        return text

    def _load(self, name: str) -> Catalog:
        spec = self._specs[name]
        load_catalog = _pyiceberg_catalog(f"catalogs.{name}").load_catalog
        self._secrets[name] = resolve_secrets(spec.secrets, f"catalogs.{name}", self._environ)
        properties = {**spec.properties, **self._secrets[name]}
        try:
            catalog: Catalog = load_catalog(name, **properties)
        except Exception as exc:
            raise ProfileError.at(
                f"catalogs.{name}",
                f"PyIceberg could not load catalog {name!r}: {self.scrub(one_line(exc))}",
            ) from None
        return catalog


def catalog_record(name: str, spec: IcebergCatalog) -> dict[str, Any]:
    """What a record shows of a catalog: URLs redacted, secrets only as where they come from."""
    return {
        "name": name,
        "kind": spec.kind,
        "properties": {key: _shown(value) for key, value in spec.properties.items()},
        "secrets": {key: secret.describe() for key, secret in spec.secrets.items()},
        "include": list(spec.include),
    }


def _shown(value: str) -> str:
    """A property as records show it: a URL's user info and query values masked."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return redact_url(value)
    return redact_url(value) if parts.query or "@" in parts.netloc else value


def included_tables(catalogs: IcebergCatalogs, name: str, spec: IcebergCatalog) -> list[str]:
    """The ``namespace.table`` names of catalog ``name`` its ``include`` globs match, sorted."""
    catalog = catalogs.get(name)
    try:
        found = [".".join(identifier) for identifier in _all_tables(catalog, ())]
    except Exception as exc:
        raise ProfileError.at(
            f"catalogs.{name}.include",
            f"could not list the tables of catalog {name!r}: {catalogs.scrub(one_line(exc))}",
        ) from None
    return sorted(t for t in found if any(fnmatch.fnmatchcase(t, p) for p in spec.include))


def _all_tables(catalog: Catalog, namespace: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """Every table identifier under ``namespace``, nested namespaces included."""
    if namespace:
        yield from (tuple(identifier) for identifier in catalog.list_tables(namespace))
    for child in catalog.list_namespaces(namespace):
        yield from _all_tables(catalog, tuple(child))


# --- which way a table is registered -----------------------------------------------------------


@attrs.frozen
class Route:
    """How a table is registered: ``native`` or ``pyarrow-dataset``, and why (for the record)."""

    provider: str
    reason: str


def native_route(engine: str, plugin: PluginVersion, current: bool) -> Route | None:
    """The native route, when pyiceberg-core fits the engine and the current snapshot is read.

    ``plugin``: what the version guard knows of pyiceberg-core (read before any native call).
    """
    built_for = plugin.datafusion_major
    if built_for is None or built_for != major(engine) or not current:
        return None
    return Route(
        "native",
        f"{plugin.package} {plugin.version} builds its table provider for DataFusion "
        f"{built_for}, as installed (datafusion {engine})",
    )


def files_reason(engine: str, plugin: PluginVersion, current: bool) -> str:
    """Why a table is read as its snapshot's files rather than through the native provider."""
    name, built_for = f"{plugin.package} {plugin.version}", plugin.datafusion_major
    if built_for is None:
        return (
            f"{name} builds a table provider for no DataFusion major dfsession knows "
            f"({plugin.source}); datafusion {engine} is installed"
        )
    if built_for != major(engine):
        return (
            f"{name} builds its table provider for DataFusion {built_for}; "
            f"datafusion {engine} is installed"
        )
    return "the native table provider reads only the current snapshot"


def refusal(table: str, why: str, engine: str, plugin: PluginVersion) -> str:
    """Why a table cannot be registered at all, and the ways out."""
    built_for = plugin.datafusion_major
    provider = f"DataFusion {built_for}" if built_for is not None else "no known DataFusion"
    older = (
        f", or datafusion {built_for} (pip install 'datafusion>={built_for},<{built_for + 1}')"
        if built_for is not None and built_for != major(engine)
        else ""
    )
    return (
        f"Iceberg table {table!r}: {why}, which only PyIceberg's native table provider "
        f"reads, and {plugin.package} {plugin.version} builds it for {provider} while "
        f"datafusion {engine} is installed. Fix: install a {plugin.package} release built for "
        f"DataFusion {major(engine)}{older}; or rewrite the table's data files (compaction), "
        "so that the files of its snapshot hold its rows as they read"
    )


# --- registering one table ---------------------------------------------------------------------

#: Registers a table provider (or pyarrow dataset) under the name it is mounted as.
Register = Callable[[Any], None]


def register_iceberg(
    name: str, spec: IcebergDataset, catalogs: IcebergCatalogs, ctx: SessionContext
) -> dict[str, Any]:
    """The Iceberg adapter: register dataset ``name`` in the context's default schema."""
    return mount_table(
        f"datasets.{name}", spec, catalogs, lambda table: ctx.register_table(name, table)
    )


def mount_included(
    catalog: str, default_catalog: str, table: str, catalogs: IcebergCatalogs, ctx: SessionContext
) -> dict[str, Any]:
    """Register ``table`` (``namespace.table``) of an ``include`` under the schema ``catalog``."""
    spec = IcebergDataset(catalog=catalog, table=table)
    schema = ctx.catalog(default_catalog).schema(catalog)
    name = mounted_name(table)
    return mount_table(
        f"catalogs.{catalog}.include", spec, catalogs, lambda t: schema.register_table(name, t)
    )


def mounted_name(table: str) -> str:
    """The name an included table is mounted under, in the catalog's schema: its own name."""
    return table.rsplit(".", 1)[1]


def open_snapshot(
    path: str, spec: IcebergDataset, catalogs: IcebergCatalogs
) -> tuple[Table, Snapshot | None]:
    """``spec``'s table and the snapshot it reads: catalog and metadata only, no data file.

    A missing table or snapshot is a ``ProfileError`` at ``path``'s field that names it.
    """
    table = _load_table(path, spec, catalogs.get(spec.catalog), catalogs)
    return table, _snapshot(path, spec, table)


def mount_table(
    path: str, spec: IcebergDataset, catalogs: IcebergCatalogs, register: Register
) -> dict[str, Any]:
    """Load ``spec``'s table, pick its snapshot, register it with ``register``; its facts."""
    table, snapshot = open_snapshot(path, spec, catalogs)
    current = table.current_snapshot()
    reads_current = snapshot is None or (
        current is not None and snapshot.snapshot_id == current.snapshot_id
    )
    engine = datafusion.__version__
    plugin = catalogs.guard.declared(PYICEBERG_CORE)
    route = native_route(engine, plugin, reads_current)
    facts: dict[str, Any] = {"catalog": spec.catalog, "table": spec.table}
    if snapshot is not None:
        facts["snapshot_id"] = snapshot.snapshot_id
    if spec.timestamp is not None:
        facts["timestamp"] = spec.timestamp.text
    try:
        if route is not None:
            catalogs.guard.check(PYICEBERG_CORE)  # notes the plugin for the report
            with catalogs.guard.handing(plugin):
                register(table)
        else:
            reason = files_reason(engine, plugin, reads_current)
            dataset, files = _files_dataset(spec, table, snapshot, (engine, plugin))
            register(dataset)
            route = Route("pyarrow-dataset", reason)
            facts["files"] = files
    except (IncompatibleVersionsError, ProfileError):
        raise
    except Exception as exc:
        raise StepFailedError(
            f"Iceberg table {spec.table!r} of catalog {spec.catalog!r} ({path}): the engine "
            f"could not register it: {catalogs.scrub(one_line(exc))}"
        ) from None
    return {**facts, "provider": route.provider, "reason": route.reason}


def _at(path: str, field: str) -> str:
    """The profile path of a dataset's ``field``; a table an ``include`` mounts has one path."""
    return f"{path}.{field}" if path.startswith("datasets.") else path


def _load_table(
    path: str, spec: IcebergDataset, catalog: Catalog, catalogs: IcebergCatalogs
) -> Table:
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError  # noqa: PLC0415 - optional

    try:
        return catalog.load_table(spec.table)
    except (NoSuchTableError, NoSuchNamespaceError):
        namespace = spec.table.rsplit(".", 1)[0]
        raise ProfileError.at(
            _at(path, "table"),
            f"catalog {spec.catalog!r} has no table {spec.table!r}"
            + did_you_mean(spec.table, _tables_near(catalog, namespace)),
        ) from None
    except Exception as exc:
        raise ProfileError.at(
            _at(path, "table"),
            f"could not load table {spec.table!r} of catalog {spec.catalog!r}: "
            + catalogs.scrub(one_line(exc)),
        ) from None


def _tables_near(catalog: Catalog, namespace: str) -> list[str]:
    """The tables of ``namespace`` (for a did-you-mean), or none when it cannot be listed."""
    try:
        return [".".join(identifier) for identifier in catalog.list_tables(namespace)]
    except Exception:
        return []


def _snapshot(path: str, spec: IcebergDataset, table: Table) -> Snapshot | None:
    """The snapshot ``spec`` reads: by id, current at a time, or the current one (or none)."""
    if spec.snapshot_id is not None:
        found = table.snapshot_by_id(spec.snapshot_id)
        if found is None:
            known = [str(s.snapshot_id) for s in table.snapshots()][-_SHOWN_SNAPSHOTS:]
            raise ProfileError.at(
                f"{path}.snapshot_id",
                f"table {spec.table!r} has no snapshot {spec.snapshot_id} "
                f"(its latest snapshots, newest last: {', '.join(known) or 'none'})",
            )
        return found
    if spec.timestamp is not None:
        moment = spec.timestamp.moment
        found = table.snapshot_as_of_timestamp(int(moment.timestamp() * 1000))
        if found is None:
            raise ProfileError.at(
                f"{path}.timestamp",
                f"table {spec.table!r} had no snapshot at {moment.isoformat()}: "
                + _first_snapshot(table),
            )
        return found
    return table.current_snapshot()


def _first_snapshot(table: Table) -> str:
    from datetime import UTC, datetime  # noqa: PLC0415 - only for this message

    history = table.history()
    if not history:
        return "it has none yet"
    first = datetime.fromtimestamp(history[0].timestamp_ms / 1000, tz=UTC)
    return f"its first is at {first.isoformat()}"


def _files_dataset(
    spec: IcebergDataset,
    table: Table,
    snapshot: Snapshot | None,
    versions: tuple[str, PluginVersion],
) -> tuple[pads.Dataset, int]:
    """The snapshot's data files as a pyarrow dataset, and how many; refused when not exact."""
    from pyiceberg.io.pyarrow import PyArrowFileIO, schema_to_pyarrow  # noqa: PLC0415 - optional

    # As PyIceberg reads: the current schema, or the snapshot's own when travelling in time.
    travels = spec.snapshot_id is not None or spec.timestamp is not None
    schema = _snapshot_schema(table, snapshot) if travels and snapshot else table.schema()
    tasks: Sequence[FileScanTask] = (
        [] if snapshot is None else list(table.scan(snapshot_id=snapshot.snapshot_id).plan_files())
    )
    why = _not_plain_files(table, schema, tasks)
    if why is not None:
        engine, plugin = versions
        raise IncompatibleVersionsError(
            refusal(spec.table, why, engine, plugin),
            package=plugin.package,
            built_for=plugin.datafusion_major,
            installed=major(engine),
        )
    io = PyArrowFileIO(table.io.properties)
    paths, filesystem = [], None
    for task in tasks:
        scheme, netloc, inner = PyArrowFileIO.parse_location(task.file.file_path)
        filesystem = filesystem or io.fs_by_scheme(scheme, netloc)
        paths.append(inner)
    arrow_schema = pa.schema(
        [_small(field) for field in schema_to_pyarrow(schema, include_field_ids=False)]
    )
    dataset = pads.dataset(paths, schema=arrow_schema, format="parquet", filesystem=filesystem)
    return dataset, len(paths)


def _small(field: pa.Field) -> pa.Field:
    """``field`` with PyIceberg's 64-bit-offset types (``large_string``) made the usual ones."""
    kind = field.type
    if pa.types.is_large_string(kind):
        kind = pa.string()
    elif pa.types.is_large_binary(kind):
        kind = pa.binary()
    elif pa.types.is_large_list(kind) or pa.types.is_list(kind):
        kind = pa.list_(_small(kind.value_field))
    elif pa.types.is_struct(kind):
        kind = pa.struct([_small(kind.field(i)) for i in range(kind.num_fields)])
    elif pa.types.is_map(kind):
        kind = pa.map_(_small(kind.key_field), _small(kind.item_field))
    return field.with_type(kind)


def _snapshot_schema(table: Table, snapshot: Snapshot) -> Any:
    schemas = table.schemas()
    return (
        schemas.get(snapshot.schema_id, table.schema())
        if snapshot.schema_id is not None
        else table.schema()
    )


def _not_plain_files(table: Table, schema: Any, tasks: Sequence[FileScanTask]) -> str | None:
    """Why the snapshot's data files, read by column name, would not give its rows; or ``None``."""
    from pyiceberg.manifest import FileFormat  # noqa: PLC0415 - optional

    deletes = {d.file_path for task in tasks for d in task.delete_files}
    if deletes:
        return f"the snapshot has {len(deletes)} delete file(s)"
    if any(task.file.file_format != FileFormat.PARQUET for task in tasks):
        return "the snapshot has data files that are not Parquet"
    for other in table.schemas().values():
        why = _columns_differ(schema, other)
        if why is not None:
            return why
    return None


def _columns_differ(schema: Any, other: Any) -> str | None:
    """How ``other`` (an earlier schema of the table) names or types a column differently."""
    from pyiceberg.schema import index_by_id, index_name_by_id  # noqa: PLC0415 - optional

    names, other_names = index_name_by_id(schema), index_name_by_id(other)
    types, other_types = index_by_id(schema), index_by_id(other)
    other_ids = {name: field_id for field_id, name in other_names.items()}
    for field_id, name in names.items():
        if field_id in other_names and (
            other_names[field_id] != name
            or other_types[field_id].field_type != types[field_id].field_type
        ):
            return f"column {name!r} was renamed or changed type in the table's history"
        if other_ids.get(name, field_id) != field_id:
            return f"the name {name!r} was used by a dropped column in the table's history"
    return None
