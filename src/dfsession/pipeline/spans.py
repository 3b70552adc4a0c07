"""OpenTelemetry spans around a build and its steps, opened only when the profile enables tracing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from dfsession._version import VERSION
from dfsession.errors import DfSessionError
from dfsession.profile.model import SessionProfile

TRACING_EXTRA_HINT = "install the tracing extra: pip install 'dfsession[tracing]'"


def require_opentelemetry() -> Any:
    """Import ``opentelemetry.trace`` or raise an error naming the extra to install."""
    try:
        from opentelemetry import trace
    except ImportError as exc:
        raise DfSessionError(
            f"the profile enables tracing but OpenTelemetry is not installed; {TRACING_EXTRA_HINT}"
        ) from exc
    return trace


def span_attributes(applied: Mapping[str, Any]) -> dict[str, Any]:
    """Counts of what a step applied: one integer attribute per list or table in its record."""
    return {
        f"dfsession.applied.{key}": len(value)
        for key, value in applied.items()
        if isinstance(value, list | tuple | dict)
    }


class BuildSpans:
    """Opens ``dfsession.build`` and ``dfsession.step.<name>`` spans, or nothing when disabled."""

    def __init__(self, profile: SessionProfile) -> None:
        self._tracer: Any = None
        if profile.tracing.enabled:
            trace = require_opentelemetry()
            self._tracer = trace.get_tracer("dfsession", VERSION)

    @contextlib.contextmanager
    def span(self, name: str, attributes: Mapping[str, Any]) -> Iterator[Any]:
        """A span that records an exception and an error status if the body raises."""
        if self._tracer is None:
            yield None
            return
        with self._tracer.start_as_current_span(name, attributes=dict(attributes)) as span:
            yield span
