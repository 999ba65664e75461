"""Metrics appear on the daemon's and a worker's /metrics endpoints after real traffic."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from scheduler_support import REPO, Proc, child_env
from scrape import scrape, value

from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.daemon import MemScheduler
from memos.mem_scheduler.events import make_event
from memos.mem_scheduler.transport import AsyncRedisEventTransport
from memos.observability.metrics import record_kv_lookup, search_timer


@contextlib.asynccontextmanager
async def running(config: SchedulerConfig) -> AsyncIterator[MemScheduler]:
    scheduler = MemScheduler(config)
    task = asyncio.create_task(scheduler.run())
    try:
        while scheduler.metrics_server is None:
            await asyncio.sleep(0.02)
        yield scheduler
    finally:
        scheduler.request_stop()
        await asyncio.wait_for(task, 20)


def add(cube: str, **options: Any) -> Any:
    return make_event(
        "add", user_id="u1", cube_id=cube, payload={"memory_content": "x", "options": options}
    )


async def test_daemon_metrics_after_traffic(obs_config, obs_redis) -> None:
    config = obs_config(max_attempts=2)
    async with running(config) as scheduler, AsyncRedisEventTransport(config) as transport:
        assert scheduler.metrics_server is not None
        url = scheduler.metrics_server.url
        before = await asyncio.to_thread(scrape, url)
        events = [add(f"c{i % 3}") for i in range(12)]
        query = make_event("query", user_id="u1", cube_id="q1", payload={"query": "where"})
        poison = add("bad", fail=True)
        for event in [*events, query, poison]:
            await transport.publish(event)
        for event in [*events, query]:
            assert (await transport.await_result(event.id, None, 20)).ok
        assert not (await transport.await_result(poison.id, None, 20)).ok
        await asyncio.sleep(0.6)  # a heartbeat refreshes the gauges
        after = await asyncio.to_thread(scrape, url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("memos_events_total", type="add", outcome="processed") == 12
    assert delta("memos_events_total", type="query", outcome="processed") == 1
    assert delta("memos_events_total", type="add", outcome="failed") == 2
    assert delta("memos_events_total", type="add", outcome="retried") == 1
    assert delta("memos_events_total", type="add", outcome="dead_lettered") == 1
    assert delta("memos_task_duration_seconds_count", type="add") == 14
    assert delta("memos_event_latency_seconds_count", type="add") == 12
    assert delta("memos_handler_duration_seconds_count", type="add", outcome="ok") == 12
    assert delta("memos_handler_duration_seconds_count", type="add", outcome="failed") == 2
    # The query handler timed its search with the helper.
    assert delta("memos_search_latency_seconds_count", backend="test") == 1
    assert value(after, "memos_dead_letters") == 1
    assert value(after, "memos_pending_entries") == 0
    assert value(after, "memos_stream_length") == 14
    assert value(after, "memos_in_flight_events") == 0


def test_search_and_kv_helpers_on_an_endpoint() -> None:
    from memos.observability.metrics import MetricsServer

    server = MetricsServer("127.0.0.1", 0)
    try:
        before = scrape(server.url)
        with search_timer("faiss"):
            time.sleep(0.002)
        for hit in (True, True, False, True):
            record_kv_lookup(hit)
        after = scrape(server.url)
    finally:
        server.close()
    assert (
        value(after, "memos_search_latency_seconds_count", backend="faiss")
        - value(before, "memos_search_latency_seconds_count", backend="faiss")
        == 1
    )
    assert value(after, "memos_search_latency_seconds_sum", backend="faiss") >= 0.002
    hits = value(after, "memos_kv_cache_lookups_total", result="hit")
    misses = value(after, "memos_kv_cache_lookups_total", result="miss")
    assert hits - value(before, "memos_kv_cache_lookups_total", result="hit") == 3
    assert value(after, "memos_kv_cache_hit_ratio") == hits / (hits + misses)
    # Closed: the port is released.
    try:
        httpx.get(server.url, timeout=1)
        raise AssertionError("the endpoint still answers after close()")
    except httpx.TransportError:
        pass


def test_prefork_worker_serves_its_children_metrics(obs_config, obs_redis, tmp_path) -> None:
    from memos.mem_scheduler.transport import RedisEventTransport

    port_file = tmp_path / "worker.log"
    config = obs_config(execution="celery", worker_metrics_port=0)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(config.model_dump(mode="json")))
    worker = Proc(
        [
            sys.executable,
            "-m",
            "memos.workers",
            "--config",
            str(cfg),
            "--pool=prefork",
            "--concurrency=1",
            "--hostname=ow@%h",
        ],
        port_file,
    )
    daemon = Proc(
        [sys.executable, "-m", "memos.mem_scheduler", "run", "--config", str(cfg)],
        tmp_path / "daemon.log",
    )
    try:
        worker.wait_for_text("ready.", 60)
        daemon.wait_for_text("reading", 60)
        worker_url = _logged_url(worker.output(), "worker metrics on")
        daemon_url = _logged_url(daemon.output(), "metrics on")
        events = [add(f"c{i % 2}") for i in range(6)]
        events.append(make_event("query", user_id="u2", cube_id="q", payload={"query": "q"}))
        with RedisEventTransport(config) as transport:
            for event in events:
                assert transport.publish_and_wait(event, 30).ok
        samples = scrape(worker_url)
        assert value(samples, "memos_handler_duration_seconds_count", type="add", outcome="ok") == 6
        assert value(samples, "memos_search_latency_seconds_count", backend="test") == 1
        deadline = time.monotonic() + 10
        while True:
            daemon_samples = scrape(daemon_url)
            if value(daemon_samples, "memos_pending_entries") == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert value(daemon_samples, "memos_events_total", type="add", outcome="processed") == 6
    finally:
        daemon.stop()
        worker.stop()
    assert REPO.exists()


def _logged_url(log: str, marker: str) -> str:
    for line in log.splitlines():
        if marker in line:
            data = json.loads(line)
            return str(data["event"].split(marker, 1)[1].strip())
    raise AssertionError(f"{marker!r} not logged:\n{log[-2000:]}")


def test_subprocess_entry_point_refuses_a_taken_metrics_port(obs_config, tmp_path) -> None:
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        config = obs_config(execution="inline", metrics_port=holder.getsockname()[1])
        cfg = tmp_path / "cfg.json"
        cfg.write_text(json.dumps(config.model_dump(mode="json")))
        done = subprocess.run(
            [sys.executable, "-m", "memos.mem_scheduler", "run", "--config", str(cfg)],
            cwd=REPO,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode != 0
    assert "choose another metrics port" in done.stderr
