"""The MemScheduler daemon: reads the event stream, orders and prioritises, executes, acks.

One replica is one asyncio process with a consumer name; any number share the consumer group.
Loops: *reader* (XREADGROUP BLOCK into the read-ahead buffer), *dispatcher* (picks the next
entry, see :mod:`.fairness` and :mod:`.ordering`), *notify* (BLPOP of worker outcomes), *claimer*
(keeps our own held entries fresh and XAUTOCLAIMs idle entries of dead replicas), *heartbeat*
(also refreshes the metric gauges) and *trimmer* (removes finished entries, see :mod:`.trimming`).

An entry is acked only after the worker committed its effect and reply (one MULTI, see
:mod:`.idempotency`), or after it was dead-lettered with a reply. Failed attempts are retried
with exponential backoff up to ``max_attempts``; the cube stays blocked meanwhile, so order holds.

Attempts are counted in Redis (``<prefix>:attempts:<entry id>``, INCR before each attempt,
deleted with the ack), not in this process: an event that kills the replica handling it is
reclaimed by another with its count intact, and once ``max_attempts`` attempts ended without an
outcome it is dead-lettered instead of started again. The count is also what makes
``max_attempts`` hold across replicas and restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
import uuid
from typing import Any

import redis
import redis.asyncio as aioredis
from celery import Celery

from memos.errors import EventValidationError
from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.constants import FIELD_CUBE, FIELD_EVENT, FIELD_SEQ
from memos.mem_scheduler.dlq import dead_letter_fields
from memos.mem_scheduler.events import EventResult, parse_event
from memos.mem_scheduler.executors import CeleryExecutor, EventExecutor, InlineExecutor
from memos.mem_scheduler.fairness import FairQueue, StreamEntry
from memos.mem_scheduler.health import Counters, record_health
from memos.mem_scheduler.idempotency import WorkerOutcome, queue_reply
from memos.mem_scheduler.ordering import FINISH_LUA, decode, gate_state
from memos.mem_scheduler.trimming import trim_stream
from memos.observability.logging import bind_event
from memos.observability.metrics import MetricsServer, get_metrics
from memos.workers.handlers import find_handler, import_handler_modules

logger = logging.getLogger(__name__)

#: Idle time given to entries handed back at shutdown, so any replica's next XAUTOCLAIM takes them.
_HAND_BACK_IDLE_MS = 10**9


class MemScheduler:
    """One daemon replica. ``await run()`` until :meth:`request_stop` (or SIGTERM) is called."""

    def __init__(self, config: SchedulerConfig, *, celery_app: Celery | None = None) -> None:
        self.config = config
        self.keys = config.keys
        self.consumer = config.consumer
        self.counters = Counters()
        self._celery_app = celery_app
        self._queue = FairQueue()
        self._running: dict[str, tuple[StreamEntry, asyncio.Task[None]]] = {}
        self._busy: set[str] = set()
        self._applied: dict[str, int] = {}
        self._gate_pending: set[str] = set()
        self._waiting: dict[str, asyncio.Future[WorkerOutcome]] = {}
        self._stopping = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._room = asyncio.Event()
        self._client: aioredis.Redis | None = None
        self._executors: dict[str, EventExecutor] = {}
        self._attempting: set[str] = set()
        self._metrics = get_metrics()
        self.metrics_server: MetricsServer | None = None

    def __repr__(self) -> str:
        c = self.counters
        return (
            f"<MemScheduler {self.consumer} processed={c.processed} failed={c.failed} "
            f"retried={c.retried} dead_lettered={c.dead_lettered} malformed={c.malformed} "
            f"reclaimed={c.reclaimed} in_flight={len(self._running)} pending={len(self._queue)}>"
        )

    # ------------------------------------------------------------------ lifecycle

    def request_stop(self) -> None:
        """Stop reading and shut down within ``shutdown_grace_s`` (safe from a signal handler)."""
        logger.info("scheduler %s: stop requested", self.consumer)
        self._stopping.set()
        self._wakeup.set()
        self._room.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT request a graceful stop."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)

    async def run(self) -> None:
        """Run until stopped; un-acked entries are handed back for other replicas."""
        cfg = self.config
        import_handler_modules(cfg.handler_modules)
        self._client = aioredis.Redis.from_url(cfg.redis_url, socket_timeout=None)
        reader = aioredis.Redis.from_url(cfg.redis_url, socket_timeout=None)
        notifier = aioredis.Redis.from_url(cfg.redis_url, socket_timeout=None)
        self._finish = self._client.register_script(FINISH_LUA)
        await self._ensure_group()
        if cfg.metrics_port is not None:
            self.metrics_server = MetricsServer(cfg.metrics_host, cfg.metrics_port)
            logger.info("scheduler %s: metrics on %s", self.consumer, self.metrics_server.url)
        logger.info(
            "scheduler %s: reading %s as group %s", self.consumer, self.keys.events, self.keys.group
        )
        loops = {
            "reader": asyncio.create_task(self._reader_loop(reader)),
            "dispatcher": asyncio.create_task(self._dispatch_loop()),
            "notify": asyncio.create_task(self._notify_loop(notifier)),
            "claimer": asyncio.create_task(self._claim_loop()),
            "heartbeat": asyncio.create_task(self._heartbeat_loop()),
        }
        if cfg.trim_interval_s is not None:
            loops["trimmer"] = asyncio.create_task(self._trim_loop(cfg.trim_interval_s))
        try:
            await self._stopping.wait()
        finally:
            await self._shutdown(loops)
            for conn in (reader, notifier, self._client):
                await conn.aclose()
            for executor in self._executors.values():
                executor.close()
            if self.metrics_server is not None:
                self.metrics_server.close()

    async def _ensure_group(self) -> None:
        assert self._client is not None
        try:
            await self._client.xgroup_create(
                self.keys.events, self.keys.group, id="0", mkstream=True
            )
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _shutdown(self, loops: dict[str, asyncio.Task[None]]) -> None:
        cfg = self.config
        reader = loops.pop("reader")
        # The reader notices the stop after its current BLOCK; cancel only if it overruns.
        await asyncio.wait([reader], timeout=cfg.block_ms / 1000 + 0.5)
        for name in ("dispatcher", "claimer", "trimmer"):
            if name in loops:
                loops[name].cancel()
        reader.cancel()
        running = [task for _, task in self._running.values()]
        if running:
            logger.info(
                "scheduler %s: waiting up to %.1f s for %d in-flight events",
                self.consumer,
                cfg.shutdown_grace_s,
                len(running),
            )
            await asyncio.wait(running, timeout=cfg.shutdown_grace_s)
        left = [entry for entry, _ in self._running.values()] + self._queue.drain()
        interrupted = sorted(self._attempting)
        for _, task in list(self._running.values()):
            task.cancel()
        for task in loops.values():
            task.cancel()
        await asyncio.gather(reader, *loops.values(), *running, return_exceptions=True)
        await self._uncount_attempts(interrupted)
        await self._hand_back([entry.entry_id for entry in left])
        assert self._client is not None
        try:
            await self._client.delete(self.keys.health(self.consumer))
        except redis.RedisError:
            logger.exception("scheduler %s: could not delete the heartbeat key", self.consumer)
        logger.info("scheduler %s stopped: %r", self.consumer, self)

    async def _uncount_attempts(self, entry_ids: list[str]) -> None:
        """Attempts we cut short by stopping were not the event's fault: give them back."""
        if not entry_ids:
            return
        assert self._client is not None
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for entry_id in entry_ids:
                    pipe.decr(self.keys.attempts(entry_id))
                await pipe.execute()
        except redis.RedisError:
            logger.exception(
                "scheduler %s: could not give back interrupted attempts", self.consumer
            )

    async def _hand_back(self, entry_ids: list[Any]) -> None:
        """Mark un-acked entries long idle so the next XAUTOCLAIM of any replica takes them."""
        if not entry_ids:
            return
        assert self._client is not None
        try:
            for i in range(0, len(entry_ids), 500):
                await self._client.xclaim(
                    self.keys.events,
                    self.keys.group,
                    self.consumer,
                    0,
                    entry_ids[i : i + 500],
                    idle=_HAND_BACK_IDLE_MS,
                    justid=True,
                )
            logger.info("scheduler %s: handed back %d entries", self.consumer, len(entry_ids))
        except redis.RedisError:
            logger.exception(
                "scheduler %s: hand-back failed; entries wait for claim_idle_s", self.consumer
            )

    # ------------------------------------------------------------------ reading

    async def _reader_loop(self, reader: aioredis.Redis) -> None:
        cfg = self.config
        while not self._stopping.is_set():
            room = cfg.max_buffered - len(self._queue) - len(self._running)
            if room <= 0:
                self._room.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._room.wait(), timeout=cfg.block_ms / 1000)
                continue
            try:
                response: Any = await reader.xreadgroup(
                    self.keys.group,
                    self.consumer,
                    {self.keys.events: ">"},
                    count=min(cfg.read_count, room),
                    block=cfg.block_ms,
                )
                for _stream, entries in response or []:
                    for entry_id, fields in entries:
                        await self._accept(decode(entry_id), fields)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("scheduler %s: read failed; backing off", self.consumer)
                await asyncio.sleep(cfg.loop_error_backoff_s)

    async def _accept(self, entry_id: str, fields: dict[Any, Any] | None) -> Any:
        """Parse one stream entry into the buffer (returns its event), or dead-letter it."""
        if not fields:
            # Deleted from the stream while pending: nothing to run, just release it.
            await self._ack(entry_id, None, None)
            return None
        data = {decode(k): v for k, v in fields.items()}
        cube = decode(data[FIELD_CUBE]) if FIELD_CUBE in data else None
        seq: int | None = None
        raw_bytes = data.get(FIELD_EVENT)
        raw = decode(raw_bytes) if raw_bytes is not None else ""
        try:
            if FIELD_SEQ in data:
                try:
                    seq = int(decode(data[FIELD_SEQ]))
                except ValueError as exc:
                    raise EventValidationError("stream field 'seq' is not an integer") from exc
            if raw_bytes is None:
                raise EventValidationError(f"stream entry has no {FIELD_EVENT!r} field")
            event = parse_event(raw_bytes, max_event_bytes=self.config.max_event_bytes)
            if cube is not None and cube != event.cube_id:
                raise EventValidationError("stream field 'cube' differs from the event's cube")
        except EventValidationError as exc:
            self.counters.malformed += 1
            self._metrics.events_total.labels(type="unknown", outcome="malformed").inc()
            logger.warning("scheduler %s: malformed entry %s: %s", self.consumer, entry_id, exc)
            await self._dead_letter(
                entry_id, raw, None, cube, seq, "EventValidationError", str(exc), attempts=0
            )
            return None
        if entry_id in self._running:
            return event
        if self._queue.push(StreamEntry(entry_id=entry_id, event=event, raw=raw, seq=seq)):
            self._wakeup.set()
        return event

    # ------------------------------------------------------------------ dispatching

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

                executor = CeleryExecutor(self._celery_app or create_app(self.config))
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
            while True:
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
                if not outcome.retryable or attempt >= cfg.max_attempts:
                    break
                self.counters.retried += 1
                self._count(entry, "retried")
                try:
                    await asyncio.wait_for(self._stopping.wait(), timeout=cfg.backoff_s(attempt))
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

    def _count(self, entry: StreamEntry, outcome: str) -> None:
        self._metrics.events_total.labels(type=entry.event.type, outcome=outcome).inc()

    async def _next_attempt(self, entry: StreamEntry) -> int:
        """Count one more attempt of ``entry`` in Redis and return its number (1-based)."""
        assert self._client is not None
        key = self.keys.attempts(entry.entry_id)
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, self.config.attempts_ttl_s)
            count, _ = await pipe.execute()
        return int(count)

    async def _already_done(self, entry: StreamEntry) -> bool:
        """True when the event's effect is committed (then one more attempt is a cheap replay)."""
        assert self._client is not None
        return bool(await self._client.exists(self.keys.done(entry.event.key)))

    async def _exhausted(self, entry: StreamEntry, attempts: int) -> None:
        """Dead-letter an entry whose earlier attempts all ended without an outcome."""
        message = (
            f"no outcome after {attempts} attempts: each ended with the process handling it gone "
            "(crashed or killed); the event itself may crash it. Inspect it with `memos dlq list`"
        )
        await self._dead_letter(
            entry.entry_id,
            entry.raw,
            entry.event,
            entry.cube,
            entry.seq,
            "AttemptsExhaustedError",
            message,
            attempts=attempts,
        )
        self._count(entry, "dead_lettered")

    async def _attempt(self, entry: StreamEntry, attempt: int) -> WorkerOutcome:
        token = uuid.uuid4().hex
        event = entry.event.model_copy(update={"attempt": attempt - 1})
        future: asyncio.Future[WorkerOutcome] = asyncio.get_running_loop().create_future()
        self._waiting[token] = future
        started = time.perf_counter()
        try:
            await self._executor_for(event.type).submit(
                event, token, self.keys.notify(self.consumer)
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
            self._metrics.task_duration_s.labels(type=event.type).observe(
                time.perf_counter() - started
            )

    async def _notify_loop(self, notifier: aioredis.Redis) -> None:
        key = self.keys.notify(self.consumer)
        while True:
            try:
                item = await notifier.blpop([key], timeout=1)
                if item is None:
                    continue
                outcome = WorkerOutcome.model_validate_json(item[1])
                future = self._waiting.get(outcome.token)
                if future is not None and not future.done():
                    future.set_result(outcome)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("scheduler %s: notify read failed; backing off", self.consumer)
                await asyncio.sleep(self.config.loop_error_backoff_s)

    # ------------------------------------------------------------------ recording

    async def _ack(self, entry_id: str, cube: str | None, seq: int | None) -> None:
        """XACK, raise the cube's watermark, drop the attempt counter: one script (shielded)."""
        assert self._client is not None
        applied_key = self.keys.cube_applied(cube) if cube else self.keys.events
        call = self._finish(
            keys=[self.keys.events, applied_key, self.keys.attempts(entry_id)],
            args=[self.keys.group, entry_id, "" if seq is None else seq],
        )
        await asyncio.shield(call)
        if cube is not None and seq is not None:
            self._applied[cube] = max(self._applied.get(cube, 0), seq)

    async def _dead_letter(
        self,
        entry_id: str,
        raw: str,
        event: Any,
        cube: str | None,
        seq: int | None,
        error_type: str,
        message: str,
        *,
        attempts: int,
    ) -> None:
        """DLQ entry, failure reply and ack in one transaction (shielded)."""
        assert self._client is not None
        fields = dead_letter_fields(
            original_id=entry_id,
            raw=raw,
            error_type=error_type,
            error_message=message,
            attempts=attempts,
            consumer=self.consumer,
        )
        applied_key = self.keys.cube_applied(cube) if cube else self.keys.events
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.xadd(self.keys.dlq, fields)  # type: ignore[arg-type]
            if event is not None:
                result = EventResult.failure(event.id, error_type, message)
                queue_reply(
                    pipe,
                    self.keys,
                    event.id,
                    event.reply_to,
                    result,
                    result_ttl_s=self.config.result_ttl_s,
                )
            await self._finish(
                keys=[self.keys.events, applied_key, self.keys.attempts(entry_id)],
                args=[self.keys.group, entry_id, "" if seq is None else seq],
                client=pipe,
            )
            await asyncio.shield(pipe.execute())
        if cube is not None and seq is not None:
            self._applied[cube] = max(self._applied.get(cube, 0), seq)
        self.counters.dead_lettered += 1
        logger.warning(
            "scheduler %s: entry %s dead-lettered after %d attempts (%s)",
            self.consumer,
            entry_id,
            attempts,
            error_type,
        )

    # ------------------------------------------------------------------ reclaiming, health

    async def _claim_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.claim_every_s)
            try:
                await self._touch_held()
                await self._reclaim()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("scheduler %s: claim pass failed; backing off", self.consumer)
                await asyncio.sleep(self.config.loop_error_backoff_s)

    async def _touch_held(self) -> None:
        """Reset the idle time of entries we hold, so live work is never reclaimed."""
        assert self._client is not None
        held: list[Any] = [e.entry_id for e in self._queue] + list(self._running)
        for i in range(0, len(held), 500):
            await self._client.xclaim(
                self.keys.events, self.keys.group, self.consumer, 0, held[i : i + 500], justid=True
            )

    async def _reclaim(self) -> None:
        """XAUTOCLAIM entries idle over ``claim_idle_s`` (a dead replica's, or handed back)."""
        assert self._client is not None
        cfg = self.config
        cursor = "0-0"
        while not self._stopping.is_set():
            room = cfg.max_buffered - len(self._queue) - len(self._running)
            if room <= 0:
                return
            reply = await self._client.xautoclaim(
                self.keys.events,
                self.keys.group,
                self.consumer,
                min_idle_time=int(cfg.claim_idle_s * 1000),
                start_id=cursor,
                count=min(100, room),
            )
            cursor = decode(reply[0])
            for entry_id, fields in reply[1]:
                eid = decode(entry_id)
                if eid in self._queue or eid in self._running:
                    continue
                self.counters.reclaimed += 1
                event = await self._accept(eid, fields)
                kind = event.type if event is not None else "unknown"
                self._metrics.events_total.labels(type=kind, outcome="reclaimed").inc()
            if cursor == "0-0":
                return

    async def _heartbeat_loop(self) -> None:
        assert self._client is not None
        while True:
            try:
                self.counters.in_flight = len(self._running)
                self.counters.pending = len(self._queue)
                extra: dict[str, object] = {}
                if self.metrics_server is not None:
                    extra["metrics_url"] = self.metrics_server.url
                await record_health(
                    self._client, self.config, self.consumer, self.counters, extra=extra
                )
                await self._refresh_gauges()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("scheduler %s: heartbeat failed", self.consumer)
            await asyncio.sleep(self.config.heartbeat_interval_s)

    async def _refresh_gauges(self) -> None:
        """Stream-wide numbers for the metric gauges (one round trip)."""
        assert self._client is not None
        m = self._metrics
        m.buffered_events.set(len(self._queue))
        m.in_flight_events.set(len(self._running))
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.xpending(self.keys.events, self.keys.group)
            pipe.xlen(self.keys.events)
            pipe.xlen(self.keys.dlq)
            summary, length, dead = await pipe.execute()
        m.pending_entries.set(int(summary["pending"]))
        m.stream_length.set(int(length))
        m.dead_letters.set(int(dead))

    async def _trim_loop(self, interval_s: float) -> None:
        assert self._client is not None
        while True:
            await asyncio.sleep(interval_s)
            try:
                result = await trim_stream(self._client, self.config)
                if result.removed:
                    self._metrics.stream_trimmed_total.inc(result.removed)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("scheduler %s: trim pass failed", self.consumer)


def run_scheduler(config: SchedulerConfig) -> None:
    """Run one replica in this process until SIGTERM/SIGINT (the CLI's entry point)."""

    async def main() -> None:
        scheduler = MemScheduler(config)
        scheduler.install_signal_handlers()
        await scheduler.run()

    asyncio.run(main())
