"""The MemScheduler: events on Redis Streams, the daemon that orders and routes them, and the
guarantees (ack after effect, idempotent replays, per-cube order, fairness, dead letters)."""

from __future__ import annotations

from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.events import (
    AddEvent,
    AnswerEvent,
    Event,
    EventResult,
    KVRefreshEvent,
    QueryEvent,
    ReorganizeEvent,
    make_event,
    parse_event,
)
from memos.mem_scheduler.transport import (
    AsyncRedisEventTransport,
    EventTransport,
    InMemoryEventTransport,
    RedisEventTransport,
)

__all__ = [
    "AddEvent",
    "AnswerEvent",
    "AsyncRedisEventTransport",
    "Event",
    "EventResult",
    "EventTransport",
    "InMemoryEventTransport",
    "KVRefreshEvent",
    "QueryEvent",
    "RedisEventTransport",
    "ReorganizeEvent",
    "SchedulerConfig",
    "make_event",
    "parse_event",
]
