"""A real HTTP server on 127.0.0.1 (stdlib, in a thread) that speaks the embedding protocols."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

# handler(path, body, headers) -> (status, json_body)
Responder = Callable[[str, dict[str, Any], dict[str, str]], tuple[int, Any]]


@dataclass
class FakeServer:
    """Records requests; ``respond`` decides each answer."""

    url: str
    respond: Responder
    requests: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)


def toy_vector(text: str, dim: int = 4) -> list[float]:
    """A deterministic vector derived from the text (length-dependent, so texts differ)."""
    return [float(len(text) + i) for i in range(dim)]


@pytest.fixture
def embed_server() -> Iterator[FakeServer]:
    """Start the server on a free port; stopped (and its thread joined) after the test."""
    holder: dict[str, FakeServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            server = holder["server"]
            headers = {k.lower(): v for k, v in self.headers.items()}
            server.requests.append((self.path, body, headers))
            status, payload = server.respond(self.path, body, headers)
            raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = httpd.server_address[1]
    holder["server"] = FakeServer(url=f"http://127.0.0.1:{port}", respond=lambda p, b, h: (404, {}))
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield holder["server"]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
