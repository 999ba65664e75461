"""Dispatching: pick the next entry (fairness, priorities, per-cube order) and run its attempts.

An attempt is handed to an executor (:mod:`.executors`); its outcome comes back through the
notify loop (:mod:`.reading`). Failed attempts are retried with exponential backoff up to
``max_attempts``, counted in Redis so the limit holds across replicas and restarts; the cube
stays blocked meanwhile, so order holds.

An attempt that failed because a backend was unreachable (the worker reports
:class:`~memos.errors.BackendUnavailableError`) is an outage, not a fault of the event: its
attempt is handed back, so it does not count toward ``max_attempts``, for up to
``unavailable_retry_s`` from the first such failure. A store restart or a short network cut then
delays the events in flight instead of dead-lettering them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

from memos.mem_scheduler.events import EventResult
from memos.mem_scheduler.executors import CeleryExecutor, EventExecutor, InlineExecutor
from memos.mem_scheduler.fairness import StreamEntry
from memos.mem_scheduler.idempotency import WorkerOutcome
from memos.mem_scheduler.ordering import decode, gate_state
from memos.mem_scheduler.reading import ReadingMixin
from memos.observability.logging import bind_event
from memos.workers.handlers import find_handler

logger = logging.getLogger(__name__)


class DispatchMixin(ReadingMixin):
    """The dispatch loop and the per-entry attempt loop of one replica."""

    def _is_ready(self, entry: StreamEntry) -> bool:
        state = gate_state(self._applied.get(entry.cube), entry.seq)
        if state in ("ready", "done"):
            return True
        self._gate_pending.add(entry.cube)
        return False

    async def _refresh_gates(self) -> bool:
        cubes = sorted(self._gate_pending)
        self._gate_pending.clear()
        if not cubes:
            return False
        assert self._client is not None
        values = await self._client.mget([self.keys.cube_applied(c) for c in cubes])
        changed = False
        for cube, value in zip(cubes, values, strict=True):
            fresh = int(decode(value)) if value is not None else 0
            if fresh > self._applied.get(cube, -1):
                self._applied[cube] = fresh
                changed = True
        return changed

    async def _dispatch_loop(self) -> None:
        while not self._stopping.is_set():
            self._wakeup.clear()
            try:
                while len(self._running) < self.config.max_in_flight:
                    entry = self._queue.pop_ready(self._is_ready, self._busy)
                    if entry is None:
                        break
                    self._busy.add(entry.cube)
                    task = asyncio.create_task(self._process(entry))
                    self._running[entry.entry_id] = (entry, task)
                waiting = bool(self._gate_pending)
                if await self._refresh_gates():
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("scheduler %s: dispatch failed; backing off", self.consumer)
                await asyncio.sleep(self.config.loop_error_backoff_s)
                continue
            # Another replica may advance a cube we wait on: poll the gates while blocked.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=0.05 if waiting else 1.0)

    def _executor_for(self, event_type: str) -> EventExecutor:
        spec = find_handler(event_type)
        kind = "inline" if self.config.execution == "inline" or (spec and spec.inline) else "celery"
        executor = self._executors.get(kind)
        if executor is None:
            if kind == "inline":
                executor = InlineExecutor(self.config)
            else:
                from memos.workers.app import create_app

                executor = CeleryExecutor(
                    self._celery_app or create_app(self.config),
                    batch_max=self.config.batch_max_events,
                    max_outstanding=self.config.batch_max_outstanding,
                    add_share_while_searching=self.config.add_batch_share_while_searching,
                )
            self._executors[kind] = executor
        return executor

    async def _process(self, entry: StreamEntry) -> None:
        cfg = self.config
        # This task's own context: every log line about the event carries its ids.
        bind_event(entry.event, entry_id=entry.entry_id)
        try:
            if gate_state(self._applied.get(entry.cube), entry.seq) == "done":
                # A copy of an event some replica already finished (reclaimed late): release it.
                await self._ack(entry.entry_id, entry.cube, entry.seq)
                return
            outcome: WorkerOutcome | None = None
            attempt = 0
            outage = _Outage()
            while True:
                if self._stopping.is_set():
                    return  # not started: leave it pending, it is handed back
                attempt = await self._next_attempt(entry)
                if attempt > cfg.max_attempts and not await self._already_done(entry):
                    await self._exhausted(entry, attempt - 1)
                    return
                self._attempting.add(entry.entry_id)
                try:
                    outcome = await self._attempt(entry, attempt)
                finally:
                    self._attempting.discard(entry.entry_id)
                if outcome.result.ok:
                    await self._ack(entry.entry_id, entry.cube, entry.seq)
                    self.counters.processed += 1
                    self._count(entry, "processed")
                    latency_s = time.time() - entry.event.created_at.timestamp()
                    self._metrics.event_latency_s.labels(type=entry.event.type).observe(
                        max(0.0, latency_s)
                    )
                    return
                self.counters.failed += 1
                self._count(entry, "failed")
                delay = cfg.backoff_s(attempt)
                if outage.rides_out(outcome, cfg.unavailable_retry_s):
                    await self._refund_attempt(entry)
                    delay = cfg.backoff_s(outage.failures)
                    logger.warning(
                        "scheduler %s: event %s: backend unreachable (%s); retrying, "
                        "%.0f s into the outage",
                        self.consumer,
                        entry.event.id,
                        outcome.result.error.type if outcome.result.error else "?",
                        outage.elapsed_s(),
                    )
                elif not outcome.retryable or attempt >= cfg.max_attempts:
                    break
                self.counters.retried += 1
                self._count(entry, "retried")
                try:
                    await asyncio.wait_for(self._stopping.wait(), timeout=delay)
                    return  # stopping: leave it pending, it is handed back
                except TimeoutError:
                    pass
            assert outcome is not None and outcome.result.error is not None
            await self._dead_letter(
                entry.entry_id,
                entry.raw,
                entry.event,
                entry.cube,
                entry.seq,
                outcome.result.error.type,
                outcome.result.error.message,
                attempts=attempt,
            )
            self._count(entry, "dead_lettered")
        except asyncio.CancelledError:
            raise
        except Exception:
            # Left un-acked: XAUTOCLAIM brings it back after claim_idle_s.
            logger.exception(
                "scheduler %s: processing entry %s failed", self.consumer, entry.entry_id
            )
        finally:
            self._busy.discard(entry.cube)
            self._running.pop(entry.entry_id, None)
            self._wakeup.set()
            self._room.set()

    async def _attempt(self, entry: StreamEntry, attempt: int) -> WorkerOutcome:
        token = uuid.uuid4().hex
        event = entry.event.model_copy(update={"attempt": attempt - 1})
        future: asyncio.Future[WorkerOutcome] = asyncio.get_running_loop().create_future()
        self._waiting[token] = future
        self._attempt_event[token] = str(event.id)
        self._attempt_sent_at[token] = time.time()
        started = time.perf_counter()
        executor: EventExecutor | None = None
        try:
            executor = self._executor_for(event.type)
            await executor.submit(
                event, token, self.keys.notify(self.consumer), {"read": entry.read_at}
            )
            return await asyncio.wait_for(future, timeout=self.config.task_timeout_s)
        except TimeoutError:
            logger.warning(
                "scheduler %s: event %s attempt %d timed out", self.consumer, event.id, attempt
            )
            message = f"no outcome within task_timeout_s={self.config.task_timeout_s:g}"
            return WorkerOutcome(
                token=token, result=EventResult.failure(event.id, "EventTimeoutError", message)
            )
        except Exception as exc:
            logger.exception(
                "scheduler %s: event %s attempt %d could not start",
                self.consumer,
                event.id,
                attempt,
            )
            return WorkerOutcome(
                token=token, result=EventResult.failure(event.id, type(exc).__name__, str(exc))
            )
        finally:
            self._waiting.pop(token, None)
            self._attempt_event.pop(token, None)
            self._attempt_sent_at.pop(token, None)
            if executor is not None:
                executor.finished(token)
            self._metrics.task_duration_s.labels(type=event.type).observe(
                time.perf_counter() - started
            )


class _Outage:
    """Tracks one entry's run of attempts that failed on an unreachable backend."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.failures = 0

    def rides_out(self, outcome: WorkerOutcome, window_s: float) -> bool:
        """True when this failed attempt should not count: an outage still inside its window."""
        if not outcome.unavailable or window_s <= 0:
            self.started, self.failures = None, 0
            return False
        now = time.monotonic()
        if self.started is None:
            self.started = now
        self.failures += 1
        return now - self.started <= window_s

    def elapsed_s(self) -> float:
        """Seconds since the first failure of this outage."""
        return 0.0 if self.started is None else time.monotonic() - self.started
