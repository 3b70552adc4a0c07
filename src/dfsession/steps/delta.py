"""The ``delta`` step: Delta tables via deltalake's native provider; ``STORED AS DELTATABLE``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs
import datafusion
from datafusion.catalog import Table, TableProviderFactory

from dfsession.engine import DeltaGuard, check_delta_compatibility, major, one_line
from dfsession.errors import ProfileError, SqlPolicyError, StepFailedError
from dfsession.locations import (
    ObjectStores,
    StoreAccess,
    dataset_local_path,
    delta_target,
    find_store,
)
from dfsession.logs import get_logger
from dfsession.pipeline.step import SessionBuild
from dfsession.profile.datasets import DeltaDataset
from dfsession.profile.locations import Location
from dfsession.profile.values import Timestamp
from dfsession.record import StepRecord
from dfsession.schemas import check_declared_schema, schema_fingerprint, table_schema

if TYPE_CHECKING:
    from deltalake import DeltaTable

__all__ = [
    "DELTA_FORMAT",
    "DeltaStep",
    "DeltaTableFactory",
    "LAST_MAJOR_WITH_GAP",
    "REMOTE_SCAN_ISSUE",
    "open_delta",
]

log = get_logger(__name__)

#: The ``STORED AS`` name that ``CREATE EXTERNAL TABLE`` uses for Delta tables.
DELTA_FORMAT = "DELTATABLE"
#: Upstream issue: data scans of a Delta table in a remote store fail over DataFusion's FFI.
REMOTE_SCAN_ISSUE = "https://github.com/delta-io/delta-rs/issues/4623"
#: The newest DataFusion major known to have that gap (apache/datafusion#24733 closes it).
LAST_MAJOR_WITH_GAP = 55
#: The ``OPTIONS`` a ``CREATE EXTERNAL TABLE ... STORED AS DELTATABLE`` statement may give: time
#: travel and client timeouts. Any other storage option (endpoint, region, allow_http, proxy,
#: credentials...) could send the store's credentials to another host, so only the profile sets it.
STATEMENT_OPTIONS = frozenset({"version", "timestamp", "timeout", "connect_timeout"})


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
            first = datetime.fromtimestamp(table.history()[-1]["timestamp"] / 1000, tz=UTC)
            moment = timestamp if timestamp.tzinfo is not None else timestamp.replace(tzinfo=UTC)
            if moment < first:
                raise ValueError(
                    f"the table did not exist at {moment.isoformat()}: its first commit "
                    f"(version 0) is at {first.isoformat()}"
                )
    return table


@attrs.frozen
class DeltaTableFactory(TableProviderFactory):
    """``CREATE EXTERNAL TABLE t STORED AS DELTATABLE LOCATION '...'`` through the native provider.

    Storage options come from the object store the location lies in; the statement's
    ``OPTIONS`` may add only ``STATEMENT_OPTIONS`` (``'version' '3'`` or ``'timestamp' '...'``
    time-travel), and a remote location must lie in a registered store: SQL never decides
    where credentials go. The version guard runs before deltalake is touched.
    """

    stores: Mapping[str, StoreAccess] = attrs.field(factory=dict, repr=False)
    datafusion_major: int | None = None

    def create(self, cmd: Any) -> Table:
        """Open the table the statement names and hand it to the engine."""
        check_delta_compatibility(built_for=self.datafusion_major)
        location = _statement_location(cmd)
        options = self._statement_options(cmd.name(), location, dict(cmd.options()))
        uri, storage_options = delta_target(location, self.stores)
        version = options.pop("version", None)
        timestamp = options.pop("timestamp", None)
        if version is not None and timestamp is not None:
            raise ValueError(
                f"CREATE EXTERNAL TABLE {cmd.name()}: give OPTIONS 'version' or 'timestamp', "
                "not both"
            )
        if version is not None and not str(version).isdigit():
            raise ValueError(
                f"CREATE EXTERNAL TABLE {cmd.name()}: OPTIONS 'version' must be a table version "
                f">= 0 (got {version!r})"
            )
        if options:  # client timeouts, for deltalake
            storage_options = {**(storage_options or {}), **options}
        table = open_delta(
            uri,
            storage_options,
            version=None if version is None else int(version),
            timestamp=None if timestamp is None else _statement_timestamp(cmd.name(), timestamp),
        )
        return Table(table)

    def _statement_options(
        self, table: str, location: Location, given: Mapping[str, str]
    ) -> dict[str, str]:
        """The statement's options, refused unless the location and every option are safe."""
        store = find_store(location, self.stores)
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


