"""A per-cube Redis lock: at most one background reorganisation of a cube at a time.

``SET key token NX PX ttl`` takes it; release and extension run as Lua scripts that act only
while the key still holds this holder's token, so a holder whose lock expired (and was taken by
another worker) can never release or extend the new holder's lock. The TTL bounds how long a
crashed worker blocks the cube; a long run calls :meth:`CubeLock.extend` as it goes.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from memos.errors import CubeLockBusyError, SchedulerError

logger = logging.getLogger(__name__)

LOCK_KEY_PREFIX = "memos:lock:reorganize:"

_RELEASE_LUA = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""
_EXTEND_LUA = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


class CubeLock:
    """A held lock: its key, token and TTL; :meth:`extend` keeps it alive."""

    def __init__(self, client: redis.Redis, key: str, token: str, ttl_ms: int) -> None:
        self.client = client
        self.key = key
        self.token = token
        self.ttl_ms = ttl_ms
        self.lost = False

    def extend(self) -> bool:
        """Reset the TTL if this holder still owns the lock; False (and ``lost``) otherwise."""
        try:
            ok = bool(self.client.eval(_EXTEND_LUA, 1, self.key, self.token, self.ttl_ms))
        except redis.RedisError as exc:
            raise SchedulerError(f"cannot extend lock {self.key}: {exc}") from exc
        if not ok:
            self.lost = True
            logger.warning("lock %s expired while held; another worker may own it", self.key)
        return ok

    def release(self) -> bool:
        """Delete the lock if this holder still owns it."""
        try:
            return bool(self.client.eval(_RELEASE_LUA, 1, self.key, self.token))
        except redis.RedisError as exc:
            raise SchedulerError(f"cannot release lock {self.key}: {exc}") from exc


@contextmanager
def cube_lock(
    redis_client: redis.Redis,
    cube_id: str,
    ttl_s: float,
    *,
    wait_s: float = 0.0,
    poll_s: float = 0.05,
    key_prefix: str = LOCK_KEY_PREFIX,
) -> Iterator[CubeLock]:
    """Hold the cube's lock for the ``with`` block.

    Waits up to ``wait_s`` for another holder to finish (0: try once).

    Raises:
        CubeLockBusyError: another worker still holds it after ``wait_s``.
        SchedulerError: Redis failed.
    """
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    key = f"{key_prefix}{cube_id}"
    token = secrets.token_hex(16)
    ttl_ms = max(1, int(ttl_s * 1000))
    started = time.monotonic()
    while True:
        try:
            acquired = bool(redis_client.set(key, token, nx=True, px=ttl_ms))
        except redis.RedisError as exc:
            raise SchedulerError(f"cannot take lock {key}: {exc}") from exc
        if acquired:
            break
        waited = time.monotonic() - started
        if waited >= wait_s:
            raise CubeLockBusyError(cube_id, round(waited, 3))
        time.sleep(min(poll_s, max(0.0, wait_s - waited)))
    lock = CubeLock(redis_client, key, token, ttl_ms)
    logger.debug("took lock %s", key)
    try:
        yield lock
    finally:
        if not lock.release():
            logger.warning("lock %s was no longer ours at release", key)
