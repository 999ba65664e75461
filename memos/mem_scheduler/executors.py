"""How the daemon hands an attempt to whoever runs it: a Celery worker, or a thread in-process.

Both report back the same way: the worker (or thread) pushes a :class:`WorkerOutcome` to the
dispatching replica's notify list in the same transaction that records the effect and reply.
The daemon waits on that list with one BLPOP loop instead of polling ``AsyncResult`` per task:
no thread per waiting task, no polling delay, and a crash between effect and notification is
impossible because they commit together.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future
from functools import partial
from typing import Protocol

import redis
from celery import Celery

from memos.errors import SchedulerError
from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.constants import QUEUE_BY_TYPE, TASK_BY_TYPE
from memos.mem_scheduler.events import Event, EventResult
from memos.mem_scheduler.idempotency import WorkerOutcome, apply_once
from memos.mem_scheduler.threads import DaemonThreadPool
from memos.observability.logging import event_context
from memos.workers.handlers import find_handler

logger = logging.getLogger(__name__)


class EventExecutor(Protocol):
    """Starts one attempt of an event; the outcome arrives on ``notify_key``."""

    async def submit(self, event: Event, token: str, notify_key: str) -> None:
        """Start the attempt (returns once it is handed over, not when it finishes)."""
        ...

    def close(self) -> None:
        """Release threads and connections without waiting for attempts still running."""
        ...


class CeleryExecutor:
    """Sends the attempt to the event type's Celery queue (``apply_async`` via ``send_task``)."""

    def __init__(self, app: Celery) -> None:
        self._app = app
        # kombu publishing is blocking I/O; one thread keeps it off the event loop and serial.
        # A daemon thread: a publish stuck on an unreachable broker must not hold up the exit.
        self._pool = DaemonThreadPool(1, "memos-celery-send")

    async def submit(self, event: Event, token: str, notify_key: str) -> None:
        """Publish the task; translates broker errors to :class:`SchedulerError`."""
        send = partial(
            self._app.send_task,
            TASK_BY_TYPE[event.type],
            args=[event.model_dump_json(), token, notify_key],
            queue=QUEUE_BY_TYPE[event.type],
            task_id=token,
            # The outcome comes back on notify_key; without this, every send subscribes to the
            # result channel and the worker stores a result nobody reads.
            ignore_result=True,
        )
        try:
            await asyncio.wrap_future(self._pool.submit(send))
        except Exception as exc:
            raise SchedulerError(f"cannot send event {event.id} to Celery: {exc}") from exc

    def close(self) -> None:
        """Stop the sending thread (a publish in progress is abandoned; the entry stays pending)."""
        if self._pool.close():
            logger.warning("a Celery publish was still running at shutdown; abandoned")


class InlineExecutor:
    """Runs the handler in a thread of the daemon, with the same exactly-once commit."""

    def __init__(self, config: SchedulerConfig) -> None:
        self._config = config
        self._client = redis.Redis.from_url(config.redis_url, socket_timeout=None)
        # Daemon threads: the daemon's shutdown waits for them only up to shutdown_grace_s (in
        # MemScheduler) and a handler still running then is abandoned, never joined.
        self._pool = DaemonThreadPool(config.max_in_flight, "memos-inline")
        self._futures: set[Future[None]] = set()

    async def submit(self, event: Event, token: str, notify_key: str) -> None:
        """Start the handler in a thread; its outcome is pushed to ``notify_key``."""
        future = self._pool.submit(self._run, event, token, notify_key)
        self._futures.add(future)
        future.add_done_callback(self._futures.discard)

    def _run(self, event: Event, token: str, notify_key: str) -> None:
        with event_context(event):
            self._run_bound(event, token, notify_key)

    def _run_bound(self, event: Event, token: str, notify_key: str) -> None:
        spec = find_handler(event.type)
        try:
            if spec is None:
                outcome = WorkerOutcome(
                    token=token,
                    result=EventResult.failure(
                        event.id, "HandlerNotFoundError", f"no handler for {event.type!r}"
                    ),
                    retryable=False,
                )
                self._client.rpush(notify_key, outcome.model_dump_json())
                return
            apply_once(
                self._client,
                self._config.keys,
                event,
                spec,
                token=token,
                notify_key=notify_key,
                result_ttl_s=self._config.result_ttl_s,
                idempotency_ttl_s=self._config.idempotency_ttl_s,
            )
        except Exception:
            # No outcome reaches the daemon; its task_timeout_s turns this into a retry.
            logger.exception("inline execution of event %s failed outside its handler", event.id)

    def close(self) -> None:
        """Stop the threads without waiting for handlers still running, then the connections.

        An abandoned handler has committed nothing (effects commit with its outcome in one
        ``EXEC``); its entry was handed back and another replica runs it again.
        """
        running = self._pool.close()
        if running:
            logger.warning("%d inline handlers still running at shutdown; abandoned", running)
        self._client.close()
