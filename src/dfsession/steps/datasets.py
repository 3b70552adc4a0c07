"""The ``datasets`` step: the schema registry for every declared dataset (Delta, Iceberg and
provider tables included), the tables Iceberg catalogs' ``include`` mounts and the tables the
``discover`` step found."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
from datafusion import SessionContext

from dfsession.engine.cluster import REASONS
from dfsession.engine.discovery import Discovered, FoundTable
from dfsession.engine.iceberg import IcebergCatalogs, catalog_record
from dfsession.engine.providers import Resolve
from dfsession.engine.schemas import check_declared_schema, schema_fingerprint
from dfsession.engine.stores import ObjectStores, registration_failed
from dfsession.engine.tables import (
    Facts,
    TableJob,
    catalog_jobs,
    default_schema,
    register_tables,
    schema_named,
    table_job,
    table_schema,
)
from dfsession.engine.text import sql_identifier
from dfsession.engine.versions import DELTALAKE, NativePlugins, PluginGuard
from dfsession.errors import DfSessionError
from dfsession.imports import ReferenceResolver
from dfsession.pipeline.portability import Unportable
from dfsession.pipeline.step import SessionBuild
from dfsession.profile.arrow_types import format_arrow_type
from dfsession.profile.datasets import (
    DatasetSpec,
    DeltaDataset,
    FileDataset,
    IcebergDataset,
    LocatedDataset,
    ProviderDataset,
)
from dfsession.profile.model import SessionProfile
from dfsession.record import StepRecord

__all__ = [
    "DatasetsStep",
]

#: The datasets a cluster can read: listing tables of files, which the client sends as a plan.


@attrs.frozen(cache_hash=True)
class DatasetsStep:
    """Register every dataset through its format's adapter, check its schema, record it.

    Delta tables are opened after the version guard the ``delta`` step hands on has passed
    (the default guard when no step hands one on). The tables the ``discover`` step found come
    last, each in its schema, recorded like declared ones. Iceberg catalogs are loaded (their
    secrets resolved) when a table of theirs is registered.
    """

    name: str = "datasets"
    requires: frozenset[str] = frozenset({"context", "object_stores"})
    provides: frozenset[str] = frozenset({"datasets"})

    def install(self, build: SessionBuild) -> StepRecord:
        """Register every dataset, then read back, check and fingerprint each schema.

        Registering every table first and reading schemas after is measurably faster than
        interleaving the two (see benchmarks/bench_datasets.py).
        """
        profile = build.profile
        datasets, found = profile.datasets, _discovered(build)
        mounting = any(catalog.include for catalog in profile.catalogs.values())
        if not datasets and not mounting and not found:
            more = ", and [discover] found no table" if profile.discover else ""
            return StepRecord.skipped(self.name, f"no [datasets] in the profile{more}")
        stores = build.need(ObjectStores)
        guard = (build.get(PluginGuard) or PluginGuard()).noting(build.get(NativePlugins))
        delta = (*datasets.values(), *(table.spec for table in found))
        if any(isinstance(spec, DeltaDataset) for spec in delta):
            guard.check(DELTALAKE, required=True)  # before deltalake's native code
        ctx = build.ctx
        resolve = _imported(datasets, profile.features.import_paths)
        catalogs = _catalogs(profile, guard)
        jobs = [
            table_job(name, spec, stores, guard=guard, resolve=resolve, catalogs=catalogs)
            for name, spec in datasets.items()
        ]
        if catalogs is not None:
            jobs += catalog_jobs(ctx, profile.catalog, profile.catalogs, catalogs)
        extras: list[dict[str, Any]] = [{} for _job in jobs]
        for table in found:
            jobs.append(_found_job(table, stores, guard))
            extras.append(_found_facts(table))
        for schema in {table.schema for table in found}:
            schema_named(ctx, profile.catalog, schema)  # discovered tables go into theirs
        concurrency = profile.execution.effective_registration_concurrency
        registered = register_tables(ctx, jobs, concurrency)
        records = [
            _checked(ctx, profile, job, {**extra, **facts}, stores)
            for job, extra, facts in zip(jobs, extras, registered, strict=True)
        ]
        applied: dict[str, Any] = {"datasets": records}
        if profile.catalogs:
            applied["catalogs"] = [catalog_record(n, c) for n, c in profile.catalogs.items()]
        return StepRecord(step=self.name, applied=applied)

    def unportable(self, profile: SessionProfile) -> Iterator[Unportable]:
        """Datasets read by a provider of this process, and files in object stores."""
        for name, spec in profile.datasets.items():
            if not isinstance(spec, FileDataset):
                reason = f"a {spec.format!r} dataset: {REASONS['table_provider']}"
                yield Unportable(f"datasets.{name}", reason)
            elif not spec.location.is_local:
                yield Unportable(f"datasets.{name}.location", REASONS["remote_dataset"])
        for name, catalog in profile.catalogs.items():
            if catalog.include:
                reason = f"the tables it mounts: {REASONS['table_provider']}"
                yield Unportable(f"catalogs.{name}.include", reason)


def _discovered(build: SessionBuild) -> tuple[FoundTable, ...]:
    """The tables the ``discover`` step found; an error if the profile has some but none ran."""
    found = build.get(Discovered)
    if found is None:
        if build.profile.discover:
            raise DfSessionError(
                "the profile has [discover] entries but no step discovered tables before "
                "'datasets'; put DiscoverStep() before DatasetsStep() in the step list"
            )
        return ()
    return found.tables


def _found_job(table: FoundTable, stores: ObjectStores, guard: PluginGuard) -> TableJob:
    """A discovered table's job: registered under its quoted name, in its schema."""
    parts = [table.name] if table.schema is None else [table.schema, table.name]
    reference = ".".join(map(sql_identifier, parts))
    job = table_job(reference, table.spec, stores, guard=guard)
    return attrs.evolve(job, name=table.name, schema=table.schema)


