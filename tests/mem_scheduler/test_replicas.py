"""Daemon replicas and Celery workers as real subprocesses, killed and stopped by PID."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import redis
from effect_handlers import effects_key, log_key
from scheduler_support import REPO, child_env

from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.events import make_event
from memos.mem_scheduler.transport import RedisEventTransport


def add(user: str, cube: str, **options: Any) -> Any:
    return make_event(
        "add", user_id=user, cube_id=cube, payload={"memory_content": "x", "options": options}
    )


def wait_until(predicate: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def start_worker(procs: Any, config: SchedulerConfig, name: str) -> Any:
    worker = procs("worker", config, "--pool=solo", f"--hostname={name}@%h", name=name)
    worker.wait_for_text("ready.")
    return worker


def start_daemon(procs: Any, config: SchedulerConfig, name: str) -> Any:
    daemon = procs("daemon", config.model_copy(update={"consumer_name": name}), name=name)
    daemon.wait_for_text("reading")
    return daemon


def assert_exactly_once(client: redis.Redis, config: SchedulerConfig, events: list[Any]) -> None:
    by_cube: dict[str, list[str]] = {}
    for event in events:
        by_cube.setdefault(event.cube_id, []).append(event.key)
    for cube, keys in by_cube.items():
        # Exactly once each, and in publish order within the cube.
        assert client.lrange(effects_key(config.prefix, cube), 0, -1) == keys
    assert client.llen(log_key(config.prefix)) == len(events)
    assert client.xlen(config.keys.dlq) == 0


def publish_all(config: SchedulerConfig, events: list[Any]) -> None:
    with RedisEventTransport(config) as transport:
        for event in events:
            transport.publish(event)


def await_all(config: SchedulerConfig, events: list[Any], timeout_s: float = 60.0) -> None:
    with RedisEventTransport(config) as transport:
        for event in events:
            assert transport.await_result(event.id, None, timeout_s).ok


def health(client: redis.Redis, config: SchedulerConfig, name: str) -> dict[str, Any]:
    raw = client.get(config.keys.health(name))
    return json.loads(raw) if raw else {}


def test_round_trip_through_celery(make_config, procs, rclient) -> None:
    config = make_config(execution="celery")
    start_worker(procs, config, "w1")
    start_daemon(procs, config, "d1")
    events = [add("u1", f"c{i % 3}") for i in range(30)]
    with RedisEventTransport(config) as transport:
        for event in events:
            result = transport.publish_and_wait(event, 30)
            assert result.ok and result.result["key"] == event.key
    assert_exactly_once(rclient, config, events)


def test_worker_sigkill_mid_stream_loses_and_duplicates_nothing(make_config, procs, rclient):
    config = make_config(execution="celery", task_timeout_s=3.0, max_attempts=5)
    w1 = start_worker(procs, config, "w1")
    start_worker(procs, config, "w2")
    start_daemon(procs, config, "d1")
    events = [add("u1", f"c{i % 20}", sleep_s=0.01) for i in range(200)]
    publish_all(config, events)
    wait_until(lambda: rclient.llen(log_key(config.prefix)) >= 40)
    w1.signal(signal.SIGKILL)
    done_at_kill = rclient.llen(log_key(config.prefix))
    assert done_at_kill < 200
    await_all(config, events, 90)
    time.sleep(0.5)
    assert_exactly_once(rclient, config, events)


def test_killed_daemon_replica_is_reclaimed_by_another(make_config, procs, rclient) -> None:
    config = make_config(execution="celery", claim_idle_s=1.0)
    start_worker(procs, config, "w1")
    d1 = start_daemon(procs, config, "d1")
    start_daemon(procs, config, "d2")
    events = [add(f"u{i % 3}", f"c{i % 10}", sleep_s=0.005) for i in range(200)]
    publish_all(config, events)
    wait_until(lambda: rclient.llen(log_key(config.prefix)) >= 30)
    d1.signal(signal.SIGKILL)
    await_all(config, events, 90)
    wait_until(lambda: rclient.xpending(config.keys.events, config.keys.group)["pending"] == 0)
    assert_exactly_once(rclient, config, events)
    wait_until(lambda: health(rclient, config, "d2").get("reclaimed", 0) > 0, 10)


def test_two_replicas_share_a_stream_without_duplicates(make_config, procs, rclient) -> None:
    config = make_config(execution="celery")
    start_worker(procs, config, "w1")
    start_daemon(procs, config, "d1")
    start_daemon(procs, config, "d2")
    events = [add(f"u{i % 4}", f"c{i % 5}") for i in range(150)]
    publish_all(config, events)
    await_all(config, events)
    assert_exactly_once(rclient, config, events)
    wait_until(
        lambda: (
            health(rclient, config, "d1").get("processed", 0)
            + health(rclient, config, "d2").get("processed", 0)
            == 150
        ),
        10,
    )
    assert health(rclient, config, "d1")["processed"] > 0
    assert health(rclient, config, "d2")["processed"] > 0


def test_sigterm_hands_back_and_check_exit_codes(make_config, procs, rclient, tmp_path):
    config = make_config(execution="celery", claim_idle_s=1.0, shutdown_grace_s=3.0)
    start_worker(procs, config, "w1")
    d1 = start_daemon(procs, config, "d1")
    cfg_file = tmp_path / "check.json"
    cfg_file.write_text(json.dumps(config.model_dump(mode="json")))
    check = [sys.executable, "-m", "memos.mem_scheduler", "--check", "--config", str(cfg_file)]
    assert subprocess.run(check, cwd=REPO, env=child_env(), timeout=60).returncode == 0

    events = [add("u1", f"c{i % 4}", sleep_s=0.05) for i in range(40)]
    publish_all(config, events)
    wait_until(lambda: rclient.llen(log_key(config.prefix)) >= 5)
    started = time.monotonic()
    assert d1.stop(timeout_s=30) == 0
    assert time.monotonic() - started < config.shutdown_grace_s + 3
    assert "stopped" in d1.output()
    assert subprocess.run(check, cwd=REPO, env=child_env(), timeout=60).returncode == 1
    left = rclient.xpending(config.keys.events, config.keys.group)["pending"]
    # Un-acked work stayed pending (handed back), and nothing was half-applied.
    assert left > 0
    assert rclient.llen(log_key(config.prefix)) + left == 40

    start_daemon(procs, config, "d2")
    await_all(config, events)
    assert_exactly_once(rclient, config, events)
