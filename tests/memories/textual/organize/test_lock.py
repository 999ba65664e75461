"""The per-cube Redis lock on the embedded Redis."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from memos.errors import CubeLockBusyError
from memos.memories.textual.organize import cube_lock

pytestmark = pytest.mark.services


def test_second_holder_is_refused_and_release_frees_the_cube(redis_client: Any) -> None:
    cube_id = f"lock-{uuid.uuid4().hex}"
    with cube_lock(redis_client, cube_id, ttl_s=30) as lock:
        assert redis_client.get(lock.key) == lock.token.encode()
        with pytest.raises(CubeLockBusyError), cube_lock(redis_client, cube_id, 30, wait_s=0.2):
            pass
    assert redis_client.exists(lock.key) == 0
    with cube_lock(redis_client, cube_id, ttl_s=30):
        pass


def test_expired_holder_cannot_release_or_extend_the_new_holders_lock(redis_client: Any) -> None:
    cube_id = f"lock-{uuid.uuid4().hex}"
    with cube_lock(redis_client, cube_id, ttl_s=0.2) as old:
        time.sleep(0.4)  # expired: another worker may take it now
        with cube_lock(redis_client, cube_id, ttl_s=30) as new:
            assert not old.extend() and old.lost
            assert not old.release()
            assert redis_client.get(new.key) == new.token.encode()
            assert new.extend()
        assert redis_client.exists(new.key) == 0


def test_waiter_gets_the_lock_when_the_holder_leaves(redis_client: Any) -> None:
    cube_id = f"lock-{uuid.uuid4().hex}"
    with cube_lock(redis_client, cube_id, ttl_s=0.3):
        pass
    redis_client.set(f"memos:lock:reorganize:{cube_id}", "someone", px=300)
    with cube_lock(redis_client, cube_id, ttl_s=30, wait_s=5) as lock:
        assert redis_client.get(lock.key) == lock.token.encode()
