"""Reading: XREADGROUP into the read-ahead buffer, parsing entries, and worker outcomes.

The reader has its own connection, so a blocking XREADGROUP never delays other commands, and it
is cancelled mid-BLOCK at shutdown: whatever that read had delivered stays pending under our
name and is handed back with everything else we hold (:meth:`.BookkeepingMixin._hand_back`).
The notify loop BLPOPs outcomes that workers push to this replica's notify list.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio as aioredis

from memos.errors import EventValidationError
from memos.mem_scheduler.bookkeeping import BookkeepingMixin
from memos.mem_scheduler.constants import FIELD_CUBE, FIELD_EVENT, FIELD_SEQ
from memos.mem_scheduler.events import EventResult, parse_event
from memos.mem_scheduler.fairness import StreamEntry
from memos.mem_scheduler.idempotency import WorkerOutcome
from memos.mem_scheduler.ordering import decode

logger = logging.getLogger(__name__)

#: How often the notify loop looks for a worker loss announced by a supervisor (one GET).
WORKER_LOSS_CHECK_S = 1.0


class ReadingMixin(BookkeepingMixin):
    """The reader and notify loops and entry parsing of one replica."""

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

    async def _notify_loop(self, notifier: aioredis.Redis) -> None:
        key = self.keys.notify(self.consumer)
        bus_lost = False
        next_worker_check = 0.0
        while True:
            try:
                item = await notifier.blpop([key], timeout=1)
                if bus_lost:
                    bus_lost = False
                    self._resend_after_outage()
                if time.monotonic() >= next_worker_check:
                    next_worker_check = time.monotonic() + WORKER_LOSS_CHECK_S
                    await self._resend_after_worker_loss(notifier)
                if item is None:
                    continue
                outcome = WorkerOutcome.model_validate_json(item[1])
                future = self._waiting.get(outcome.token)
                if future is not None and not future.done():
                    future.set_result(outcome)
            except asyncio.CancelledError:
                raise
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if not bus_lost:
                    logger.warning("scheduler %s: the bus is unreachable (%s)", self.consumer, exc)
                bus_lost = True
                await asyncio.sleep(self.config.loop_error_backoff_s)
            except Exception:
                logger.exception("scheduler %s: notify read failed; backing off", self.consumer)
                await asyncio.sleep(self.config.loop_error_backoff_s)

    def _resend_after_outage(self) -> None:
        """The bus is back after an outage: end every waiting attempt so it is sent again.

        A Celery task queued in a Redis that died with it is gone, and so is an outcome pushed
        while the daemon could not read; waiting for ``task_timeout_s`` would stall those
        events for minutes. Each attempt ends as "backend unavailable" (a retry that does not
        use up the event's attempts) and is sent again at once; where the first one did run,
        the second only replays its stored result (exactly once, see ``apply_once``).
        """
        ended = self._end_waiting(
            lambda _token: True,
            "BusOutageError",
            "the bus was unreachable while this attempt ran; sending it again",
        )
        if ended:
            logger.warning(
                "scheduler %s: the bus is back; resending %d attempts in flight",
                self.consumer,
                ended,
            )

    async def _resend_after_worker_loss(self, client: aioredis.Redis) -> None:
        """A supervisor found a worker dead: resend the attempts sent before that moment.

        The supervisor gives the dead worker's unacked tasks back to their queues, but a task
        it had taken and not yet recorded (or an outcome it never pushed) is gone with it, and
        its attempt would wait ``task_timeout_s``. Like :meth:`_resend_after_outage`, each such
        attempt ends as "backend unavailable" and is sent again at once; a copy that did run
        only replays its stored result. Attempts sent after the loss are left alone.
        """
        raw = await client.get(self.keys.worker_lost_at)
        lost_at = float(raw) if raw else 0.0
        if lost_at <= self._worker_lost_seen:
            return
        self._worker_lost_seen = lost_at
        ended = self._end_waiting(
            lambda token: self._attempt_sent_at.get(token, lost_at) < lost_at,
            "WorkerLostError",
            "a worker died while this attempt ran; sending it again",
        )
        if ended:
            logger.warning(
                "scheduler %s: a worker was lost; resending %d attempts sent before",
                self.consumer,
                ended,
            )

    def _end_waiting(self, chosen: Callable[[str], bool], error_type: str, message: str) -> int:
        """End the ``chosen`` waiting attempts as retryable "backend unavailable"; how many."""
        waiting = [(t, f) for t, f in self._waiting.items() if not f.done() and chosen(t)]
        for token, future in waiting:
            event_id = self._attempt_event.get(token, "unknown")
            future.set_result(
                WorkerOutcome(
                    token=token,
                    result=EventResult.failure(event_id, error_type, message),
                    retryable=True,
                    unavailable=True,
                )
            )
        return len(waiting)
