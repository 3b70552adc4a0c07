"""OpenTelemetry spans around a build and its steps, when the profile enables tracing.

OpenTelemetry is the optional ``tracing`` extra: nothing here imports it until a profile enables
tracing. The ``global`` exporter sends spans to the application's own (global) tracer provider;
``console`` and ``otlp`` get a tracer provider of their own, made for the session, so the library
never sets the global provider. The build spans, the step spans and the per-query spans of one
session all go to the same provider.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import attrs

from dfsession._version import VERSION
from dfsession.errors import DfSessionError, ProfileError
from dfsession.profile.locations import redact_url
from dfsession.profile.model import SessionProfile
from dfsession.profile.sections import TracingConfig

if TYPE_CHECKING:
    from dfsession.pipeline.step import SessionBuild, StepRecord

TRACING_EXTRA_HINT = "install the tracing extra: pip install 'dfsession[tracing]'"
#: ``BuiltSession.resources`` key of the tracer that per-query spans use (set by the tracing step).
TRACER_RESOURCE = "tracer"
#: ``BuiltSession.resources`` key of the session's ``SessionTracing`` (set when tracing is on).
TRACING_RESOURCE = "tracing"
INSTRUMENTATION_NAME = "dfsession"
OTLP_TRACES_PATH = "/v1/traces"
#: Longest SQL text put on a query span; longer text is cut and marked.
MAX_SQL_CHARS = 4096

_NO_SPAN: AbstractContextManager[None] = contextlib.nullcontext()
_SECRET_OPTION = re.compile(
    r"('[^']*(?:secret|password|passwd|token|credential|key|sas|signature)[^']*'\s*=?\s*)"
    r"'(?:[^']|'')*'",
    re.IGNORECASE,
)


def require_opentelemetry() -> Any:
    """Import ``opentelemetry.trace`` or raise an error naming the extra to install."""
    try:
        from opentelemetry import trace
    except ImportError as exc:
        raise DfSessionError(
            "tracing.enabled is true in the profile but OpenTelemetry is not installed "
            f"({exc}); {TRACING_EXTRA_HINT}, or set tracing.enabled = false"
        ) from exc
    return trace


def _missing(exporter: str, package: str, exc: ImportError) -> DfSessionError:
    return DfSessionError(
        f"tracing.exporter = {exporter!r} needs {package}, which is not installed ({exc}); "
        f"{TRACING_EXTRA_HINT}, or use exporter = 'global'"
    )


def redact_sql(sql: str) -> str:
    """SQL with the quoted values of secret-looking options (``'aws.secret_access_key'``) hidden."""
    return _SECRET_OPTION.sub(r"\1'***'", sql)


def otlp_traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for ``endpoint``: a bare base URL gets ``/v1/traces`` added."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProfileError.at(
            "tracing.endpoint",
            f"expected an http(s) URL such as http://127.0.0.1:4318 (got {redact_url(endpoint)!r})",
        )
    if parts.path in ("", "/"):
        return urlunsplit((parts.scheme, parts.netloc, OTLP_TRACES_PATH, parts.query, ""))
    return endpoint


@attrs.frozen
class SessionTracing:
    """Where a session's spans go: its tracer and, for console/otlp, the provider made for it."""

    tracer: Any = attrs.field(eq=False, repr=False)
    exporter: str
    #: The OTLP traces URL with credentials removed; ``None`` for other exporters or the default.
    endpoint: str | None = None
    #: The session's own ``TracerProvider`` (console/otlp); ``None`` when the global one is used.
    provider: Any = attrs.field(default=None, eq=False, repr=False)

    def describe(self) -> dict[str, Any]:
        """JSON-able facts for a record: exporter kind, endpoint, whose provider; no secrets."""
        return {
            "exporter": self.exporter,
            "endpoint": self.endpoint,
            "provider": "global" if self.provider is None else "session",
        }

    def force_flush(self) -> None:
        """Export finished spans now (a no-op for the global provider, which the app owns)."""
        if self.provider is not None:
            self.provider.force_flush()

    def shutdown(self) -> None:
        """Flush and stop the session's own provider; the global provider is left alone."""
        if self.provider is not None:
            self.provider.shutdown()


def open_tracing(config: TracingConfig) -> SessionTracing:
    """The tracer for a profile's ``tracing`` section; errors name the extra when it is missing."""
    trace = require_opentelemetry()
    if config.exporter == "global":
        return SessionTracing(
            tracer=trace.get_tracer(INSTRUMENTATION_NAME, VERSION), exporter="global"
        )
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SimpleSpanProcessor,
        )
    except ImportError as exc:
        raise _missing(config.exporter, "opentelemetry-sdk", exc) from exc
    endpoint: str | None = None
    if config.exporter == "console":
        # Standard error, so that command output on standard output stays clean.
        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    else:
        url = None if config.endpoint is None else otlp_traces_url(config.endpoint)
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise _missing(config.exporter, "opentelemetry-exporter-otlp-proto-http", exc) from exc
        # shutdown_on_exit: the batch processor's last spans are exported when the process ends.
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
        endpoint = None if url is None else redact_url(url)
    return SessionTracing(
        tracer=provider.get_tracer(INSTRUMENTATION_NAME, VERSION),
        exporter=config.exporter,
        endpoint=endpoint,
        provider=provider,
    )


