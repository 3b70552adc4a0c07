"""A threaded HTTP proxy on 127.0.0.1 that adds a fixed delay to every request.

It stands between an S3 client and an S3-compatible server (moto's ``ThreadedMotoServer`` in the
benchmarks) to make a local server behave like a remote store: each request waits ``delay``
seconds (plus an optional random ``jitter``) before it is forwarded. Bodies are streamed both
ways and connections are HTTP/1.1 keep-alive on both sides, so clients pool connections as they
would against a real store. Requests are counted by kind (``LIST``, ``GET``, ``HEAD``...), so a
benchmark can say how many round trips each side made.

Clients sign their requests for the proxy's host; the proxy forwards the ``Host`` header as it
came, which the S3-compatible server accepts (moto does not verify signatures by default).

``replay`` (for read-only phases): a small ``GET``/``HEAD`` response is kept the first time and
answered from memory, after the same delay, on later identical requests (same path, query and
``Range``); any other method forgets them all. moto spends 2-4 ms of one core on each request
(its listing walks every key of the bucket); against a store 20 ms away that server time, not the
client's, would bound a concurrent client, unlike a real store.

``LakeServer`` runs moto and the proxies in a child process (``python latency_proxy.py serve``), so
the server's Python threads do not share the interpreter lock of the client being measured; its
proxies answer ``GET /__proxy__/requests`` (the counts, as JSON) and ``POST /__proxy__/reset``
themselves (``__proxy__`` cannot be a bucket name), neither delayed nor counted.

Run ``python benchmarks/latency_proxy.py`` to check it: boto3 and DataFusion's S3 store through
the proxy against moto, with the delay and the requests measured.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import logging
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
from datafusion import SessionContext
from datafusion.object_store import AmazonS3
from moto.server import ThreadedMotoServer

#: Headers that belong to one connection, not to the message: never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: Bytes copied at a time when streaming a body.
CHUNK = 64 * 1024
#: The largest response body ``replay`` keeps.
REPLAY_MAX_BYTES = 1024 * 1024
#: Path prefix of the proxy's own control requests.
CONTROL = "/__proxy__/"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def request_kind(method: str, target: str) -> str:
    """``LIST`` for an S3 listing (a GET of a bucket with ``list-type``), else the method."""
    parts = urlsplit(target)
    if method == "GET" and "list-type" in parse_qs(parts.query, keep_blank_values=True):
        return "LIST"
    return method


class Counts:
    """Requests and client connections seen, by kind; safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._connections = 0

    def add_request(self, kind: str) -> None:
        """Count one request of ``kind``."""
        with self._lock:
            self._requests[kind] += 1

    def add_connection(self) -> None:
        """Count one client connection."""
        with self._lock:
            self._connections += 1

    def snapshot(self) -> dict[str, Any]:
        """Requests (total and by kind) and connections so far."""
        with self._lock:
            return {
                "requests": sum(self._requests.values()),
                "by_kind": dict(sorted(self._requests.items())),
                "connections": self._connections,
            }

    def reset(self) -> None:
        """Start again from zero."""
        with self._lock:
            self._requests.clear()
            self._connections = 0


class ReplayCache:
    """Small read responses by request, shared by proxies to one upstream; safe across threads."""

    Entry = tuple[int, str, list[tuple[str, str]], bytes]

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str, str], ReplayCache.Entry] = {}

    def get(self, key: tuple[str, str, str]) -> ReplayCache.Entry | None:
        """The kept response for ``key``, if any."""
        with self._lock:
            return self._entries.get(key)

    def put(self, key: tuple[str, str, str], entry: ReplayCache.Entry) -> None:
        """Keep a response."""
        with self._lock:
            self._entries[key] = entry

    def clear(self) -> None:
        """Forget every response (a write went through)."""
        with self._lock:
            self._entries.clear()


