"""The ``datasets`` step: the schema registry for parquet, csv, json and Arrow IPC tables."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, assert_never

import attrs
import pyarrow as pa
from datafusion import CsvReadOptions, SessionContext

from dfsession.engine import one_line
from dfsession.errors import StepFailedError
from dfsession.locations import (
    ObjectStores,
    StoreAccess,
    find_store,
    local_path,
    require_path,
)
from dfsession.pipeline.step import SessionBuild
from dfsession.profile.datasets import (
    ArrowDataset,
    CsvDataset,
    DeltaDataset,
    JsonDataset,
    ParquetDataset,
)
from dfsession.record import StepRecord
from dfsession.schemas import check_declared_schema, schema_fingerprint, table_schema

__all__ = [
    "DatasetsStep",
]

T = TypeVar("T")
#: A dataset this step registers: every format but Delta (the ``delta`` step's).
FileDataset = ParquetDataset | CsvDataset | JsonDataset | ArrowDataset
#: The engine's default of the records it reads to infer a CSV or JSON schema.
INFER = 1000
#: The engine's default file extension of each format: only such files are read.
_DEFAULT_EXTENSIONS = {"parquet": ".parquet", "csv": ".csv", "json": ".json", "arrow": ".arrow"}


def _given(value: T | None, default: T) -> T:
    """An option's value, or the engine's default when the profile does not give it."""
    return default if value is None else value


@attrs.frozen
class _Table:
    """A file dataset as this step registers it: where the engine reads, which files."""

    name: str
    spec: FileDataset
    location: str
    extension: str


def _register(ctx: SessionContext, table: _Table, schema: pa.Schema | None = None) -> None:
    """One engine registration call for a file dataset (``schema``: CSV and JSON only)."""
    name, spec, location, extension = table.name, table.spec, table.location, table.extension
    partitions = list(spec.partition_cols.items()) or None
    match spec:
        case ParquetDataset():
            ctx.register_parquet(
                name,
                location,
                table_partition_cols=partitions,
                file_extension=extension,
                skip_metadata=_given(spec.options.skip_metadata, True),
            )
        case CsvDataset():
            ctx.register_csv(name, location, options=_csv_options(spec, extension, schema))
        case JsonDataset():
            ctx.register_json(
                name,
                location,
                schema=schema,
                schema_infer_max_records=_given(spec.options.schema_infer_max_records, INFER),
                file_extension=extension,
                table_partition_cols=partitions,
            )
        case ArrowDataset():
            ctx.register_arrow(
                name, location, file_extension=extension, table_partition_cols=partitions
            )
        case _:
            assert_never(spec)


def _csv_options(spec: CsvDataset, extension: str, schema: pa.Schema | None) -> CsvReadOptions:
    options = spec.options
    return CsvReadOptions(
        has_header=_given(options.has_header, True),
        delimiter=_given(options.delimiter, ","),
        schema_infer_max_records=_given(options.schema_infer_max_records, INFER),
        file_extension=extension,
        table_partition_cols=list(spec.partition_cols.items()) or None,
        schema=schema,
    )


def _declared_text_schema(spec: FileDataset, inferred: pa.Schema) -> pa.Schema | None:
    """For CSV and JSON, the inferred file schema with the declared types put in, if it differs.

    Text formats carry no types: a declared ``string`` column of ``01234`` must not be read as
    the integer the engine would infer. Self-describing formats keep their own types, so a
    difference there is a real mismatch for the schema check to report. A headerless CSV has
    no names either: the declared columns name the file's columns by position.
    """
    if not isinstance(spec, CsvDataset | JsonDataset) or spec.schema is None:
        return None
    current = [f for f in inferred if f.name not in spec.partition_cols]
    declared = spec.schema
    if isinstance(spec, CsvDataset) and spec.options.has_header is False:
        named = [n for n in declared if n not in spec.partition_cols][: len(current)]
        current_names = named + [f.name for f in current[len(named) :]]
    else:
        current_names = [f.name for f in current]
    wanted = pa.schema(
        pa.field(name, declared.get(name, f.type), nullable=True)
        for name, f in zip(current_names, current, strict=True)
    )
    return None if wanted.equals(pa.schema(current)) else wanted


def _table(name: str, spec: FileDataset, path: str | None) -> _Table:
    """What the engine is given for a dataset at local ``path`` (``None``: a remote one)."""
    return _Table(name, spec, _folder_location(spec, path), _file_extension(spec, path))


def _folder_location(spec: FileDataset, path: str | None) -> str:
    """A store URL naming a local folder gets its trailing ``/``, as the engine needs."""
    location = spec.location
    if path is None or location.is_local or location.text.endswith("/"):
        return location.text
    return location.text + "/" if Path(path).is_dir() else location.text


def _file_extension(spec: FileDataset, path: str | None) -> str:
    """The given extension, else the format's; a single file keeps its own (``x.ndjson``)."""
    if spec.options.file_extension is not None:
        return spec.options.file_extension
    default = _DEFAULT_EXTENSIONS[spec.format]
    text = spec.location.text
    tail = text.rsplit("/", 1)[-1]
    if text.endswith("/") or "." not in tail:
        return default
    if path is not None and not Path(path).is_file():
        return default
    return "." + tail.rsplit(".", 1)[1]