def span_attributes(applied: Mapping[str, Any]) -> dict[str, Any]:
    """Counts of what a step applied: one integer attribute per list or table in its record."""
    return {
        f"dfsession.applied.{key}": len(value)
        for key, value in applied.items()
        if isinstance(value, list | tuple | dict)
    }


def record_attributes(record: StepRecord) -> dict[str, Any]:
    """The attributes of a finished step's span: status, duration, counts, skip reason."""
    attributes: dict[str, Any] = {
        "dfsession.status": record.status,
        "dfsession.duration_ms": record.duration_ms,
        **span_attributes(record.applied),
    }
    reason = record.applied.get("reason")
    if record.status == "skipped" and isinstance(reason, str):
        attributes["dfsession.skip_reason"] = reason
    return attributes


@contextlib.contextmanager
def _traced(tracer: Any, name: str, attributes: Mapping[str, Any]) -> Iterator[Any]:
    """A current span that ends on exit; an escaping exception is recorded with status ERROR."""
    started = time.perf_counter()
    with tracer.start_as_current_span(
        name, attributes=dict(attributes), record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield span
        except BaseException as exc:
            from opentelemetry.trace import Status, StatusCode

            span.record_exception(exc, escaped=True)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            failed = {
                "dfsession.error.type": type(exc).__name__,
                "dfsession.duration_ms": round((time.perf_counter() - started) * 1000.0, 3),
            }
            step = getattr(exc, "step", None)
            if isinstance(step, str):
                failed["dfsession.error.step"] = step
            span.set_attributes(failed)
            raise


class BuildSpans:
    """Opens ``dfsession.build`` and ``dfsession.step.<name>`` spans, or nothing when disabled."""

    def __init__(self, profile: SessionProfile) -> None:
        self.tracing: SessionTracing | None = None
        if profile.tracing.enabled:
            self.tracing = open_tracing(profile.tracing)

    def attach(self, build: SessionBuild) -> None:
        """Hand the session's tracing to the steps; a failed build shuts its own provider down."""
        if self.tracing is not None:
            build.resources[TRACING_RESOURCE] = self.tracing
            build.on_failure(self.tracing.shutdown)

    def span(self, name: str, attributes: Mapping[str, Any]) -> AbstractContextManager[Any]:
        """A current span that ends on exit; on an exception, status ERROR with it recorded.

        Yields ``None`` (and costs next to nothing) when tracing is disabled.
        """
        if self.tracing is None:
            return _NO_SPAN
        return _traced(self.tracing.tracer, name, attributes)

    def step_span(self, step: str) -> AbstractContextManager[Any]:
        """The ``dfsession.step.<step>`` span; builds no name or attributes when disabled."""
        if self.tracing is None:
            return _NO_SPAN
        return _traced(self.tracing.tracer, f"dfsession.step.{step}", {"dfsession.step": step})


def query_span(
    session_resources: Mapping[str, Any],
    sql: str,
    attributes: Mapping[str, Any] | None = None,
) -> AbstractContextManager[Any]:
    """A ``dfsession.query`` span around one query, or a no-op yielding ``None`` without a tracer.

    Contract for the query facade: pass ``BuiltSession.resources``; when the tracing step ran
    (resource ``"tracer"``), the block runs inside a current span named ``dfsession.query``
    with ``dfsession.query.sql`` (secret-looking option values hidden, cut at ``MAX_SQL_CHARS``)
    and any extra ``attributes``; an exception escaping the block is recorded on the span,
    sets status ERROR and is re-raised; the span always ends when the block exits. Otherwise
    the block gets ``None`` at next to no cost. Call ``set_query_metrics(span, ...)`` inside
    the block once the plan's metrics are known.
    """
    tracer = session_resources.get(TRACER_RESOURCE)
    if tracer is None:
        return _NO_SPAN
    text = redact_sql(sql)
    if len(text) > MAX_SQL_CHARS:
        text = text[:MAX_SQL_CHARS] + "...[cut]"
    return _traced(tracer, "dfsession.query", {"dfsession.query.sql": text, **(attributes or {})})


def set_query_metrics(
    span: Any,
    *,
    rows: int | None = None,
    elapsed_compute: int | None = None,
    spill_count: int | None = None,
    spilled_bytes: int | None = None,
) -> None:
    """Put a query's metrics on its span; ``None`` span or values are skipped.

    Attributes: ``dfsession.query.rows`` (rows returned or written),
    ``dfsession.query.elapsed_compute_ns`` (DataFusion's ``elapsed_compute``, in nanoseconds,
    summed over operators), ``dfsession.query.spill_count`` and
    ``dfsession.query.spilled_bytes`` (summed over operators).
    """
    if span is None:
        return
    values = {
        "dfsession.query.rows": rows,
        "dfsession.query.elapsed_compute_ns": elapsed_compute,
        "dfsession.query.spill_count": spill_count,
        "dfsession.query.spilled_bytes": spilled_bytes,
    }
    span.set_attributes({key: int(value) for key, value in values.items() if value is not None})
