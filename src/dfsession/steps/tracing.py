"""The ``tracing`` step: the session's span exporter, and the tracer for per-query spans."""

from __future__ import annotations

import attrs

from dfsession.pipeline.spans import TRACER_RESOURCE, TRACING_RESOURCE, SessionTracing, open_tracing
from dfsession.pipeline.step import SessionBuild, StepRecord


@attrs.frozen(cache_hash=True)
class TracingStep:
    """Hand the session's tracer to the query facade (``resources["tracer"]``): query spans."""

    name: str = "tracing"
    requires: frozenset[str] = frozenset({"context"})
    provides: frozenset[str] = frozenset({"tracing"})

    def install(self, build: SessionBuild) -> StepRecord:
        """Reuse the exporter the builder opened for the build spans (or open it); record it."""
        config = build.profile.tracing
        if not config.enabled:
            return StepRecord.skipped(self.name, "tracing.enabled is false")
        tracing = build.resources.get(TRACING_RESOURCE)
        if not isinstance(tracing, SessionTracing):
            tracing = open_tracing(config)
            build.resources[TRACING_RESOURCE] = tracing
            build.on_failure(tracing.shutdown)
        build.resources[TRACER_RESOURCE] = tracing.tracer
        return StepRecord(step=self.name, applied={**tracing.describe(), "query_spans": True})
