"""The scheduler's numbers at a glance, for ``memos status``: the same ones the metrics carry.

Read straight from Redis (stream, group, dead-letter stream and every live replica's heartbeat),
so it works from any machine that reaches the bus, whether or not a metrics port is open.
"""

from __future__ import annotations

import redis
from pydantic import BaseModel, ConfigDict

from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.health import read_health


class SchedulerSnapshot(BaseModel):
    """Stream-wide counts plus each live replica's heartbeat counters."""

    model_config = ConfigDict(frozen=True)

    stream_length: int
    pending: int
    dead_letters: int
    replicas: dict[str, dict[str, object]]


def scheduler_snapshot(
    config: SchedulerConfig, client: redis.Redis | None = None
) -> SchedulerSnapshot:
    """Read the snapshot; raises ``redis.RedisError`` when the bus cannot be reached."""
    own = client is None
    conn = client or redis.Redis.from_url(config.redis_url, socket_connect_timeout=2)
    keys = config.keys
    try:
        length = int(conn.xlen(keys.events))
        pending = 0
        try:
            summary: dict[str, object] = conn.xpending(keys.events, keys.group)  # type: ignore[assignment]
            pending = int(str(summary["pending"]))
        except redis.ResponseError:
            pending = 0  # no group yet: no daemon ever ran on this prefix
        dead = int(conn.xlen(keys.dlq))
        replicas = read_health(config.model_copy(update={"consumer_name": None}), conn)
    finally:
        if own:
            conn.close()
    return SchedulerSnapshot(
        stream_length=length, pending=pending, dead_letters=dead, replicas=replicas
    )


def describe_snapshot(snapshot: SchedulerSnapshot, prefix: str) -> list[str]:
    """Lines for the text status output."""
    lines = [
        f"  scheduler ({prefix}): {len(snapshot.replicas)} live replica(s), "
        f"stream {snapshot.stream_length}, pending {snapshot.pending}, "
        f"dead letters {snapshot.dead_letters}"
    ]
    for name, beat in sorted(snapshot.replicas.items()):
        counters = " ".join(
            f"{key}={beat.get(key, 0)}"
            for key in ("processed", "failed", "retried", "dead_lettered", "in_flight", "pending")
        )
        metrics = f"  metrics {beat['metrics_url']}" if beat.get("metrics_url") else ""
        lines.append(f"    {name}: {counters}{metrics}")
    return lines
