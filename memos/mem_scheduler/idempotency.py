"""Apply an event at most once per idempotency key, and record its reply in the same step.

The guarantee, exactly:

* Delivery is at-least-once. The daemon acks an entry only after the worker has committed the
  outcome; a crash anywhere before that leaves the entry pending, and it is delivered again
  (XAUTOCLAIM, a daemon retry, or a Celery redelivery).
* :func:`apply_once` makes each delivery after the first a no-op. It ``WATCH``es
  ``done:<scoped key>`` (the idempotency key bound to the event's type, user and cube, so two
  tenants' equal keys never meet); if the marker exists, it only re-sends the stored result.
  Otherwise it
  runs the handler with a pipeline in ``MULTI`` mode; the Redis writes the handler queues there,
  the ``done`` marker, the stored result, the reply and the daemon notification are committed by
  one ``EXEC``. If another delivery committed first, ``EXEC`` aborts, so none of this copy's
  writes happen.
* So effects written through ``ctx.tx`` happen exactly once. Effects in other stores (graph,
  faiss, files) happen at least once and must be idempotent on ``event.key``: derive ids from it
  (``uuid5``), use MERGE/upserts. Then a re-run after a crash between the effect and the commit
  leaves the same state. That is what "exactly one effect" means here.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from pydantic import BaseModel, ConfigDict

from memos.errors import (
    AccessDeniedError,
    BackendUnavailableError,
    EventValidationError,
    MemoryOperationError,
)
from memos.mem_scheduler.constants import SchedulerKeys
from memos.mem_scheduler.events import Event, EventResult
from memos.observability.metrics import get_metrics
from memos.workers.handlers import HandlerContext, HandlerSpec

logger = logging.getLogger(__name__)

#: Errors that will fail the same way on every attempt: retrying them only delays the reply.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    EventValidationError,
    MemoryOperationError,
    AccessDeniedError,
)


class WorkerOutcome(BaseModel):
    """What a worker tells the daemon replica that dispatched an attempt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: str
    result: EventResult
    retryable: bool = True
    #: The handler could not reach a backend (an outage, not a fault of the event).
    unavailable: bool = False
    replayed: bool = False


def reply_target(keys: SchedulerKeys, reply_to: str | None) -> str | None:
    """The reply list to push to, or None; only keys under our reply prefix are accepted."""
    if reply_to and reply_to.startswith(keys.reply_prefix):
        return reply_to
    return None


def queue_reply(
    pipe: Any,
    keys: SchedulerKeys,
    event_id: str,
    reply_to: str | None,
    result: EventResult,
    *,
    result_ttl_s: int,
    text: str | None = None,
) -> None:
    """Queue the writes that deliver ``result``: stored result key plus the waiter's list.

    ``pipe`` is a sync or async Redis pipeline in MULTI mode (the calls only buffer commands).
    ``text`` is ``result``'s JSON when the caller already has it (serialised once per event).
    """
    text = text if text is not None else result.model_dump_json()
    pipe.set(keys.result(event_id), text, ex=result_ttl_s)
    target = reply_target(keys, reply_to)
    if target is not None:
        pipe.rpush(target, text)
        pipe.expire(target, result_ttl_s)


def _queue_notify(
    pipe: redis.client.Pipeline,
    notify_key: str | None,
    outcome: WorkerOutcome,
    ttl_s: int,
) -> None:
    """Queue the daemon's notification of ``outcome``, without the result's value.

    The daemon reads only whether the attempt succeeded, its error and its stamps; the value
    itself is stored (``result:<id>``, the done marker) and pushed to the waiter's reply list
    in the same ``EXEC``. A copy here would be serialised, sent and parsed once more for
    nothing (a search's ten hits are most of an event's bytes).
    """
    if notify_key:
        note = outcome
        if outcome.result.result is not None:
            note = outcome.model_copy(
                update={"result": outcome.result.model_copy(update={"result": None})}
            )
        pipe.rpush(notify_key, note.model_dump_json())
        pipe.expire(notify_key, ttl_s)


