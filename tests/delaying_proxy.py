"""A proxy to an S3-compatible server that delays each request at random; reads are replayed.

Run: ``python delaying_proxy.py UPSTREAM SEED``. It prints its endpoint (``http://127.0.0.1:PORT``)
as one line and serves until its standard input ends. Each request waits a random 0-4 ms (from
``SEED``), so the responses of concurrent requests arrive in a random order. A ``GET``/``HEAD``
answered once is answered again from memory (the proxy is for reading a bucket filled
beforehand): the server's own CPU time per request would otherwise make repeated builds slow.
"""

from __future__ import annotations

import http.client
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

#: Headers of one connection, not of the message: a proxy never forwards them.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer"})
MAX_DELAY_S = 0.004

Response = tuple[int, list[tuple[str, str]], bytes]


class ProxyServer(ThreadingHTTPServer):
    """The proxy's server: a deep backlog for the many connections of a build."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, upstream: str, seed: int) -> None:
        super().__init__(("127.0.0.1", 0), DelayingHandler)
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.kept: dict[tuple[str, str, str], Response] = {}
        self._chance = random.Random(seed)
        self._lock = threading.Lock()

    def delay(self) -> float:
        """The next request's delay."""
        with self._lock:
            return self._chance.uniform(0.0, MAX_DELAY_S)


class DelayingHandler(BaseHTTPRequestHandler):
    """Forward each request after its delay; answer a read seen before from memory."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: ProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def answer(self) -> None:
        time.sleep(self.server.delay())
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        key = (self.command, self.path, self.headers.get("Range", ""))
        kept = self.server.kept.get(key)
        if kept is None:
            kept = self.forward(body)
            if self.command in ("GET", "HEAD"):
                self.server.kept[key] = kept
        status, headers, data = kept
        self.send_response_only(status)
        length = str(len(data))
        for name, value in headers:
            if name.lower() == "content-length":
                length = value if self.command == "HEAD" else length
            elif name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def forward(self, body: bytes) -> Response:
        upstream = http.client.HTTPConnection(*self.server.upstream)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            upstream.request(self.command, self.path, body or None, headers)
            response = upstream.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            upstream.close()

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = answer


def main() -> None:
    server = ProxyServer(sys.argv[1], int(sys.argv[2]))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    sys.stdin.read()
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
