"""MOS over the in-memory transport: handlers run in process on a real Redis and real memories."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from memos.configs.mem_os import MOSConfig
from memos.errors import AccessDeniedError, ConfigError, EventTimeoutError, MemoryNotFoundError
from memos.mem_os.main import MOS
from memos.mem_os.registry import UnknownUserError
from memos.mem_scheduler.constants import SchedulerKeys
from memos.mem_scheduler.events import make_event
from memos.mem_scheduler.transport import InMemoryEventTransport
from tests.mem_os.helpers import general_cube_dir, run_locally, snapshot


def mos_config(keys: SchedulerKeys, **extra: object) -> MOSConfig:
    return MOSConfig.model_validate(
        {"user_id": "alice", "embedded": None, "scheduler": {"prefix": keys.prefix}, **extra}
    )


@pytest.fixture
def mos(rclient: redis.Redis, keys: SchedulerKeys, data_home: Path) -> Iterator[MOS]:
    transport = InMemoryEventTransport(run_locally(rclient, keys))
    facade = MOS(mos_config(keys), transport=transport, redis_client=rclient)
    yield facade
    transport.close()


def test_register_add_search_get_update_delete(mos: MOS, tmp_path: Path, data_home: Path) -> None:
    source = general_cube_dir(tmp_path / "src", "cube_a", ["My sister lives in Lyon."])
    before = snapshot(source)
    cube_id = mos.register_mem_cube(str(source))
    assert cube_id == "cube_a"
    assert snapshot(source) == before  # the source directory is never modified
    assert (data_home / "cubes" / "cube_a" / "text_mem" / "textual_memory.json").is_file()

    ids = mos.add(memory_content="I like playing football.")
    assert len(ids) == 1
    found = mos.search("Which sport do I like?", top_k=1)
    assert found["text_mem"][0]["cube_id"] == "cube_a"
    assert found["text_mem"][0]["memories"][0]["memory"] == "I like playing football."
    assert found["act_mem"] == [] and found["para_mem"] == []

    assert mos.get("cube_a", ids[0])["memory"] == "I like playing football."
    # the path given at registration still addresses the cube (MemOS style)
    assert mos.get(str(source), ids[0])["id"] == ids[0]
    mos.update("cube_a", ids[0], {"memory": "I like playing tennis."})
    assert mos.get("cube_a", ids[0])["memory"] == "I like playing tennis."
    everything = mos.get_all()
    assert len(everything["text_mem"][0]["memories"]) == 2
    mos.delete("cube_a", ids[0])
    with pytest.raises(MemoryNotFoundError):
        mos.get("cube_a", ids[0])
    mos.delete_all("cube_a")
    assert mos.get_all("cube_a")["text_mem"][0]["memories"] == []


def test_messages_are_extracted(mos: MOS, tmp_path: Path) -> None:
    mos.register_mem_cube(str(general_cube_dir(tmp_path, "chat_cube", [])))
    ids = mos.add(
        messages=[
            {"role": "user", "content": "I adopted a puppy named Max."},
            {"role": "assistant", "content": "Congratulations!"},
        ]
    )
    assert ids
    hits = mos.search("What is my dog called?", top_k=3)["text_mem"][0]["memories"]
    assert any("Max" in hit["memory"] for hit in hits)


def test_access_is_checked_in_facade_and_worker(
    mos: MOS, tmp_path: Path, rclient: redis.Redis, keys: SchedulerKeys
) -> None:
    mos.register_mem_cube(str(general_cube_dir(tmp_path, "private", ["Alice's secret."])))
    mos.create_user("bob")
    with pytest.raises(AccessDeniedError):
        mos.search("secret", user_id="bob", install_cube_ids=["private"])
    with pytest.raises(AccessDeniedError):
        mos.add(memory_content="bob was here", mem_cube_id="private", user_id="bob")

    # The worker refuses too, for an event published behind the facade's back.
    handler = run_locally(rclient, keys)
    sneaky = make_event(
        "query",
        user_id="bob",
        cube_id="private",
        payload={"query": "secret", "install_cube_ids": ["private"]},
    )
    with pytest.raises(AccessDeniedError):
        handler(sneaky)
    sneaky_add = make_event(
        "add", user_id="bob", cube_id="private", payload={"memory_content": "bob was here"}
    )
    with pytest.raises(AccessDeniedError):
        handler(sneaky_add)

    assert mos.share_cube_with_user("private", "bob")
    hits = mos.search("secret", user_id="bob", install_cube_ids=["private"])
    assert hits["text_mem"][0]["memories"][0]["memory"] == "Alice's secret."
    assert handler(sneaky)["text_mem"][0]["cube_id"] == "private"


def test_dump_and_load(mos: MOS, tmp_path: Path) -> None:
    mos.register_mem_cube(str(general_cube_dir(tmp_path / "src", "dl", ["one fact", "two"])))
    target = tmp_path / "out"
    mos.dump(target, mem_cube_id="dl")
    assert (target / "config.json").is_file() and (target / "textual_memory.json").is_file()
    with pytest.raises(Exception, match="not empty"):
        mos.dump(target, mem_cube_id="dl")
    mos.delete_all("dl")
    mos.load(target, mem_cube_id="dl")
    assert len(mos.get_all("dl")["text_mem"][0]["memories"]) == 2


def test_replayed_add_has_one_effect(
    rclient: redis.Redis, keys: SchedulerKeys, mos: MOS, tmp_path: Path
) -> None:
    mos.register_mem_cube(str(general_cube_dir(tmp_path, "idem", [])))
    handler = run_locally(rclient, keys)
    event = make_event(
        "add", user_id="alice", cube_id="idem", payload={"memory_content": "exactly once"}
    )
    first = handler(event)
    second = handler(event)
    assert first == second
    assert len(mos.get_all("idem")["text_mem"][0]["memories"]) == 1


def test_invalid_cube_id_and_unregister(mos: MOS, tmp_path: Path, data_home: Path) -> None:
    source = general_cube_dir(tmp_path, "ok_cube", ["x"])
    with pytest.raises(ConfigError):
        mos.register_mem_cube(str(source), mem_cube_id="bad/id")
    mos.register_mem_cube(str(source), mem_cube_id="ok_cube")
    assert list(mos.mem_cubes) == ["ok_cube"]
    mos.unregister_mem_cube("ok_cube")
    assert list(mos.mem_cubes) == []
    assert not (data_home / "cubes" / "ok_cube").exists()


def test_timeout_raises_and_event_stays_tracked(
    rclient: redis.Redis, keys: SchedulerKeys, tmp_path: Path
) -> None:
    silent = InMemoryEventTransport()  # records events, nobody answers
    facade = MOS(mos_config(keys, event_timeout_s=0.2), transport=silent, redis_client=rclient)
    with pytest.raises(EventTimeoutError) as info:
        facade.register_mem_cube(str(general_cube_dir(tmp_path, "slow", [])))
    assert silent.published[-1].id == info.value.event_id
    assert facade.registry.get_cube("slow") is None  # a failed registration is rolled back


def test_search_reads_the_registry_once_in_the_facade_and_once_in_the_worker(
    mos: MOS, tmp_path: Path, rclient: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Facade: user + access in one pipeline; worker: access + cube version in one pipeline,
    and the cube it holds is reused without another read; then the handler's one commit."""
    mos.register_mem_cube(str(general_cube_dir(tmp_path, "once", ["I like tea."])))
    mos.search("tea?", install_cube_ids=["once"], top_k=1)  # the worker loads the cube
    sent: list[str] = []
    execute = redis.client.Pipeline.execute

    def counted(pipe: redis.client.Pipeline, *args: object, **kwargs: object) -> object:
        sent.append("pipeline")
        return execute(pipe, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", counted)
    monkeypatch.setattr(rclient, "execute_command", lambda *a, **k: pytest.fail(f"{a}"))
    hits = mos.search("tea?", install_cube_ids=["once"], top_k=1)
    assert hits["text_mem"][0]["memories"][0]["memory"] == "I like tea."
    assert sent == ["pipeline"] * 3  # facade check, worker check, the handler's commit
    monkeypatch.undo()
    with pytest.raises(UnknownUserError):
        mos.search("tea?", user_id="nobody", install_cube_ids=["once"])
    with pytest.raises(UnknownUserError):
        mos.search("tea?", user_id="nobody")
    with pytest.raises(UnknownUserError):
        mos.add(memory_content="x", mem_cube_id="once", user_id="nobody")
    with pytest.raises(UnknownUserError):
        mos.search("tea?", user_id="nobody", install_cube_ids=["not a valid id"])


def test_a_cube_changed_elsewhere_is_reloaded_with_the_version_read_with_access(
    mos: MOS, tmp_path: Path, rclient: redis.Redis, keys: SchedulerKeys
) -> None:
    """The worker's version now comes with the access check: a bump by another process
    still makes it reload the cube (never served stale)."""
    from memos.workers import memory_handlers

    mos.register_mem_cube(str(general_cube_dir(tmp_path, "fresh", ["first fact"])))
    mos.search("fact", install_cube_ids=["fresh"], top_k=1)
    handler_ctx = memory_handlers.HandlerContext(
        redis=rclient, tx=rclient.pipeline(), keys=keys, attempt=0
    )
    cubes = memory_handlers.cubes_for(handler_ctx)
    held = cubes.get("fresh")
    registry = memory_handlers.registry_for(handler_ctx)
    known = registry.check_access_versions("alice", ["fresh"])[0]
    assert cubes.get("fresh", known=known) is held
    registry.bump_version("fresh")
    known = registry.check_access_versions("alice", ["fresh"])[0]
    assert cubes.get("fresh", known=known) is not held
