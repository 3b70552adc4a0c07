"""Security: SQL cannot redirect a store's credentials, no error at query time shows them, and
the SQL policy applies to what ``EXECUTE`` runs.

Real parts only: the S3-compatible server (moto) for the real store; small HTTP servers on
127.0.0.1 written here for what moto lacks: one that records the headers it receives, and one
that forwards to moto until told to answer as S3 answers expired or unknown credentials.
"""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tomli_w
from datafusion import SessionContext, SQLOptions
from datafusion.expr import DmlStatement
from deltalake import write_deltalake
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from structlog.testing import capture_logs

from conftest import S3Bucket, serving
from dfsession import (
    BuiltSession,
    SessionBuild,
    SessionContextBuilder,
    SessionProfile,
    SqlPolicyError,
    StepRecord,
    default_steps,
)
from dfsession.errors import QueryError

SRC = Path(__file__).resolve().parents[1] / "src"

TOKEN_ENV = "DFSESSION_TEST_S3_TOKEN"
#: Headers that carry or prove credentials in a signed S3 request.
CREDENTIAL_HEADERS = ("authorization", "x-amz-security-token", "x-amz-date")


# --- servers -----------------------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    """Records each request's method, path and headers; answers 404 with no body."""

    def _record(self) -> None:
        self.server.requests.append((self.command, self.path, dict(self.headers)))  # type: ignore[attr-defined]
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _record

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[ThreadingHTTPServer]:
    """A second HTTP server, where no request carrying the profile's credentials may arrive."""
    with serving(_Recorder, "requests") as server:
        yield server


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m dfsession ARGS`` with this checkout's sources, as tests/test_cli.py runs it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "dfsession", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def url_of(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def credentials_seen(server: ThreadingHTTPServer, *secrets: str) -> list[str]:
    """Every credential header, or secret value, that reached ``server``."""
    found = []
    for _method, path, headers in server.requests:  # type: ignore[attr-defined]
        for name, value in headers.items():
            if name.lower() in CREDENTIAL_HEADERS:
                found.append(name)
            found.extend(secret for secret in secrets if secret in value or secret in path)
    return found


# --- the real store, with a session token -------------------------------------------------------


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    value = f"FwoGZXIvYXdzE-{uuid.uuid4().hex}"
    monkeypatch.setenv(TOKEN_ENV, value)
    return value


def store_with_token(s3_bucket: S3Bucket, endpoint: str | None = None) -> dict[str, Any]:
    store = s3_bucket.store()
    store["secrets"]["session_token"] = {"env": TOKEN_ENV}
    if endpoint is not None:
        store["options"]["endpoint"] = endpoint
    return store


def lake_session(s3_bucket: S3Bucket, **sections: Any) -> BuiltSession:
    profile = SessionProfile.from_dict(
        {"object_stores": {"lake": store_with_token(s3_bucket)}, **sections}
    )
    return SessionContextBuilder(profile).build()


def delta_table_in(s3_bucket: S3Bucket, name: str) -> str:
    location = f"s3://{s3_bucket.name}/{name}"
    options = s3_bucket.delta_storage_options()
    write_deltalake(location, pa.table({"id": [1, 2]}), storage_options=options)
    write_deltalake(location, pa.table({"id": [3]}), mode="append", storage_options=options)
    return location


# --- 1. SQL cannot send a store's credentials elsewhere ----------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("AWS_ENDPOINT_URL", "{recorder}"),
        ("endpoint", "{recorder}"),
        ("aws_endpoint", "{recorder}"),
        ("proxy_url", "{recorder}"),
        ("AWS_PROXY_URL", "{recorder}"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "AKIAOTHER"),
    ],
)
def test_create_external_table_options_cannot_redirect_a_stores_credentials(
    s3_bucket: S3Bucket, token: str, recorder: ThreadingHTTPServer, option: str, value: str
) -> None:
    location = delta_table_in(s3_bucket, "t")
    session = lake_session(s3_bucket)
    value = value.format(recorder=url_of(recorder))
    statement = (
        f"CREATE EXTERNAL TABLE x STORED AS DELTATABLE LOCATION '{location}' "
        f"OPTIONS ('{option}' '{value}', 'AWS_ALLOW_HTTP' 'true')"
    )

    with pytest.raises(SqlPolicyError) as caught:
        session.execute(statement)

    assert repr(option.lower()) in str(caught.value)
    assert "object_stores.lake.options" in str(caught.value)
    assert caught.value.field == "object_stores.lake.options"
    assert caught.value.kind == "DDL"
    assert not session.ctx.table_exist("x")
    assert credentials_seen(recorder, s3_bucket.key_id, token) == []


