"""Datasets as tables: one adapter per format registers a spec; schemas are read back.

``table_job`` picks a dataset's adapter by its spec class; ``register_tables`` runs the jobs.
To add a format: a spec class in ``dfsession.profile.datasets``, one adapter (here for files,
or a module of its own like ``dfsession.engine.delta``) and its case in ``table_job``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, assert_never

import attrs
import pyarrow as pa
from datafusion import CsvReadOptions, SessionContext
from datafusion.catalog import Schema

from dfsession.engine.delta import register_delta
from dfsession.engine.iceberg import (
    IcebergCatalogs,
    included_tables,
    mount_included,
    mounted_name,
    register_iceberg,
)
from dfsession.engine.providers import Resolve, register_provider
from dfsession.engine.stores import ObjectStores, registration_failed, require_path
from dfsession.engine.versions import PluginGuard
from dfsession.errors import ProfileError
from dfsession.profile.catalogs import IcebergCatalog
from dfsession.profile.datasets import (
    ArrowDataset,
    CsvDataset,
    DatasetSpec,
    DeltaDataset,
    FileDataset,
    IcebergDataset,
    JsonDataset,
    LocatedDataset,
    ParquetDataset,
    ProviderDataset,
)
from dfsession.profile.sections import CatalogConfig

__all__ = [
    "DEFAULT_EXTENSIONS",
    "Facts",
    "TableJob",
    "catalog_jobs",
    "default_schema",
    "register_tables",
    "schema_named",
    "table_job",
    "table_schema",
]

T = TypeVar("T")
F = TypeVar("F", ParquetDataset, CsvDataset, JsonDataset, ArrowDataset)
#: What a registration adds to the dataset's record (a Delta table's version, say).
Facts = dict[str, Any]
#: The engine's default of the records it reads to infer a CSV or JSON schema.
INFER = 1000
#: The engine's default file extension of each format: only such files are read.
DEFAULT_EXTENSIONS = {"parquet": ".parquet", "csv": ".csv", "json": ".json", "arrow": ".arrow"}


@attrs.frozen
class TableJob:
    """One dataset's registration: ``run(ctx)`` registers it and returns its ``Facts``.

    ``schema``: the schema the table is registered in, when not the default one (the tables a
    catalog's ``include`` mounts under the catalog's name).
    """

    name: str
    spec: DatasetSpec
    run: Callable[[SessionContext], Facts] = attrs.field(eq=False, repr=False)
    schema: str | None = None

    @property
    def qualified_name(self) -> str:
        """``schema.name`` for a table of another schema; the name alone in the default one."""
        return self.name if self.schema is None else f"{self.schema}.{self.name}"

    @property
    def waits_on_store(self) -> bool:
        """Whether the registration reads an object store, where it waits on round trips.

        A trusted schema (``schema_mode = "trust"``) is registered without reading anything;
        a provider dataset's object does its own reading, if any; Iceberg tables share their
        catalog's client, so they are loaded one after another.
        """
        spec = self.spec
        if not isinstance(spec, LocatedDataset):
            return False
        return not spec.location.is_local and spec.effective_schema_mode != "trust"


def register_tables(
    ctx: SessionContext, jobs: Sequence[TableJob], concurrency: int = 1
) -> list[Facts]:
    """Run the registration jobs, up to ``concurrency`` at once; the facts of each, in order.

    The engine releases the interpreter lock while a registration waits on its store, so the
    round trips of several registrations overlap. Whatever finishes first, the facts come in
    the jobs' order and the error raised is that of the first failing job in that order: jobs
    start in order, so every job before it has run; the jobs after it are cancelled or, when
    already running, awaited before the error is raised. Jobs that wait on no store (local
    files, trusted schemas) run one after another: the engine's work is CPU-bound there and
    threads only add their cost.
    """
    waiting = sum(job.waits_on_store for job in jobs)
    if concurrency <= 1 or waiting <= 1:
        return [job.run(ctx) for job in jobs]
    with ThreadPoolExecutor(
        max_workers=min(concurrency, waiting), thread_name_prefix="dfsession-register"
    ) as pool:
        running = [pool.submit(job.run, ctx) for job in jobs]
        try:
            return [future.result() for future in running]
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def table_job(
    name: str,
    spec: DatasetSpec,
    stores: ObjectStores,
    *,
    guard: PluginGuard | None = None,
    resolve: Resolve | None = None,
    catalogs: IcebergCatalogs | None = None,
) -> TableJob:
    """The job that registers dataset ``name`` through the adapter of its format.

    ``guard`` checks the native plugins a provider dataset hands the engine, and ``resolve``
    imports its reference (needed for a provider dataset); ``catalogs``: the profile's Iceberg
    catalogs, which an Iceberg dataset is read through (needed for an Iceberg dataset).
    """
    match spec:
        case ParquetDataset():
            run = partial(_files, name, spec, stores, _parquet)
        case CsvDataset():
            run = partial(_files, name, spec, stores, _csv)
        case JsonDataset():
            run = partial(_files, name, spec, stores, _json)
        case ArrowDataset():
            run = partial(_files, name, spec, stores, _arrow)
        case DeltaDataset():
            run = partial(register_delta, name, spec, stores, guard or PluginGuard())
        case ProviderDataset():
            if resolve is None:
                raise TypeError(f"dataset {name!r} is a provider dataset: pass resolve=")
            run = partial(register_provider, name, spec, guard or PluginGuard(), resolve)
        case IcebergDataset():
            if catalogs is None:
                raise TypeError(f"dataset {name!r} is an Iceberg table: pass catalogs=")
            run = partial(register_iceberg, name, spec, catalogs)
        case _:
            assert_never(spec)
    return TableJob(name, spec, run)


def catalog_jobs(
    ctx: SessionContext,
    catalog: CatalogConfig,
    specs: Mapping[str, IcebergCatalog],
    catalogs: IcebergCatalogs,
) -> list[TableJob]:
    """The jobs mounting each catalog's ``include``d tables under a schema named like it.

    Lists the catalogs' tables and makes the schemas now, so that the jobs only register.
    """
    jobs = []
    for name, spec in specs.items():
        if not spec.include:
            continue
        tables = included_tables(catalogs, name, spec)
        _refuse_same_names(name, tables)
        ctx.catalog(catalog.default_catalog).register_schema(name, Schema.memory_schema())
        jobs += [
            TableJob(
                mounted_name(table),
                IcebergDataset(catalog=name, table=table),
                partial(mount_included, name, catalog.default_catalog, table, catalogs),
                schema=name,
            )
            for table in tables
        ]
    return jobs


def _refuse_same_names(catalog: str, tables: Sequence[str]) -> None:
    """Two included tables of one name (in two namespaces) cannot share the catalog's schema."""
    seen: dict[str, str] = {}
    for table in tables:
        other = seen.setdefault(mounted_name(table), table)
        if other != table:
            raise ProfileError.at(
                f"catalogs.{catalog}.include",
                f"tables {other!r} and {table!r} would both be mounted as "
                f"{catalog}.{mounted_name(table)}; narrow include, or declare one of them as "
                'a dataset (format = "iceberg") under a name of its own',
            )


