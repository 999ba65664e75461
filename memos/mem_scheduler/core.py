"""The state one daemon replica shares between its loops (see :mod:`.daemon` for the whole).

:class:`MemScheduler` is assembled from one mixin per concern, each in its own module, all on
top of :class:`SchedulerCore`:

* :mod:`.bookkeeping`: acks, dead letters, attempt counters, hand-back at shutdown;
* :mod:`.reading`: the XREADGROUP loop, parsing entries into the buffer, worker outcomes;
* :mod:`.dispatch`: choosing the next entry and running its attempts;
* :mod:`.maintenance`: reclaiming, the heartbeat and metric gauges, trimming;
* :mod:`.daemon`: the lifecycle (start, signals, bounded shutdown).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import redis.asyncio as aioredis
from celery import Celery

from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.executors import EventExecutor
from memos.mem_scheduler.fairness import FairQueue, StreamEntry
from memos.mem_scheduler.health import Counters
from memos.mem_scheduler.idempotency import WorkerOutcome
from memos.observability.metrics import MetricsServer, get_metrics


class SchedulerCore:
    """Counters, buffers and connections of one replica; no behaviour of its own."""

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
        #: The event id of each waiting attempt (token -> id), to fail it after a bus outage.
        self._attempt_event: dict[str, str] = {}
        #: When each waiting attempt was sent (token -> epoch s), to resend those a lost
        #: worker may have held; and the last worker loss acted on.
        self._attempt_sent_at: dict[str, float] = {}
        self._worker_lost_seen = 0.0
        self._stopping = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._room = asyncio.Event()
        #: Set once the group exists and every loop is started.
        self.started = asyncio.Event()
        #: Set with ``_stopping``; readable from other threads (the shutdown watchdog).
        self.stop_requested = threading.Event()
        self._stop_requested_at: float | None = None
        self._client: aioredis.Redis | None = None
        self._finish: Any = None  # the FINISH_LUA script, registered on the client in run()
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