def test_the_refusal_also_guards_sql_run_on_the_raw_context(
    s3_bucket: S3Bucket, token: str, recorder: ThreadingHTTPServer
) -> None:
    location = delta_table_in(s3_bucket, "t")
    session = lake_session(s3_bucket)
    statement = (
        f"CREATE EXTERNAL TABLE x STORED AS DELTATABLE LOCATION '{location}' "
        f"OPTIONS ('endpoint' '{url_of(recorder)}')"
    )
    with pytest.raises(Exception, match="'endpoint'"):
        session.ctx.sql(statement)
    assert recorder.requests == []  # type: ignore[attr-defined]


def test_time_travel_and_client_timeouts_are_allowed_in_a_statement(
    s3_bucket: S3Bucket, token: str
) -> None:
    location = delta_table_in(s3_bucket, "t")
    session = lake_session(s3_bucket)
    session.execute(
        f"CREATE EXTERNAL TABLE v0 STORED AS DELTATABLE LOCATION '{location}' "
        "OPTIONS ('version' '0', 'timeout' '30s', 'connect_timeout' '5s')"
    )
    assert session.execute("SELECT count(*) AS n FROM v0").to_pydict() == {"n": [2]}


def test_a_remote_location_in_no_registered_store_is_refused_before_any_request(
    s3_bucket: S3Bucket,
    token: str,
    recorder: ThreadingHTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMTHEENVIRONMENT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-the-environment")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token-from-the-environment")
    session = lake_session(s3_bucket)
    statement = (
        "CREATE EXTERNAL TABLE x STORED AS DELTATABLE LOCATION 's3://elsewhere/t' "
        f"OPTIONS ('endpoint' '{url_of(recorder)}', 'allow_http' 'true')"
    )

    with pytest.raises(SqlPolicyError) as caught:
        session.execute(statement)

    message = str(caught.value)
    assert "no [object_stores] entry covers 's3://elsewhere'" in message
    assert caught.value.field == "object_stores"
    assert recorder.requests == []  # type: ignore[attr-defined]


# --- 2. no credential in any error at query time -----------------------------------------------


