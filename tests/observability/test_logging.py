"""Logs are JSON lines carrying event id, tenant and cube, and never the payload text."""

from __future__ import annotations

import io
import json
import logging
import time

import structlog
from scheduler_support import Proc

from memos.mem_scheduler.events import make_event
from memos.mem_scheduler.transport import RedisEventTransport
from memos.observability.logging import configure_logging, event_context

SECRET = "the-launch-code-is-0000"


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_configure_logging_renders_stdlib_records_as_json() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging(level="INFO", fmt="json", service="test", stream=stream)
        configure_logging(level="INFO", fmt="json", service="test", stream=stream)  # idempotent
        event = make_event("add", user_id="alice", cube_id="c9", payload={"memory_content": SECRET})
        with event_context(event):
            logging.getLogger("memos.x").warning("handled %s in %d ms", "thing", 5)
            structlog.get_logger("memos.y").info("direct", payload=SECRET, password="p")
        logging.getLogger("memos.x").info("outside")
    finally:
        for handler in list(root.handlers):
            if handler not in saved[0]:
                root.removeHandler(handler)
        root.setLevel(saved[1])
        structlog.reset_defaults()
    lines = _lines(stream.getvalue())
    assert len(lines) == 3, stream.getvalue()
    first, second, third = lines
    assert first["event"] == "handled thing in 5 ms" and first["level"] == "warning"
    assert first["logger"] == "memos.x" and first["service"] == "test"
    assert (first["event_id"], first["user_id"], first["cube_id"]) == (event.id, "alice", "c9")
    assert second["event_id"] == event.id and "payload" not in second and "password" not in second
    assert "event_id" not in third  # the binding ended with its block
    assert SECRET not in stream.getvalue()


def test_daemon_logs_are_json_with_ids_and_without_payload(obs_config, tmp_path) -> None:
    config = obs_config(execution="inline", max_attempts=2, metrics_port=None)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(config.model_dump(mode="json")))
    daemon = Proc(
        [__import__("sys").executable, "-m", "memos.mem_scheduler", "run", "--config", str(cfg)],
        tmp_path / "daemon.log",
    )
    try:
        daemon.wait_for_text("reading", 60)
        ok = make_event(
            "add", user_id="tenant-7", cube_id="cube-a", payload={"memory_content": SECRET}
        )
        bad = make_event(
            "add",
            user_id="tenant-8",
            cube_id="cube-b",
            payload={"memory_content": SECRET, "options": {"fail": True}},
        )
        with RedisEventTransport(config) as transport:
            assert transport.publish_and_wait(ok, 30).ok
            assert not transport.publish_and_wait(bad, 30).ok
        time.sleep(0.3)
    finally:
        daemon.stop()
    text = daemon.output()
    lines = _lines(text)
    assert lines and len(lines) == len([x for x in text.splitlines() if x.strip()]), text[-2000:]
    assert all(line["service"] == "scheduler" and "timestamp" in line for line in lines)
    about_bad = [line for line in lines if line.get("event_id") == bad.id]
    assert about_bad, text[-3000:]
    assert all(line["user_id"] == "tenant-8" and line["cube_id"] == "cube-b" for line in about_bad)
    assert any("dead-lettered" in line["event"] for line in about_bad)
    assert SECRET not in text
