"""How the daemon hands an attempt to whoever runs it: a Celery worker, or a thread in-process.

Both report back the same way: the worker (or thread) pushes a :class:`WorkerOutcome` to the
dispatching replica's notify list in the same transaction that records the effect and reply.
The daemon waits on that list with one BLPOP loop instead of polling ``AsyncResult`` per task:
no thread per waiting task, no polling delay, and a crash between effect and notification is
impossible because they commit together.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import redis
from celery import Celery

from memos.errors import SchedulerError
from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.constants import (
    BATCH_TASK_BY_TYPE,
    BATCHED_TYPES,
    QUEUE_BY_TYPE,
    TASK_BY_TYPE,
)
from memos.mem_scheduler.events import Event, EventResult
from memos.mem_scheduler.idempotency import WorkerOutcome, apply_once
from memos.mem_scheduler.threads import DaemonThreadPool
from memos.observability.logging import event_context
from memos.workers.handlers import find_handler

logger = logging.getLogger(__name__)


class EventExecutor(Protocol):
    """Starts one attempt of an event; the outcome arrives on ``notify_key``."""

    async def submit(
        self, event: Event, token: str, notify_key: str, trace: dict[str, float] | None = None
    ) -> None:
        """Start the attempt (returns once it is handed over, not when it finishes).

        ``trace`` holds the daemon's stamps so far (see ``EventResult.trace``).
        """
        ...

    def finished(self, token: str) -> None:
        """The attempt ``token`` has ended (its outcome came, or it timed out)."""
        ...

    def close(self) -> None:
        """Release threads and connections without waiting for attempts still running."""
        ...


@dataclass
class _Waiting:
    """One attempt waiting to be sent with others of its batch."""

    event: Event
    token: str
    notify_key: str
    sent: asyncio.Future[None]
    trace: dict[str, float] | None = None


class _Lane:
    """The batching state of one batchable event type: what waits, and the unfinished tasks."""

    def __init__(self) -> None:
        self.waiting: list[_Waiting] = []
        self.flusher: asyncio.Task[None] | None = None
        #: Unfinished tasks of this lane: task number -> tokens whose attempt has not ended.
        self.outstanding: dict[int, set[str]] = {}


class CeleryExecutor:
    """Sends the attempt to the event type's Celery queue (``apply_async`` via ``send_task``).

    Attempts of a batchable type (:data:`BATCHED_TYPES`: adds and queries) go out as tasks of
    up to ``batch_max`` events of that type (``memos.apply_batch`` / ``memos.query_batch``; the
    worker then embeds them in one model call and writes or reads the graph for all of them
    together, see :mod:`memos.workers.batching`), with at most ``max_outstanding`` such tasks
    unfinished per type at a time. A lone event with a free slot is sent at once, alone, so
    batching adds no delay at low load. Under load the slots are full, the events that become
    ready meanwhile wait here, and the next free slot takes them all as one batch: the batch
    size follows the load instead of the worker draining a queue of single events one model
    call at a time. A slot is free again when every attempt of its task has ended
    (:meth:`finished`: an outcome, or the attempt's timeout when a worker died).

    Each type is its own lane, with its own slots and queue: a search never waits for a slot
    that a batch of adds holds, and on the worker the query queue's batch is taken between two
    add batches, so a search waits for at most one add batch.
    """

    def __init__(
        self,
        app: Celery,
        *,
        batch_max: int = 1,
        max_outstanding: int = 1,
        add_share_while_searching: float = 1.0,
    ) -> None:
        if not 0 < add_share_while_searching <= 1:
            raise ValueError(
                f"add_share_while_searching must be in (0, 1], got {add_share_while_searching}"
            )
        self._app = app
        self._batch_max = batch_max
        self._add_share = add_share_while_searching
        self._max_outstanding = max(1, max_outstanding)
        self._lanes: dict[str, _Lane] = {t: _Lane() for t in sorted(BATCHED_TYPES)}
        self._task_of: dict[str, tuple[str, int]] = {}
        self._numbers = itertools.count()
        # kombu publishing is blocking I/O; one thread keeps it off the event loop and serial.
        # A daemon thread: a publish stuck on an unreachable broker must not hold up the exit.
        self._pool = DaemonThreadPool(1, "memos-celery-send")

    @property
    def _outstanding(self) -> dict[int, set[str]]:
        """Every lane's unfinished tasks together (task numbers are unique across lanes)."""
        return {n: t for lane in self._lanes.values() for n, t in lane.outstanding.items()}

    async def submit(
        self, event: Event, token: str, notify_key: str, trace: dict[str, float] | None = None
    ) -> None:
        """Publish the task; translates broker errors to :class:`SchedulerError`."""
        if self._batch_max <= 1 or event.type not in BATCHED_TYPES:
            await self._send([_Waiting(event, token, notify_key, _done_future(), trace)])
            return
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._lanes[event.type].waiting.append(_Waiting(event, token, notify_key, sent, trace))
        self._kick(event.type)
        await sent

    def finished(self, token: str) -> None:
        """The attempt ``token`` ended (outcome or timeout): free its task's slot when last."""
        found = self._task_of.pop(token, None)
        if found is None:
            return
        kind, number = found
        lane = self._lanes[kind]
        tokens = lane.outstanding.get(number)
        if tokens is not None:
            tokens.discard(token)
            if not tokens:
                del lane.outstanding[number]
                self._kick(kind)

    def _kick(self, kind: str) -> None:
        lane = self._lanes[kind]
        if lane.waiting and (lane.flusher is None or lane.flusher.done()):
            lane.flusher = asyncio.create_task(self._flush(kind))

    def _size_for(self, kind: str) -> int:
        """How many events the next batch of ``kind`` may take.

        Query-aware: while searches wait or run, an add batch is kept to
        ``add_share_while_searching`` of ``batch_max`` (at least 1), because on a worker shared
        by both lanes the next query batch waits for the add batch in progress: the share
        trades search latency against add latency and throughput
        (``SchedulerConfig.add_batch_share_while_searching``; measured in BENCHMARKS.md,
        issue 15).
        """
        if kind != "add":
            return self._batch_max
        queries = self._lanes.get("query")
        if queries is not None and (queries.waiting or queries.outstanding):
            return max(1, int(self._batch_max * self._add_share))
        return self._batch_max

    async def _flush(self, kind: str) -> None:
        """Send what waits in one lane, a batch per free slot (one flusher per lane)."""
        lane = self._lanes[kind]
        while len(lane.outstanding) < self._max_outstanding:
            lane.waiting = [w for w in lane.waiting if not w.sent.done()]  # cancelled ones
            if not lane.waiting:
                return
            first = lane.waiting[0]
            batch = [w for w in lane.waiting if w.notify_key == first.notify_key]
            batch = batch[: self._size_for(kind)]
            taken = {id(w) for w in batch}
            lane.waiting = [w for w in lane.waiting if id(w) not in taken]
            number = next(self._numbers)
            lane.outstanding[number] = {w.token for w in batch}
            self._task_of.update((w.token, (kind, number)) for w in batch)
            try:
                await self._send(batch)
            except Exception as exc:
                for waiting in batch:
                    self.finished(waiting.token)
                    if not waiting.sent.done():
                        waiting.sent.set_exception(exc)
            else:
                for waiting in batch:
                    if not waiting.sent.done():
                        waiting.sent.set_result(None)

    async def _send(self, batch: list[_Waiting]) -> None:
        first = batch[0]
        now = time.time()
        traces = [{**(w.trace or {}), "sent": now} for w in batch]
        if len(batch) == 1:
            send = partial(
                self._app.send_task,
                TASK_BY_TYPE[first.event.type],
                args=[first.event.model_dump_json(), first.token, first.notify_key],
                kwargs={"trace": traces[0]},
                queue=QUEUE_BY_TYPE[first.event.type],
                task_id=first.token,
                # The outcome comes back on notify_key; without this, every send subscribes
                # to the result channel and the worker stores a result nobody reads.
                ignore_result=True,
            )
        else:
            entries = [
                [w.event.model_dump_json(), w.token, trace]
                for w, trace in zip(batch, traces, strict=True)
            ]
            send = partial(
                self._app.send_task,
                BATCH_TASK_BY_TYPE[first.event.type],
                args=[entries, first.notify_key],
                queue=QUEUE_BY_TYPE[first.event.type],
                task_id=first.token,
                ignore_result=True,
            )
        try:
            await asyncio.wrap_future(self._pool.submit(send))
        except Exception as exc:
            ids = ", ".join(str(w.event.id) for w in batch)
            raise SchedulerError(f"cannot send event(s) {ids} to Celery: {exc}") from exc

    def close(self) -> None:
        """Stop the sending thread (a publish in progress is abandoned; the entry stays pending)."""
        if self._pool.close():
            logger.warning("a Celery publish was still running at shutdown; abandoned")


def _done_future() -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


class InlineExecutor:
    """Runs the handler in a thread of the daemon, with the same exactly-once commit."""

    def __init__(self, config: SchedulerConfig) -> None:
        self._config = config
        self._client = redis.Redis.from_url(config.redis_url, socket_timeout=None)
        # Daemon threads: the daemon's shutdown waits for them only up to shutdown_grace_s (in
        # MemScheduler) and a handler still running then is abandoned, never joined.
        self._pool = DaemonThreadPool(config.max_in_flight, "memos-inline")
        self._futures: set[Future[None]] = set()

    async def submit(
        self, event: Event, token: str, notify_key: str, trace: dict[str, float] | None = None
    ) -> None:
        """Start the handler in a thread; its outcome is pushed to ``notify_key``."""
        future = self._pool.submit(self._run, event, token, notify_key)
        self._futures.add(future)
        future.add_done_callback(self._futures.discard)

    def finished(self, token: str) -> None:
        """Nothing to release: each attempt runs in its own thread."""

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