class _ExpiringS3(BaseHTTPRequestHandler):
    """Forwards to the S3-compatible server until ``server.refusal`` is set; then answers as S3
    answers unknown or expired credentials, echoing the key id or the session token it got."""

    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        refusal = self.server.refusal  # type: ignore[attr-defined]
        if refusal is None:
            self._forward(body)
        else:
            self._refuse(refusal)

    def _forward(self, body: bytes) -> None:
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port)  # type: ignore[attr-defined]
        upstream.request(self.command, self.path, body=body, headers=dict(self.headers))
        reply = upstream.getresponse()
        data = reply.read()
        self.send_response(reply.status)
        for name, value in reply.getheaders():
            if name.lower() not in ("content-length", "transfer-encoding", "connection", "date"):
                self.send_header(name, value)
        length = reply.getheader("Content-Length") if self.command == "HEAD" else len(data)
        self.send_header("Content-Length", str(length or 0))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        upstream.close()

    def _refuse(self, code: str) -> None:
        found = re.search(r"Credential=([^/]+)/", self.headers.get("Authorization", ""))
        key_id = found.group(1) if found else ""
        token = self.headers.get("X-Amz-Security-Token", "")
        if code == "InvalidAccessKeyId":
            status, message = (
                403,
                "The AWS Access Key Id you provided does not exist in our records.",
            )
            echo = f"<AWSAccessKeyId>{key_id}</AWSAccessKeyId>"
        else:
            status, message = 400, "The provided token has expired."
            echo = f"<Token-0>{token}</Token-0>"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>{echo}"
            "<RequestId>4442587FB7D0A2F9</RequestId><HostId>h</HostId></Error>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def expiring(s3_bucket: S3Bucket) -> Iterator[ThreadingHTTPServer]:
    """A front for the bucket's server whose credentials can be made to expire."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ExpiringS3)
    server.refusal = None  # type: ignore[attr-defined]
    server.upstream_port = int(s3_bucket.endpoint.rsplit(":", 1)[1])  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


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


def _entry_points(bucket: str) -> dict[str, Callable[[BuiltSession], object]]:
    """Every way a query reaches the store, each one reading or writing there."""
    lake = f"s3://{bucket}"
    return {
        "execute": lambda s: s.execute("SELECT * FROM t"),
        "stream": lambda s: s.stream("SELECT * FROM t").read_all(),
        "explain analyze": lambda s: s.explain("SELECT * FROM t", analyze=True),
        "execute_prepared": lambda s: s.execute_prepared("by_id", 1),
        "DDL": lambda s: s.execute(
            f"CREATE EXTERNAL TABLE u STORED AS PARQUET LOCATION '{lake}/u/'"
        ),
        "COPY": lambda s: s.execute(f"COPY (SELECT 1 AS a) TO '{lake}/copy.parquet'"),
        "write parquet": lambda s: s.write(
            "SELECT 1 AS a", f"{lake}/p/", format="parquet", mode="append"
        ),
        "write delta": lambda s: s.write("SELECT 1 AS a", f"{lake}/d0", format="delta"),
        "write delta append": lambda s: s.write(
            "SELECT 1 AS a", f"{lake}/d1", format="delta", mode="append"
        ),
        "write delta overwrite": lambda s: s.write(
            "SELECT 1 AS a", f"{lake}/d2", format="delta", mode="overwrite"
        ),
    }


def _everything_said(error: BaseException) -> str:
    """All an error shows: its text, its attributes and its formatted traceback with causes."""
    parts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    parts.extend(str(value) for value in vars(error).values())
    return "\n".join(parts)


def _spans_said(finished: tuple[ReadableSpan, ...]) -> str:
    parts = []
    for span in finished:
        parts.append(str(span.status.description))
        parts.append(repr(dict(span.attributes or {})))
        parts.extend(repr(dict(event.attributes or {})) for event in span.events)
    return "\n".join(parts)


@pytest.mark.parametrize("refusal", ["InvalidAccessKeyId", "ExpiredToken"])
def test_no_query_time_error_shows_the_key_id_or_the_session_token(
    s3_bucket: S3Bucket,
    token: str,
    expiring: ThreadingHTTPServer,
    spans: InMemorySpanExporter,
    refusal: str,
) -> None:
    s3_bucket.put_parquet("t/part-0.parquet", pa.table({"id": [1, 2, 3]}))
    profile = SessionProfile.from_dict(
        {
            "object_stores": {"lake": store_with_token(s3_bucket, url_of(expiring))},
            "datasets": {
                "t": {"format": "parquet", "location": f"s3://{s3_bucket.name}/t/"},
            },
            "prepared": {"by_id": {"sql": "SELECT * FROM t WHERE id = $1", "params": ["int64"]}},
            "tracing": {"enabled": True},
        }
    )
    secrets = (s3_bucket.key_id, token, s3_bucket.secret)

    with capture_logs() as events:  # structlog configured with a capturing processor
        session = SessionContextBuilder(profile).build()
        assert session.execute("SELECT count(*) AS n FROM t").to_pydict() == {"n": [3]}
        expiring.refusal = refusal  # type: ignore[attr-defined]
        for entry, run in _entry_points(s3_bucket.name).items():
            spans.clear()
            with pytest.raises(QueryError) as caught:
                run(session)
            said = _everything_said(caught.value)
            assert refusal in caught.value.engine_message, entry  # the engine's words are kept
            assert "***" in caught.value.engine_message, entry
            for secret in secrets:
                assert secret not in said, entry
            finished = spans.get_finished_spans()
            assert any(s.status.status_code is StatusCode.ERROR for s in finished), entry
            for secret in secrets:
                assert secret not in _spans_said(finished), entry

    assert {"dfsession.query"} <= {event["event"] for event in events}
    for secret in secrets:
        assert secret not in repr(events)


def test_the_command_line_shows_no_credential_of_a_refused_request(
    s3_bucket: S3Bucket,
    token: str,
    expiring: ThreadingHTTPServer,
    tmp_path: Path,
) -> None:
    expiring.refusal = "ExpiredToken"  # type: ignore[attr-defined]
    store = store_with_token(s3_bucket, url_of(expiring))
    profile = tmp_path / "lake.toml"
    profile.write_text(tomli_w.dumps({"object_stores": {"lake": store}}))
    query = f"CREATE EXTERNAL TABLE u STORED AS PARQUET LOCATION 's3://{s3_bucket.name}/u/'"

    for flags in ((), ("--debug",), ("-v", "--debug")):
        result = run_cli("sql", str(profile), query, *flags)
        assert result.returncode == 2
        assert "ExpiredToken" in result.stderr
        for secret in (s3_bucket.key_id, token, s3_bucket.secret):
            assert secret not in result.stderr
            assert secret not in result.stdout


# --- 3. the SQL policy sees through EXECUTE -------------------------------------------------


@attrs.frozen
class PrepareStep:
    """A user step that prepares statements at build time, as any custom step may."""

    statements: tuple[str, ...]
    name: str = "prepare_more"
    requires: frozenset[str] = frozenset({"prepared"})
    provides: frozenset[str] = frozenset({"prepare_more"})

    def install(self, build: SessionBuild) -> StepRecord:
        for statement in self.statements:
            build.ctx.sql(statement).collect()
        return StepRecord(step=self.name, applied={"statements": len(self.statements)})


@pytest.fixture
def guarded(tmp_path: Path) -> BuiltSession:
    """DML forbidden, statements allowed; DML prepared by the profile and by a custom step."""
    pq.write_table(pa.table({"id": pa.array([1], pa.int64())}), tmp_path / "part-0.parquet")
    profile = SessionProfile.from_dict(
        {
            "sql_policy": {"allow_dml": False, "allow_ddl": False},
            "datasets": {"t": {"format": "parquet", "location": f"{tmp_path}/"}},
            "prepared": {
                "add_row": {"sql": "INSERT INTO t VALUES ($1)", "params": ["int64"]},
                "by_id": {"sql": "SELECT id FROM t WHERE id = $1", "params": ["int64"]},
            },
        }
    )
    extra = PrepareStep(
        (
            "PREPARE sneaky(BIGINT) AS EXPLAIN ANALYZE INSERT INTO t VALUES ($1)",
            "PREPARE make_table(BIGINT) AS CREATE TABLE u AS SELECT $1 AS x",
        )
    )
    return SessionContextBuilder(profile, (*default_steps(), extra)).build()


def _ids(session: BuiltSession) -> list[int]:
    return sorted(session.execute("SELECT id FROM t").column("id").to_pylist())


@pytest.mark.parametrize(
    ("statement", "prepared"),
    [("EXECUTE add_row(5)", "add_row"), ("EXECUTE sneaky(6)", "sneaky")],
)
@pytest.mark.parametrize("entry", ["execute", "stream", "dataframe"])
def test_execute_of_a_prepared_dml_statement_is_refused_when_dml_is_not_allowed(
    guarded: BuiltSession, statement: str, prepared: str, entry: str
) -> None:
    runs = {
        "execute": lambda: guarded.execute(statement),
        "stream": lambda: guarded.stream(statement).read_all(),
        "dataframe": lambda: guarded.queries.dataframe(statement).collect(),
    }
    with pytest.raises(SqlPolicyError) as caught:
        runs[entry]()
    error = caught.value
    assert (error.kind, error.field) == ("DML", "sql_policy.allow_dml")
    assert f"prepared statement {prepared!r}" in str(error)
    assert "sql_policy.allow_dml = true" in str(error)
    assert _ids(guarded) == [1]


def test_execute_of_a_prepared_ddl_statement_is_refused_when_ddl_is_not_allowed(
    guarded: BuiltSession,
) -> None:
    with pytest.raises(SqlPolicyError) as caught:
        guarded.execute("EXECUTE make_table(1)")
    assert (caught.value.kind, caught.value.field) == ("DDL", "sql_policy.allow_ddl")
    assert "prepared statement 'make_table'" in str(caught.value)
    assert not guarded.ctx.table_exist("u")


def test_execute_of_a_prepared_query_runs_under_the_same_policy(guarded: BuiltSession) -> None:
    assert guarded.execute("EXECUTE by_id(1)").to_pydict() == {"id": [1]}


def test_execute_prepared_still_runs_the_profiles_declared_statements(
    guarded: BuiltSession,
) -> None:
    guarded.execute_prepared("add_row", 7)
    assert _ids(guarded) == [1, 7]


def test_the_engine_alone_checks_only_the_execute_statement() -> None:
    """Why dfsession looks at the plan: DataFusion 55 lets EXECUTE of a prepared INSERT through
    ``allow_dml = false`` and runs the INSERT on collect. Fails once the engine checks it."""
    ctx = SessionContext()
    ctx.sql("CREATE TABLE t (id BIGINT)").collect()
    ctx.sql("PREPARE add_row(BIGINT) AS INSERT INTO t VALUES ($1)").collect()
    df = ctx.sql("EXECUTE add_row(5)", options=SQLOptions().with_allow_dml(False))
    assert isinstance(df.logical_plan().to_variant(), DmlStatement)
    df.collect()
    assert ctx.sql("SELECT id FROM t").to_pydict() == {"id": [5]}
