"""The ``datasets`` step: the schema registry for every declared dataset, Delta tables included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

from dfsession.engine.cluster import REASONS
from dfsession.engine.schemas import check_declared_schema, schema_fingerprint
from dfsession.engine.stores import ObjectStores, registration_failed
from dfsession.engine.tables import default_schema, register_tables, table_job, table_schema
from dfsession.engine.versions import DeltaGuard
from dfsession.pipeline.portability import Unportable
from dfsession.pipeline.step import SessionBuild
from dfsession.profile.datasets import (
    ArrowDataset,
    CsvDataset,
    DeltaDataset,
    JsonDataset,
    ParquetDataset,
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
        if any(isinstance(spec, DeltaDataset) for spec in datasets.values()):
            (build.get(DeltaGuard) or DeltaGuard()).check()  # before deltalake's native code
        ctx, catalog = build.ctx, build.profile.catalog
        jobs = [table_job(name, spec, stores) for name, spec in datasets.items()]
        registered = register_tables(ctx, jobs)
        tables = default_schema(ctx, catalog)
        records: list[dict[str, Any]] = []
        for job, facts in zip(jobs, registered, strict=True):
            name, spec = job.name, job.spec
            try:
                actual = table_schema(ctx, tables, name)
            except Exception as exc:
                raise registration_failed(name, spec, exc, stores) from None
            check_declared_schema(name, spec, actual)
            records.append(
                {
                    "name": name,
                    "format": spec.format,
                    "location": spec.location.redacted(),
                    **facts,
                    "schema_mode": spec.effective_schema_mode,
                    "schema_fingerprint": schema_fingerprint(actual),
                }
            )
        return StepRecord(step=self.name, applied={"datasets": records})

    def unportable(self, profile: SessionProfile) -> Iterator[Unportable]:
        """Datasets read by a provider of this process, and files in object stores."""
        for name, spec in profile.datasets.items():
            if not isinstance(spec, _LISTING_TABLES):
                reason = f"a {spec.format!r} dataset: {REASONS['table_provider']}"
                yield Unportable(f"datasets.{name}", reason)
            elif not spec.location.is_local:
                yield Unportable(f"datasets.{name}.location", REASONS["remote_dataset"])