def _failed(
    name: str, spec: FileDataset, exc: Exception, stores: Mapping[str, StoreAccess]
) -> StepFailedError:
    """The registration error, naming the dataset, with credentials kept out of the message."""
    location = spec.location
    where = location.redacted()
    reason = one_line(exc).replace(location.text, where)
    store = find_store(location, stores)
    if store is not None:
        reason = store.scrub(reason)
    elif not location.is_local:
        return StepFailedError(
            f"dataset {name!r} ({spec.format} at {where!r}): no [object_stores] entry covers "
            f"{location.root!r}; add one, such as [object_stores.x] url = {location.root!r} "
            "with its kind"
        )
    return StepFailedError(
        f"dataset {name!r} ({spec.format} at {where!r}): the engine could not register it: {reason}"
    )


@attrs.frozen(cache_hash=True)
class DatasetsStep:
    """Register every non-Delta dataset, check it against its declared schema, record it."""

    name: str = "datasets"
    requires: frozenset[str] = frozenset({"context", "object_stores"})
    provides: frozenset[str] = frozenset({"datasets"})

    def install(self, build: SessionBuild) -> StepRecord:
        """Register, then check and fingerprint each dataset; Delta ones are the ``delta`` step's.

        Registering every table first and reading schemas after is measurably faster than
        interleaving the two (see benchmarks/bench_datasets.py).
        """
        profile = build.profile
        datasets = [
            (n, spec) for n, spec in profile.datasets.items() if not isinstance(spec, DeltaDataset)
        ]
        if not datasets:
            return StepRecord.skipped(self.name, "no non-Delta [datasets] in the profile")
        stores = build.need(ObjectStores)
        ctx = build.ctx
        registered: list[_Table] = []
        for name, spec in datasets:
            path = local_path(spec.location, stores)
            table = _table(name, spec, path)
            try:
                _register(ctx, table)
            except Exception as exc:
                # The engine refuses a missing path too; look at the disk only then, to say so.
                require_path(name, path)
                raise _failed(name, spec, exc, stores) from None
            registered.append(table)
        catalog = profile.catalog
        tables = ctx.catalog(catalog.default_catalog).schema(catalog.default_schema)
        records: list[dict[str, Any]] = []
        for table in registered:
            name, spec = table.name, table.spec
            try:
                actual = table_schema(ctx, tables, name)
                reread = _declared_text_schema(spec, actual)
                if reread is not None:
                    ctx.deregister_table(name)
                    _register(ctx, table, reread)
                    actual = table_schema(ctx, tables, name)
            except Exception as exc:
                raise _failed(name, spec, exc, stores) from None
            check_declared_schema(name, spec, actual)
            records.append(
                {
                    "name": name,
                    "format": spec.format,
                    "location": spec.location.redacted(),
                    "schema_mode": spec.effective_schema_mode,
                    "schema_fingerprint": schema_fingerprint(actual),
                }
            )
        return StepRecord(step=self.name, applied={"datasets": records})
