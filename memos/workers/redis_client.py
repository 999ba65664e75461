"""The worker process's own Redis client (shared by the single-event and the batch tasks)."""

from __future__ import annotations

import redis
from celery import Celery

from memos.mem_scheduler.config import SchedulerConfig


def worker_redis(app: Celery) -> redis.Redis:
    """The worker process's Redis client for idempotency markers, replies and effects."""
    client = getattr(app, "memos_redis", None)
    if client is None:
        config: SchedulerConfig = app.memos_config  # type: ignore[attr-defined]
        client = redis.Redis.from_url(config.redis_url)
        app.memos_redis = client  # type: ignore[attr-defined]
    return client
