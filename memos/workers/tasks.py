"""Thin Celery tasks: validate the event, look up its handler, apply it once.

Retry and timeout policy is declared here, at registration (:data:`TASK_POLICIES`), not in task
bodies. Celery-level retries cover only infrastructure faults (Redis unreachable); a handler's
own failure is reported to the daemon, which owns event retries, backoff and the dead-letter
stream, so there is one retry budget per event, not two multiplied together.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery, Task

from memos.errors import EventValidationError
from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.constants import (
    BATCHED_TYPES,
    QUEUE_ADD,
    QUEUE_BACKGROUND,
    QUEUE_QUERY,
    TASK_APPLY_BATCH,
    TASK_APPLY_EVENT,
    TASK_EXTRACT,
    TASK_PRECOMPUTE_KV,
    TASK_QUERY_BATCH,
    TASK_REORGANIZE,
    TASK_SEARCH,
)
from memos.mem_scheduler.events import EVENT_TYPES, EventResult, parse_event
from memos.mem_scheduler.idempotency import WorkerOutcome, apply_once
from memos.observability.logging import event_context
from memos.workers.batching import run_batch
from memos.workers.handlers import HandlerNotFoundError, get_handler
from memos.workers.redis_client import worker_redis

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskPolicy:
    """Where a task runs, which events it accepts, and how long and how often it may try."""

    queue: str
    event_types: tuple[str, ...]
    soft_time_limit_s: float
    time_limit_s: float
    max_retries: int = 3


TASK_POLICIES: dict[str, TaskPolicy] = {
    TASK_EXTRACT: TaskPolicy(QUEUE_ADD, ("add",), soft_time_limit_s=300, time_limit_s=330),
    TASK_SEARCH: TaskPolicy(QUEUE_QUERY, ("query",), soft_time_limit_s=120, time_limit_s=150),
    TASK_REORGANIZE: TaskPolicy(
        QUEUE_BACKGROUND, ("reorganize",), soft_time_limit_s=900, time_limit_s=960
    ),
    TASK_PRECOMPUTE_KV: TaskPolicy(
        QUEUE_BACKGROUND, ("kv_refresh",), soft_time_limit_s=900, time_limit_s=960
    ),
    TASK_APPLY_EVENT: TaskPolicy(QUEUE_ADD, EVENT_TYPES, soft_time_limit_s=300, time_limit_s=330),
    # A batch holds up to batch_max_events adds, each about as long as one extract.
    TASK_APPLY_BATCH: TaskPolicy(
        QUEUE_ADD, tuple(sorted(BATCHED_TYPES)), soft_time_limit_s=900, time_limit_s=960
    ),
    # Queries waiting together: one model call for all their embeddings, graph reads shared.
    TASK_QUERY_BATCH: TaskPolicy(QUEUE_QUERY, ("query",), soft_time_limit_s=300, time_limit_s=330),
}

#: The tasks whose body takes a list of events (see memos.workers.batching).
BATCH_TASKS = frozenset({TASK_APPLY_BATCH, TASK_QUERY_BATCH})

#: Faults of the bus itself: worth a Celery retry of the same delivery.
INFRA_ERRORS: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError)


def run_event(
    app: Celery,
    event_json: str,
    token: str,
    notify_key: str | None,
    accepted: tuple[str, ...],
    trace: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The body shared by every task; returns the outcome as JSON (also the Celery result).

    ``trace`` carries the daemon's stamps; the worker adds its own (``EventResult.trace``).
    """
    trace = {**(trace or {}), "worker_start": time.time()}
    config: SchedulerConfig = app.memos_config  # type: ignore[attr-defined]
    if notify_key and not notify_key.startswith(config.keys.notify("")):
        # Queue names are not prefixed, so deployments (prefixes) sharing one broker database
        # share queues. Applying another prefix's event here would record its effects under
        # ours; leave it alone: its own daemon retries it after task_timeout_s.
        logger.warning(
            "dropped a task of another deployment (its notify key is outside prefix %r); give "
            "each deployment its own Redis database or broker",
            config.prefix,
        )
        return {"skipped": "foreign prefix"}
    client = worker_redis(app)
    try:
        event = parse_event(event_json, max_event_bytes=config.max_event_bytes)
        if event.type not in accepted:
            raise EventValidationError(
                f"event type {event.type!r} was routed to a task accepting {accepted}"
            )
        spec = get_handler(event.type)
    except (EventValidationError, HandlerNotFoundError) as exc:
        # Report it; without an event id we cannot reply, the daemon dead-letters it.
        logger.warning("rejected event for token %s: %s", token, type(exc).__name__)
        outcome = WorkerOutcome(
            token=token,
            result=EventResult.failure("unknown", type(exc).__name__, str(exc)),
            retryable=isinstance(exc, HandlerNotFoundError),
        )
        if notify_key:
            client.rpush(notify_key, outcome.model_dump_json())
            client.expire(notify_key, config.result_ttl_s)
        return outcome.model_dump(mode="json")
    with event_context(event):
        outcome = apply_once(
            client,
            config.keys,
            event,
            spec,
            token=token,
            notify_key=notify_key,
            result_ttl_s=config.result_ttl_s,
            idempotency_ttl_s=config.idempotency_ttl_s,
            trace=trace,
        )
    return outcome.model_dump(mode="json")


def register_tasks(app: Celery) -> dict[str, Task]:
    """Register every task of :data:`TASK_POLICIES` on ``app`` with its policy."""
    tasks: dict[str, Task] = {}
    for name, policy in TASK_POLICIES.items():
        tasks[name] = _register(app, name, policy)
    return tasks


def _body(name: str, accepted: tuple[str, ...]) -> Callable[..., Any]:
    """The task function of ``name``: one event, or a batch of them (:data:`BATCH_TASKS`)."""

    def body(
        self: Task,
        event_json: str,
        token: str,
        notify_key: str | None = None,
        trace: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        return run_event(self.app, event_json, token, notify_key, accepted, trace)

    def batch_body(
        self: Task, entries: list[list[Any]], notify_key: str | None = None
    ) -> list[dict[str, Any]]:
        return run_batch(self.app, entries, notify_key, accepted, run_event)

    chosen: Callable[..., Any] = batch_body if name in BATCH_TASKS else body
    chosen.__name__ = name.rsplit(".", 1)[-1]
    chosen.__doc__ = f"Apply {'/'.join(accepted)} events through the handler registry."
    return chosen


def _register(app: Celery, name: str, policy: TaskPolicy) -> Task:
    accepted = policy.event_types
    body = _body(name, accepted)
    task: Task = app.task(
        name=name,
        bind=True,
        # Per app: several apps (tests, tools) must not share one task instance.
        shared=False,
        queue=policy.queue,
        acks_late=True,
        reject_on_worker_lost=True,
        # Outcomes travel on the daemon's notify list; the result backend is not read.
        ignore_result=True,
        autoretry_for=INFRA_ERRORS,
        retry_backoff=True,
        retry_backoff_max=30,
        retry_jitter=True,
        max_retries=policy.max_retries,
        soft_time_limit=policy.soft_time_limit_s,
        time_limit=policy.time_limit_s,
    )(body)
    return task