class _Server(ThreadingHTTPServer):
    """One thread per client connection; a deep backlog for concurrent clients."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, proxy: LatencyProxy) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", 0), _Handler)


class _BodyReader:
    """A file-like view of exactly ``length`` bytes of a stream, for ``http.client`` to send."""

    def __init__(self, stream: Any, length: int) -> None:
        self._stream = stream
        self._left = length

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        size = self._left if size < 0 else min(size, self._left)
        data: bytes = self._stream.read(size)
        self._left -= len(data)
        if not data:
            self._left = 0
        return data


def _chunks(stream: Any) -> Iterator[bytes]:
    """The decoded chunks of a ``Transfer-Encoding: chunked`` body read from ``stream``."""
    while True:
        size = int(stream.readline().split(b";", 1)[0].strip(), 16)
        if size == 0:
            while stream.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers, dropped
            return
        yield stream.read(size)
        stream.readline()


class _NoDelayConnection(http.client.HTTPConnection):
    """An upstream connection with Nagle's algorithm off, like the client side."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Handler(BaseHTTPRequestHandler):
    """Forward each request upstream after the proxy's delay, over one upstream connection."""

    protocol_version = "HTTP/1.1"
    #: Without it, Nagle's algorithm and delayed ACKs add ~40 ms to small responses.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.upstream: _NoDelayConnection | None = None
        self.counted = False  # control requests do not count as a client's connection

    def finish(self) -> None:
        if self.upstream is not None:
            self.upstream.close()
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a benchmark's output is its figures."""

    def _connection(self) -> _NoDelayConnection:
        if self.upstream is None:
            proxy = self.server.proxy
            self.upstream = _NoDelayConnection(proxy.upstream_host, proxy.upstream_port)
        return self.upstream

    def _handle(self) -> None:
        proxy = self.server.proxy
        if self.path.startswith(CONTROL):
            self._control()
            return
        if not self.counted:
            proxy.counts.add_connection()
            self.counted = True
        proxy.counts.add_request(request_kind(self.command, self.path))
        time.sleep(proxy.next_delay())
        cache = proxy.cache
        key = (self.command, self.path, self.headers.get("Range", ""))
        if cache is not None:
            if self.command not in ("GET", "HEAD"):
                cache.clear()
            elif (entry := cache.get(key)) is not None:
                self._send_kept(entry)
                return
        response = self._forward()
        if response is None:
            return
        length = response.getheader("Content-Length")
        if (
            cache is not None
            and self.command in ("GET", "HEAD")
            and response.status in (200, 206, 404)
            and length is not None
            and int(length) <= REPLAY_MAX_BYTES
        ):
            entry = (response.status, response.reason, response.getheaders(), response.read())
            cache.put(key, entry)
            self._send_kept(entry)
        else:
            self._relay(response)
        if response.will_close and self.upstream is not None:
            self.upstream.close()
            self.upstream = None

    def _forward(self) -> http.client.HTTPResponse | None:
        """Send the request upstream, streaming its body; its response, or None after a 502."""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        body: Any = None
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        if chunked:
            body = _chunks(self.rfile)
        elif int(self.headers.get("Content-Length", "0") or 0) > 0:
            body = _BodyReader(self.rfile, int(self.headers["Content-Length"]))
        upstream = self._connection()
        try:
            upstream.request(self.command, self.path, body, headers, encode_chunked=chunked)
            return upstream.getresponse()
        except (ConnectionError, http.client.HTTPException):
            upstream.close()
            self.upstream = None
            self.send_error(502, "upstream connection failed")
            return None

    def _send_headers(self, status: int, reason: str, headers: list[tuple[str, str]]) -> None:
        self.send_response_only(status, reason)
        for key, value in headers:
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)

    def _send_kept(self, entry: ReplayCache.Entry) -> None:
        """Send a whole response held in memory."""
        status, reason, headers, body = entry
        self._send_headers(status, reason, headers)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _relay(self, response: http.client.HTTPResponse) -> None:
        """Send the upstream's response on, streaming its body."""
        self._send_headers(response.status, response.reason, response.getheaders())
        length = response.getheader("Content-Length")
        no_body = self.command == "HEAD" or response.status in (204, 304)
        if length is None and not no_body:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if no_body:
            response.read()
            return
        while data := response.read(CHUNK):
            if length is None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                self.wfile.write(data)
        if length is None:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _control(self) -> None:
        """The proxy's own requests: read or reset the counts."""
        proxy = self.server.proxy
        action = self.path[len(CONTROL) :]
        if self.command == "POST" and action == "reset":
            proxy.reset()
            body = b"{}"
        elif self.command == "GET" and action == "requests":
            body = json.dumps(proxy.requests()).encode()
        else:
            self.send_error(404, "unknown proxy control request")
            return
        self.send_response_only(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    # http.server dispatches on these names.
    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = _handle  # noqa: N815


class LatencyProxy:
    """A delaying proxy to ``upstream`` (``http://host:port``), listening on 127.0.0.1.

    ``delay`` seconds are added to every request, plus a uniform random ``jitter`` in
    ``[0, jitter)`` seconds when given (``seed`` makes it repeatable). ``cache`` replays small
    read responses (see the module's note). Use as a context manager, or ``start`` and ``stop``.
    """

    def __init__(
        self,
        upstream: str,
        delay: float,
        jitter: float = 0.0,
        seed: int | None = None,
        cache: ReplayCache | None = None,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"upstream must be http://host:port (got {upstream!r})")
        self.upstream_host: str = parts.hostname
        self.upstream_port: int = parts.port
        self.delay = delay
        self.jitter = jitter
        self.cache = cache
        self._random = random.Random(seed)
        self._random_lock = threading.Lock()
        self.counts = Counts()
        self._server: _Server | None = None

    @property
    def endpoint(self) -> str:
        """The proxy's URL, for clients: ``http://127.0.0.1:PORT``."""
        if self._server is None:
            raise RuntimeError("the proxy is not running; call start() first")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def next_delay(self) -> float:
        """The delay of the next request: the fixed one plus its jitter."""
        if not self.jitter:
            return self.delay
        with self._random_lock:
            return self.delay + self._random.uniform(0.0, self.jitter)

    def requests(self) -> dict[str, Any]:
        """Requests seen since the last ``reset``: total, by kind, and client connections."""
        return self.counts.snapshot()

    def reset(self) -> None:
        """Start counting from zero."""
        self.counts.reset()

    def start(self) -> LatencyProxy:
        """Listen on a free port of 127.0.0.1 and serve in a background thread."""
        self._server = _Server(self)
        threading.Thread(
            target=self._server.serve_forever, name="latency-proxy", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LatencyProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class MotoServer:
    """moto's ``ThreadedMotoServer`` on 127.0.0.1 and a free port, as a context manager."""

    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.port = free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    @property
    def endpoint(self) -> str:
        """The server's URL."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> MotoServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()


class RemoteProxy:
    """A proxy running in a ``LakeServer`` child process: its endpoint and its counts."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def requests(self) -> dict[str, Any]:
        """Requests seen since the last ``reset``: total, by kind, and client connections."""
        with urllib.request.urlopen(self.endpoint + CONTROL + "requests") as response:
            counts: dict[str, Any] = json.load(response)
            return counts

    def reset(self) -> None:
        """Start counting from zero."""
        request = urllib.request.Request(self.endpoint + CONTROL + "reset", method="POST")
        with urllib.request.urlopen(request) as response:
            response.read()


class LakeServer:
    """moto and one delaying proxy per delay, in a child process; a context manager.

    ``upstream`` is moto's own endpoint (for writing the lake, undelayed) and ``proxies`` maps
    each delay in milliseconds to its ``RemoteProxy``.
    """

    def __init__(self, delays_ms: tuple[int, ...], *, replay: bool = False) -> None:
        self.delays_ms = delays_ms
        self.replay = replay
        self.upstream = ""
        self.proxies: dict[int, RemoteProxy] = {}
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> LakeServer:
        delays = ",".join(map(str, self.delays_ms))
        command = [sys.executable, __file__, "serve", "--delays", delays]
        if self.replay:
            command.append("--replay")
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            self._process.wait()
            raise RuntimeError(f"the lake server exited with status {self._process.returncode}")
        described = json.loads(line)
        self.upstream = described["upstream"]
        self.proxies = {int(d): RemoteProxy(url) for d, url in described["proxies"].items()}
        return self

    def __exit__(self, *exc: object) -> None:
        process = self._process
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()  # the child stops when its standard input ends
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def serve(delays_ms: tuple[int, ...], replay: bool) -> None:
    """Run moto and the proxies; describe them as one JSON line; stop when stdin ends."""
    cache = ReplayCache() if replay else None
    with MotoServer() as moto:
        proxies = {
            delay: LatencyProxy(moto.endpoint, delay / 1000, cache=cache).start()
            for delay in delays_ms
        }
        described = {
            "upstream": moto.endpoint,
            "proxies": {str(delay): proxy.endpoint for delay, proxy in proxies.items()},
        }
        print(json.dumps(described), flush=True)
        sys.stdin.read()
        for proxy in proxies.values():
            proxy.stop()


def check(delay: float = 0.05) -> dict[str, Any]:
    """Prove the proxy against moto: signed boto3 and DataFusion requests, the delay, the counts."""
    credentials = {"aws_access_key_id": "AKIACHECK", "aws_secret_access_key": "check-secret"}
    with LakeServer((int(delay * 1000),)) as lake:
        proxy = lake.proxies[int(delay * 1000)]
        client = boto3.client(
            "s3", endpoint_url=proxy.endpoint, region_name="us-east-1", **credentials
        )
        client.create_bucket(Bucket="check")
        big = bytes(range(256)) * 8192  # 2 MiB: streamed in many pieces both ways
        client.put_object(Bucket="check", Key="blob", Body=big)
        assert client.get_object(Bucket="check", Key="blob")["Body"].read() == big
        buffer = io.BytesIO()
        pq.write_table(pa.table({"x": [1, 2, 3]}), buffer)
        client.put_object(Bucket="check", Key="t/part-0.parquet", Body=buffer.getvalue())
        proxy.reset()
        store = AmazonS3(
            bucket_name="check",
            region="us-east-1",
            access_key_id=credentials["aws_access_key_id"],
            secret_access_key=credentials["aws_secret_access_key"],
            endpoint=proxy.endpoint,
            allow_http=True,
        )
        ctx = SessionContext()
        ctx.register_object_store("s3://", store, "check")
        started = time.perf_counter()
        ctx.register_parquet("t", "s3://check/t/")
        registration = time.perf_counter() - started
        registered = proxy.requests()
        total = ctx.sql("SELECT sum(x) AS s FROM t").to_pydict()["s"][0]
        assert total == 6, total
        return {
            "delay_ms": delay * 1000,
            "register_parquet_ms": round(registration * 1000, 1),
            "register_parquet_requests": registered,
            "query_requests": proxy.requests()["requests"] - registered["requests"],
        }


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    serving = commands.add_parser("serve", help="run moto and the proxies until stdin ends")
    serving.add_argument("--delays", required=True, help="milliseconds, comma-separated: 0,20,50")
    serving.add_argument("--replay", action="store_true", help="replay small read responses")
    args = parser.parse_args()
    if args.command == "serve":
        serve(tuple(int(d) for d in args.delays.split(",")), args.replay)
    else:
        print(check())


if __name__ == "__main__":
    _main()
