"""OpenTelemetry for a session: its exporter, the build and step spans (a monitor), query spans.

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
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import attrs

from dfsession._version import VERSION
from dfsession.errors import DfSessionError, ProfileError
from dfsession.pipeline.step import InstallStep, SessionBuild
from dfsession.profile.locations import redact_url
from dfsession.profile.sections import TracingConfig
from dfsession.record import StepRecord

__all__ = [
    "INSTRUMENTATION_NAME",
    "MAX_SQL_CHARS",
    "OTLP_TRACES_PATH",
    "TRACING_EXTRA_HINT",
    "SessionTracing",
    "TracingMonitor",
    "open_tracing",
    "otlp_traces_url",
    "query_span",
    "record_attributes",
    "redact_sql",
    "require_opentelemetry",
    "set_query_metrics",
    "span_attributes",
]

TRACING_EXTRA_HINT = "install the tracing extra: pip install 'dfsession[tracing]'"
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
        from opentelemetry import trace  # noqa: PLC0415 - optional dependency (tracing extra)
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
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415 - optional dependency
        from opentelemetry.sdk.trace.export import (  # noqa: PLC0415 - optional dependency
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
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415 - optional
                OTLPSpanExporter,
            )
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


class _OpenSpan:
    """A span made current until ``end``: opened by one monitor call and ended by a later one."""

    __slots__ = ("_started", "_token", "span")

    def __init__(self, tracer: Any, name: str, attributes: Mapping[str, Any]) -> None:
        trace = require_opentelemetry()
        from opentelemetry import context  # noqa: PLC0415 - optional dependency (tracing extra)

        self._started = time.perf_counter()
        self.span = tracer.start_span(name, attributes=dict(attributes))
        self._token = context.attach(trace.set_span_in_context(self.span))

    def elapsed_ms(self) -> float:
        """Milliseconds since the span was opened."""
        return round((time.perf_counter() - self._started) * 1000.0, 3)

    def end(self, error: BaseException | None = None) -> None:
        """End the span (status ERROR, with the exception recorded, when ``error`` is given)."""
        from opentelemetry import context  # noqa: PLC0415 - optional dependency (tracing extra)

        if error is not None:
            self._record_failure(error)
        context.detach(self._token)
        self.span.end()

    def _record_failure(self, error: BaseException) -> None:
        trace = require_opentelemetry()
        self.span.record_exception(error, escaped=True)
        self.span.set_status(
            trace.Status(trace.StatusCode.ERROR, f"{type(error).__name__}: {error}")
        )
        failed = {
            "dfsession.error.type": type(error).__name__,
            "dfsession.duration_ms": self.elapsed_ms(),
        }
        step = getattr(error, "step", None)
        if isinstance(step, str):
            failed["dfsession.error.step"] = step
        self.span.set_attributes(failed)


@contextlib.contextmanager
def _traced(tracer: Any, name: str, attributes: Mapping[str, Any]) -> Iterator[Any]:
    """A current span that ends on exit; an escaping exception is recorded with status ERROR."""
    opened = _OpenSpan(tracer, name, attributes)
    try:
        yield opened.span
    except BaseException as exc:
        opened.end(exc)
        raise
    opened.end()


class TracingMonitor:
    """A build monitor: the ``dfsession.build`` span, and a ``dfsession.step.<name>`` per step.

    Made for one build; the build span carries the profile fingerprint, the number of steps
    and the duration, each step span the step's status, duration, counts and skip reason.
    """

    __slots__ = ("_build", "_fingerprint", "_step", "tracing")

    def __init__(self, tracing: SessionTracing, fingerprint: str) -> None:
        self.tracing = tracing
        self._fingerprint = fingerprint
        self._build: _OpenSpan | None = None
        self._step: _OpenSpan | None = None

    def build_started(self, build: SessionBuild, steps: tuple[InstallStep, ...]) -> None:
        """Open the build span."""
        attributes = {"dfsession.fingerprint": self._fingerprint, "dfsession.steps": len(steps)}
        self._build = _OpenSpan(self.tracing.tracer, "dfsession.build", attributes)

    def step_started(self, step: InstallStep) -> None:
        """Open the step's span, a child of the build span."""
        name = f"dfsession.step.{step.name}"
        self._step = _OpenSpan(self.tracing.tracer, name, {"dfsession.step": step.name})

    def step_finished(self, step: InstallStep, record: StepRecord) -> None:
        """End the step's span with what its record says."""
        if self._step is not None:
            self._step.span.set_attributes(record_attributes(record))
            self._step.end()
            self._step = None

    def step_failed(self, step: InstallStep, error: BaseException) -> None:
        """End the step's span with status ERROR and the exception."""
        if self._step is not None:
            self._step.end(error)
            self._step = None

    def build_finished(self, error: BaseException | None) -> None:
        """End the build span: its duration, or the error."""
        if self._build is None:
            return
        if error is None:
            self._build.span.set_attribute("dfsession.duration_ms", self._build.elapsed_ms())
        self._build.end(error)
        self._build = None


def query_span(
    tracing: SessionTracing | None,
    sql: str,
    attributes: Mapping[str, Any] | None = None,
) -> AbstractContextManager[Any]:
    """A ``dfsession.query`` span around one query, or a no-op yielding ``None`` without tracing.

    Contract for the query facade: pass the ``SessionTracing`` the tracing step provided (or
    ``None``); with one, the block runs inside a current span named ``dfsession.query``
    with ``dfsession.query.sql`` (secret-looking option values hidden, cut at ``MAX_SQL_CHARS``)
    and any extra ``attributes``; an exception escaping the block is recorded on the span,
    sets status ERROR and is re-raised; the span always ends when the block exits. Otherwise
    the block gets ``None`` at next to no cost. Call ``set_query_metrics(span, ...)`` inside
    the block once the plan's metrics are known.
    """
    if tracing is None:
        return _NO_SPAN
    text = redact_sql(sql)
    if len(text) > MAX_SQL_CHARS:
        text = text[:MAX_SQL_CHARS] + "...[cut]"
    return _traced(
        tracing.tracer, "dfsession.query", {"dfsession.query.sql": text, **(attributes or {})}
    )


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
