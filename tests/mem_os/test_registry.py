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


def _only_pipelines(rclient: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Fail on any single command; the returned list grows by one per pipeline sent."""
    sent: list[int] = []
    execute = redis.client.Pipeline.execute

    def counted(pipe: redis.client.Pipeline, *args: object, **kwargs: object) -> object:
        sent.append(1)
        return execute(pipe, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", counted)
    monkeypatch.setattr(rclient, "execute_command", lambda *a, **k: pytest.fail(f"{a}"))
    return sent


def test_access_to_several_cubes_and_a_cube_with_its_version_in_one_round_trip(
    rclient: redis.Redis, keys: SchedulerKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = Registry(rclient, prefix=keys.prefix)
    for user in ("alice", "bob", "carol"):
        reg.create_user(user)
    reg.add_cube(record("a1", "alice"))
    reg.add_cube(record("b1", "bob"))
    reg.share("b1", "bob", "alice")
    bumped = reg.bump_version("a1")
    real_call = rclient.execute_command
    sent = _only_pipelines(rclient, monkeypatch)
    owners = [r.owner_id for r in reg.check_access_all("alice", ["a1", "b1"])]
    assert owners == ["alice", "bob"] and sent == [1]  # owned and shared: one pipeline
    record_a1, version = reg.cube_with_version("a1")
    assert record_a1.cube_id == "a1" and version == bumped and sent == [1, 1]
    assert reg.check_access_all("alice", []) == []
    monkeypatch.setattr(rclient, "execute_command", real_call)
    assert reg.cube_with_version("b1")[1] == reg.cube_version("b1")
    reg.add_cube(record("c1", "carol"))
    rclient.delete(reg.version_key("c1"))
    assert reg.cube_with_version("c1")[1] == 0  # never bumped
    # The same errors as one check_access per cube, for the first failing cube in order.
    with pytest.raises(AccessDeniedError):
        reg.check_access_all("carol", ["a1", "missing"])
    with pytest.raises(UnknownCubeError):
        reg.check_access_all("alice", ["missing", "b1"])
    with pytest.raises(UnknownCubeError):
        reg.cube_with_version("missing")


def test_user_with_access_and_access_with_versions_in_one_round_trip(
    rclient: redis.Redis, keys: SchedulerKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The facade's "user exists + may use these cubes" and the worker's "may use + which
    version" are one pipeline each (no separate HGET of the user, no second read per cube)."""
    reg = Registry(rclient, prefix=keys.prefix)
    for user in ("alice", "bob"):
        reg.create_user(user)
    reg.add_cube(record("a1", "alice"))
    reg.add_cube(record("b1", "bob"))
    reg.share("b1", "bob", "alice")
    v_a1, v_b1 = reg.bump_version("a1"), reg.cube_version("b1")
    sent = _only_pipelines(rclient, monkeypatch)
    owners = [r.owner_id for r in reg.check_access_all("alice", ["a1", "b1"], require_user=True)]
    assert owners == ["alice", "bob"] and sent == [1]
    found = reg.check_access_versions("alice", ["b1", "a1"])
    assert [(r.cube_id, v) for r, v in found] == [("b1", v_b1), ("a1", v_a1)] and sent == [1, 1]
    assert reg.accessible_cubes("alice", require_user=True) == ["a1", "b1"] and len(sent) == 3
    assert reg.check_access_all("alice", [], require_user=True) == [] and len(sent) == 4
    # The user is checked first, as require_user then check_access did it.
    with pytest.raises(UnknownUserError):
        reg.check_access_all("nobody", ["missing"], require_user=True)
    with pytest.raises(UnknownUserError):
        reg.check_access_all("nobody", [], require_user=True)
    with pytest.raises(UnknownUserError):
        reg.accessible_cubes("nobody", require_user=True)
    with pytest.raises(AccessDeniedError):
        reg.check_access_all("bob", ["b1", "a1"], require_user=True)
    with pytest.raises(UnknownCubeError):
        reg.check_access_versions("alice", ["a1", "missing"])
    with pytest.raises(AccessDeniedError):
        reg.check_access_versions("bob", ["a1"])
