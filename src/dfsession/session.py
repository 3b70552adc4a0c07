"""The composition root: the default steps, the builder, and the built session with its queries.

The one place that wires the pipeline, the standard steps, the monitors (logging; tracing when
the profile enables it), the engine versions and the query facade together.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

import attrs
import pyarrow as pa
from datafusion import DataFrame, SessionContext

from dfsession.engine.stores import ObjectStores
from dfsession.engine.versions import NativePlugins, PluginGuard, engine_versions
from dfsession.facade import ProgressCallback, Queries, WriteResult
from dfsession.faults import UdfFaults
from dfsession.pipeline.cache import SessionCache, profile_key
from dfsession.pipeline.hashing import runtime_hash
from dfsession.pipeline.monitor import BuildMonitor, LoggingMonitor
from dfsession.pipeline.runner import plan_steps, run_build
from dfsession.pipeline.step import InstallStep, Provided
from dfsession.profile.layers import Key, dotted, leaves
from dfsession.profile.locations import redact_url
from dfsession.profile.model import SessionProfile
from dfsession.record import StepRecord, plain_copy
from dfsession.steps.datasets import DatasetsStep
from dfsession.steps.delta import DeltaStep
from dfsession.steps.discovery import DiscoverStep
from dfsession.steps.functions import UdfsStep
from dfsession.steps.planner import ExtensionsStep, PlannerStep
from dfsession.steps.session import ContextStep, SettingsStep, UrlTableStep
from dfsession.steps.sql_objects import PreparedStep, ViewsStep
from dfsession.steps.storage import ObjectStoresStep
from dfsession.steps.tracing import TracingStep
from dfsession.tracing import SessionTracing, TracingMonitor, open_tracing

__all__ = [
    "REPORT_SCHEMA_FILE",
    "REPORT_SCHEMA_VERSION",
    "BuiltSession",
    "SessionContextBuilder",
    "default_steps",
    "report_schema",
]

REPORT_SCHEMA_VERSION = 2
#: The report's JSON Schema, a data file of the ``dfsession`` package.
REPORT_SCHEMA_FILE = "report.schema.json"

# A tuple of frozen values: immutable, so one instance serves every caller (and a cache key
# made of it hashes at the cost of one cached hash per step).
_DEFAULT_STEPS: tuple[InstallStep, ...] = (
    ContextStep(),
    SettingsStep(),
    UrlTableStep(),
    ExtensionsStep(),
    PlannerStep(),
    ObjectStoresStep(),
    UdfsStep(),
    DeltaStep(),
    DiscoverStep(),
    DatasetsStep(),
    ViewsStep(),
    PreparedStep(),
    TracingStep(),
)


def default_steps() -> tuple[InstallStep, ...]:
    """The standard step list, in run order; each always emits a record (``skipped`` when idle)."""
    return _DEFAULT_STEPS


@attrs.frozen
class BuiltSession:
    """A built session: ``ctx`` to query, ``records`` of what each step applied.

    ``provided`` holds what the steps handed on by type (``session.provided.get(ObjectStores)``);
    ``tracing`` is the session's own tracing (the one its build spans went to), which
    ``close()`` shuts down.
    """

    ctx: SessionContext = attrs.field(eq=False, repr=False)
    profile: SessionProfile = attrs.field(repr=False)
    records: tuple[StepRecord, ...]
    fingerprint: str
    provided: Provided = attrs.field(factory=Provided, eq=False, repr=False)
    #: Context handles steps replaced: tables registered through them are tied to them.
    retained: tuple[object, ...] = attrs.field(default=(), eq=False, repr=False)
    tracing: SessionTracing | None = attrs.field(default=None, eq=False, repr=False)
    #: The native plugins the build handed the engine (their versions go in ``versions``).
    plugins: NativePlugins = attrs.field(factory=NativePlugins, eq=False, repr=False)

    @functools.cached_property
    def versions(self) -> dict[str, str]:
        """The versions of dfsession, the engine libraries and the native plugins the build used.

        Read on first use. A plugin adds its version and the DataFusion major it declares
        (``"<package>.datafusion_major"``, ``"undeclared"`` when it declares none).
        """
        return {**engine_versions(), **self.plugins.report_entries()}

    @functools.cached_property
    def runtime_hash(self) -> str:
        """Hash of the fingerprint, every record's payload and the versions; computed once.

        Computed on first use, so a build never pays for encoding its records. A record whose
        ``applied`` is not JSON-able fails here with ``StepFailedError`` naming its step.
        """
        return runtime_hash(self.fingerprint, self.records, self.versions)

    def sealed(self) -> BuiltSession:
        """This session with read-only records, as a cache hands it to every caller."""
        return attrs.evolve(self, records=tuple(record.sealed() for record in self.records))

    def close(self) -> None:
        """Release what the session owns: a console/OTLP tracer provider made for it (flushed).

        The global tracer provider is never touched. Queries still run afterwards, without
        spans. ``with SessionContextBuilder(profile).build() as session:`` closes on exit.
        """
        if self.tracing is not None:
            self.tracing.shutdown()

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

    @functools.cached_property
    def queries(self) -> Queries:
        """The query facade: SQL under the profile's ``sql_policy``, with tracing and logging."""
        return Queries(
            self.ctx,
            self.profile,
            stores=self.provided.get(ObjectStores),
            tracing=self.provided.get(SessionTracing),
            faults=self.provided.get(UdfFaults),
            guard=self.provided.get(PluginGuard),
        )

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
        ``functions`` and ``datasets`` gather every record's ``applied`` lists of that name;
        ``provenance`` gives each profile key's value and origin.
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
            "provenance": _provenance(self.profile),
        }