def _found_facts(table: FoundTable) -> dict[str, Any]:
    """What a discovered table's record adds: who found it, the partitions found."""
    facts: dict[str, Any] = {"discovered_by": f"discover.{table.source}"}
    if isinstance(table.spec, FileDataset) and table.spec.partition_cols:
        partitions = table.spec.partition_cols.items()
        facts["partition_cols"] = {k: format_arrow_type(v) for k, v in partitions}
    return facts


def _imported(datasets: Mapping[str, DatasetSpec], search: tuple[str, ...]) -> Resolve:
    """Provider datasets' references, imported now, one after another; jobs look them up.

    An import puts ``search`` on ``sys.path`` for its duration: jobs that may run concurrently
    must not import.
    """
    resolver = ReferenceResolver(search)
    found: dict[str, object] = {
        str(spec.ref): resolver.resolve(spec.ref, f"datasets.{name}.ref")
        for name, spec in datasets.items()
        if isinstance(spec, ProviderDataset)
    }
    return lambda ref, _path: found[ref]


def _catalogs(profile: SessionProfile, guard: PluginGuard) -> IcebergCatalogs | None:
    """The profile's Iceberg catalogs, when a dataset or an ``include`` reads one."""
    used = any(isinstance(spec, IcebergDataset) for spec in profile.datasets.values())
    if not used and not any(catalog.include for catalog in profile.catalogs.values()):
        return None
    return IcebergCatalogs(profile.catalogs, os.environ, guard=guard)


def _checked(
    ctx: SessionContext,
    profile: SessionProfile,
    job: TableJob,
    facts: Facts,
    stores: ObjectStores,
) -> dict[str, Any]:
    """A registered table's record, once its schema is read back and checked."""
    spec = job.spec
    tables = default_schema(ctx, profile.catalog)
    if job.schema is not None:  # mounted by a catalog's include
        tables = ctx.catalog(profile.catalog.default_catalog).schema(job.schema)
    try:
        actual = table_schema(ctx, tables, job.name)
    except Exception as exc:
        if not isinstance(spec, LocatedDataset):  # its adapter names it in its own errors
            raise
        raise registration_failed(job.qualified_name, spec, exc, stores) from None
    check_declared_schema(job.qualified_name, spec, actual)
    where = {"location": spec.location.redacted()} if isinstance(spec, LocatedDataset) else {}
    return {
        "name": job.qualified_name,
        "format": spec.format,
        **where,
        **facts,
        "schema_mode": spec.effective_schema_mode,
        "schema_fingerprint": schema_fingerprint(actual),
    }
