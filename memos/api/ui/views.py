"""What the inspector's pages show, gathered from the registry, the bus and the stack.

Each function returns plain data for one page; the pages only lay it out. Cube contents are
read through the MOS facade (``MOS.inspect``: a worker answers), so the inspector sees what the
REST API sees, with the same access checks. An admin key sees every tenant: its requests act as
the cube's owner. Bus and stack views read Redis and the stack's state files directly, as
``memos status`` and ``memos dlq`` do.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from memos.api.auth import Principal
from memos.api.deps import ApiContext
from memos.errors import MemOSError, SchedulerError
from memos.mem_scheduler.dlq import DeadLetter, DeadLetterQueue
from memos.mem_scheduler.ordering import decode
from memos.observability.status import scheduler_snapshot

logger = logging.getLogger(__name__)

#: Dead letters shown on the bus page (the oldest first, as ``memos dlq list``).
DLQ_SHOWN = 100


def is_admin(principal: Principal) -> bool:
    """Whether the key carries the ``admin`` scope (sees every tenant, the bus and the stack)."""
    return "admin" in principal.scopes


def acting_user(context: ApiContext, principal: Principal, cube_id: str) -> str:
    """The user a cube request runs as: the tenant itself, or for an admin the cube's owner."""
    if is_admin(principal):
        record = context.mos.registry.get_cube(cube_id)
        if record is not None:
            return record.owner_id
    return principal.user_id


@dataclass
class CubeRow:
    """One cube on the overview: its record and counts (or why they are missing)."""

    cube_id: str
    owner_id: str
    text_backend: str
    counts: dict[str, Any] | None = None
    problem: str | None = None


@dataclass
class UserRow:
    """One user and the cubes it owns or was given."""

    user_id: str
    role: str
    cubes: list[CubeRow] = field(default_factory=list)


def overview(context: ApiContext, principal: Principal) -> list[UserRow]:
    """The users the key may see, each with its cubes and their counts per tier and status."""
    registry = context.mos.registry
    if is_admin(principal):
        users = registry.list_users()
    else:
        users = [registry.require_user(principal.user_id)]
    rows = []
    for user in users:
        row = UserRow(user_id=user.user_id, role=user.role)
        for cube_id in registry.accessible_cubes(user.user_id):
            record = registry.get_cube(cube_id)
            if record is None:
                continue
            cube = CubeRow(cube_id, record.owner_id, record.text_backend)
            if record.text_backend == "tree_text":
                try:
                    cube.counts = context.mos.inspect(cube_id, "counts", user_id=user.user_id)
                except MemOSError as exc:
                    cube.problem = str(exc)
            else:
                cube.problem = f"{record.text_backend} memory: counts need a tree_text cube"
            row.cubes.append(cube)
        rows.append(row)
    return rows


def event_summary(letter: DeadLetter) -> dict[str, str]:
    """Type, user and cube of a dead letter's raw event, when it parses as JSON."""
    try:
        data = json.loads(letter.event)
    except ValueError:
        return {"type": "(unparsable)", "user_id": "", "cube_id": ""}
    if not isinstance(data, dict):
        return {"type": "(not an object)", "user_id": "", "cube_id": ""}
    return {k: str(data.get(k) or "") for k in ("type", "user_id", "cube_id")}


def bus(context: ApiContext) -> dict[str, Any]:
    """The event stream (length, pending, consumers) and the dead-letter stream's entries."""
    config = context.runtime.scheduler
    client = context.runtime.redis
    keys = config.keys
    try:
        snapshot = scheduler_snapshot(config, client)
        consumers: list[dict[str, Any]] = []
        try:
            for info in client.xinfo_consumers(keys.events, keys.group):
                consumers.append(
                    {
                        "name": decode(info.get("name", "")),
                        "pending": int(info.get("pending", 0)),
                        "idle_ms": int(info.get("idle", 0)),
                    }
                )
        except redis.ResponseError:
            consumers = []  # no group yet: no daemon ever ran on this prefix
        letters = DeadLetterQueue(config, client).list(DLQ_SHOWN)
    except redis.RedisError as exc:
        raise SchedulerError(f"cannot read the event bus: {exc}") from exc
    return {
        "prefix": config.prefix,
        "streams": [
            {"name": keys.events, "length": snapshot.stream_length, "pending": snapshot.pending},
            {"name": keys.dlq, "length": snapshot.dead_letters, "pending": None},
        ],
        "group": keys.group,
        "consumers": consumers,
        "replicas": snapshot.replicas,
        "dead_letters": [{**letter.model_dump(), **event_summary(letter)} for letter in letters],
    }


def stack(context: ApiContext) -> dict[str, Any]:
    """The embedded stack's parts with health and restart counts (empty in production mode)."""
    home = context.mos.data_home
    if home is None:
        return {"home": None, "components": [], "healthy": None}
    from memos.embedded.stack import STACK_DIR_NAME, EmbeddedStack

    status = EmbeddedStack(home / STACK_DIR_NAME).status()
    return {
        "home": status.home,
        "healthy": status.healthy,
        "components": [c.model_dump() for c in status.components],
    }


#: Heartbeat counters summed over the replicas for the metric charts.
SUMMED_COUNTERS = ("processed", "failed", "retried", "dead_lettered", "in_flight")


def metrics_sample(context: ApiContext) -> dict[str, Any]:
    """One sample of the key metrics (the charts poll it): queue depths and worker counters."""
    try:
        snapshot = scheduler_snapshot(context.runtime.scheduler, context.runtime.redis)
    except redis.RedisError as exc:
        raise SchedulerError(f"cannot read the event bus: {exc}") from exc
    sample: dict[str, Any] = {
        "t": time.time(),
        "stream_length": snapshot.stream_length,
        "pending": snapshot.pending,
        "dead_letters": snapshot.dead_letters,
        "replicas": len(snapshot.replicas),
    }
    for name in SUMMED_COUNTERS:
        sample[name] = sum(int(str(beat.get(name, 0) or 0)) for beat in snapshot.replicas.values())
    return sample
