"""Applying several ready events in one worker task: shared work once, each event still once.

When several adds are ready at the same time (other tenants' cubes), the daemon sends them to one
worker as one ``memos.apply_batch`` task (:class:`~memos.mem_scheduler.executors.CeleryExecutor`).
The worker then

1. runs the event type's *preparer* once for the whole batch: for adds, read every event's
   messages and embed all their texts in one model call (the part that batches well);
2. applies each event on its own with :func:`~memos.mem_scheduler.idempotency.apply_once`, its
   prepared share as ``ctx.prepared``: its own ``WATCH`` of its done marker, its own graph write
   and its own ``EXEC`` of marker, reply and daemon notification.

So every event is acknowledged only after its own effect, and exactly once: a redelivered event
whose marker is set replays its stored result without running its handler (and is not even
prepared), and a failing event fails alone (its handler raises inside its own ``apply_once``).
A preparer that fails prepares nothing: the events are then applied one by one, each doing its
own work, as if they had come in separate tasks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
from celery import Celery

from memos.errors import EventValidationError
from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.constants import SchedulerKeys
from memos.mem_scheduler.events import parse_event
from memos.mem_scheduler.idempotency import apply_once
from memos.observability.logging import event_context
from memos.workers.handlers import HandlerNotFoundError, get_handler
from memos.workers.redis_client import worker_redis

logger = logging.getLogger(__name__)

#: ``preparer(events, client, keys) -> {event.id: prepared}``: the batched part of a handler.
#: An event missing from the answer is applied by its handler alone (``ctx.prepared`` None).
Preparer = Callable[[Sequence[Any], redis.Redis, SchedulerKeys], dict[str, Any]]

_lock = threading.Lock()
_preparers: dict[str, Preparer] = {}


def register_preparer(event_type: str, fn: Preparer) -> None:
    """Register the batch preparer of ``event_type`` (replaces an earlier one)."""
    with _lock:
        _preparers[event_type] = fn


def unregister_preparer(event_type: str) -> None:
    """Remove the preparer of ``event_type`` (no error if none)."""
    with _lock:
        _preparers.pop(event_type, None)


def find_preparer(event_type: str) -> Preparer | None:
    """The preparer of ``event_type``, or None."""
    with _lock:
        return _preparers.get(event_type)


def pending_events(client: redis.Redis, keys: SchedulerKeys, events: Sequence[Any]) -> list[Any]:
    """The events whose idempotency key is not done yet (one MGET): the ones worth preparing."""
    if not events:
        return []
    done = client.mget([keys.done(event.scoped_key) for event in events])
    return [event for event, marker in zip(events, done, strict=True) if marker is None]


def _worth_preparing(events: Sequence[Any]) -> bool:
    """True when some event type with a preparer has two or more events in ``events``."""
    seen: dict[str, int] = {}
    for event in events:
        seen[event.type] = seen.get(event.type, 0) + 1
    return any(n >= 2 and find_preparer(t) is not None for t, n in seen.items())


def prepare(client: redis.Redis, keys: SchedulerKeys, events: Sequence[Any]) -> dict[str, Any]:
    """Run each event type's preparer on the batch's not-yet-done events; {} when it fails."""
    prepared: dict[str, Any] = {}
    if not _worth_preparing(events):
        # Nothing would be prepared together (a lone event of each type, or no preparer):
        # skip the done markers' read; each event's apply_once reads its own marker anyway.
        return prepared
    by_type: dict[str, list[Any]] = {}
    for event in pending_events(client, keys, events):
        by_type.setdefault(event.type, []).append(event)
    for event_type, group in by_type.items():
        preparer = find_preparer(event_type)
        if preparer is None or len(group) < 2:
            continue
        try:
            prepared.update(preparer(group, client, keys))
        except Exception:
            # Nothing shared then: every event of the group does its own work, one by one.
            logger.exception("preparing %d %s events together failed", len(group), event_type)
    return prepared


def run_batch(
    app: Celery,
    entries: Sequence[Sequence[Any]],
    notify_key: str | None,
    accepted: tuple[str, ...],
    run_one: Callable[..., dict[str, Any]],
) -> list[dict[str, Any]]:
    """The body of ``memos.apply_batch``: ``entries`` are ``[event_json, token(, trace)]``.

    Entries that do not parse or have no handler go through ``run_one`` (the single-event
    body), which reports them. A Redis fault on one event is raised after the others were
    applied, so Celery retries the task: the events already done then only replay.
    """
    config: SchedulerConfig = app.memos_config  # type: ignore[attr-defined]
    if notify_key and not notify_key.startswith(config.keys.notify("")):
        return [
            run_one(app, event_json, token, notify_key, accepted) for event_json, token in entries
        ]
    client = worker_redis(app)
    valid: list[tuple[Any, str, dict[str, float]]] = []
    outcomes: list[dict[str, Any]] = []
    for entry in entries:
        event_json, token = entry[0], entry[1]
        trace = {**(entry[2] if len(entry) > 2 and entry[2] else {}), "worker_start": time.time()}
        try:
            event = parse_event(event_json, max_event_bytes=config.max_event_bytes)
            if event.type not in accepted:
                raise EventValidationError(f"event type {event.type!r} is not batched")
            get_handler(event.type)
        except (EventValidationError, HandlerNotFoundError):
            outcomes.append(run_one(app, event_json, token, notify_key, accepted))
            continue
        valid.append((event, token, trace))
    prepared = prepare(client, config.keys, [event for event, _, _ in valid])
    infra_error: BaseException | None = None
    for event, token, trace in valid:
        try:
            with event_context(event):
                outcome = apply_once(
                    client,
                    config.keys,
                    event,
                    get_handler(event.type),
                    token=token,
                    notify_key=notify_key,
                    result_ttl_s=config.result_ttl_s,
                    idempotency_ttl_s=config.idempotency_ttl_s,
                    prepared=prepared.get(event.id),
                    trace=trace,
                )
            outcomes.append(outcome.model_dump(mode="json"))
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            logger.warning("event %s of a batch: Redis fault %s", event.id, type(exc).__name__)
            infra_error = infra_error or exc
        except Exception:
            # No outcome reaches the daemon for this one; its task_timeout_s retries it.
            logger.exception("event %s of a batch failed outside its handler", event.id)
    if infra_error is not None:
        raise infra_error
    logger.info("applied a batch of %d events (%d prepared together)", len(entries), len(prepared))
    return outcomes
