"""The ``tracing`` step: hand the session's tracing on, so that queries get spans."""

from __future__ import annotations

import attrs

from dfsession.pipeline.portability import Unportable
from dfsession.pipeline.step import SessionBuild
from dfsession.profile.model import SessionProfile
from dfsession.record import StepRecord
from dfsession.tracing import SessionTracing, open_tracing

__all__ = ["TracingStep"]


@attrs.frozen(cache_hash=True)
class TracingStep:
    """Provide the session's ``SessionTracing`` to the query facade: per-query spans."""

    name: str = "tracing"
    requires: frozenset[str] = frozenset({"context"})
    provides: frozenset[str] = frozenset({"tracing"})

    def install(self, build: SessionBuild) -> StepRecord:
        """Hand on the tracing the build spans use (or open one); record where spans go."""
        config = build.profile.tracing
        if not config.enabled:
            return StepRecord.skipped(self.name, "tracing.enabled is false")
        tracing = build.get(SessionTracing)
        if tracing is None:
            tracing = open_tracing(config)
            build.on_failure(tracing.shutdown)
        build.provide(tracing)
        return StepRecord(step=self.name, applied={**tracing.describe(), "query_spans": True})

    def unportable(self, profile: SessionProfile) -> tuple[Unportable, ...]:
        """Nothing: spans are made in this process, around the queries it sends."""
        return ()