@attrs.frozen(cache_hash=True)
class DeltaStep:
    """Register every ``format = "delta"`` dataset with deltalake's native table provider.

    ``datafusion_major`` tells the version guard which DataFusion major the installed
    deltalake was built for, when dfsession cannot tell (see ``dfsession.engine``).
    """

    name: str = "delta"
    requires: frozenset[str] = frozenset({"context", "object_stores"})
    provides: frozenset[str] = frozenset({"delta"})
    datafusion_major: int | None = None

    def install(self, build: SessionBuild) -> StepRecord:
        """Install the DELTATABLE factory, then open, register, check and record each table."""
        stores = build.need(ObjectStores)
        guard = DeltaGuard(self.datafusion_major)
        build.provide(guard)  # Delta writes run the guard as this build did
        ctx = build.ctx
        ctx.register_table_factory(
            DELTA_FORMAT, DeltaTableFactory(stores=stores, datafusion_major=self.datafusion_major)
        )
        profile = build.profile
        datasets = [
            (n, spec) for n, spec in profile.datasets.items() if isinstance(spec, DeltaDataset)
        ]
        if datasets:
            guard.check()
        opened: list[tuple[str, DeltaDataset, int]] = []
        for name, spec in datasets:
            table = self._open(name, spec, stores)
            try:
                ctx.register_table(name, table)
            except Exception as exc:
                raise _failed(name, spec, exc) from None
            opened.append((name, spec, table.version()))
        tables = ctx.catalog(profile.catalog.default_catalog).schema(profile.catalog.default_schema)
        records: list[dict[str, Any]] = []
        for name, spec, version in opened:
            try:
                actual = table_schema(ctx, tables, name)
            except Exception as exc:
                raise _failed(name, spec, exc) from None
            check_declared_schema(name, spec, actual)
            entry: dict[str, Any] = {
                "name": name,
                "format": "delta",
                "location": spec.location.redacted(),
                "version": version,
                "schema_mode": spec.effective_schema_mode,
                "schema_fingerprint": schema_fingerprint(actual),
            }
            if spec.timestamp is not None:
                entry["timestamp"] = spec.timestamp.text
            records.append(entry)
        return StepRecord(
            step=self.name, applied={"table_factory": DELTA_FORMAT, "datasets": records}
        )

    @staticmethod
    def _open(name: str, spec: DeltaDataset, stores: Mapping[str, StoreAccess]) -> DeltaTable:
        dataset_local_path(name, spec.location, stores)
        uri, storage_options = delta_target(spec.location, stores)
        if storage_options is not None and major(datafusion.__version__) <= LAST_MAJOR_WITH_GAP:
            log.warning(
                "dfsession.delta.remote_table",
                dataset=name,
                location=spec.location.redacted(),
                note="data scans of remote Delta tables fail with datafusion 55 (FFI object "
                "store gap); metadata and count(*) work",
                issue=REMOTE_SCAN_ISSUE,
            )
        try:
            return open_delta(
                uri,
                storage_options,
                version=spec.version,
                timestamp=None if spec.timestamp is None else spec.timestamp.moment,
                without_files=bool(spec.options.without_files),
            )
        except Exception as exc:
            from deltalake.exceptions import TableNotFoundError  # noqa: PLC0415 - loaded only for Delta (import cost)

            store = find_store(spec.location, stores)
            reason = _one_line(exc, spec.location)

            field = "location"
            if not isinstance(exc, TableNotFoundError):
                field = "version" if spec.version is not None else field
                field = "timestamp" if spec.timestamp is not None else field
            raise ProfileError.at(
                f"datasets.{name}.{field}",
                f"Delta table {name!r} at {spec.location.redacted()!r} could not "
                f"be opened: {store.scrub(reason) if store is not None else reason}",
            ) from None


def _failed(name: str, spec: DeltaDataset, exc: Exception) -> StepFailedError:
    return StepFailedError(
        f"Delta table {name!r} at {spec.location.redacted()!r}: the engine could not "
        f"register it: {_one_line(exc, spec.location)}"
    )


def _one_line(exc: BaseException, location: Location) -> str:
    return one_line(exc).replace(location.text, location.redacted())


def _statement_location(cmd: Any) -> Location:
    """The location a ``CREATE EXTERNAL TABLE`` statement names (credentials are refused)."""
    locations = cmd.locations()
    try:
        return Location.parse(locations[0] if locations else "")
    except ValueError as exc:
        raise ValueError(f"CREATE EXTERNAL TABLE {cmd.name()}: LOCATION {exc}") from None


def _statement_timestamp(table: str, text: str) -> datetime:
    """The moment of a statement's ``OPTIONS ('timestamp' '...')``."""
    try:
        return Timestamp.parse(text).moment
    except ValueError as exc:
        raise ValueError(f"CREATE EXTERNAL TABLE {table}: OPTIONS 'timestamp' {exc}") from None