def _provenance(profile: SessionProfile) -> dict[str, dict[str, Any]]:
    """Each key of the profile not at its default: its value and where the value came from.

    Literal secrets show as ``***``, and URLs (locations, endpoints) with their credentials
    redacted, as records show them.
    """
    origins = profile.provenance()
    return {
        dotted(key): {"value": _shown(key, value), "origin": origins[dotted(key)]}
        for key, value in leaves(profile.to_dict())
    }


def _shown(key: Key, value: Any) -> Any:
    if "secrets" in key and key[-1] == "literal":
        return "***"
    if isinstance(value, str):
        return redact_url(value)
    return plain_copy(value)


def report_schema() -> dict[str, Any]:
    """The JSON Schema of ``BuiltSession.report()``, shipped in the package."""
    text = resources.files("dfsession").joinpath(REPORT_SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


class SessionContextBuilder:
    """Runs an ordered list of ``InstallStep`` objects against a profile."""

    def __init__(
        self,
        profile: SessionProfile,
        steps: Iterable[InstallStep] | None = None,
        *,
        cache: SessionCache[BuiltSession] | None = None,
    ) -> None:
        if not isinstance(profile, SessionProfile):
            raise TypeError(
                f"SessionContextBuilder needs a SessionProfile (got {type(profile).__name__}); "
                "use load_profile(path) or SessionProfile.from_dict(data)"
            )
        self.profile = profile
        self.steps: tuple[InstallStep, ...] = tuple(default_steps() if steps is None else steps)
        self.cache = cache

    def plan(self) -> tuple[InstallStep, ...]:
        """The steps in run order, validated for the profile's engine; runs nothing.

        With a remote engine (``[engine] kind = "ballista"``), one ``NotPortableError`` lists
        every item of the profile and every step the engine cannot run.
        """
        return plan_steps(self.steps, self.profile)

    def build(self) -> BuiltSession:
        """Run the steps (or take the session from the cache) and return the built session."""
        if self.cache is not None:
            # Every caller shares a cached session: its records are made read-only.
            key = (profile_key(self.profile), self.steps)
            return self.cache.get_or_build(key, lambda: self._build().sealed())
        return self._build()

    def _build(self) -> BuiltSession:
        profile = self.profile
        fingerprint = profile.fingerprint()
        tracing = open_tracing(profile.tracing) if profile.tracing.enabled else None
        monitors: list[BuildMonitor] = [LoggingMonitor()]
        if tracing is not None:
            monitors.append(TracingMonitor(tracing, fingerprint))
        # The tracing step reads the session's tracing (given) and hands it on to the queries.
        # The steps note the native plugins they hand the engine in ``plugins`` (given).
        plugins = NativePlugins()
        given = (plugins,) if tracing is None else (plugins, tracing)
        try:
            result = run_build(self.steps, profile, monitors, given=given)
        except BaseException:
            if tracing is not None:  # a failed build leaves no tracer provider running
                tracing.shutdown()
            raise
        return BuiltSession(
            ctx=result.ctx,
            profile=profile,
            records=result.records,
            fingerprint=fingerprint,
            provided=result.provided,
            retained=result.retained,
            tracing=tracing,
            plugins=plugins,
        )
