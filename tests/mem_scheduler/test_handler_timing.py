"""The result of an applied event says how long its handler ran (the worker's share of a call)."""

from __future__ import annotations

import time
import uuid

import redis
from pydantic import JsonValue

from memos.mem_scheduler.constants import SchedulerKeys
from memos.mem_scheduler.events import Event, EventResult, make_event
from memos.mem_scheduler.idempotency import WorkerOutcome, apply_once
from memos.workers.handlers import HandlerContext, HandlerSpec


def _slow(event: Event, ctx: HandlerContext) -> JsonValue:
    time.sleep(0.05)
    return {"id": event.id}


def test_apply_once_reports_the_handler_time_and_a_replay_keeps_it(rclient: redis.Redis) -> None:
    keys = SchedulerKeys(f"timing{uuid.uuid4().hex[:8]}")
    event = make_event("answer", user_id="u", cube_id="c", payload={"query": "q", "answer": "a"})
    spec = HandlerSpec(event_type="answer", fn=_slow)
    first = apply_once(
        rclient,
        keys,
        event,
        spec,
        token="t1",
        notify_key=None,
        result_ttl_s=60,
        idempotency_ttl_s=60,
    )
    assert first.result.handler_s is not None and first.result.handler_s >= 0.05
    replay = apply_once(
        rclient,
        keys,
        event,
        spec,
        token="t2",
        notify_key=None,
        result_ttl_s=60,
        idempotency_ttl_s=60,
    )
    assert replay.replayed and replay.result.handler_s == first.result.handler_s
    assert EventResult.from_json(first.result.model_dump_json()) == first.result
    assert EventResult.failure("e", "RuntimeError", "boom").handler_s is None


def _stepped(event: Event, ctx: HandlerContext) -> JsonValue:
    with ctx.timer.step("lookup"):
        time.sleep(0.01)
    with ctx.timer.step("lookup"):  # repeats add up
        time.sleep(0.01)
    return {"hits": ["a", "b"], "id": event.id}


def test_the_trace_names_the_handler_steps_and_the_notification_carries_no_value(
    rclient: redis.Redis,
) -> None:
    """``ms:<step>`` stamps attribute the handler's time; the daemon's notification says ok
    without a copy of the value, which the stored result, the done marker and the reply hold
    (the same text, serialised once); a replay notifies the same way."""
    keys = SchedulerKeys(f"steps{uuid.uuid4().hex[:8]}")
    event = make_event("answer", user_id="u", cube_id="c", payload={"query": "q", "answer": "a"})
    event = event.model_copy(update={"reply_to": keys.reply(event.id)})
    spec = HandlerSpec(event_type="answer", fn=_stepped)
    notify = keys.notify("replica")
    outcome = apply_once(
        rclient, keys, event, spec, token="t1", notify_key=notify,
        result_ttl_s=60, idempotency_ttl_s=60, trace={"read": 1.0, "sent": 2.0},
    )  # fmt: skip
    assert outcome.result.result == {"hits": ["a", "b"], "id": event.id}
    trace = outcome.result.trace
    assert trace is not None and trace["read"] == 1.0 and trace["ms:lookup"] >= 20
    assert "ms:result" in trace and trace["handler_end"] >= trace["handler_start"]
    note = WorkerOutcome.model_validate_json(rclient.lpop(notify))  # type: ignore[arg-type]
    assert note.token == "t1" and note.result.ok and note.result.result is None
    assert note.result.trace == trace and note.result.event_id == event.id
    stored = rclient.get(keys.result(event.id))
    assert stored == rclient.get(keys.done(event.scoped_key))
    assert stored == rclient.lpop(keys.reply(event.id))
    assert EventResult.from_json(stored) == outcome.result  # type: ignore[arg-type]
    replay = apply_once(
        rclient, keys, event, spec, token="t2", notify_key=notify,
        result_ttl_s=60, idempotency_ttl_s=60, trace={},
    )  # fmt: skip
    assert replay.replayed and replay.result.result == outcome.result.result
    note = WorkerOutcome.model_validate_json(rclient.lpop(notify))  # type: ignore[arg-type]
    assert note.replayed and note.result.ok and note.result.result is None


def _not_json(event: Event, ctx: HandlerContext) -> JsonValue:
    return {"value": object()}  # type: ignore[dict-item]


def test_a_value_that_is_not_json_fails_before_anything_commits(rclient: redis.Redis) -> None:
    keys = SchedulerKeys(f"notjson{uuid.uuid4().hex[:8]}")
    event = make_event("answer", user_id="u", cube_id="c", payload={"query": "q", "answer": "a"})
    outcome = apply_once(
        rclient, keys, event, HandlerSpec(event_type="answer", fn=_not_json), token="t",
        notify_key=None, result_ttl_s=60, idempotency_ttl_s=60, trace={},
    )  # fmt: skip
    assert not outcome.result.ok
    assert rclient.get(keys.done(event.scoped_key)) is None
    assert rclient.get(keys.result(event.id)) is None
