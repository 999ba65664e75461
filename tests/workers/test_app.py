"""The Celery app factory, task registration, and idempotent task bodies (real Redis)."""

from __future__ import annotations

import json

import pytest
import redis

from memos.errors import SchedulerError
from memos.mem_scheduler.constants import ALL_QUEUES, TASK_BY_TYPE
from memos.mem_scheduler.events import make_event
from memos.workers.app import create_app
from memos.workers.handlers import HandlerNotFoundError, get_handler, register_handler
from memos.workers.tasks import TASK_POLICIES


def test_app_settings_are_json_only_and_late_ack(worker_config) -> None:
    config = worker_config()
    app = create_app(config)
    conf = app.conf
    assert conf.task_serializer == "json" and conf.result_serializer == "json"
    assert list(conf.accept_content) == ["json"]
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_url.startswith("redis+socket://")
    assert sorted(q.name for q in conf.task_queues) == sorted(ALL_QUEUES)
    for name, policy in TASK_POLICIES.items():
        task = app.tasks[name]
        assert task.acks_late and task.queue == policy.queue
        assert task.soft_time_limit == policy.soft_time_limit_s
        assert task.max_retries == policy.max_retries
    assert set(TASK_BY_TYPE.values()) <= set(app.tasks)


def test_registry_refuses_silent_replacement() -> None:
    import effect_handlers

    def other(event, ctx):
        return None

    with pytest.raises(SchedulerError, match="already registered"):
        register_handler("add", other)
    with pytest.raises(SchedulerError, match="unknown event type"):
        register_handler("explode", other)
    assert get_handler("add").fn is effect_handlers.record_effect
    assert HandlerNotFoundError("x").event_type == "x"


def test_redelivered_task_does_not_apply_twice(worker_config) -> None:
    config = worker_config()
    app = create_app(config)
    event = make_event("add", user_id="u", cube_id="c1", payload={"memory_content": "m"})
    client = redis.Redis.from_url(config.redis_url, decode_responses=True)
    notify = config.keys.notify("test")
    task = app.tasks[TASK_BY_TYPE["add"]]
    first = task.apply(args=[event.model_dump_json(), "tok1", notify]).get()
    again = task.apply(args=[event.model_dump_json(), "tok2", notify]).get()
    assert first["result"]["ok"] and not first["replayed"]
    assert again["replayed"] and again["result"]["result"] == first["result"]["result"]
    assert client.lrange(f"{config.prefix}:effects:c1", 0, -1) == [event.key]
    outcomes = [json.loads(x) for x in client.lrange(notify, 0, -1)]
    assert [o["token"] for o in outcomes] == ["tok1", "tok2"]
    client.close()


def test_task_rejects_a_misrouted_event(worker_config) -> None:
    config = worker_config()
    app = create_app(config)
    query = make_event("query", user_id="u", cube_id="c", payload={"query": "q"})
    out = app.tasks[TASK_BY_TYPE["add"]].apply(args=[query.model_dump_json(), "t", None]).get()
    assert not out["result"]["ok"] and out["result"]["error"]["type"] == "EventValidationError"
    assert out["retryable"] is False
