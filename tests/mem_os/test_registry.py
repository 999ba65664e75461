"""The registry: users, cubes, shares and versions in a real Redis."""

from __future__ import annotations

import pytest
import redis

from memos.errors import AccessDeniedError, ConfigError
from memos.mem_os.registry import (
    CubeExistsError,
    CubeRecord,
    Registry,
    UnknownCubeError,
    UnknownUserError,
)
from memos.mem_scheduler.constants import SchedulerKeys


def record(cube_id: str, owner: str) -> CubeRecord:
    return CubeRecord(
        cube_id=cube_id,
        owner_id=owner,
        text_backend="general_text",
        act_backend="uninitialized",
        para_backend="uninitialized",
        config_json="{}",
        source_path=f"some/dir/{cube_id}",
    )


def test_users_cubes_shares(rclient: redis.Redis, keys: SchedulerKeys) -> None:
    reg = Registry(rclient, prefix=keys.prefix)
    reg.create_user("alice")
    assert reg.create_user("alice", role="admin").role == "user"  # idempotent, unchanged
    reg.create_user("bob")
    assert [u.user_id for u in reg.list_users()] == ["alice", "bob"]

    reg.add_cube(record("alice_cube", "alice"))
    with pytest.raises(CubeExistsError):
        reg.add_cube(record("alice_cube", "bob"))
    assert reg.accessible_cubes("alice") == ["alice_cube"]
    assert reg.resolve_alias("some/dir/alice_cube") == "alice_cube"

    assert reg.can_access("alice", "alice_cube")
    with pytest.raises(AccessDeniedError):
        reg.check_access("bob", "alice_cube")
    with pytest.raises(AccessDeniedError):
        reg.share("alice_cube", "bob", "bob")  # bob cannot give himself access
    reg.share("alice_cube", "alice", "bob")
    assert reg.check_access("bob", "alice_cube").owner_id == "alice"
    assert reg.accessible_cubes("bob") == ["alice_cube"]

    before = reg.cube_version("alice_cube")
    assert reg.bump_version("alice_cube") == before + 1

    reg.remove_cube("alice_cube")
    assert reg.accessible_cubes("bob") == [] and reg.accessible_cubes("alice") == []
    with pytest.raises(UnknownCubeError):
        reg.check_access("alice", "alice_cube")
    assert reg.resolve_alias("some/dir/alice_cube") is None


def test_registry_state_is_shared_between_clients(
    rclient: redis.Redis, keys: SchedulerKeys, redis_lite: object
) -> None:
    Registry(rclient, prefix=keys.prefix).create_user("carol")
    other = redis.Redis(unix_socket_path=redis_lite.socket_file)  # type: ignore[attr-defined]
    try:
        assert Registry(other, prefix=keys.prefix).get_user("carol") is not None
    finally:
        other.close()


@pytest.mark.parametrize("bad", ["a/b", "", "x" * 129, "with space", "ü"])
def test_invalid_ids_are_refused(rclient: redis.Redis, keys: SchedulerKeys, bad: str) -> None:
    reg = Registry(rclient, prefix=keys.prefix)
    with pytest.raises(ConfigError):
        reg.create_user(bad)


def test_cube_of_unknown_owner_is_refused(rclient: redis.Redis, keys: SchedulerKeys) -> None:
    with pytest.raises(UnknownUserError):
        Registry(rclient, prefix=keys.prefix).add_cube(record("orphan", "nobody"))
