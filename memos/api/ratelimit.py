"""A per-tenant fixed-window request limit kept in Redis, shared by every API process.

Each request increments ``<p>:api:rl:<user>:<window>`` (the window index is
``now // window_s``) and sets its TTL in the same transaction; past the limit the caller gets
429 with ``Retry-After`` = seconds to the next window. A fixed window lets a burst of up to twice
the limit straddle a boundary; that is the accepted price of one INCR per request.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import redis

from memos.errors import MemOSError, SchedulerError


class RateLimitedError(MemOSError):
    """The tenant used up its requests for the current window."""

    def __init__(self, user_id: str, limit: int, retry_after_s: int) -> None:
        self.user_id = user_id
        self.limit = limit
        self.retry_after_s = retry_after_s
        super().__init__(
            f"rate limit of {limit} requests per window reached for user {user_id!r}; "
            f"retry in {retry_after_s} s"
        )


@dataclass(frozen=True)
class RateDecision:
    """Outcome of one check: the count in this window and how long until it resets."""

    allowed: bool
    count: int
    limit: int
    reset_s: int


class FixedWindowRateLimiter:
    """Count requests per tenant and window in Redis."""

    def __init__(
        self, client: redis.Redis, *, prefix: str = "memos", limit: int = 600, window_s: int = 60
    ) -> None:
        self._r = client
        self._p = f"{prefix}:api:rl"
        self.limit = limit
        self.window_s = window_s

    def hit(
        self, user_id: str, limit: int | None = None, now_s: float | None = None
    ) -> RateDecision:
        """Count one request of ``user_id`` (``limit`` overrides the default)."""
        now = time.time() if now_s is None else now_s
        window = int(now // self.window_s)
        key = f"{self._p}:{user_id}:{window}"
        try:
            pipe = self._r.pipeline(transaction=True)
            pipe.incr(key)
            pipe.expire(key, self.window_s + 1)
            count = int(pipe.execute()[0])
        except redis.RedisError as exc:
            raise SchedulerError(f"rate limiter: cannot reach Redis: {exc}") from exc
        allowed_limit = limit or self.limit
        reset = max(1, math.ceil((window + 1) * self.window_s - now))
        return RateDecision(count <= allowed_limit, count, allowed_limit, reset)

    def check(self, user_id: str, limit: int | None = None) -> RateDecision:
        """Like :meth:`hit`, but raise :class:`RateLimitedError` when over the limit."""
        decision = self.hit(user_id, limit)
        if not decision.allowed:
            raise RateLimitedError(user_id, decision.limit, decision.reset_s)
        return decision
