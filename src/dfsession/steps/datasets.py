"""The ``datasets`` step: the schema registry for every declared and discovered dataset."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from datafusion import SessionContext
from datafusion.catalog import Schema

from dfsession.engine.discovery import Discovered, FoundTable
from dfsession.engine.providers import Resolve
from dfsession.engine.schemas import check_declared_schema, schema_fingerprint
from dfsession.engine.stores import ObjectStores, registration_failed
from dfsession.engine.tables import (
    Facts,
    TableJob,
    register_tables,
    schema_named,
    table_job,
    table_schema,
)
from dfsession.engine.text import sql_identifier
from dfsession.engine.versions import DELTALAKE, NativePlugins, PluginGuard
from dfsession.errors import DfSessionError
from dfsession.imports import ReferenceResolver
from dfsession.pipeline.step import SessionBuild
from dfsession.profile.arrow_types import format_arrow_type
from dfsession.profile.datasets import DatasetSpec, DeltaDataset, ProviderDataset
from dfsession.record import StepRecord

__all__ = [
    "DatasetsStep",
]


@attrs.frozen
class _Entry:
    """One dataset to register: its job, the schema it goes in, what its record adds."""

    job: TableJob
    name: str
    schema: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(cache_hash=True)
class DatasetsStep:
    """Register every dataset through its format's adapter, check its schema, record it.

    The declared datasets, then the tables the ``discover`` step found (each in its schema).
    Delta tables are opened after the version guard the ``delta`` step hands on has passed
    (the default guard when no step hands one on).
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
        if not datasets and not found:
            more = ", and [discover] found no table" if profile.discover else ""
            return StepRecord.skipped(self.name, f"no [datasets] in the profile{more}")
        stores = build.need(ObjectStores)
        guard = (build.get(PluginGuard) or PluginGuard()).noting(build.get(NativePlugins))
        resolve = _imported(datasets, profile.features.import_paths)
        entries = [
            _Entry(table_job(name, spec, stores, guard=guard, resolve=resolve), name)
            for name, spec in datasets.items()
        ]
        entries += [_found_entry(table, stores, guard) for table in found]
        if any(isinstance(entry.job.spec, DeltaDataset) for entry in entries):
            guard.check(DELTALAKE, required=True)  # before deltalake's native code
        ctx, catalog = build.ctx, profile.catalog
        # Every schema first (discovered tables go into theirs), read through its provider.
        schemas = {name: schema_named(ctx, catalog, name) for name in {e.schema for e in entries}}
        registered = register_tables(ctx, [entry.job for entry in entries])
        records = [
            _checked(ctx, schemas[entry.schema], entry, facts, stores)
            for entry, facts in zip(entries, registered, strict=True)
        ]
        return StepRecord(step=self.name, applied={"datasets": records})


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


def _found_entry(table: FoundTable, stores: ObjectStores, guard: PluginGuard) -> _Entry:
    """A discovered table's entry: registered under its quoted (schema-qualified) name."""
    parts = [table.name] if table.schema is None else [table.schema, table.name]
    reference = ".".join(map(sql_identifier, parts))
    extra: dict[str, Any] = {"discovered_by": f"discover.{table.source}"}
    partitions = getattr(table.spec, "partition_cols", None)
    if partitions:
        extra["partition_cols"] = {k: format_arrow_type(v) for k, v in partitions.items()}
    job = table_job(reference, table.spec, stores, guard=guard)
    return _Entry(job, table.name, table.schema, extra)


def _checked(
    ctx: SessionContext, tables: Schema, entry: _Entry, facts: Facts, stores: ObjectStores
) -> dict[str, Any]:
    """A registered dataset's record, once its schema is read back and checked."""
    spec = entry.job.spec
    try:
        actual = table_schema(ctx, tables, entry.name)
    except Exception as exc:
        if isinstance(spec, ProviderDataset):
            raise
        raise registration_failed(entry.job.name, spec, exc, stores) from None
    check_declared_schema(entry.name, spec, actual)
    schema = {} if entry.schema is None else {"schema": entry.schema}
    where = {} if isinstance(spec, ProviderDataset) else {"location": spec.location.redacted()}
    return {
        "name": entry.name,
        **schema,
        "format": spec.format,
        **where,
        **entry.extra,
        **facts,
        "schema_mode": spec.effective_schema_mode,
        "schema_fingerprint": schema_fingerprint(actual),
    }
