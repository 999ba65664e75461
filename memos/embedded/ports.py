"""Loopback port helpers: pick a free port, tell whether one is free.

Server ports are picked below the kernel's ephemeral range (``ip_local_port_range``). A port
from inside it can be taken at any moment as the local end of some process's outgoing
connection; then a server that crashed cannot be restarted on its own port, and every client
configured with its address loses it for good (the reliability suite hit exactly that when a
Redis killed under load came back on a new port).
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOOPBACK = "127.0.0.1"
#: Where server ports are picked when the ephemeral range leaves room below it.
SERVER_PORT_FLOOR = 20000
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_DEFAULT_EPHEMERAL = (32768, 60999)


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range of local ports for outgoing connections (Linux default elsewhere)."""
    try:
        low, high = (int(x) for x in _EPHEMERAL_RANGE.read_text().split()[:2])
    except (OSError, ValueError):
        return _DEFAULT_EPHEMERAL
    return low, high


def server_port_range() -> tuple[int, int] | None:
    """Inclusive range to pick server ports from, or None when there is no room below."""
    low, _ = ephemeral_range()
    if low - 1 - SERVER_PORT_FLOOR < 1000:
        return None
    return SERVER_PORT_FLOOR, low - 1


def _bindable(port: int, host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def pick_free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on ``host`` that nothing uses right now, for a server to listen on.

    Picked at random below the ephemeral range when there is room (see the module doc), else
    by the kernel (bind to port 0). Nothing holds the port after returning, so another process
    could take it in between: callers that start a server on it retry with a new port when the
    server fails to bind.
    """
    span = server_port_range()
    if span is not None:
        for _ in range(100):
            candidate = random.randint(*span)
            if _bindable(candidate, host):
                return candidate
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True when a server could bind ``host:port`` now (no listener holds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Without SO_REUSEADDR a port in TIME_WAIT after a clean shutdown would look taken,
        # although the server we restart on it (which sets the option itself) can bind it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def port_accepts(port: int, host: str = LOOPBACK, *, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False
