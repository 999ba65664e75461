"""Recording outcomes: acks, dead letters, persisted attempt counters, hand-back at shutdown.

An entry is acked only after its effect and reply are committed (by the worker, in one ``EXEC``)
or after it was dead-lettered with a failure reply; both raise the cube's ``applied`` watermark
in the same step (:data:`.ordering.FINISH_LUA`) and drop the entry's attempt counter. The ack
and the dead-letter transaction are shielded: once started they finish even if the task that
started them is cancelled by a shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis

from memos.mem_scheduler.core import SchedulerCore
from memos.mem_scheduler.dlq import dead_letter_fields
from memos.mem_scheduler.events import Event, EventResult
from memos.mem_scheduler.fairness import StreamEntry
from memos.mem_scheduler.idempotency import queue_reply
from memos.mem_scheduler.ordering import decode

logger = logging.getLogger(__name__)

#: Idle time given to entries handed back at shutdown, so any replica's next XAUTOCLAIM takes them.
HAND_BACK_IDLE_MS = 10**9
#: XCLAIM / XPENDING page size.
_PAGE = 500


# DECR only a positive attempt count (a missing or zero counter stays as it is).
_REFUND_SCRIPT = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then return redis.call('DECR', KEYS[1]) end
return count
"""


class BookkeepingMixin(SchedulerCore):
    """Acks, dead letters and attempt counters of one replica."""

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

    async def _refund_attempt(self, entry: StreamEntry) -> None:
        """Give back the attempt just counted (it failed on an outage, not on the event).

        Only a positive count is decremented: when the outage was a Redis restart that lost the
        counter, a plain ``DECR`` would create it at -1, the next attempt would be numbered 0
        and its event would carry ``attempt = -1``, which every worker rejects as invalid
        (seen as dead letters in the fault matrix).
        """
        assert self._client is not None
        await self._client.eval(_REFUND_SCRIPT, 1, self.keys.attempts(entry.entry_id))

    async def _already_done(self, entry: StreamEntry) -> bool:
        """True when the event's effect is committed (then one more attempt is a cheap replay)."""
        assert self._client is not None
        return bool(await self._client.exists(self.keys.done(entry.event.scoped_key)))

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
        event: Event | None,
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

    async def _owned_pending(self) -> list[str]:
        """Every entry pending under this consumer's name (XPENDING, paged).

        Includes entries a read cut short at shutdown delivered to us without our seeing them.
        """
        assert self._client is not None
        owned: list[str] = []
        start = "-"
        while True:
            rows: Any = await self._client.xpending_range(
                self.keys.events,
                self.keys.group,
                min=start,
                max="+",
                count=_PAGE,
                consumername=self.consumer,
            )
            owned += [decode(row["message_id"]) for row in rows]
            if len(rows) < _PAGE:
                return owned
            start = "(" + owned[-1]

    async def _hand_back(self, entry_ids: list[str]) -> None:
        """Mark un-acked entries long idle so the next XAUTOCLAIM of any replica takes them.

        ``entry_ids`` (what we buffered or ran) plus whatever else is pending under our name:
        we are leaving, so nothing of ours may wait the full ``claim_idle_s``. An entry acked
        meanwhile is unaffected (XCLAIM skips entries no longer pending).
        """
        assert self._client is not None
        try:
            ids = sorted(set(entry_ids) | set(await self._owned_pending()))
            for i in range(0, len(ids), _PAGE):
                await self._client.xclaim(
                    self.keys.events,
                    self.keys.group,
                    self.consumer,
                    0,
                    ids[i : i + _PAGE],  # type: ignore[arg-type]
                    idle=HAND_BACK_IDLE_MS,
                    justid=True,
                )
            if ids:
                logger.info("scheduler %s: handed back %d entries", self.consumer, len(ids))
        except redis.RedisError:
            logger.exception(
                "scheduler %s: hand-back failed; entries wait for claim_idle_s", self.consumer
            )
