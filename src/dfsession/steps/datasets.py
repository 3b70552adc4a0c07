"""The ``datasets`` step: the schema registry for every declared dataset, Delta tables included."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import attrs
from datafusion import SessionContext
from datafusion.catalog import Schema

from dfsession.engine.cluster import REASONS
from dfsession.engine.providers import Resolve
from dfsession.engine.schemas import check_declared_schema, schema_fingerprint
from dfsession.engine.stores import ObjectStores, registration_failed
from dfsession.engine.tables import (
    Facts,
    TableJob,
    default_schema,
    register_tables,
    table_job,
    table_schema,
)
from dfsession.engine.versions import DELTALAKE, NativePlugins, PluginGuard
from dfsession.imports import ReferenceResolver
from dfsession.pipeline.portability import Unportable
from dfsession.pipeline.step import SessionBuild
from dfsession.profile.datasets import (
    ArrowDataset,
    CsvDataset,
    DatasetSpec,
    DeltaDataset,
    JsonDataset,
    ParquetDataset,
    ProviderDataset,
)
from dfsession.profile.model import SessionProfile
from dfsession.record import StepRecord

__all__ = [
    "DatasetsStep",
]

#: The datasets a cluster can read: listing tables of files, which the client sends as a plan.
_LISTING_TABLES = (ParquetDataset, CsvDataset, JsonDataset, ArrowDataset)


@attrs.frozen(cache_hash=True)
class DatasetsStep:
    """Register every dataset through its format's adapter, check its schema, record it.

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
        datasets = build.profile.datasets
        if not datasets:
            return StepRecord.skipped(self.name, "no [datasets] in the profile")
        stores = build.need(ObjectStores)
        guard = (build.get(PluginGuard) or PluginGuard()).noting(build.get(NativePlugins))
        if any(isinstance(spec, DeltaDataset) for spec in datasets.values()):
            guard.check(DELTALAKE, required=True)  # before deltalake's native code
        ctx, catalog = build.ctx, build.profile.catalog
        resolve = _imported(datasets, build.profile.features.import_paths)
        jobs = [
            table_job(name, spec, stores, guard=guard, resolve=resolve)
            for name, spec in datasets.items()
        ]
        registered = register_tables(ctx, jobs)
        tables = default_schema(ctx, catalog)
        records = [
            _checked(ctx, tables, job, facts, stores)
            for job, facts in zip(jobs, registered, strict=True)
        ]
        return StepRecord(step=self.name, applied={"datasets": records})

    def unportable(self, profile: SessionProfile) -> Iterator[Unportable]:
        """Datasets read by a provider of this process, and files in object stores."""
        for name, spec in profile.datasets.items():
            if not isinstance(spec, _LISTING_TABLES):
                reason = f"a {spec.format!r} dataset: {REASONS['table_provider']}"
                yield Unportable(f"datasets.{name}", reason)
            elif not spec.location.is_local:
                yield Unportable(f"datasets.{name}.location", REASONS["remote_dataset"])


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


def _checked(
    ctx: SessionContext, tables: Schema, job: TableJob, facts: Facts, stores: ObjectStores
) -> dict[str, Any]:
    """A registered dataset's record, once its schema is read back and checked."""
    name, spec = job.name, job.spec
    try:
        actual = table_schema(ctx, tables, name)
    except Exception as exc:
        if isinstance(spec, ProviderDataset):
            raise
        raise registration_failed(name, spec, exc, stores) from None
    check_declared_schema(name, spec, actual)
    where = {} if isinstance(spec, ProviderDataset) else {"location": spec.location.redacted()}
    return {
        "name": name,
        "format": spec.format,
        **where,
        **facts,
        "schema_mode": spec.effective_schema_mode,
        "schema_fingerprint": schema_fingerprint(actual),
    }
