"""Server ports: picked outside the ephemeral range, and a restarted server keeps its port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from memos.embedded import stack
from memos.embedded.ports import (
    LOOPBACK,
    ephemeral_range,
    pick_free_port,
    port_is_free,
    server_port_range,
)


@contextmanager
def _listening(port: int) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((LOOPBACK, port))
        sock.listen()
        yield sock
    finally:
        sock.close()


def test_server_ports_avoid_the_ephemeral_range() -> None:
    low, high = ephemeral_range()
    assert 0 < low <= high <= 65535
    span = server_port_range()
    if span is None:
        pytest.skip(f"no room below the ephemeral range {low}-{high} on this machine")
    for _ in range(20):
        port = pick_free_port()
        # An outgoing connection's local port can never take it from a restarted server.
        assert span[0] <= port <= span[1] < low
        assert port_is_free(port)


def test_a_restart_waits_for_its_recorded_port() -> None:
    port = pick_free_port()
    with _listening(port) as held:
        assert not port_is_free(port)
        threading.Timer(1.0, held.close).start()
        started = time.monotonic()
        chosen = stack._choose_port("Redis", None, port, set())
    assert chosen == (port, True)
    assert time.monotonic() - started >= 0.8  # it waited instead of moving


def test_a_recorded_port_that_stays_busy_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack, "RECORDED_PORT_WAIT_S", 0.5)
    port = pick_free_port()
    with _listening(port):
        new_port, auto = stack._choose_port("Redis", None, port, set())
    assert auto and new_port != port
