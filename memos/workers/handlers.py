"""The handler registry: event type -> plain function doing the memory work.

Memory code registers its functions here (``register_handler("add", extract_and_store)``); the
Celery tasks and the daemon's inline path look them up. A handler is a plain, broker-free
function::

    def handle_add(event: AddEvent, ctx: HandlerContext) -> JsonValue: ...

It returns a JSON-serialisable result (sent back to the facade) or raises. Redis writes queued on
``ctx.tx`` commit atomically with the idempotency marker (exactly once); effects in other stores
must be idempotent on ``event.key`` (see :mod:`memos.mem_scheduler.idempotency`).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import redis
from pydantic import JsonValue
from redis.client import Pipeline

from memos.errors import SchedulerError
from memos.mem_scheduler.constants import SchedulerKeys
from memos.mem_scheduler.events import EVENT_TYPES
from memos.memories.textual.step_timer import StepTimer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HandlerContext:
    """What a handler gets beside its event.

    ``tx`` is a Redis pipeline in MULTI mode: commands queued on it are executed in the same
    transaction that records the event as done, so they happen exactly once. ``redis`` is a plain
    client for reads (never write effects through it: they would not be exactly-once).
    ``prepared`` is what a batch preparer computed for this event together with the other
    events of its batch (see :mod:`memos.workers.batching`), or None: the handler then does
    that work itself.
    """

    redis: redis.Redis
    tx: Pipeline
    keys: SchedulerKeys
    attempt: int
    prepared: Any = None
    #: The handler's own steps (``with ctx.timer.step(name):``); they travel in the result's
    #: trace as ``ms:<step>``, so the hop profile attributes the handler's time.
    timer: StepTimer = field(default_factory=StepTimer)


#: A handler takes the event model of the type it is registered for (``AddEvent`` for "add", ...)
#: and the dispatch looks it up by ``event.type``; the registry holds handlers of every type, so
#: its parameter is ``Any`` here (a ``Callable[[Event], ...]`` would refuse each precise handler).
Handler = Callable[[Any, HandlerContext], JsonValue]


@dataclass(frozen=True)
class HandlerSpec:
    """A registered handler; ``inline`` ones run inside the daemon instead of on a worker."""

    event_type: str
    fn: Handler
    inline: bool = False


class HandlerNotFoundError(SchedulerError):
    """No handler is registered for an event type."""

    def __init__(self, event_type: str) -> None:
        self.event_type = event_type
        super().__init__(
            f"no handler registered for event type {event_type!r}; import the module that calls "
            "register_handler (config handler_modules)"
        )


_lock = threading.Lock()
_registry: dict[str, HandlerSpec] = {}


def register_handler(
    event_type: str, fn: Handler, *, inline: bool = False, replace: bool = False
) -> HandlerSpec:
    """Register ``fn`` for ``event_type``; refuses to silently replace another handler."""
    if event_type not in EVENT_TYPES:
        raise SchedulerError(
            f"unknown event type {event_type!r}; known types: {', '.join(EVENT_TYPES)}"
        )
    spec = HandlerSpec(event_type=event_type, fn=fn, inline=inline)
    with _lock:
        current = _registry.get(event_type)
        if current is not None and current.fn is not fn and not replace:
            raise SchedulerError(
                f"a handler for {event_type!r} is already registered ({current.fn!r}); "
                "pass replace=True to override it"
            )
        _registry[event_type] = spec
    return spec


def get_handler(event_type: str) -> HandlerSpec:
    """The handler for ``event_type``; raises :class:`HandlerNotFoundError`."""
    with _lock:
        spec = _registry.get(event_type)
    if spec is None:
        raise HandlerNotFoundError(event_type)
    return spec


def find_handler(event_type: str) -> HandlerSpec | None:
    """The handler for ``event_type``, or None."""
    with _lock:
        return _registry.get(event_type)


def unregister_handler(event_type: str) -> None:
    """Remove the handler for ``event_type`` (no error if none)."""
    with _lock:
        _registry.pop(event_type, None)


def registered_types() -> list[str]:
    """Event types that currently have a handler."""
    with _lock:
        return sorted(_registry)


def import_handler_modules(modules: Iterable[str]) -> None:
    """Import modules whose import registers handlers (config ``handler_modules``)."""
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise SchedulerError(f"handler module {name!r} cannot be imported: {exc}") from exc
        # A module may register at import, or expose register() so that importing it (for its
        # helpers, or in a process that uses other handlers) has no side effect.
        register = getattr(module, "register", None)
        if callable(register):
            register()
        logger.info("handler module %s imported", name)


def snapshot_registry() -> dict[str, HandlerSpec]:
    """A copy of the registry, to put back later with :func:`restore_registry` (tests)."""
    with _lock:
        return dict(_registry)


def restore_registry(snapshot: dict[str, HandlerSpec]) -> None:
    """Replace the registry with ``snapshot``."""
    with _lock:
        _registry.clear()
        _registry.update(snapshot)
