"""Tracing: build and step spans, exporters, per-query spans, and the optional extra.

Uses the real OpenTelemetry SDK: the application's global provider with an in-memory exporter,
the console exporter, and the OTLP/HTTP exporter against a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs
import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from dfsession import (
    DfSessionError,
    SessionBuild,
    SessionContextBuilder,
    SessionProfile,
    StepFailedError,
    StepRecord,
    default_steps,
)
from dfsession.bootstrap import validate_profile
from dfsession.profile.locations import redact_url
from dfsession.steps.session import ContextStep, SettingsStep
from dfsession.steps.tracing import TracingStep
from dfsession.tracing import (
    SessionTracing,
    otlp_traces_url,
    query_span,
    redact_sql,
    set_query_metrics,
)

SRC = Path(__file__).resolve().parents[1] / "src"
SETTINGS = {
    "datafusion.optimizer.max_passes": "3",
    "datafusion.execution.coalesce_batches": "false",
}


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The application's global SDK provider, with a fresh in-memory exporter for this test."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        trace.set_tracer_provider(TracerProvider())
        provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


def tracing_profile(**tracing: Any) -> SessionProfile:
    return SessionProfile.from_dict({"settings": SETTINGS, "tracing": {"enabled": True, **tracing}})


def by_name(finished: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {span.name: span for span in finished}


@attrs.frozen
class FailingStep:
    name: str = "failing"
    requires: frozenset[str] = frozenset({"context"})
    provides: frozenset[str] = frozenset({"failing"})

    def install(self, build: SessionBuild) -> StepRecord:
        raise RuntimeError("disk on fire")


def test_build_and_every_step_get_a_span_with_counts_and_duration(
    spans: InMemorySpanExporter,
) -> None:
    session = SessionContextBuilder(tracing_profile()).build()

    found = by_name(spans.get_finished_spans())
    build = found["dfsession.build"]
    step_names = [r.step for r in session.records]
    assert {f"dfsession.step.{name}" for name in step_names} <= set(found)
    for name in step_names:
        span = found[f"dfsession.step.{name}"]
        assert span.parent is not None and span.parent.span_id == build.context.span_id
        assert span.attributes is not None
        assert span.attributes["dfsession.step"] == name
        assert span.attributes["dfsession.duration_ms"] == session.record(name).duration_ms
        assert span.status.status_code is StatusCode.UNSET
    context = found["dfsession.step.context"].attributes
    assert context is not None
    assert context["dfsession.status"] == "applied"
    assert context["dfsession.applied.settings"] == 2  # SessionConfig takes both keys
    url_table = found["dfsession.step.url_table"].attributes
    assert url_table is not None
    assert url_table["dfsession.status"] == "skipped"
    assert url_table["dfsession.skip_reason"] == "features.url_table is false"
    assert build.attributes is not None
    assert build.attributes["dfsession.fingerprint"] == session.fingerprint
    assert build.attributes["dfsession.steps"] == len(step_names)
    assert isinstance(build.attributes["dfsession.duration_ms"], float)
    assert build.parent is None


def test_global_exporter_uses_the_applications_provider_and_records_it(
    spans: InMemorySpanExporter,
) -> None:
    before = trace.get_tracer_provider()
    session = SessionContextBuilder(tracing_profile()).build()
    assert trace.get_tracer_provider() is before
    assert session.record("tracing").applied == {
        "exporter": "global",
        "endpoint": None,
        "provider": "global",
        "query_spans": True,
    }
    assert session.provided.get(SessionTracing) is not None


def test_failed_step_span_has_error_status_and_the_exception_and_no_span_stays_open(
    spans: InMemorySpanExporter,
) -> None:
    steps = (ContextStep(), SettingsStep(), FailingStep(), TracingStep())
    with pytest.raises(StepFailedError, match="disk on fire"):
        SessionContextBuilder(tracing_profile(), steps).build()

    finished = spans.get_finished_spans()
    assert sorted(s.name for s in finished) == [
        "dfsession.build",
        "dfsession.step.context",
        "dfsession.step.failing",
        "dfsession.step.settings",
    ]
    failing = by_name(finished)["dfsession.step.failing"]
    assert failing.status.status_code is StatusCode.ERROR
    assert "disk on fire" in (failing.status.description or "")
    (event,) = failing.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "dfsession.errors.StepFailedError"
    assert "disk on fire" in str(event.attributes["exception.message"])
    assert failing.attributes is not None
    assert failing.attributes["dfsession.error.step"] == "failing"
    build = by_name(finished)["dfsession.build"]
    assert build.status.status_code is StatusCode.ERROR
    assert build.attributes is not None
    assert build.attributes["dfsession.error.step"] == "failing"
    assert not trace.get_current_span().get_span_context().is_valid


def test_tracing_disabled_opens_no_span_and_the_step_is_skipped(
    spans: InMemorySpanExporter,
) -> None:
    session = SessionContextBuilder(SessionProfile()).build()
    assert spans.get_finished_spans() == ()
    record = session.record("tracing")
    assert (record.status, record.applied) == ("skipped", {"reason": "tracing.enabled is false"})
    assert session.provided.get(SessionTracing) is None
    with query_span(session.provided.get(SessionTracing), "SELECT 1") as span:
        assert span is None


def test_query_span_carries_sql_and_metrics_under_the_session_tracer(
    spans: InMemorySpanExporter,
) -> None:
    session = SessionContextBuilder(tracing_profile()).build()
    spans.clear()
    with query_span(
        session.provided.get(SessionTracing), "SELECT 1 AS one", {"dfsession.query.kind": "select"}
    ) as span:
        rows = session.ctx.sql("SELECT 1 AS one").to_arrow_table().num_rows
        set_query_metrics(span, rows=rows, elapsed_compute=1200, spill_count=0, spilled_bytes=0)

    (query,) = spans.get_finished_spans()
    assert query.name == "dfsession.query"
    assert query.attributes == {
        "dfsession.query.sql": "SELECT 1 AS one",
        "dfsession.query.kind": "select",
        "dfsession.query.rows": 1,
        "dfsession.query.elapsed_compute_ns": 1200,
        "dfsession.query.spill_count": 0,
        "dfsession.query.spilled_bytes": 0,
    }


def test_query_span_records_a_failing_query_and_reraises(spans: InMemorySpanExporter) -> None:
    session = SessionContextBuilder(tracing_profile()).build()
    spans.clear()
    with (
        pytest.raises(Exception, match="nope"),
        query_span(session.provided.get(SessionTracing), "SELECT * FROM nope"),
    ):
        session.ctx.sql("SELECT * FROM nope").collect()
    (query,) = spans.get_finished_spans()
    assert query.status.status_code is StatusCode.ERROR
    assert [e.name for e in query.events] == ["exception"]


def test_without_the_tracing_step_queries_get_no_span_but_the_build_is_traced(
    spans: InMemorySpanExporter,
) -> None:
    steps = [s for s in default_steps() if s.name != "tracing"]
    session = SessionContextBuilder(tracing_profile(), steps).build()
    assert "dfsession.build" in by_name(spans.get_finished_spans())
    assert session.provided.get(SessionTracing) is None
    with query_span(session.provided.get(SessionTracing), "SELECT 1") as span:
        assert span is None
    set_query_metrics(None, rows=3)  # a no-op, so the facade need not check


def test_query_span_hides_secret_option_values_and_cuts_long_sql(
    spans: InMemorySpanExporter,
) -> None:
    session = SessionContextBuilder(tracing_profile()).build()
    spans.clear()
    ddl = (
        "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 's3://b/t/' "
        "OPTIONS ('aws.secret_access_key' 'hunter2', 'aws.region' 'us-east-1')"
    )
    with query_span(session.provided.get(SessionTracing), ddl):
        pass
    with query_span(session.provided.get(SessionTracing), "SELECT " + "1 + " * 3000 + "1"):
        pass
    first, second = spans.get_finished_spans()
    assert first.attributes is not None and second.attributes is not None
    text = str(first.attributes["dfsession.query.sql"])
    assert "hunter2" not in text
    assert "'aws.secret_access_key' '***'" in text and "'us-east-1'" in text
    assert str(second.attributes["dfsession.query.sql"]).endswith("...[cut]")


def test_console_exporter_writes_spans_to_stderr_with_a_session_provider(
    spans: InMemorySpanExporter, capsys: pytest.CaptureFixture[str]
) -> None:
    global_provider = trace.get_tracer_provider()
    session = SessionContextBuilder(tracing_profile(exporter="console")).build()
    with query_span(session.provided.get(SessionTracing), "SELECT 42"):
        pass
    captured = capsys.readouterr()

    assert trace.get_tracer_provider() is global_provider
    assert spans.get_finished_spans() == ()
    assert '"name": "dfsession.' not in captured.out  # stdout stays for command output
    for name in ("dfsession.build", "dfsession.step.settings", "dfsession.query"):
        assert f'"name": "{name}"' in captured.err
    assert session.record("tracing").applied["provider"] == "session"
    session.close()


def test_console_exporter_shows_the_failed_build_spans(
    capsys: pytest.CaptureFixture[str],
) -> None:
    steps = (ContextStep(), FailingStep(), TracingStep())
    with pytest.raises(StepFailedError):
        SessionContextBuilder(tracing_profile(exporter="console"), steps).build()
    err = capsys.readouterr().err
    assert '"name": "dfsession.step.failing"' in err
    assert '"status_code": "ERROR"' in err


def test_otlp_exporter_sends_build_and_query_spans_to_the_endpoint(
    collector: ThreadingHTTPServer, spans: InMemorySpanExporter
) -> None:
    port = collector.server_address[1]
    profile = tracing_profile(exporter="otlp", endpoint=f"http://user:s3cret@127.0.0.1:{port}")
    session = SessionContextBuilder(profile).build()
    with query_span(session.provided.get(SessionTracing), "SELECT 1"):
        pass
    session.close()  # flushes the batch processor

    names = set()
    for path, body in collector.received:  # type: ignore[attr-defined]
        assert path == "/v1/traces"
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                assert scope_spans.scope.name == "dfsession"
                names |= {span.name for span in scope_spans.spans}
    assert {"dfsession.build", "dfsession.step.tracing", "dfsession.query"} <= names
    assert spans.get_finished_spans() == ()
    applied = session.record("tracing").applied
    assert applied["endpoint"] == f"http://***@127.0.0.1:{port}/v1/traces"
    assert "s3cret" not in json.dumps(session.report())


def test_otlp_endpoint_with_a_path_is_used_as_given() -> None:
    assert otlp_traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert otlp_traces_url("https://collector/") == "https://collector/v1/traces"
    assert otlp_traces_url("http://collector:4318/custom/traces") == (
        "http://collector:4318/custom/traces"
    )


def test_otlp_endpoint_that_is_not_an_http_url_is_a_profile_error() -> None:
    profile = tracing_profile(exporter="otlp", endpoint="collector:4318")
    with pytest.raises(DfSessionError, match=r"tracing\.endpoint: expected an http\(s\) URL"):
        SessionContextBuilder(profile).build()


def test_redact_url_masks_credentials_and_query_values_and_drops_the_fragment() -> None:
    # One redactor for locations and endpoints: query keys stay, their values are masked.
    assert (
        redact_url("https://u:p@host:4318/v1/traces?token=x#f")
        == "https://***@host:4318/v1/traces?token=***"
    )
    assert redact_url("http://host/v1/traces") == "http://host/v1/traces"
    assert redact_sql("SELECT 'key' AS k") == "SELECT 'key' AS k"


def run_without(blocked: list[str], body: str) -> subprocess.CompletedProcess[str]:
    """Run ``body`` in a fresh interpreter in which the ``blocked`` modules cannot be imported."""
    script = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in blocked)
    script += textwrap.dedent(body)
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_tracing_without_opentelemetry_installed_names_the_extra() -> None:
    result = run_without(
        ["opentelemetry"],
        """
        from dfsession import DfSessionError, SessionContextBuilder, SessionProfile
        SessionContextBuilder(SessionProfile()).build()          # tracing off: no import needed
        profile = SessionProfile.from_dict({"tracing": {"enabled": True}})
        try:
            SessionContextBuilder(profile).build()
        except DfSessionError as exc:
            print(exc)
        """,
    )
    assert result.returncode == 0, result.stderr
    assert "tracing.enabled is true" in result.stdout
    assert "pip install 'dfsession[tracing]'" in result.stdout


def test_console_exporter_without_the_sdk_names_the_package_and_the_extra() -> None:
    result = run_without(
        ["opentelemetry.sdk", "opentelemetry.exporter"],
        """
        from dfsession import DfSessionError, SessionContextBuilder, SessionProfile
        for exporter in ("console", "otlp"):
            profile = SessionProfile.from_dict({"tracing": {"enabled": True, "exporter": exporter}})
            try:
                SessionContextBuilder(profile).build()
            except DfSessionError as exc:
                print(exc)
        """,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("tracing.exporter = 'console' needs opentelemetry-sdk")
    assert lines[1].startswith("tracing.exporter = 'otlp' needs opentelemetry-sdk")
    assert all("pip install 'dfsession[tracing]'" in line for line in lines)


def test_closing_a_session_flushes_and_stops_its_own_provider(
    collector: ThreadingHTTPServer,
) -> None:
    port = collector.server_address[1]
    profile = tracing_profile(exporter="otlp", endpoint=f"http://127.0.0.1:{port}")
    before = set(threading.enumerate())
    with SessionContextBuilder(profile).build() as session:
        session.execute("SELECT 1")
        # The provider's own threads (the batch processor's export thread), not the
        # collector's short-lived request handlers, which come and go on their own.
        started = {
            thread
            for thread in set(threading.enumerate()) - before
            if "process_request_thread" not in thread.name
        }
        assert started
    assert not [thread for thread in started if thread.is_alive()]
    assert collector.received  # type: ignore[attr-defined]


def test_validation_opens_no_tracer_provider() -> None:
    profile = tracing_profile(exporter="otlp", endpoint="http://127.0.0.1:9")
    before = threading.active_count()
    assert validate_profile(profile).ok
    assert threading.active_count() == before


def test_a_stream_dropped_unread_ends_its_span_cleanly(
    spans: InMemorySpanExporter, capsys: pytest.CaptureFixture[str]
) -> None:
    session = SessionContextBuilder(tracing_profile()).build()
    spans.clear()
    reader = session.stream("SELECT value FROM range(10)")
    del reader
    (span,) = [s for s in spans.get_finished_spans() if s.name == "dfsession.query"]
    assert span.status.status_code != StatusCode.ERROR
    assert "Failed to detach context" not in capsys.readouterr().err
