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

    effect_handlers.register()

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


def test_equal_keys_of_two_tenants_are_two_effects(worker_config) -> None:
    # An event published straight onto the bus (behind the facade, which scopes keys itself)
    # with another tenant's idempotency key must not replay that tenant's result.
    from memos.workers.memory_handlers import derived_id

    config = worker_config()
    app = create_app(config)
    client = redis.Redis.from_url(config.redis_url, decode_responses=True)
    task = app.tasks[TASK_BY_TYPE["add"]]
    owner, intruder = (
        make_event(
            "add", user_id=user, cube_id=cube, idempotency_key="same-key",
            payload={"memory_content": text},
        )
        for user, cube, text in (("u", "c1", "owner's"), ("v", "c2", "intruder's"))
    )  # fmt: skip
    assert owner.key == intruder.key and owner.scoped_key != intruder.scoped_key
    assert derived_id(owner, 0) != derived_id(intruder, 0)
    first = task.apply(args=[owner.model_dump_json(), "t1", None]).get()
    second = task.apply(args=[intruder.model_dump_json(), "t2", None]).get()
    assert first["result"]["ok"] and second["result"]["ok"]
    assert not first["replayed"] and not second["replayed"]
    assert client.lrange(f"{config.prefix}:effects:c1", 0, -1) == ["same-key"]
    assert client.lrange(f"{config.prefix}:effects:c2", 0, -1) == ["same-key"]
    # The owner's own retry is still a replay of its own result.
    again = task.apply(args=[owner.model_dump_json(), "t3", None]).get()
    assert again["replayed"] and again["result"]["result"] == first["result"]["result"]
    client.close()


def test_task_rejects_a_misrouted_event(worker_config) -> None:
    config = worker_config()
    app = create_app(config)
    query = make_event("query", user_id="u", cube_id="c", payload={"query": "q"})
    out = app.tasks[TASK_BY_TYPE["add"]].apply(args=[query.model_dump_json(), "t", None]).get()
    assert not out["result"]["ok"] and out["result"]["error"]["type"] == "EventValidationError"
    assert out["retryable"] is False


def test_task_of_another_prefix_is_not_applied_under_ours(worker_config) -> None:
    # Queue names are shared by every prefix on one broker: a worker must not apply another
    # deployment's event with its own keys (that would record a stranger's effect as ours).
    config = worker_config()
    other = config.model_copy(update={"prefix": f"{config.prefix}x"})
    app = create_app(config)
    event = make_event("add", user_id="u", cube_id="c1", payload={"memory_content": "m"})
    client = redis.Redis.from_url(config.redis_url, decode_responses=True)
    foreign_notify = other.keys.notify("d1")
    task = app.tasks[TASK_BY_TYPE["add"]]
    out = task.apply(args=[event.model_dump_json(), "tok", foreign_notify]).get()
    assert out == {"skipped": "foreign prefix"}
    assert client.llen(f"{config.prefix}:effects:c1") == 0
    assert client.llen(foreign_notify) == 0
    assert not client.exists(config.keys.done(event.scoped_key))
    own = task.apply(args=[event.model_dump_json(), "tok", config.keys.notify("d1")]).get()
    assert own["result"]["ok"] and client.lrange(f"{config.prefix}:effects:c1", 0, -1) == [
        event.key
    ]
    client.close()