def apply_once(
    client: redis.Redis,
    keys: SchedulerKeys,
    event: Event,
    spec: HandlerSpec,
    *,
    token: str,
    notify_key: str | None,
    result_ttl_s: int,
    idempotency_ttl_s: int,
    prepared: Any = None,
    trace: dict[str, float] | None = None,
) -> WorkerOutcome:
    """Run ``spec`` for ``event`` unless its idempotency key is already done; see module doc.

    ``prepared`` is handed to the handler as ``ctx.prepared`` (work done for a whole batch);
    ``trace`` (stamps so far) gets the handler's start and end and travels with the result.
    """
    done_key = keys.done(event.scoped_key)
    with client.pipeline(transaction=True) as pipe:
        for _ in range(3):
            try:
                pipe.watch(done_key)  # type: ignore[no-untyped-call]
                stored = pipe.get(done_key)
                if stored is not None:
                    pipe.multi()
                    outcome = _replayed(pipe, keys, event, stored, token, notify_key, result_ttl_s)
                    pipe.execute()
                    return outcome
                pipe.multi()
                ctx = HandlerContext(
                    redis=client, tx=pipe, keys=keys, attempt=event.attempt, prepared=prepared
                )
                started = time.perf_counter()
                handler_start = time.time()
                try:
                    value = spec.fn(event, ctx)
                    handler_end = time.time()
                    handler_s = time.perf_counter() - started
                    # Validating the value as JSON here fails before EXEC on a value that is
                    # not JSON-able; the text is then made once and written three times.
                    result = EventResult.success(event.id, value, handler_s=handler_s)
                    if trace is not None:
                        stamps = {**trace, "handler_start": handler_start,
                                  "handler_end": handler_end}  # fmt: skip
                        stamps.update((f"ms:{k}", round(v, 3)) for k, v in ctx.timer.ms.items())
                        stamps["ms:result"] = round((time.time() - handler_end) * 1000, 3)
                        result = result.model_copy(update={"trace": stamps})
                    text = result.model_dump_json()
                except Exception as exc:
                    pipe.reset()
                    _observe(event, "failed", started)
                    return _failed(client, keys, event, exc, token, notify_key, result_ttl_s)
                _observe(event, "ok", started)
                pipe.set(done_key, text, ex=idempotency_ttl_s)
                queue_reply(
                    pipe, keys, event.id, event.reply_to, result,
                    result_ttl_s=result_ttl_s, text=text,
                )  # fmt: skip
                outcome = WorkerOutcome(token=token, result=result)
                _queue_notify(pipe, notify_key, outcome, result_ttl_s)
                pipe.execute()
                return outcome
            except redis.WatchError:
                # Another delivery of the same key committed while we ran: our writes were
                # discarded by EXEC; loop once more to pick up and re-send its result.
                logger.info("event %s: concurrent delivery committed first", event.id)
                continue
    raise redis.WatchError(f"idempotency key of event {event.id} kept changing")


def _observe(event: Event, outcome: str, started: float) -> float:
    """Record the handler's duration in the metrics; returns it (seconds)."""
    elapsed = time.perf_counter() - started
    get_metrics().handler_duration_s.labels(type=event.type, outcome=outcome).observe(elapsed)
    return elapsed


def _replayed(
    pipe: redis.client.Pipeline,
    keys: SchedulerKeys,
    event: Event,
    stored: bytes | str,
    token: str,
    notify_key: str | None,
    result_ttl_s: int,
) -> WorkerOutcome:
    first = EventResult.from_json(stored)
    # The same effect, reported under this event's id (a replay may carry a new id).
    result = first.model_copy(update={"event_id": event.id})
    queue_reply(pipe, keys, event.id, event.reply_to, result, result_ttl_s=result_ttl_s)
    outcome = WorkerOutcome(token=token, result=result, replayed=True)
    _queue_notify(pipe, notify_key, outcome, result_ttl_s)
    logger.info("event %s: idempotency key already done, effect not repeated", event.id)
    return outcome


def _failed(
    client: redis.Redis,
    keys: SchedulerKeys,
    event: Event,
    exc: Exception,
    token: str,
    notify_key: str | None,
    result_ttl_s: int,
) -> WorkerOutcome:
    logger.warning(
        "event %s (%s, attempt %d) failed: %s", event.id, event.type, event.attempt, type(exc)
    )
    result = EventResult.failure(event.id, type(exc).__name__, str(exc)[:2000])
    outcome = WorkerOutcome(
        token=token,
        result=result,
        retryable=not isinstance(exc, PERMANENT_ERRORS),
        unavailable=isinstance(exc, BackendUnavailableError),
    )
    with client.pipeline(transaction=True) as pipe:
        _queue_notify(pipe, notify_key, outcome, result_ttl_s)
        pipe.execute()
    return outcome
