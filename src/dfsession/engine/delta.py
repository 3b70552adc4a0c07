"""Delta tables through deltalake: open (time travel), register, ``STORED AS DELTATABLE``, write.

deltalake is loaded only when a Delta table is opened or written: run the version guard
(``dfsession.engine.versions``) before any call here reaches its native code.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs
import datafusion
import pyarrow as pa
from datafusion import SessionContext
from datafusion.catalog import Table, TableProviderFactory

from dfsession.engine.schemas import schema_differences
from dfsession.engine.stores import ObjectStores, registration_failed, require_path
from dfsession.engine.text import one_line
from dfsession.engine.versions import DELTALAKE, PluginGuard, major
from dfsession.errors import (
    IncompatibleVersionsError,
    ProfileError,
    QueryError,
    SchemaMismatchError,
    SqlPolicyError,
)
from dfsession.logs import get_logger
from dfsession.profile.datasets import DeltaDataset
from dfsession.profile.locations import Location
from dfsession.profile.values import Timestamp

if TYPE_CHECKING:
    from deltalake import DeltaTable

__all__ = [
    "DELTA_FORMAT",
    "LAST_MAJOR_WITH_GAP",
    "NATIVE",
    "PYARROW_DATASET",
    "PYARROW_READER_FEATURES",
    "REMOTE_SCAN_ISSUE",
    "STATEMENT_OPTIONS",
    "DeltaTableFactory",
    "DeltaWrites",
    "FolderState",
    "check_append_schema",
    "delta_path",
    "delta_source",
    "open_delta",
    "open_latest",
    "refuse_existing_folder",
    "register_delta",
    "table_version",
    "write_delta",
]

log = get_logger(__name__)

#: The ``STORED AS`` name that ``CREATE EXTERNAL TABLE`` uses for Delta tables.
DELTA_FORMAT = "DELTATABLE"
#: Upstream issue: data scans of a Delta table in a remote store fail over DataFusion's FFI.
REMOTE_SCAN_ISSUE = "https://github.com/delta-io/delta-rs/issues/4623"
#: The newest DataFusion major known to have that gap (apache/datafusion#24733 closes it).
LAST_MAJOR_WITH_GAP = 55
#: The two ways a Delta table is registered (the record's ``provider``): deltalake's native
#: table provider, or the snapshot's data files as a pyarrow dataset deltalake builds.
NATIVE = "native"
PYARROW_DATASET = "pyarrow-dataset"
#: The reader features (protocol 3) the pyarrow dataset path reads right: deltalake's pyarrow
#: reader refuses the others, and column mapping (protocol 2) it would read by physical names.
PYARROW_READER_FEATURES = frozenset({"timestampNtz"})
#: The way out of each reader feature the pyarrow dataset path cannot honour.
_FEATURE_FIXES = {
    "deletionVectors": "purge the deletion vectors (REORG TABLE ... APPLY (PURGE), then "
    "ALTER TABLE ... SET TBLPROPERTIES ('delta.enableDeletionVectors' = false))",
    "columnMapping": "rewrite the table without column mapping (delta.columnMapping.mode = 'none')",
}
#: The ``OPTIONS`` a ``CREATE EXTERNAL TABLE ... STORED AS DELTATABLE`` statement may give: time
#: travel and client timeouts. Any other storage option (endpoint, region, allow_http, proxy,
#: credentials...) could send the store's credentials to another host, so only the profile sets it.
STATEMENT_OPTIONS = frozenset({"version", "timestamp", "timeout", "connect_timeout"})


# --- reading ---------------------------------------------------------------------------------


def open_delta(
    uri: str,
    storage_options: dict[str, str] | None,
    *,
    version: int | None = None,
    timestamp: datetime | None = None,
    without_files: bool = False,
) -> DeltaTable:
    """Open a Delta table, at a version or a timestamp when given (a native call: guard first)."""
    from deltalake import DeltaTable  # noqa: PLC0415 - loaded only for Delta (import cost)

    table = DeltaTable(
        uri, version=version, storage_options=storage_options, without_files=without_files
    )
    if timestamp is not None:
        table.load_as_version(timestamp)
        if table.version() == 0:  # deltalake answers version 0 for any earlier time, too
            _refuse_before_creation(table, timestamp)
    return table


def _refuse_before_creation(table: DeltaTable, timestamp: datetime) -> None:
    """Refuse a time before the table was created (read at version 0).

    The creation time is in the snapshot's metadata; ``history()`` would list the log again,
    holding the interpreter lock while it waits on the store.
    """
    created_ms = table.metadata().created_time
    if created_ms is None:
        created_ms = table.history()[-1]["timestamp"]
    created = datetime.fromtimestamp(created_ms / 1000, tz=UTC)
    moment = timestamp if timestamp.tzinfo is not None else timestamp.replace(tzinfo=UTC)
    if moment < created:
        raise ValueError(
            f"the table did not exist at {moment.isoformat()}: it was created (version 0) at "
            f"{created.isoformat()}"
        )


def register_delta(
    name: str, spec: DeltaDataset, stores: ObjectStores, guard: PluginGuard, ctx: SessionContext
) -> dict[str, Any]:
    """The Delta adapter: open the table the spec names and register it; its facts.

    The facts: its version (and time), which way it was registered (``provider``) and why
    (``reason``): see ``delta_path``.
    """
    provider, reason = delta_path(stores.local_path(spec.location) is not None)
    if provider == PYARROW_DATASET and spec.options.without_files:
        raise ProfileError.at(
            f"datasets.{name}.options.without_files",
            f"Delta table {name!r} lies in an object store, so it is read as a pyarrow dataset "
            f"of its snapshot's files ({reason}), which needs them: remove without_files",
        )
    table = _open_dataset(name, spec, stores)
    try:
        source = delta_source(name, table, provider)
    except ValueError as exc:
        raise ProfileError.at(f"datasets.{name}", str(exc)) from None
    try:
        with guard.handing(DELTALAKE):
            ctx.register_table(name, source)
    except IncompatibleVersionsError:
        raise
    except Exception as exc:
        raise registration_failed(name, spec, exc, stores) from None
    facts: dict[str, Any] = {"version": table.version()}
    if spec.timestamp is not None:
        facts["timestamp"] = spec.timestamp.text
    return {**facts, "provider": provider, "reason": reason}


def delta_path(local: bool) -> tuple[str, str]:
    """How a Delta table on local disk (``local``) or in an object store is registered, and why.

    deltalake's native provider reads local tables; in an object store its data scans fail
    with the engine's FFI of DataFusion <= ``LAST_MAJOR_WITH_GAP`` (it gets none of the
    session's stores: ``REMOTE_SCAN_ISSUE``), so there the snapshot's files are registered as
    a pyarrow dataset, which deltalake reads with the store's storage options. Measured
    (benchmarks/bench_delta_remote.py): as fast as plain DataFusion over the same dataset.
    """
    if local:
        return NATIVE, "a table on local disk: deltalake's native provider reads it"
    if major(datafusion.__version__) > LAST_MAJOR_WITH_GAP:
        return NATIVE, "deltalake's native provider sees the session's object stores"
    return PYARROW_DATASET, (
        f"in an object store, deltalake's native provider cannot scan with datafusion "
        f"{datafusion.__version__} ({REMOTE_SCAN_ISSUE}); its snapshot's files are read as a "
        "pyarrow dataset"
    )


def delta_source(name: str, table: DeltaTable, provider: str) -> Any:
    """What the engine registers for ``table``: the table itself, or its pyarrow dataset.

    The pyarrow dataset path refuses (``ValueError`` naming the table, the feature and the
    way out) the reader features it cannot honour: deletion vectors, column mapping...
    """
    if provider == NATIVE:
        return table
    refused = _unreadable_features(table)
    if refused:
        feature = refused[0]
        fix = _FEATURE_FIXES.get(feature, "rewrite the table without it")
        raise ValueError(
            f"Delta table {name!r} uses the reader feature {feature!r}, which its files read "
            f"as a pyarrow dataset cannot honour (a table in an object store is read that way "
            f"with datafusion {datafusion.__version__}): {fix}, or copy the table to local "
            "disk, where deltalake's native provider reads it",
        )
    return Table(table.to_pyarrow_dataset())


def _unreadable_features(table: DeltaTable) -> list[str]:
    """The table's reader features the pyarrow dataset path cannot honour, sorted."""
    protocol = table.protocol()
    features = set(protocol.reader_features or ())
    mode = table.metadata().configuration.get("delta.columnMapping.mode", "none")
    if protocol.min_reader_version == 2 or mode != "none":
        features.add("columnMapping")
    return sorted(features - PYARROW_READER_FEATURES)


