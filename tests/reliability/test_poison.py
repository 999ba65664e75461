"""Poison and malformed events end in the dead-letter stream with a reason; the rest flows on.

The daemon runs as a subprocess on the module's private Redis with the counting test handlers
(``tests/mem_scheduler/effect_handlers.py``: each effect is an RPUSH committed exactly once).
Operators act on dead letters with the real CLI: ``memos dlq list|retry|drop``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
import redis

from memos.mem_scheduler.events import make_event
from memos.mem_scheduler.transport import RedisEventTransport
from tests.reliability.support import REPO, PrivateStack, Services

pytestmark = pytest.mark.services

MAX_EVENT_BYTES = 8192


def _effects(client: redis.Redis, prefix: str, cube: str) -> list[str]:
    return [v.decode() for v in client.lrange(f"{prefix}:effects:{cube}", 0, -1)]


def _wait(predicate: Any, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def _dlq_cli(services: Services, *args: str) -> subprocess.CompletedProcess[str]:
    cfg = services.logs / "dlq-cli.json"
    cfg.write_text(json.dumps(services.config.model_dump(mode="json")), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "memos", "dlq", *args, "--config", str(cfg)],
        cwd=REPO,
        env=services._env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_poison_events_are_dead_lettered_and_operators_can_act(
    private_stack: PrivateStack, make_services: Any
) -> None:
    services: Services = make_services(
        execution="inline",
        handler_modules=["effect_handlers"],
        max_attempts=3,
        backoff_base_s=0.05,
        backoff_max_s=0.2,
        max_event_bytes=MAX_EVENT_BYTES,
    )
    services.daemon("d1")
    config = services.config
    keys = config.keys
    client = private_stack.redis_client()
    gate = f"{config.prefix}:gate:{uuid.uuid4().hex[:6]}"
    try:
        good = [
            make_event("add", user_id="u1", cube_id=f"c{i % 3}", payload={"memory_content": "ok"})
            for i in range(30)
        ]
        always_fails = make_event(
            "add",
            user_id="u1",
            cube_id="c0",
            payload={"memory_content": "x", "options": {"fail": True}},
        )
        gated = make_event(
            "add",
            user_id="u1",
            cube_id="c1",
            payload={"memory_content": "x", "options": {"fail_unless_key": gate}},
        )
        valid = json.loads(good[0].model_dump_json())
        missing_fields = {k: v for k, v in valid.items() if k not in ("user_id", "payload")}
        unknown_type = {**valid, "id": "unknown-type-1", "type": "teleport"}
        oversized = {**valid, "id": "big-1", "payload": {"memory_content": "x" * MAX_EVENT_BYTES}}
        raws = {
            "invalid JSON": b'{"type": "add", "user_id": ',
            "not UTF-8": b"\xff\xfe{\x00",
            "missing fields": json.dumps(missing_fields).encode(),
            "unknown type": json.dumps(unknown_type).encode(),
            "oversized": json.dumps(oversized).encode(),
            "unknown cube id format": json.dumps(
                {**valid, "id": "bad-cube", "cube_id": "../etc"}
            ).encode(),
        }
        with RedisEventTransport(config) as transport:
            for index, event in enumerate(good):
                transport.publish(event)
                if index == 5:
                    for raw in raws.values():
                        client.xadd(keys.events, {"event": raw})
                    transport.publish(always_fails)
                    transport.publish(gated)
            results = [transport.await_result(e.id, None, 60) for e in good]
            assert all(r.ok for r in results)
            failed = transport.await_result(always_fails.id, None, 60)
            assert not failed.ok and failed.error is not None
            assert "poison" in failed.error.message
        # The rest of the stream kept flowing: every good event applied exactly once.
        for cube in ("c0", "c1", "c2"):
            assert _effects(client, config.prefix, cube) == [
                e.key for e in good if e.cube_id == cube
            ]

        _wait(lambda: client.xlen(keys.dlq) == len(raws) + 2)
        listed = _dlq_cli(services, "list")
        assert listed.returncode == 0, listed.stderr
        letters = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
        assert len(letters) == len(raws) + 2
        for letter in letters:
            assert letter["error_type"] and letter["error_message"], letter
        by_type = [letter["error_type"] for letter in letters]
        assert by_type.count("EventValidationError") >= len(raws) - 1, letters
        handler_failures = [ltr for ltr in letters if ltr["error_type"] == "RuntimeError"]
        # Retryable failures are dead-lettered after exactly max_attempts tries.
        assert len(handler_failures) == 2
        assert {ltr["attempts"] for ltr in handler_failures} == {config.max_attempts}
        oversized_letter = [ltr for ltr in letters if "limit" in ltr["error_message"]]
        assert oversized_letter, letters

        # Operator: fix the cause of the gated one and retry it; drop the rest.
        client.set(gate, "1")
        gated_letter = next(
            ltr for ltr in handler_failures if "failing until" in ltr["error_message"]
        )
        retried = _dlq_cli(services, "retry", gated_letter["dlq_id"])
        assert retried.returncode == 0, retried.stderr
        assert retried.stdout.strip() == gated.id
        _wait(lambda: gated.key in _effects(client, config.prefix, "c1"))
        for letter in letters:
            if letter["dlq_id"] == gated_letter["dlq_id"]:
                continue
            dropped = _dlq_cli(services, "drop", letter["dlq_id"])
            assert dropped.returncode == 0, dropped.stderr
        assert client.xlen(keys.dlq) == 0
        gone = _dlq_cli(services, "drop", letters[0]["dlq_id"])
        assert gone.returncode == 1 and "no dead letter" in gone.stderr
        # The retried event had exactly one effect, and nothing was applied twice.
        assert _effects(client, config.prefix, "c1").count(gated.key) == 1
        assert always_fails.key not in _effects(client, config.prefix, "c0")
    finally:
        client.close()