def default_schema(ctx: SessionContext, catalog: CatalogConfig) -> Schema:
    """The schema provider tables are registered in: the profile's default catalog and schema."""
    return ctx.catalog(catalog.default_catalog).schema(catalog.default_schema)


def schema_named(ctx: SessionContext, catalog: CatalogConfig, name: str | None) -> Schema:
    """The schema provider ``name`` of the default catalog (made when missing), or the default."""
    if name is None:
        return default_schema(ctx, catalog)
    tables = ctx.catalog(catalog.default_catalog)
    if name not in tables.schema_names():
        tables.register_schema(name, Schema.memory_schema())
    return tables.schema(name)


def table_schema(ctx: SessionContext, tables: Schema, name: str) -> pa.Schema:
    """A registered table's schema as the engine sees it (through the schema provider: cheap)."""
    try:
        schema: pa.Schema = tables.table(name).schema
    except Exception:  # a name the engine normalizes (upper case): ask the context
        schema = ctx.table(name).schema()
    return schema


# --- files: parquet, csv, json, arrow ----------------------------------------------------------


@attrs.frozen
class _Where:
    """Where the engine reads a file dataset: the location, which files, and a trusted schema.

    ``trusted`` is the files' schema when the profile says to trust its declared one
    (``schema_mode = "trust"``): the engine is given it and reads none of the files to infer it.
    """

    location: str
    extension: str
    trusted: pa.Schema | None = None


#: A file format's adapter: registers one dataset read from ``_Where``.
_Adapter = Callable[[SessionContext, str, F, _Where], None]


def _files(
    name: str, spec: F, stores: ObjectStores, adapter: _Adapter[F], ctx: SessionContext
) -> Facts:
    """Register a file dataset with its format's ``adapter``; a failure names the dataset."""
    path = stores.local_path(spec.location)
    where = _Where(_folder_location(spec, path), _file_extension(spec, path), _trusted(spec))
    try:
        adapter(ctx, name, spec, where)
    except Exception as exc:
        # The engine refuses a missing path too; look at the disk only then, to say so.
        require_path(name, path)
        raise registration_failed(name, spec, exc, stores) from None
    return {}


