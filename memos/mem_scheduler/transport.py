"""Moving events to the daemon and results back; the facade owns ids, timeouts and policy.

Results travel through a per-request list ``<prefix>:reply:<event_id>`` read with ``BLPOP``
rather than a shared reply stream: exactly one waiter wakes, nobody filters other requests'
results, and an unread reply simply expires (``result_ttl_s``). The result is also stored under
``<prefix>:result:<event_id>`` so a waiter that timed out can ask again later.

Publishing runs one Lua script that numbers the event within its cube and appends it to the
stream (see :mod:`memos.mem_scheduler.ordering`).

Three transports share one lifecycle (unopened -> open -> closed; publishing after close raises):
:class:`RedisEventTransport` (synchronous, for the synchronous MOS API),
:class:`AsyncRedisEventTransport` (``redis.asyncio``) and :class:`InMemoryEventTransport` (runs a
handler in process, for unit tests of the facade).
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

import redis
import redis.asyncio as aioredis
from pydantic import JsonValue

from memos.errors import EventTimeoutError, SchedulerError
from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.constants import SchedulerKeys
from memos.mem_scheduler.events import Event, EventResult
from memos.mem_scheduler.ordering import PUBLISH_LUA


class TransportState(enum.Enum):
    """Lifecycle of a transport."""

    UNOPENED = 1
    OPEN = 2
    CLOSED = 3


class EventTransport(Protocol):
    """Synchronous transport used by the MOS facade."""

    def publish(self, event: Event) -> str:
        """Send an event; returns its id."""
        ...

    def await_result(self, event_id: str, reply_to: str | None, timeout_s: float) -> EventResult:
        """Block until the result of ``event_id`` arrives; raises EventTimeoutError."""
        ...

    def publish_and_wait(self, event: Event, timeout_s: float) -> EventResult:
        """Publish and await the result."""
        ...

    def close(self) -> None:
        """Release connections; later publishes raise."""
        ...


class AsyncEventTransport(Protocol):
    """Asynchronous transport (same contract as :class:`EventTransport`)."""

    async def publish(self, event: Event) -> str:
        """Send an event; returns its id."""
        ...

    async def await_result(
        self, event_id: str, reply_to: str | None, timeout_s: float
    ) -> EventResult:
        """Wait for the result of ``event_id``; raises EventTimeoutError."""
        ...

    async def close(self) -> None:
        """Release connections; later publishes raise."""
        ...


class _Lifecycle:
    def __init__(self) -> None:
        self.state = TransportState.UNOPENED

    def _ensure_open(self) -> None:
        if self.state is TransportState.CLOSED:
            raise SchedulerError("the event transport is closed; create a new one to publish")
        if self.state is TransportState.UNOPENED:
            self.state = TransportState.OPEN


#: How long a caller waiting for a result rides out a Redis that does not answer.
BUS_RECONNECT_S = 30.0
_RECONNECT_PAUSE_S = 0.5


def _bus_down(config: SchedulerConfig, exc: redis.RedisError) -> str:
    """The error of a failed bus call, naming the part: Redis, the event bus, at its address."""
    where = config.redis_url.rsplit("@", 1)[-1]  # never the password
    return (
        f"the event bus (Redis at {where}) did not answer: {exc}; if it restarts (the embedded "
        "supervisor repairs it within seconds), call again with the same idempotency_key"
    )


def _with_reply(keys: SchedulerKeys, event: Event) -> Event:
    if event.reply_to is None:
        return event.model_copy(update={"reply_to": keys.reply(event.id)})
    return event


class RedisEventTransport(_Lifecycle):
    """Synchronous transport over Redis (redis-py)."""

    def __init__(self, config: SchedulerConfig, client: redis.Redis | None = None) -> None:
        super().__init__()
        self._config = config
        self._keys = config.keys
        self._owns_client = client is None
        # socket_timeout stays None: BLPOP blocks for as long as the caller's timeout.
        self._client = client or redis.Redis.from_url(config.redis_url, socket_timeout=None)
        self._publish_script = self._client.register_script(PUBLISH_LUA)

    def __enter__(self) -> Self:
        self._ensure_open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def publish(self, event: Event) -> str:
        """Append ``event`` to the stream (with a reply key if it has none); returns its id."""
        self._ensure_open()
        event = _with_reply(self._keys, event)
        text = event.to_json(max_event_bytes=self._config.max_event_bytes)
        try:
            self._publish_script(
                keys=[self._keys.events, self._keys.cube_seq(event.cube_id)],
                args=[text, event.cube_id],
            )
        except redis.RedisError as exc:
            raise SchedulerError(
                f"cannot publish event {event.id}: {_bus_down(self._config, exc)}"
            ) from exc
        return str(event.id)

    def await_result(self, event_id: str, reply_to: str | None, timeout_s: float) -> EventResult:
        """Wait up to ``timeout_s`` for the result of ``event_id``.

        A Redis that stops answering meanwhile (crashed, being restarted by the embedded
        supervisor) is waited for up to :data:`BUS_RECONNECT_S` (never past ``timeout_s``): the
        event and its reply are in Redis's append-only file, so the wait usually ends with the
        answer. After that a :class:`SchedulerError` names Redis.
        """
        return self._wait(event_id, reply_to, timeout_s, check_stored=True)

    def _wait(
        self, event_id: str, reply_to: str | None, timeout_s: float, *, check_stored: bool
    ) -> EventResult:
        self._ensure_open()
        deadline = time.monotonic() + timeout_s
        down_since: float | None = None
        target = reply_to or self._keys.reply(event_id)
        while True:
            try:
                if check_stored:
                    stored = self._client.get(self._keys.result(event_id))
                    if stored is not None:
                        return EventResult.from_json(stored)
                left = deadline - time.monotonic()
                popped = self._client.blpop([target], timeout=max(left, 0.01))
                break
            except redis.ConnectionError as exc:
                now = time.monotonic()
                down_since = down_since or now
                check_stored = True  # the reply may have been taken before the connection broke
                if now - down_since >= BUS_RECONNECT_S or now >= deadline:
                    raise SchedulerError(
                        f"cannot read the result of event {event_id}: "
                        f"{_bus_down(self._config, exc)}"
                    ) from exc
                time.sleep(_RECONNECT_PAUSE_S)
            except redis.RedisError as exc:
                raise SchedulerError(
                    f"cannot read the result of event {event_id}: {_bus_down(self._config, exc)}"
                ) from exc
        if popped is None:
            raise EventTimeoutError(event_id, timeout_s)
        return EventResult.from_json(popped[1])

    def publish_and_wait(self, event: Event, timeout_s: float) -> EventResult:
        """Publish ``event`` and block for its result (the synchronous facade's path)."""
        event = _with_reply(self._keys, event)
        event_id = self.publish(event)
        # Just published: no result can be stored yet except by the same worker commit that
        # pushes the reply, so skip await_result's GET (one round trip less per call).
        return self._wait(event_id, event.reply_to, timeout_s, check_stored=False)

    def close(self) -> None:
        """Close the connection pool (if this transport created it)."""
        if self.state is not TransportState.CLOSED and self._owns_client:
            self._client.close()
        self.state = TransportState.CLOSED


class AsyncRedisEventTransport(_Lifecycle):
    """Asynchronous transport over ``redis.asyncio``."""

    def __init__(self, config: SchedulerConfig, client: aioredis.Redis | None = None) -> None:
        super().__init__()
        self._config = config
        self._keys = config.keys
        self._owns_client = client is None
        self._client = client or aioredis.Redis.from_url(config.redis_url, socket_timeout=None)
        self._publish_script = self._client.register_script(PUBLISH_LUA)

    async def __aenter__(self) -> Self:
        self._ensure_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def publish(self, event: Event) -> str:
        """Append ``event`` to the stream; returns its id."""
        self._ensure_open()
        event = _with_reply(self._keys, event)
        text = event.to_json(max_event_bytes=self._config.max_event_bytes)
        try:
            await self._publish_script(
                keys=[self._keys.events, self._keys.cube_seq(event.cube_id)],
                args=[text, event.cube_id],
            )
        except redis.RedisError as exc:
            raise SchedulerError(f"cannot publish event {event.id}: {exc}") from exc
        return str(event.id)

    async def await_result(
        self, event_id: str, reply_to: str | None, timeout_s: float
    ) -> EventResult:
        """Wait up to ``timeout_s`` for the result of ``event_id``."""
        self._ensure_open()
        try:
            stored = await self._client.get(self._keys.result(event_id))
            if stored is not None:
                return EventResult.from_json(stored)
        except redis.RedisError as exc:
            raise SchedulerError(f"cannot read the result of event {event_id}: {exc}") from exc
        return await self._pop_reply(event_id, reply_to, timeout_s)

    async def _pop_reply(
        self, event_id: str, reply_to: str | None, timeout_s: float
    ) -> EventResult:
        try:
            target = reply_to or self._keys.reply(event_id)
            popped = await self._client.blpop([target], timeout=max(timeout_s, 0.01))
        except redis.RedisError as exc:
            raise SchedulerError(f"cannot read the result of event {event_id}: {exc}") from exc
        if popped is None:
            raise EventTimeoutError(event_id, timeout_s)
        return EventResult.from_json(popped[1])

    async def publish_and_wait(self, event: Event, timeout_s: float) -> EventResult:
        """Publish ``event`` and await its result."""
        event = _with_reply(self._keys, event)
        event_id = await self.publish(event)
        return await self._pop_reply(event_id, event.reply_to, timeout_s)

    async def close(self) -> None:
        """Close the connection pool (if this transport created it)."""
        if self.state is not TransportState.CLOSED and self._owns_client:
            await self._client.aclose()
        self.state = TransportState.CLOSED


InMemoryHandler = Callable[[Event], JsonValue]


class InMemoryEventTransport(_Lifecycle):
    """Runs ``handler(event)`` in process when an event is published; for facade unit tests.

    It keeps the bus's contract: one result per idempotency key (a replay returns the first
    result without calling the handler again), handler exceptions become failed results, and
    ``published`` records every event in order. Without a handler, events are only recorded and
    results are supplied with :meth:`complete`.
    """

    def __init__(self, handler: InMemoryHandler | None = None) -> None:
        super().__init__()
        self._handler = handler
        self._cond = threading.Condition()
        self._results: dict[str, EventResult] = {}
        self._done: dict[str, EventResult] = {}
        self.published: list[Event] = []

    def publish(self, event: Event) -> str:
        """Record ``event`` and, with a handler, apply it once per idempotency key."""
        self._ensure_open()
        event.to_json()  # the same size limit as the real bus
        with self._cond:
            self.published.append(event)
            first = self._done.get(event.key)
        if self._handler is None:
            return str(event.id)
        if first is not None:
            result = first.model_copy(update={"event_id": event.id})
        else:
            try:
                result = EventResult.success(event.id, self._handler(event))
            except Exception as exc:
                result = EventResult.failure(event.id, type(exc).__name__, str(exc))
            if result.ok:
                with self._cond:
                    self._done.setdefault(event.key, result)
        self.complete(result)
        return str(event.id)

    def complete(self, result: EventResult) -> None:
        """Deliver a result (what a worker would do)."""
        with self._cond:
            self._results[result.event_id] = result
            self._cond.notify_all()

    def await_result(self, event_id: str, reply_to: str | None, timeout_s: float) -> EventResult:
        """Wait up to ``timeout_s`` for :meth:`complete` to deliver ``event_id``'s result."""
        self._ensure_open()
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while event_id not in self._results:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise EventTimeoutError(event_id, timeout_s)
                self._cond.wait(left)
            return self._results[event_id]

    def publish_and_wait(self, event: Event, timeout_s: float) -> EventResult:
        """Publish and await the result."""
        return self.await_result(self.publish(event), None, timeout_s)

    def close(self) -> None:
        """Refuse further publishes."""
        self.state = TransportState.CLOSED