def _open_dataset(name: str, spec: DeltaDataset, stores: ObjectStores) -> DeltaTable:
    """Open a Delta dataset; a failure is a ``ProfileError`` at the field it is about."""
    location = spec.location
    require_path(name, stores.local_path(location))
    try:
        return open_delta(
            stores.delta_uri(location),
            stores.storage_options(location),
            version=spec.version,
            timestamp=None if spec.timestamp is None else spec.timestamp.moment,
            without_files=bool(spec.options.without_files),
        )
    except Exception as exc:
        from deltalake.exceptions import TableNotFoundError  # noqa: PLC0415 - loaded only for Delta (import cost)

        field = "location"
        if not isinstance(exc, TableNotFoundError):
            field = "version" if spec.version is not None else field
            field = "timestamp" if spec.timestamp is not None else field
        reason = stores.scrub(one_line(exc).replace(location.text, location.redacted()))
        raise ProfileError.at(
            f"datasets.{name}.{field}",
            f"Delta table {name!r} at {location.redacted()!r} could not be opened: {reason}",
        ) from None


@attrs.frozen
class DeltaTableFactory(TableProviderFactory):
    """``CREATE EXTERNAL TABLE t STORED AS DELTATABLE LOCATION '...'`` through the native provider.

    Storage options come from the object store the location lies in; the statement's
    ``OPTIONS`` may add only ``STATEMENT_OPTIONS`` (``'version' '3'`` or ``'timestamp' '...'``
    time-travel), and a remote location must lie in a registered store: SQL never decides
    where credentials go. The native-plugin guard runs before deltalake is touched.
    """

    stores: ObjectStores = attrs.field(factory=ObjectStores, repr=False)
    guard: PluginGuard = attrs.field(factory=PluginGuard)

    def create(self, cmd: Any) -> Table:
        """Open the table the statement names and hand it to the engine."""
        self.guard.check(DELTALAKE, required=True)
        table_name = cmd.name()
        location = _statement_location(table_name, _locations(cmd))
        options = self._statement_options(table_name, location, dict(cmd.options()))
        version = _statement_version(table_name, options.pop("version", None))
        timestamp = options.pop("timestamp", None)
        if version is not None and timestamp is not None:
            raise ValueError(
                f"CREATE EXTERNAL TABLE {table_name}: give OPTIONS 'version' or 'timestamp', "
                "not both"
            )
        storage_options = self.stores.storage_options(location)
        if options:  # client timeouts, for deltalake
            storage_options = {**(storage_options or {}), **options}
        table = open_delta(
            self.stores.delta_uri(location),
            storage_options,
            version=version,
            timestamp=None if timestamp is None else _statement_timestamp(table_name, timestamp),
        )
        provider, _ = delta_path(self.stores.local_path(location) is not None)
        source = delta_source(table_name, table, provider)
        return source if isinstance(source, Table) else Table(source)

    def _statement_options(
        self, table: str, location: Location, given: Mapping[str, str]
    ) -> dict[str, str]:
        """The statement's options, refused unless the location and every option are safe."""
        store = self.stores.find(location)
        if store is None and not location.is_local:
            root = location.root
            raise SqlPolicyError(
                f"CREATE EXTERNAL TABLE {table}: no [object_stores] entry covers {root!r}; SQL "
                "reads remote tables only through the profile's object stores, with their "
                f"credentials: add one, such as [object_stores.x] url = {root!r} with its kind",
                kind="DDL",
                statement="CreateExternalTable",
                field="object_stores",
            )
        options = {key.removeprefix("format."): value for key, value in given.items()}
        refused = sorted(key for key in options if key not in STATEMENT_OPTIONS)
        if refused:
            field = "object_stores" if store is None else f"object_stores.{store.name}.options"
            raise SqlPolicyError(
                f"CREATE EXTERNAL TABLE {table}: OPTIONS {', '.join(map(repr, refused))} may "
                "not be given in SQL: storage options decide where the store's credentials go, "
                f"so they come from the profile ({field}); a statement may give only "
                f"{', '.join(sorted(STATEMENT_OPTIONS))}",
                kind="DDL",
                statement="CreateExternalTable",
                field=field,
            )
        return options


