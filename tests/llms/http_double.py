"""A tiny real HTTP server on 127.0.0.1 for protocol doubles of external model servers.

Each test passes a ``route(method, path, body) -> Reply``; the server records every request
and answers on a free port in a background thread. Streaming replies are written chunk by chunk
and the connection is closed at the end (HTTP/1.0 style), as SSE and NDJSON clients expect.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """What the double answers: a status, a content type, and a body or chunks to stream."""

    status: int = 200
    body: Any = None
    content_type: str = "application/json"
    chunks: Iterable[bytes] | None = None


@dataclass
class Recorded:
    """One request the double received."""

    method: str
    path: str
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


Route = Callable[[str, str, Any], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, route: Route) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.route = route
        self.requests: list[Recorded] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        return

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        self.server.requests.append(Recorded(method, self.path, body, dict(self.headers)))
        reply = self.server.route(method, self.path, body)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        if reply.chunks is not None:
            self.send_header("Connection", "close")
            self.end_headers()
            for chunk in reply.chunks:
                self.wfile.write(chunk)
                self.wfile.flush()
            return
        payload = (
            reply.body.encode() if isinstance(reply.body, str) else json.dumps(reply.body).encode()
        )
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")


@contextmanager
def serve(route: Route) -> Iterator[_Server]:
    """Run a double for the duration of the ``with`` block; yields the server (``.requests``)."""
    server = _Server(route)
    thread = threading.Thread(target=server.serve_forever, name="http-double", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def base_url(server: _Server) -> str:
    """``http://127.0.0.1:<port>``."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


def free_port() -> int:
    """A port nothing listens on (bound and released), for "unreachable server" tests."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
