"""Maintenance loops: reclaiming idle entries, the heartbeat with the metric gauges, trimming.

* *claimer*: every ``claim_every_s`` it resets the idle time of the entries this replica holds
  (so live work is never taken away) and XAUTOCLAIMs entries idle over ``claim_idle_s``: a dead
  replica's, or ones handed back at shutdown.
* *heartbeat*: writes the health key (see :mod:`.health`) and refreshes the stream gauges.
* *trimmer*: removes finished entries (see :mod:`.trimming`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from memos.mem_scheduler.health import record_health
from memos.mem_scheduler.ordering import decode
from memos.mem_scheduler.reading import ReadingMixin
from memos.mem_scheduler.trimming import trim_stream

logger = logging.getLogger(__name__)


class MaintenanceMixin(ReadingMixin):
    """Reclaiming, heartbeat and trimming loops of one replica."""

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

    async def _resume_own_pending(self) -> int:
        """Take up the entries already pending under this replica's own consumer name.

        A daemon restarted with the name of one that died (the embedded supervisor keeps the
        name) resumes that one's work at once, instead of waiting ``claim_idle_s`` for
        XAUTOCLAIM. Entries that do not fit the buffer stay pending and are claimed later.
        """
        assert self._client is not None
        cfg = self.config
        last = "0-0"
        resumed = 0
        while cfg.max_buffered - len(self._queue) - len(self._running) > 0:
            reply: Any = await self._client.xreadgroup(
                self.keys.group, self.consumer, {self.keys.events: last}, count=100
            )
            entries = reply[0][1] if reply else []
            if not entries:
                break
            for entry_id, fields in entries:
                last = decode(entry_id)
                if last in self._queue or last in self._running:
                    continue
                event = await self._accept(last, fields)
                resumed += 1
                self.counters.reclaimed += 1
                kind = event.type if event is not None else "unknown"
                self._metrics.events_total.labels(type=kind, outcome="reclaimed").inc()
        if resumed:
            logger.warning(
                "scheduler %s: resumed %d entries left pending under this name",
                self.consumer,
                resumed,
            )
        return resumed

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
