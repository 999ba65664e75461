"""Counters, the heartbeat key, and the ``--check`` probe.

Every ``heartbeat_interval_s`` a replica writes its counters as JSON to
``<prefix>:scheduler:health:<consumer>`` with a TTL of interval + 1 s, so the key disappears
soon after the replica stops. ``check_health`` (``memos scheduler --check``) succeeds when such a
key exists: for the configured consumer if one is named, else for any replica.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import redis
import redis.asyncio as aioredis

from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.ordering import decode


@dataclass
class Counters:
    """What a replica has done since it started."""

    processed: int = 0
    failed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    malformed: int = 0
    reclaimed: int = 0
    in_flight: int = 0
    pending: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return asdict(self)


def heartbeat_ttl_s(interval_s: float) -> int:
    """Key TTL: the interval plus one second, rounded up to whole seconds."""
    return math.ceil(interval_s + 1)


async def record_health(
    client: aioredis.Redis,
    config: SchedulerConfig,
    consumer: str,
    counters: Counters,
    *,
    extra: dict[str, object] | None = None,
) -> None:
    """Write the heartbeat key for ``consumer`` (``extra``: e.g. the metrics URL)."""
    body = {
        "consumer": consumer,
        "at": datetime.now(UTC).isoformat(),
        **counters.as_dict(),
        **(extra or {}),
    }
    await client.set(
        config.keys.health(consumer),
        json.dumps(body),
        ex=heartbeat_ttl_s(config.heartbeat_interval_s),
    )


def read_health(config: SchedulerConfig, client: redis.Redis) -> dict[str, dict[str, object]]:
    """Every live replica's last heartbeat, by consumer name."""
    if config.consumer_name:
        names = [config.keys.health(config.consumer_name)]
    else:
        names = [decode(k) for k in client.scan_iter(match=config.keys.health_pattern, count=500)]
    found: dict[str, dict[str, object]] = {}
    for name in names:
        raw = client.get(name)
        if raw is None:
            continue
        data = json.loads(decode(raw))
        found[str(data.get("consumer", name))] = data
    return found


def check_health(config: SchedulerConfig, client: redis.Redis | None = None) -> bool:
    """True when a heartbeat is live (see module doc); False also when Redis is unreachable."""
    own = client is None
    conn = client or redis.Redis.from_url(config.redis_url, socket_connect_timeout=2)
    try:
        return bool(read_health(config, conn))
    except (redis.RedisError, OSError, ValueError):
        return False
    finally:
        if own:
            conn.close()
