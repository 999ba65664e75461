"""Trimming the event stream without ever losing an unfinished entry.

An entry is *finished* once it is acked, and the daemon acks only after the event was applied
(its cube's ``applied`` watermark raised in the same script) or dead-lettered. Everything else is
either pending in a consumer group (delivered, not acked: possibly not yet applied by its cube's
sequence) or not yet delivered (after the group's last-delivered id). So the safe trim point is

    MINID = min(oldest pending id, successor of last-delivered id)   over every group

and ``XTRIM MINID`` removes only entries below it, all finished. Finished entries are kept for
``retain_s`` (for inspection) unless the stream is longer than ``max_len``, when every finished
entry goes.

Why a snapshot is enough: after it is taken, new entries get larger ids, new deliveries are of
ids after the last-delivered id we saw, and claims only move entries that are already pending.
No entry below the computed point can become unfinished again, so concurrent trims by several
replicas, readers and claimers are all safe.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.ordering import decode, parse_entry_id

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrimResult:
    """What one pass did: the MINID used (None: nothing is known finished) and entries removed."""

    minid: str | None
    removed: int


def successor(entry_id: str) -> str:
    """The smallest stream id greater than ``entry_id``."""
    ms, seq = parse_entry_id(entry_id)
    return f"{ms}-{seq + 1}"


async def safe_trim_point(client: aioredis.Redis, stream: str) -> str | None:
    """The lowest id that is pending or undelivered in any group (None without groups)."""
    try:
        groups: Any = await client.xinfo_groups(stream)
    except aioredis.ResponseError:
        return None  # no stream yet
    if not groups:
        return None
    bounds: list[str] = []
    for group in groups:
        name = decode(group["name"])
        bounds.append(successor(decode(group["last-delivered-id"])))
        if int(group["pending"]) > 0:
            summary: Any = await client.xpending(stream, name)
            if summary.get("min") is not None:
                bounds.append(decode(summary["min"]))
    return min(bounds, key=parse_entry_id)


async def trim_stream(
    client: aioredis.Redis, config: SchedulerConfig, *, now_ms: int | None = None
) -> TrimResult:
    """Remove finished entries as the config allows (see the module docstring)."""
    stream = config.keys.events
    minid = await safe_trim_point(client, stream)
    if minid is None:
        return TrimResult(None, 0)
    length = int(await client.xlen(stream))
    if config.max_len is None or length <= config.max_len:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        retained = f"{max(0, now - int(config.retain_s * 1000))}-0"
        minid = min(minid, retained, key=parse_entry_id)
    removed = int(await client.xtrim(stream, minid=minid, approximate=False))
    if removed:
        logger.info("trimmed %d finished entries below %s from %s", removed, minid, stream)
    return TrimResult(minid, removed)