def _trusted(spec: FileDataset) -> pa.Schema | None:
    """The declared schema without partition columns (the engine adds those), if trusted."""
    if spec.effective_schema_mode != "trust" or spec.schema is None:
        return None
    return pa.schema(
        pa.field(name, type_)
        for name, type_ in spec.schema.items()
        if name not in spec.partition_cols
    )


def _given(value: T | None, default: T) -> T:
    """An option's value, or the engine's default when the profile does not give it."""
    return default if value is None else value


def _partitions(spec: FileDataset) -> list[tuple[str, pa.DataType]] | None:
    return list(spec.partition_cols.items()) or None


def _parquet(ctx: SessionContext, name: str, spec: ParquetDataset, where: _Where) -> None:
    ctx.register_parquet(
        name,
        where.location,
        table_partition_cols=_partitions(spec),
        file_extension=where.extension,
        skip_metadata=_given(spec.options.skip_metadata, True),
        schema=where.trusted,
    )


def _csv(ctx: SessionContext, name: str, spec: CsvDataset, where: _Where) -> None:
    def register(schema: pa.Schema | None) -> None:
        options = spec.options
        read = CsvReadOptions(
            has_header=_given(options.has_header, True),
            delimiter=_given(options.delimiter, ","),
            schema_infer_max_records=_given(options.schema_infer_max_records, INFER),
            file_extension=where.extension,
            table_partition_cols=_partitions(spec),
            schema=schema,
        )
        ctx.register_csv(name, where.location, options=read)

    _with_declared_types(ctx, name, spec, where, register)


def _json(ctx: SessionContext, name: str, spec: JsonDataset, where: _Where) -> None:
    def register(schema: pa.Schema | None) -> None:
        ctx.register_json(
            name,
            where.location,
            schema=schema,
            schema_infer_max_records=_given(spec.options.schema_infer_max_records, INFER),
            file_extension=where.extension,
            table_partition_cols=_partitions(spec),
        )

    _with_declared_types(ctx, name, spec, where, register)


def _arrow(ctx: SessionContext, name: str, spec: ArrowDataset, where: _Where) -> None:
    ctx.register_arrow(
        name,
        where.location,
        schema=where.trusted,
        file_extension=where.extension,
        table_partition_cols=_partitions(spec),
    )


def _with_declared_types(
    ctx: SessionContext,
    name: str,
    spec: CsvDataset | JsonDataset,
    where: _Where,
    register: Callable[[pa.Schema | None], None],
) -> None:
    """Register a text dataset, then again with its declared types if the engine read others.

    Text formats carry no types: a declared ``string`` column of ``01234`` must not be read as
    the integer the engine would infer. A trusted schema is registered as it is, unread.
    """
    if where.trusted is not None:
        register(where.trusted)
        return
    register(None)
    if spec.schema is None:
        return
    wanted = _declared_text_schema(spec, ctx.table(name).schema())
    if wanted is not None:
        ctx.deregister_table(name)
        register(wanted)


def _declared_text_schema(spec: CsvDataset | JsonDataset, inferred: pa.Schema) -> pa.Schema | None:
    """The inferred file schema with the declared types put in, if that differs.

    A headerless CSV has no names either: the declared columns name the file's columns by
    position.
    """
    declared: Mapping[str, pa.DataType] = spec.schema or {}
    current = [f for f in inferred if f.name not in spec.partition_cols]
    wanted = pa.schema(
        pa.field(name, declared.get(name, f.type), nullable=True)
        for name, f in zip(_column_names(spec, current), current, strict=True)
    )
    return None if wanted.equals(pa.schema(current)) else wanted


def _column_names(spec: CsvDataset | JsonDataset, current: list[pa.Field]) -> list[str]:
    """The names of a text file's columns: as read, or the declared ones for headerless CSV."""
    if not isinstance(spec, CsvDataset) or spec.options.has_header is not False:
        return [f.name for f in current]
    declared: Mapping[str, pa.DataType] = spec.schema or {}
    named = [n for n in declared if n not in spec.partition_cols][: len(current)]
    return named + [f.name for f in current[len(named) :]]


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
    default = DEFAULT_EXTENSIONS[spec.format]
    text = spec.location.text
    tail = text.rsplit("/", 1)[-1]
    if text.endswith("/") or "." not in tail:
        return default
    own = "." + tail.rsplit(".", 1)[1]
    # A folder named like a file reads the format's files: ask the disk only when that differs.
    if own == default or (path is not None and not Path(path).is_file()):
        return default
    return own
