"""Real test handlers: each effect is an RPUSH queued on ``ctx.tx`` so it can be counted exactly.

Imported by the daemon (inline execution) and by Celery worker subprocesses through the config's
``handler_modules = ("effect_handlers",)``.

Payload ``options`` steer them: ``sleep_s`` (work time), ``fail`` (always raise: a poison event),
``fail_unless_key`` (raise until that Redis key exists), ``unavailable_unless_key`` (raise
:class:`GraphStoreUnavailableError`, an outage, until that key exists), ``block_until_key``
(work until that Redis key exists, at most 120 s: a long handler that ends on cue), ``crash``
(end the whole process at once, as a segfault or the OOM killer would: the daemon itself when
executed inline).
Query events are timed with the search-latency helper, as the real search handler does.
"""

from __future__ import annotations

import os
import time
from typing import Any

from memos.errors import GraphStoreUnavailableError
from memos.mem_scheduler.events import EVENT_TYPES
from memos.observability.metrics import search_timer
from memos.workers.handlers import HandlerContext, register_handler


def effects_key(prefix: str, cube_id: str) -> str:
    """Where the effects of a cube's events are appended (one element per effect)."""
    return f"{prefix}:effects:{cube_id}"


def log_key(prefix: str) -> str:
    """Global commit-order log of every effect under ``prefix``."""
    return f"{prefix}:log"


def record_effect(event: Any, ctx: HandlerContext) -> dict[str, Any]:
    """Apply the test effect (exactly once through ``ctx.tx``)."""
    options = event.payload.options
    if options.get("crash"):
        os._exit(70)
    if event.type == "query":
        with search_timer("test"):
            time.sleep(0.001)
    cue = options.get("block_until_key")
    if cue:
        deadline = time.monotonic() + 120
        while not ctx.redis.exists(str(cue)) and time.monotonic() < deadline:
            time.sleep(0.05)
    if options.get("sleep_s"):
        time.sleep(float(options["sleep_s"]))
    if options.get("fail"):
        raise RuntimeError("poison event: this handler always fails")
    gate = options.get("fail_unless_key")
    if gate and not ctx.redis.exists(str(gate)):
        raise RuntimeError(f"failing until key {gate} exists")
    outage = options.get("unavailable_unless_key")
    if outage and not ctx.redis.exists(str(outage)):
        raise GraphStoreUnavailableError(f"graph database unreachable until key {outage} exists")
    ctx.tx.rpush(effects_key(ctx.keys.prefix, event.cube_id), event.key)
    ctx.tx.rpush(
        log_key(ctx.keys.prefix), f"{event.type}|{event.user_id}|{event.cube_id}|{event.key}"
    )
    return {"type": event.type, "key": event.key, "attempt": ctx.attempt}


def register() -> None:
    """Serve every event type with :func:`record_effect` (workers call this via handler_modules)."""
    for event_type in EVENT_TYPES:
        register_handler(event_type, record_effect, replace=True)


register()
