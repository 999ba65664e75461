"""Event models: validation, wire format, size limits."""

from __future__ import annotations

import pytest

from memos.errors import EventValidationError
from memos.mem_scheduler.events import EventResult, QueryEvent, make_event, parse_event


def test_round_trip_and_default_idempotency_key() -> None:
    event = make_event("add", user_id="u1", cube_id="c.1", payload={"memory_content": "hi"})
    assert event.idempotency_key == f"ev:{event.id}"
    back = parse_event(event.to_json())
    assert back == event and back.type == "add"


def test_payload_is_typed_per_event_type() -> None:
    event = make_event("query", user_id="u", cube_id="c", payload={"query": "q", "top_k": 3})
    assert isinstance(event, QueryEvent) and event.payload.top_k == 3
    with pytest.raises(EventValidationError, match="payload"):
        make_event("query", user_id="u", cube_id="c", payload={"memory_content": "x"})
    with pytest.raises(EventValidationError, match="needs messages"):
        make_event("add", user_id="u", cube_id="c", payload={})


@pytest.mark.parametrize("bad", ["", "has space", "x" * 129, "slash/no", "ü"])
def test_ids_are_validated(bad: str) -> None:
    with pytest.raises(EventValidationError, match="cube_id"):
        make_event("add", user_id="u", cube_id=bad, payload={"memory_content": "x"})


def test_size_limit_on_both_sides() -> None:
    event = make_event("add", user_id="u", cube_id="c", payload={"memory_content": "y" * 5000})
    with pytest.raises(EventValidationError, match="4096-byte limit"):
        event.to_json(max_event_bytes=4096)
    with pytest.raises(EventValidationError, match="4096-byte limit"):
        parse_event(event.to_json(), max_event_bytes=4096)


def test_unknown_type_and_bad_json() -> None:
    with pytest.raises(EventValidationError):
        parse_event('{"type": "explode", "user_id": "u", "cube_id": "c", "payload": {}}')
    with pytest.raises(EventValidationError):
        parse_event("{nope")


def test_result_models() -> None:
    ok = EventResult.success("e1", {"n": 1})
    bad = EventResult.failure("e2", "RuntimeError", "boom")
    assert EventResult.from_json(ok.model_dump_json()) == ok
    assert bad.error is not None and bad.error.type == "RuntimeError" and not bad.ok
