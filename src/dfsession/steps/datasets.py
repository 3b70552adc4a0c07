"""The ``datasets`` step: the schema registry for every declared dataset, Delta and Iceberg
tables included, and the tables that Iceberg catalogs' ``include`` mounts."""

from __future__ import annotations

import os
from typing import Any

import attrs
from datafusion import SessionContext

from dfsession.engine.iceberg import IcebergCatalogs, catalog_record
from dfsession.engine.schemas import check_declared_schema, schema_fingerprint
from dfsession.engine.stores import ObjectStores, registration_failed
from dfsession.engine.tables import (
    TableJob,
    catalog_jobs,
    default_schema,
    register_tables,
    table_job,
    table_schema,
)
from dfsession.engine.versions import DELTALAKE, NativePlugins, PluginGuard
from dfsession.pipeline.step import SessionBuild
from dfsession.profile.datasets import DeltaDataset, IcebergDataset
from dfsession.profile.model import SessionProfile
from dfsession.record import StepRecord

__all__ = [
    "DatasetsStep",
]


@attrs.frozen(cache_hash=True)
class DatasetsStep:
    """Register every dataset through its format's adapter, check its schema, record it.

    Delta tables are opened after the version guard the ``delta`` step hands on has passed
    (the default guard when no step hands one on). Iceberg catalogs are loaded (their secrets
    resolved) when a table of theirs is registered.
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
        datasets = profile.datasets
        mounting = any(catalog.include for catalog in profile.catalogs.values())
        if not datasets and not mounting:
            return StepRecord.skipped(self.name, "no [datasets] in the profile")
        stores = build.need(ObjectStores)
        guard = build.get(PluginGuard) or PluginGuard()
        plugins = build.get(NativePlugins)
        if any(isinstance(spec, DeltaDataset) for spec in datasets.values()):
            plugin = guard.check(DELTALAKE, required=True)  # before deltalake's native code
            if plugins is not None:
                plugins.add(plugin)
        ctx = build.ctx
        catalogs = _catalogs(profile, guard, plugins)
        jobs = [table_job(name, spec, stores, catalogs) for name, spec in datasets.items()]
        if catalogs is not None:
            jobs += catalog_jobs(ctx, profile.catalog, profile.catalogs, catalogs)
        registered = register_tables(ctx, jobs)
        records = [
            _record(ctx, profile, stores, job, facts)
            for job, facts in zip(jobs, registered, strict=True)
        ]
        applied: dict[str, Any] = {"datasets": records}
        if profile.catalogs:
            applied["catalogs"] = [catalog_record(n, c) for n, c in profile.catalogs.items()]
        return StepRecord(step=self.name, applied=applied)


def _catalogs(
    profile: SessionProfile, guard: PluginGuard, plugins: NativePlugins | None
) -> IcebergCatalogs | None:
    """The profile's Iceberg catalogs, when a dataset or an ``include`` reads one."""
    used = any(isinstance(spec, IcebergDataset) for spec in profile.datasets.values())
    if not used and not any(catalog.include for catalog in profile.catalogs.values()):
        return None
    return IcebergCatalogs(profile.catalogs, os.environ, guard=guard, plugins=plugins)


def _record(
    ctx: SessionContext,
    profile: SessionProfile,
    stores: ObjectStores,
    job: TableJob,
    facts: dict[str, Any],
) -> dict[str, Any]:
    """Read back one registered table's schema, check it, and say what was registered."""
    spec = job.spec
    tables = default_schema(ctx, profile.catalog)
    if job.schema is not None:
        tables = ctx.catalog(profile.catalog.default_catalog).schema(job.schema)
    try:
        actual = table_schema(ctx, tables, job.name)
    except Exception as exc:
        raise registration_failed(job.qualified_name, spec, exc, stores) from None
    check_declared_schema(job.qualified_name, spec, actual)
    where = {} if isinstance(spec, IcebergDataset) else {"location": spec.location.redacted()}
    return {
        "name": job.qualified_name,
        "format": spec.format,
        **where,
        **facts,
        "schema_mode": spec.effective_schema_mode,
        "schema_fingerprint": schema_fingerprint(actual),
    }
