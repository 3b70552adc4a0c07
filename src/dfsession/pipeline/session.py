"""``BuiltSession``: the live context plus a reproducible, JSON-able account of how it was made."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

import attrs

from dfsession.errors import StepFailedError
from dfsession.pipeline.spans import TRACING_RESOURCE
from dfsession.pipeline.step import StepRecord, plain_copy
from dfsession.profile.model import SessionProfile

if TYPE_CHECKING:
    import os

    import pyarrow as pa
    from datafusion import DataFrame, SessionContext

    from dfsession.facade import ProgressCallback, Queries, WriteResult

REPORT_SCHEMA_VERSION = 1
#: The report's JSON Schema, a data file of the ``dfsession`` package.
REPORT_SCHEMA_FILE = "report.schema.json"


def runtime_hash(
    fingerprint: str, records: Iterable[StepRecord], versions: Mapping[str, str]
) -> str:
    """Hash of the profile fingerprint, every record's payload and the versions; order-blind.

    Records enter sorted by step name, so independent steps in any valid order hash alike;
    durations take no part.
    """
    payloads = sorted(((r.step, r.status, r.applied) for r in records), key=lambda p: p[0])
    document = json.dumps([fingerprint, payloads, versions], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(document.encode()).hexdigest()


def _check_json_able(records: Iterable[StepRecord]) -> None:
    """Name the step whose record cannot be hashed (only called once hashing failed)."""
    for record in records:
        try:
            json.dumps(record.applied, sort_keys=True)
        except (TypeError, ValueError) as exc:
            error = StepFailedError(
                f"step {record.step!r} returned a record whose 'applied' is not JSON-able "
                f"({exc}); record plain strings, numbers, booleans, lists and tables"
            )
            error.step = record.step
            raise error from exc


@attrs.frozen
class BuiltSession:
    """A built session: ``ctx`` to query, ``records`` of what each step applied."""

    ctx: SessionContext = attrs.field(eq=False, repr=False)
    profile: SessionProfile = attrs.field(repr=False)
    records: tuple[StepRecord, ...]
    fingerprint: str
    versions: dict[str, str] = attrs.field(factory=dict, eq=False)
    #: Live objects steps handed over through ``SessionBuild.resources`` (a tracer, say).
    resources: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)
    _runtime_hash: str | None = attrs.field(default=None, init=False, eq=False, repr=False)
    _queries: Queries | None = attrs.field(default=None, init=False, eq=False, repr=False)

    @property
    def runtime_hash(self) -> str:
        """Hash of the fingerprint, every record's payload and the versions; computed once.

        Computed on first use, so a build never pays for encoding its records. A record whose
        ``applied`` is not JSON-able fails here with ``StepFailedError`` naming its step.
        """
        if self._runtime_hash is None:
            try:
                value = runtime_hash(self.fingerprint, self.records, self.versions)
            except (TypeError, ValueError):
                _check_json_able(self.records)
                raise
            object.__setattr__(self, "_runtime_hash", value)
        assert self._runtime_hash is not None
        return self._runtime_hash

    def sealed(self) -> BuiltSession:
        """This session with read-only records, as a cache hands it to every caller."""
        return attrs.evolve(self, records=tuple(record.sealed() for record in self.records))

    def close(self) -> None:
        """Release what the session owns: a console/OTLP tracer provider made for it (flushed).

        The global tracer provider is never touched. Queries still run afterwards, without
        spans. ``with SessionContextBuilder(profile).build() as session:`` closes on exit.
        """
        tracing = self.resources.get(TRACING_RESOURCE)
        if tracing is not None:
            tracing.shutdown()

    def __enter__(self) -> BuiltSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def record(self, step: str) -> StepRecord:
        """The record of the step called ``step``; ``KeyError`` lists the steps that ran."""
        for record in self.records:
            if record.step == step:
                return record
        raise KeyError(f"no step {step!r} ran (steps: {', '.join(r.step for r in self.records)})")

    @property
    def queries(self) -> Queries:
        """The query facade: SQL under the profile's ``sql_policy``, with tracing and logging."""
        if self._queries is None:
            from dfsession.facade import Queries

            object.__setattr__(self, "_queries", Queries(self.ctx, self.profile, self.resources))
        assert self._queries is not None
        return self._queries

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Run ``sql`` (``$name`` placeholders bound by the engine from ``params``); the result."""
        return self.queries.execute(sql, params)

    def stream(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.RecordBatchReader:
        """Run ``sql`` and read its batches as they come, never holding the whole result."""
        return self.queries.stream(sql, params)

    def explain(
        self,
        sql: str,
        *,
        analyze: bool = False,
        format: str = "indent",
        params: Mapping[str, Any] | None = None,
    ) -> str:
        """The plan of ``sql`` (indent, tree, pgjson or graphviz); ``analyze`` runs it."""
        return self.queries.explain(sql, analyze=analyze, format=format, params=params)

    def write(
        self,
        query: str | DataFrame | Any,
        target: str | os.PathLike[str],
        *,
        format: str,
        mode: str = "error",
        params: Mapping[str, Any] | None = None,
        progress: ProgressCallback | None = None,
        partition_by: Sequence[str] = (),
    ) -> WriteResult:
        """Write a result as parquet, csv, json or Delta (mode: error, append or overwrite)."""
        return self.queries.write(
            query,
            target,
            format=format,
            mode=mode,
            params=params,
            progress=progress,
            partition_by=partition_by,
        )

    def execute_prepared(self, name: str, *params: Any) -> pa.Table:
        """Run the profile's prepared statement ``name``, whatever the policy says of EXECUTE."""
        return self.queries.execute_prepared(name, *params)

    def effective_settings(self) -> dict[str, str | None] | None:
        """The engine's settings, name to value, read now; ``None`` without information_schema."""
        if not self.profile.catalog.information_schema:
            return None
        table = self.ctx.sql("SELECT name, value FROM information_schema.df_settings").to_pydict()
        return dict(sorted(zip(table["name"], table["value"], strict=True)))

    def report(self) -> dict[str, Any]:
        """A versioned, JSON-able account of the session, valid against ``report_schema()``.

        ``settings`` is read from the engine now (``None`` when information_schema is off);
        ``functions`` and ``datasets`` gather every record's ``applied`` lists of that name.
        """
        functions: list[Any] = []
        datasets: list[Any] = []
        for record in self.records:
            for key, into in (("functions", functions), ("datasets", datasets)):
                items = record.applied.get(key)
                if isinstance(items, list | tuple):
                    into.extend(items)
        return {
            "schema_version": REPORT_SCHEMA_VERSION,
            "fingerprint": self.fingerprint,
            "runtime_hash": self.runtime_hash,
            "versions": dict(sorted(self.versions.items())),
            "steps": [plain_copy(record.to_dict()) for record in self.records],
            "settings": self.effective_settings(),
            "functions": plain_copy(functions),
            "datasets": plain_copy(datasets),
        }


def report_schema() -> dict[str, Any]:
    """The JSON Schema of ``BuiltSession.report()``, shipped in the package."""
    text = resources.files("dfsession").joinpath(REPORT_SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
