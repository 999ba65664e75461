"""MOS on the real path: embedded Redis + ArcadeDB, the scheduler daemon, a Celery worker."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from memos.configs.mem_os import MOSConfig
from memos.errors import AccessDeniedError, EventTimeoutError
from memos.mem_cube.general import GeneralMemCube
from memos.mem_os.main import MOS
from memos.mem_scheduler.constants import SchedulerKeys
from memos.mem_scheduler.events import make_event
from memos.workers.memory_reorganize import report_key
from tests.examples.conftest import stop_services
from tests.mem_os.helpers import snapshot, tree_cube_config

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"e2e{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def mos(embedded_stack: object, memos_home: Path, prefix: str) -> Iterator[MOS]:
    """A MOS that starts its own daemon + worker (by PID, stopped at the end)."""
    # The tests dump cube objects themselves (GeneralMemCube(...).dump, outside MOS), which
    # reach the stack named by MEMOS_HOME: point it at the session's stack, not ~/.memos.
    # (MOS itself needs no MEMOS_HOME: see test_data_home.py.)
    patch = pytest.MonkeyPatch()
    patch.setenv("MEMOS_HOME", str(memos_home))
    config = MOSConfig.model_validate(
        {
            "user_id": "alice",
            "embedded": {"home": str(memos_home)},
            "scheduler": {"prefix": prefix, "block_ms": 200},
            "event_timeout_s": 240,
            "reorganize": {"enabled": True, "every_n_adds": 3, "config": {"hierarchy": False}},
        }
    )
    facade = MOS(config)
    try:
        yield facade
    finally:
        facade.close()
        stop_services(memos_home, prefix)
        patch.undo()


def test_tree_cube_end_to_end(mos: MOS, tmp_path: Path) -> None:
    cube_id = f"tree_{uuid.uuid4().hex[:6]}"
    source = tmp_path / "src"
    GeneralMemCube(tree_cube_config(cube_id)).dump(source)
    before = snapshot(source)
    assert mos.register_mem_cube(str(source), mem_cube_id=cube_id) == cube_id
    assert snapshot(source) == before

    ids = mos.add(
        messages=[
            {"role": "user", "content": "My cat Miso loves sleeping on the piano."},
            {"role": "assistant", "content": "That sounds adorable."},
        ],
        mem_cube_id=cube_id,
    )
    assert ids
    found = mos.search("Where does my cat sleep?", install_cube_ids=[cube_id], top_k=3)
    texts = [m["memory"] for m in found["text_mem"][0]["memories"]]
    assert any("piano" in t for t in texts)
    nodes = mos.get_all(mem_cube_id=cube_id)["text_mem"][0]["memories"]["nodes"]
    assert {n["metadata"]["memory_type"] for n in nodes} <= {
        "WorkingMemory",
        "LongTermMemory",
        "UserMemory",
    }

    # bob: refused by the facade, and by the worker for an event sent behind its back
    mos.create_user("bob")
    with pytest.raises(AccessDeniedError):
        mos.search("cat", user_id="bob", install_cube_ids=[cube_id])
    sneaky = make_event(
        "query",
        user_id="bob",
        cube_id=cube_id,
        payload={"query": "cat", "install_cube_ids": [cube_id]},
    )
    outcome = mos.transport.publish_and_wait(sneaky, 120)
    assert not outcome.ok and outcome.error is not None
    assert outcome.error.type == "AccessDeniedError"
    mos.share_cube_with_user(cube_id, "bob")
    shared = mos.search("cat", user_id="bob", install_cube_ids=[cube_id])
    assert shared["text_mem"][0]["memories"]

    # dump into a new directory, wipe, load back
    target = tmp_path / "dumped"
    mos.dump(target, mem_cube_id=cube_id)
    assert (target / "config.json").is_file() and (target / "textual_memory.json").is_file()
    mos.delete_all(cube_id)
    assert mos.get_all(mem_cube_id=cube_id)["text_mem"][0]["memories"]["nodes"] == []
    mos.load(target, mem_cube_id=cube_id)
    again = mos.get_all(mem_cube_id=cube_id)["text_mem"][0]["memories"]["nodes"]
    assert {n["id"] for n in again} == {n["id"] for n in nodes}

    mos.unregister_mem_cube(cube_id)
    assert cube_id not in list(mos.mem_cubes)


def test_timeout_on_the_real_bus(mos: MOS, memos_home: Path, prefix: str) -> None:
    impatient = MOS(
        MOSConfig.model_validate(
            {
                "user_id": "alice",
                "embedded": {"home": str(memos_home)},
                "scheduler": {"prefix": prefix, "block_ms": 200},
            }
        )
    )
    try:
        cube_id = f"slow_{uuid.uuid4().hex[:6]}"
        impatient.register_mem_cube(GeneralMemCube(tree_cube_config(cube_id)))
        # Registering a cube became fast (schema set up once per process), so the slow event is
        # an add whose embedding alone takes far longer than the 10 ms allowed (40 long turns).
        impatient.config = impatient.config.model_copy(update={"event_timeout_s": 0.01})
        turn = " ".join(f"word{i} about the garden and the long walk home" for i in range(12))
        messages = [{"role": "user", "content": f"{n}: {turn}"} for n in range(40)]
        with pytest.raises(EventTimeoutError):
            impatient.add(messages=messages, mem_cube_id=cube_id)
    finally:
        impatient.close()


def test_reorganize_runs_by_itself_after_n_adds(mos: MOS, prefix: str) -> None:
    cube_id = f"auto_{uuid.uuid4().hex[:6]}"
    mos.register_mem_cube(GeneralMemCube(tree_cube_config(cube_id)))
    texts = [
        "Caroline adopted a beagle named Rex.",
        "Caroline adopted a beagle called Rex.",
        "Caroline has adopted a beagle named Rex.",
    ]
    ids = [mos.add(memory_content=text, mem_cube_id=cube_id)[0] for text in texts]
    assert len(set(ids)) == 3

    # Nobody asked for it: the third add made the cube due and a worker reorganised it.
    key = report_key(SchedulerKeys(prefix), cube_id)
    deadline = time.monotonic() + 180
    while (stored := mos._redis.get(key)) is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert stored is not None, "no reorganisation ran after 3 adds"
    report = json.loads(stored)
    assert report["dedup"]["groups_merged"] == 1 and report["dedup"]["originals_archived"] == 3

    graph = mos.get_all(mem_cube_id=cube_id)["text_mem"][0]["memories"]
    status = {n["id"]: n["metadata"]["status"] for n in graph["nodes"]}
    lineage = [(e["source"], e["target"]) for e in graph["edges"] if e["type"] == "MERGED_TO"]
    assert sorted(source for source, _ in lineage) == sorted(ids)
    assert {status[i] for i in ids} == {"archived"}
    assert {status[target] for _, target in lineage} == {"activated"}

    # On demand, through the facade: the cube is already organised, so nothing changes.
    again = mos.reorganize(cube_id)
    assert again["cube_id"] == cube_id and again["skipped"] is None
    assert again["dedup"]["groups_merged"] == 0 and again["nodes_read"] == 4
    mos.create_user("carol")
    with pytest.raises(AccessDeniedError):
        mos.reorganize(cube_id, user_id="carol")


def test_the_worker_runs_with_one_torch_thread(mos: MOS, memos_home: Path, prefix: str) -> None:
    from tests.embedded.helpers import processes_using

    workers = []
    for pid in processes_using(memos_home):
        proc = Path("/proc") / str(pid)
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if "memos.workers" in cmdline and prefix in cmdline:
            workers.append(environ)
    assert workers, "the MOS started no worker under its data home"
    assert all(b"MEMOS_TORCH_THREADS=1" in environ for environ in workers)