def _locations(cmd: Any) -> list[str]:
    """The statement's locations: ``locations()`` from DataFusion 55, ``location()`` before."""
    if hasattr(cmd, "locations"):
        found: list[str] = cmd.locations()
        return found
    return [cmd.location()]


def _statement_location(table: str, locations: list[str]) -> Location:
    """The location a ``CREATE EXTERNAL TABLE`` statement names (credentials are refused)."""
    try:
        return Location.parse(locations[0] if locations else "")
    except ValueError as exc:
        raise ValueError(f"CREATE EXTERNAL TABLE {table}: LOCATION {exc}") from None


def _statement_version(table: str, text: str | None) -> int | None:
    """The table version of a statement's ``OPTIONS ('version' '3')``."""
    if text is None:
        return None
    if not text.isdigit():
        raise ValueError(
            f"CREATE EXTERNAL TABLE {table}: OPTIONS 'version' must be a table version >= 0 "
            f"(got {text!r})"
        )
    return int(text)


def _statement_timestamp(table: str, text: str) -> datetime:
    """The moment of a statement's ``OPTIONS ('timestamp' '...')``."""
    try:
        return Timestamp.parse(text).moment
    except ValueError as exc:
        raise ValueError(f"CREATE EXTERNAL TABLE {table}: OPTIONS 'timestamp' {exc}") from None


