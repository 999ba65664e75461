"""Keys, the rate limiter, error mapping and SSE framing, on the session's real Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from memos import errors
from memos.api.auth import (
    ApiKeyStore,
    AuthenticationError,
    InsufficientScopeError,
    parse_scopes,
)
from memos.api.errors import classify
from memos.api.ratelimit import FixedWindowRateLimiter, RateLimitedError
from memos.api.sse import split_answer
from memos.mem_os.registry import UnknownCubeError


@pytest.fixture
def client(embedded_stack: object) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(embedded_stack.redis.url)  # type: ignore[attr-defined]
    yield conn
    conn.close()


@pytest.fixture
def prefix() -> str:
    return f"u{uuid.uuid4().hex[:8]}"


def test_keys_are_stored_hashed_and_verified(client: redis.Redis, prefix: str) -> None:
    store = ApiKeyStore(client, prefix)
    key, record = store.create("alice", ("read",))
    stored = b"".join(client.hvals(store.keys_key))
    assert key.encode() not in stored and key.split("_")[2].encode() not in stored
    principal = store.verify(key)
    assert (principal.user_id, principal.scopes) == ("alice", ("read",))
    principal.require("read")
    with pytest.raises(InsufficientScopeError):
        principal.require("write")
    with pytest.raises(AuthenticationError):
        store.verify(key[:-1] + ("a" if key[-1] != "a" else "b"))
    assert store.revoke(record.key_id) and not store.revoke(record.key_id)
    with pytest.raises(AuthenticationError):
        store.verify(key)


def test_admin_scope_implies_the_others(client: redis.Redis, prefix: str) -> None:
    key, _ = ApiKeyStore(client, prefix).create("root", ("admin",))
    principal = ApiKeyStore(client, prefix).verify(key)
    principal.require("read")
    principal.require("write")


def test_parse_scopes() -> None:
    assert parse_scopes("read, write,read") == ("read", "write")
    with pytest.raises(ValueError, match="root"):
        parse_scopes("read,root")
    with pytest.raises(ValueError):
        parse_scopes(" , ")


def test_fixed_window_counts_per_tenant(client: redis.Redis, prefix: str) -> None:
    limiter = FixedWindowRateLimiter(client, prefix=prefix, limit=2, window_s=60)
    now = 60 * 16_667 + 20.0  # 20 s into a window
    assert limiter.hit("a", now_s=now).allowed
    assert limiter.hit("a", now_s=now).allowed
    third = limiter.hit("a", now_s=now)
    assert not third.allowed and third.reset_s == 40
    assert limiter.hit("b", now_s=now).allowed  # another tenant has its own budget
    assert limiter.hit("a", now_s=now + 40).allowed  # the next window starts afresh
    assert limiter.hit("a", limit=5, now_s=now).allowed  # a per-key limit overrides
    ttl = client.ttl(f"{prefix}:api:rl:a:{int(now // 60)}")
    assert 0 < ttl <= 61


def test_check_raises_with_retry_after(client: redis.Redis, prefix: str) -> None:
    limiter = FixedWindowRateLimiter(client, prefix=prefix, limit=1, window_s=30)
    limiter.check("a")
    with pytest.raises(RateLimitedError) as caught:
        limiter.check("a")
    assert 1 <= caught.value.retry_after_s <= 30


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (errors.AccessDeniedError("u", "c"), 403, "access_denied"),
        (errors.MemoryNotFoundError("m"), 404, "not_found"),
        (UnknownCubeError("c"), 404, "not_found"),
        (errors.ConfigError("bad"), 422, "invalid_config"),
        (errors.InvalidMemoryInputError("empty"), 422, "invalid_input"),
        (errors.EventValidationError("big"), 422, "invalid_event"),
        (errors.EventTimeoutError("e1", 1.0), 504, "timeout"),
        (errors.SchedulerError("down"), 503, "scheduler_unavailable"),
        (errors.LLMError("gone"), 502, "backend_error"),
        (errors.MemoryOperationError("no cube"), 400, "invalid_operation"),
        (errors.MemOSError("?"), 500, "internal_error"),
    ],
)
def test_error_codes_are_stable(error: errors.MemOSError, status: int, code: str) -> None:
    assert classify(error) == (status, code)


@pytest.mark.parametrize(
    "answer", ["", "short", "a much longer answer with many words in it, and punctuation."]
)
def test_split_answer_round_trips(answer: str) -> None:
    pieces = split_answer(answer, 10)
    assert "".join(pieces) == answer
    assert all(len(p) <= 10 or " " not in p.strip() for p in pieces)
