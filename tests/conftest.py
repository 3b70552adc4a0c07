"""Shared fixtures: a real S3-compatible server (moto's server mode) on 127.0.0.1, a proxy to it
that delays each request at random, and an OTLP/HTTP collector.

The S3 server starts once per test session on a free port and stops at the end; each test gets
its own bucket, and its credentials through environment variables set for that test only.
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs
import datafusion
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from packaging.version import Version

#: pytester runs pytest inside a test: the dfsession plugin is tested that way.
pytest_plugins = ["pytester"]

#: The installed DataFusion major: the suite runs on 55, and on 54 (nox -s tests_ballista).
DATAFUSION_MAJOR = Version(datafusion.__version__).major
#: Tests of what DataFusion 55 brought: planner capsules (``set_query_planner``,
#: ``SessionExtensionComponents``) and table functions in ``information_schema.routines``.
needs_datafusion_55 = pytest.mark.skipif(
    DATAFUSION_MAJOR < 55,
    reason=f"needs DataFusion 55 (planner capsules, table functions in information_schema); "
    f"datafusion {datafusion.__version__} is installed",
)

REGION = "us-east-1"
#: Environment variables the S3 profiles in the tests name as their secret references.
KEY_ENV = "DFSESSION_TEST_S3_KEY"
SECRET_ENV = "DFSESSION_TEST_S3_SECRET"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@attrs.frozen
class S3Server:
    """A running moto server: its endpoint URL."""

    endpoint: str


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's ThreadedMotoServer on 127.0.0.1 and a free port, for the whole test session."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415 - only S3 tests load moto

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Server(endpoint=f"http://127.0.0.1:{port}")
    finally:
        server.stop()


@attrs.frozen
class S3Bucket:
    """One fresh bucket on the server, its client, and the secret values the test exported."""

    name: str
    endpoint: str
    key_id: str
    secret: str
    client: Any = attrs.field(repr=False)

    def put_parquet(self, key: str, table: pa.Table) -> None:
        """Write ``table`` as a Parquet object at ``key``."""
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        self.client.put_object(Bucket=self.name, Key=key, Body=buffer.getvalue())

    def store(self, **extra: Any) -> dict[str, Any]:
        """An ``[object_stores]`` entry for this bucket, credentials as env references."""
        return {
            "url": f"s3://{self.name}",
            "kind": "s3",
            "options": {"region": REGION, "endpoint": self.endpoint, "allow_http": True},
            "secrets": {
                "access_key_id": {"env": KEY_ENV},
                "secret_access_key": {"env": SECRET_ENV},
            },
            **extra,
        }

    def delta_storage_options(self) -> dict[str, str]:
        """deltalake options to write test tables into the bucket directly."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": self.key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_ALLOW_HTTP": "true",
            "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
        }


@pytest.fixture
def s3_bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Bucket:
    """A new bucket, with this test's credentials exported as environment variables."""
    import boto3  # noqa: PLC0415 - only S3 tests load boto3

    key_id = f"AKIA{uuid.uuid4().hex[:16].upper()}"
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    monkeypatch.setenv(KEY_ENV, key_id)
    monkeypatch.setenv(SECRET_ENV, secret)
    client = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        region_name=REGION,
    )
    name = f"lake-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return S3Bucket(
        name=name, endpoint=s3_server.endpoint, key_id=key_id, secret=secret, client=client
    )


@pytest.fixture
def jittery_s3(s3_server: S3Server) -> Iterator[S3Server]:
    """The S3 server behind a proxy that delays every request by a random 0-4 ms.

    The proxy (``delaying_proxy.py``) runs in a child process: in this one it would take the
    interpreter lock from the client it serves.
    """
    command = [sys.executable, str(Path(__file__).with_name("delaying_proxy.py"))]
    with subprocess.Popen(
        [*command, s3_server.endpoint, "14"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proxy:
        assert proxy.stdout is not None and proxy.stdin is not None
        endpoint = proxy.stdout.readline().strip()
        try:
            yield S3Server(endpoint=endpoint)
        finally:
            proxy.stdin.close()  # the proxy stops when its standard input ends
            proxy.wait(timeout=15)


class _Collector(BaseHTTPRequestHandler):
    """A minimal OTLP/HTTP receiver: stores each request's path and protobuf body."""

    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(b"")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler], log: str) -> Iterator[ThreadingHTTPServer]:
    """An HTTP server on 127.0.0.1 answering with ``handler``; its list ``log`` starts empty."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    setattr(server, log, [])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def collector() -> Iterator[ThreadingHTTPServer]:
    """An OTLP/HTTP collector on 127.0.0.1; ``.received`` holds each (path, body) it got."""
    with serving(_Collector, "received") as server:
        yield server