# --- writing ---------------------------------------------------------------------------------


def open_latest(uri: str, storage_options: dict[str, str] | None) -> DeltaTable | None:
    """The Delta table at ``uri`` at its latest version, or ``None`` when there is none yet."""
    from deltalake import DeltaTable  # noqa: PLC0415 - loaded only for Delta (import cost)
    from deltalake.exceptions import TableNotFoundError  # noqa: PLC0415 - loaded only for Delta (import cost)

    try:
        return DeltaTable(uri, storage_options=storage_options)
    except TableNotFoundError:
        return None


def table_version(uri: str, storage_options: dict[str, str] | None) -> int | None:
    """The latest version of the Delta table at ``uri``; ``None`` when it cannot be read."""
    try:
        table = open_latest(uri, storage_options)
    except Exception:
        return None
    return None if table is None else int(table.version())


def refuse_existing_folder(target: Location) -> None:
    """Creating a Delta table is refused in a local folder that holds other files."""
    if target.file_path is None:
        return  # remote: deltalake itself refuses an existing table
    path = Path(target.file_path)
    if path.is_dir() and any(path.iterdir()) and not (path / "_delta_log").exists():
        raise QueryError(
            f"write target {target.text!r} is a folder that already holds files (not a Delta "
            "table); write to a new or empty folder",
            query=target.text,
        )


def check_append_schema(target: Location, table: DeltaTable, incoming: pa.Schema) -> None:
    """An append must match the table's columns: deltalake would cast silently (1.9 -> 1)."""
    expected = pa.schema(table.schema().to_arrow())
    differences = schema_differences(expected, incoming, "exact")
    if differences:
        lines = "\n".join(f"  {line}" for line in differences)
        raise SchemaMismatchError(
            f"Delta append to {target.redacted()!r}: the data does not match the table's "
            f"columns, nothing was written:\n{lines}\ncast the query's columns to the table's "
            "types, or write with mode='overwrite' to replace the table",
            dataset=target.text,
            differences=differences,
        )


def write_delta(
    table: DeltaTable | None,
    uri: str,
    data: pa.RecordBatchReader,
    *,
    storage_options: dict[str, str] | None,
    mode: str,
    partition_by: tuple[str, ...] = (),
) -> int:
    """Write ``data`` with deltalake; the version this write committed.

    Through the table object when there is a table: deltalake leaves it at the version this
    write committed, whatever other writers commit. A write creating the table records a
    transaction of its own instead, to find its version by: concurrent writers may create the
    table first, so a creating write can land past version 0.
    """
    from deltalake import CommitProperties, write_deltalake  # noqa: PLC0415 - loaded only for Delta (import cost)
    from deltalake.transaction import Transaction  # noqa: PLC0415 - loaded only for Delta (import cost)

    delta_mode: Literal["error", "append", "overwrite"] = (
        "overwrite" if mode == "overwrite" else "append" if mode == "append" else "error"
    )
    partitions = list(partition_by) or None
    if table is not None:
        write_deltalake(table, data, mode=delta_mode, partition_by=partitions)
        return int(table.version())
    app_id = f"dfsession-write-{uuid.uuid4().hex}"
    write_deltalake(
        uri,
        data,
        mode=delta_mode,
        storage_options=storage_options,
        partition_by=partitions,
        commit_properties=CommitProperties(app_transactions=[Transaction(app_id, 0)]),
    )
    return _creation_version(uri, storage_options, app_id)


def _creation_version(uri: str, storage_options: dict[str, str] | None, app_id: str) -> int:
    """The version a write that found no table committed: the first holding its transaction."""
    newest = open_delta(uri, storage_options).version()
    for version in range(newest):
        table = open_delta(uri, storage_options, version=version)
        if table.transaction_version(app_id) is not None:
            return version
    return int(newest)


@attrs.frozen
class FolderState:
    """What a local Delta table folder held before a write, to put it back if the write fails.

    ``root`` is the folder, or its outermost ancestor that did not exist yet; ``entries`` the
    files and folders under it, relative to it.
    """

    root: Path
    existed: bool
    entries: frozenset[Path]
    table: Path

    @classmethod
    def of(cls, folder: Path) -> FolderState:
        """The state of ``folder`` now."""
        root = folder.absolute()
        while not root.exists() and not root.parent.exists():
            root = root.parent
        return cls(root, root.exists(), frozenset(_entries(root)), folder.absolute())

    def restore(self, referenced: Iterable[str]) -> None:
        """Remove what appeared since, except the table's log and the files it references.

        ``referenced``: the data files of the table's latest version (local paths or URIs).
        """
        keep = {
            Path(Location.parse(name).file_path or name).absolute().relative_to(self.root)
            for name in referenced
        }
        log = (self.table / "_delta_log").relative_to(self.root)
        new = sorted(set(_entries(self.root)) - self.entries - keep, reverse=True)
        for entry in new:  # deepest first: a folder after what it holds
            if entry.is_relative_to(log) and entry != log:
                continue  # commits are never undone here; a failed write made none
            _remove_new(self.root / entry)
        if not self.existed and self.root.is_dir() and not any(self.root.iterdir()):
            self.root.rmdir()


def _remove_new(path: Path) -> None:
    """Remove a file a failed write left, or the folder it made once that is empty."""
    if path.is_dir() and not path.is_symlink():
        if not any(path.iterdir()):
            path.rmdir()
    else:
        path.unlink(missing_ok=True)


def _entries(root: Path) -> Iterator[Path]:
    """Every file and folder under ``root``, relative to it; nothing if it does not exist."""
    return (path.relative_to(root) for path in root.rglob("*"))


class DeltaWrites:
    """The Delta writes running in one session, per table; it puts back what a failed one left."""

    __slots__ = ("_counts", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    @contextmanager
    def running(self, table: str) -> Iterator[None]:
        """Count a write to ``table`` for the duration of the block."""
        with self._lock:
            self._counts[table] += 1
        try:
            yield
        finally:
            with self._lock:
                self._counts[table] -= 1

    def alone(self, table: str) -> bool:
        """Whether one write to ``table`` runs (the caller's own) and no other."""
        with self._lock:
            return self._counts[table] == 1

    def put_back(
        self,
        before: FolderState | None,
        uri: str,
        storage_options: dict[str, str] | None,
        rows: int,
    ) -> str:
        """Remove the files a failed write left in a local folder; what was left, as text.

        Not while another write to the same table runs in this session: its files look alike.
        ``rows``: how many rows the writer read, so whether it may have written files.
        In an object store the files stay: deltalake's access to it from Python
        (``DeltaStorageHandler``) holds the GIL while it waits, and telling the write's files
        from older ones would take a listing of the whole table before every write.
        """
        vacuum = " (VACUUM removes files that no commit references)"
        if before is None:
            return f"; files it wrote may remain in the object store{vacuum}" if rows else ""
        if not self.alone(uri):
            return (
                "; the files it wrote were left in place, as another write to this table is "
                f"running in this session{vacuum}"
            )
        try:
            table = open_latest(uri, storage_options)
            before.restore(table.file_uris() if table is not None else [])
        except Exception as exc:  # best effort: the write's own error is the one to report
            return f"; removing the files it wrote failed ({one_line(exc)}){vacuum}"
        return ""
