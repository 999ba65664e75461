"""Batches of memory events on a worker: one graph transaction for adds, one model call for queries.

The real handlers run in process on the session's embedded ArcadeDB and the packaged MiniLM,
through :func:`memos.workers.batching.prepare` and :func:`apply_once` exactly as
``memos.apply_batch`` / ``memos.query_batch`` run them on a worker.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from memos.configs.mem_reader import SimpleStructMemReaderConfig
from memos.errors import AccessDeniedError
from memos.graph_dbs import GraphStore
from memos.mem_cube.general import GeneralMemCube
from memos.mem_os.main import MOS
from memos.mem_reader.simple_struct import SimpleStructMemReader
from memos.mem_scheduler.constants import SchedulerKeys
from memos.mem_scheduler.events import make_event
from memos.mem_scheduler.idempotency import apply_once
from memos.memories.textual.tree import TreeTextMemory
from memos.workers import add_batch, batching, memory_worker
from memos.workers import memory_handlers as handlers
from memos.workers.handlers import get_handler
from tests.mem_os.helpers import local_mos, tree_cube_config

pytestmark = pytest.mark.services


@pytest.fixture
def batch_mos(
    embedded_stack: object,
    memos_home: Path,
    rclient: redis.Redis,
    keys: SchedulerKeys,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[MOS]:
    """A MOS whose events run in process; the worker's handlers and preparers registered."""
    monkeypatch.setenv("MEMOS_HOME", str(memos_home))
    memory_worker.register(replace=True)
    try:
        with local_mos(rclient, keys) as facade:
            yield facade
    finally:
        batching.unregister_preparer("add")
        batching.unregister_preparer("query")


def _tenants(mos: MOS, count: int) -> list[tuple[str, str]]:
    out = []
    for i in range(count):
        user, cube = f"u{i}_{uuid.uuid4().hex[:6]}", f"bat_{uuid.uuid4().hex[:8]}"
        mos.create_user(user)
        assert mos.register_mem_cube(GeneralMemCube(tree_cube_config(cube)), user_id=user) == cube
        out.append((user, cube))
    return out


def _add(user: str, cube: str, text: str) -> Any:
    return make_event(
        "add",
        user_id=user,
        cube_id=cube,
        session_id="s1",
        payload={"messages": [{"role": "user", "content": text}]},
    )


def _apply(client: redis.Redis, keys: SchedulerKeys, events: list[Any]) -> list[Any]:
    """What a batch task does: prepare together, then apply_once each event on its own."""
    prepared = batching.prepare(client, keys, events)
    return [
        apply_once(
            client,
            keys,
            event,
            get_handler(event.type),
            token=uuid.uuid4().hex,
            notify_key=None,
            result_ttl_s=60,
            idempotency_ttl_s=600,
            prepared=prepared.get(event.id),
        ).result
        for event in events
    ]


def _node_ids(mos: MOS, cube: str, user: str) -> set[str]:
    everything = mos.get_all(mem_cube_id=cube, user_id=user)
    return {m["id"] for entry in everything["text_mem"] for m in entry["memories"]["nodes"]}


class _Counting:
    """Counts explicit graph transactions: per store (shared) and per cube (one add each)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from memos.graph_dbs.store import CubeGraph

        self.shared = 0
        self.per_cube = 0
        store_tx, cube_tx = GraphStore.transaction, CubeGraph.transaction

        def shared(store: Any) -> Any:
            self.shared += 1
            return store_tx(store)

        def per_cube(graph: Any) -> Any:
            self.per_cube += 1
            return cube_tx(graph)

        monkeypatch.setattr(GraphStore, "transaction", shared)
        monkeypatch.setattr(CubeGraph, "transaction", per_cube)


def test_a_batch_of_adds_is_one_transaction_and_a_redelivery_writes_nothing_twice(
    batch_mos: MOS, rclient: redis.Redis, keys: SchedulerKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenants = _tenants(batch_mos, 3)
    events = [_add(u, c, f"Tenant {i} keeps {i + 2} bees.") for i, (u, c) in enumerate(tenants)]
    counting = _Counting(monkeypatch)
    results = _apply(rclient, keys, events)
    assert all(r.ok for r in results)
    assert (counting.shared, counting.per_cube) == (1, 0)  # one transaction for all three
    first_ids = [r.result["added_ids"] for r in results]
    for (user, cube), ids in zip(tenants, first_ids, strict=True):
        assert ids and _node_ids(batch_mos, cube, user) == set(ids)

    # The worker died after the shared graph commit, before the done markers: the events come
    # back (the same idempotency keys), are prepared and written again, and change nothing.
    for event in events:
        rclient.delete(keys.done(event.scoped_key))
    again = [e.model_copy(update={"id": uuid.uuid4().hex, "attempt": 1}) for e in events]
    replayed = _apply(rclient, keys, again)
    assert [r.result["added_ids"] for r in replayed] == first_ids
    for (user, cube), ids in zip(tenants, first_ids, strict=True):
        assert _node_ids(batch_mos, cube, user) == set(ids)

    # Delivered once more with the markers in place: replays, not even prepared.
    counting.shared = 0
    third = _apply(rclient, keys, again)
    assert [r.result["added_ids"] for r in third] == first_ids
    assert counting.shared == 0


def test_a_failing_shared_write_leaves_each_add_to_its_own_transaction(
    batch_mos: MOS, rclient: redis.Redis, keys: SchedulerKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenants = _tenants(batch_mos, 3)
    events = [_add(u, c, f"Tenant {i} owns {i + 1} kayaks.") for i, (u, c) in enumerate(tenants)]
    poisoned = tenants[1][1]
    original = TreeTextMemory._prepared_rows

    def prepared_rows(self: TreeTextMemory, memories: Any) -> Any:
        # Fails the poisoned cube's add wherever it is written: in the batch's shared write
        # (add_together) and alone (TreeTextMemory.add).
        if self.cube_id == poisoned:
            raise RuntimeError("this cube's write fails")
        return original(self, memories)

    monkeypatch.setattr(TreeTextMemory, "_prepared_rows", prepared_rows)
    counting = _Counting(monkeypatch)
    results = _apply(rclient, keys, events)
    # The shared transaction rolled back; each add then ran alone and only the bad one failed.
    assert counting.shared == 1 and counting.per_cube == 2
    assert [r.ok for r in results] == [True, False, True]
    assert _node_ids(batch_mos, poisoned, tenants[1][0]) == set()
    for index in (0, 2):
        user, cube = tenants[index]
        assert _node_ids(batch_mos, cube, user) == set(results[index].result["added_ids"])


def test_a_stage_is_written_while_the_next_one_is_embedded_in_one_transaction(
    batch_mos: MOS, rclient: redis.Redis, keys: SchedulerKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenants = _tenants(batch_mos, 3)
    events = [_add(u, c, f"Tenant {i} grows {i + 3} pumpkins.") for i, (u, c) in enumerate(tenants)]
    monkeypatch.setattr(add_batch, "STAGE_TEXTS", 1)  # one add per stage: three stages
    first_cube = tenants[0][1]
    second_stage_embedding = threading.Event()
    embed_stage, write_stage = add_batch._embed_stage, add_batch.add_together
    first_stage_written = threading.Event()

    def embed(stage: Any) -> Any:
        if stage[0].event.cube_id == tenants[1][1]:
            second_stage_embedding.set()
        return embed_stage(stage)

    def add_together(shared: Any, adds: Any) -> Any:
        # The first stage's write finishes only once the second stage is being embedded:
        # without the overlap this times out and the shared write fails.
        if any(memory.cube_id == first_cube for memory, _ in adds):
            assert second_stage_embedding.wait(timeout=20)
            first_stage_written.set()
        return write_stage(shared, adds)

    monkeypatch.setattr(add_batch, "_embed_stage", embed)
    monkeypatch.setattr(add_batch, "add_together", add_together)
    counting = _Counting(monkeypatch)
    results = _apply(rclient, keys, events)
    assert all(r.ok for r in results)
    assert first_stage_written.is_set()  # the shared write went through the seam above
    assert (counting.shared, counting.per_cube) == (1, 0)
    for (user, cube), result in zip(tenants, results, strict=True):
        assert _node_ids(batch_mos, cube, user) == set(result.result["added_ids"])


def test_a_failure_while_embedding_a_later_stage_rolls_back_the_stages_written(
    batch_mos: MOS, rclient: redis.Redis, keys: SchedulerKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenants = _tenants(batch_mos, 2)
    events = [_add(u, c, f"Tenant {i} paints {i + 4} fences.") for i, (u, c) in enumerate(tenants)]
    monkeypatch.setattr(add_batch, "STAGE_TEXTS", 1)
    embed_stage = add_batch._embed_stage
    first_written = threading.Event()
    write_stage = add_batch.add_together

    def add_together(shared: Any, adds: Any) -> Any:
        out = write_stage(shared, adds)
        first_written.set()
        return out

    def embed(stage: Any) -> Any:
        if stage[0].event.cube_id == tenants[1][1]:
            assert first_written.wait(timeout=20)  # the first stage is in the transaction
            raise RuntimeError("the embedder failed")
        return embed_stage(stage)

    monkeypatch.setattr(add_batch, "_embed_stage", embed)
    monkeypatch.setattr(add_batch, "add_together", add_together)
    with pytest.raises(RuntimeError):
        add_batch.prepare_adds(events, rclient, keys)
    # Nothing of the first stage was committed.
    for user, cube in tenants:
        assert _node_ids(batch_mos, cube, user) == set()
    # The preparer failing, the events are applied one by one, each exactly once.
    results = _apply(rclient, keys, events)
    assert all(r.ok for r in results)
    for (user, cube), result in zip(tenants, results, strict=True):
        assert result.result["added_ids"]
        assert _node_ids(batch_mos, cube, user) == set(result.result["added_ids"])


def test_vectors_come_from_the_shorter_vector_text_in_a_batch_and_alone(
    batch_mos: MOS, rclient: redis.Redis, keys: SchedulerKeys
) -> None:
    tenants = _tenants(batch_mos, 2)
    question = "Did you finally manage to repair the old wooden rowing boat we found last spring?"
    messages = [
        {"role": "assistant", "content": question},
        {"role": "user", "content": "Yes, I repaired the rowing boat and painted it green."},
    ]
    text_mode = {"embedding_mode": "text"}  # the default is composite (test below)
    options = {"mem_reader": {"backend": "simple_struct", "config": text_mode}}
    events = [
        make_event("add", user_id=u, cube_id=c, session_id="s1",
                   payload={"messages": messages, "options": options})
        for u, c in tenants
    ]  # fmt: skip
    together = _apply(rclient, keys, events[:1])[0]  # through the batch preparer
    alone = apply_once(
        rclient, keys, events[1], get_handler("add"), token=uuid.uuid4().hex, notify_key=None,
        result_ttl_s=60, idempotency_ttl_s=600, prepared=None,
    ).result  # fmt: skip
    read = SimpleStructMemReader(SimpleStructMemReaderConfig(**text_mode)).get_memory(
        [messages], type="chat", info={"user_id": "u", "session_id": "s1"}, mode="fast"
    )[0][1]
    vector_text = read.metadata.embedding_text
    assert vector_text and question[:40] in vector_text and question not in vector_text
    cubes = handlers.cubes_for(add_batch._read_context(rclient, keys))
    embedder = cubes.get(tenants[0][1]).text_mem.embedder
    for (_, cube), result in zip(tenants, (together, alone), strict=True):
        assert result.ok
        text_mem = cubes.get(cube).text_mem
        stored = text_mem.get(result.result["added_ids"][1])  # the reply, quoting the question
        meta = stored.metadata
        assert question in stored.memory  # the stored text quotes the whole turn
        assert meta.embedding_text is None  # the vector's text is not stored
        [expected, full] = embedder.embed([vector_text, stored.memory])
        assert _cosine(meta.embedding, expected) > 0.9999  # the vector is that of the short text
        assert _cosine(meta.embedding, full) < 0.999


def test_composite_memories_get_their_combined_vectors_in_a_batch(
    batch_mos: MOS, rclient: redis.Redis, keys: SchedulerKeys
) -> None:
    from memos.memories.textual.composite import PartVectorCache, embed_items

    tenants = _tenants(batch_mos, 2)
    reader_config = {"embedding_mode": "composite", "composite_header_weight": 0.3}
    options = {"mem_reader": {"backend": "simple_struct", "config": reader_config}}
    conversations = [
        [
            {"role": "assistant", "content": "Did you repair the old wooden rowing boat?"},
            {"role": "user", "content": "Yes, I repaired the rowing boat and painted it green."},
        ],
        [
            {"role": "assistant", "content": "How was the trip to Lisbon with your sister?"},
            {"role": "user", "content": "Lisbon was sunny; my sister loved the custard tarts."},
        ],
    ]
    events = [
        make_event("add", user_id=u, cube_id=c, session_id="s1",
                   payload={"messages": messages, "options": options})
        for (u, c), messages in zip(tenants, conversations, strict=True)
    ]  # fmt: skip
    results = _apply(rclient, keys, events)  # one preparation, one model call for both
    cubes = handlers.cubes_for(add_batch._read_context(rclient, keys))
    embedder = cubes.get(tenants[0][1]).text_mem.embedder
    reader = SimpleStructMemReader(SimpleStructMemReaderConfig(**reader_config))
    for (_, cube), result, messages in zip(tenants, results, conversations, strict=True):
        assert result.ok
        read = reader.get_memory(
            [messages], type="chat", info={"user_id": "u", "session_id": "s1"}, mode="fast"
        )[0]
        assert all(item.metadata.embedding_parts for item in read)
        expected = embed_items(embedder, read, cache=PartVectorCache())
        text_mem = cubes.get(cube).text_mem
        for item_id, item, vector in zip(result.result["added_ids"], read, expected, strict=True):
            stored = text_mem.get(item_id)
            assert stored.memory == item.memory  # the text the user sees is unchanged
            assert stored.metadata.embedding_parts is None  # the parts are not stored
            assert _cosine(stored.metadata.embedding, vector) > 0.9999
        # The reply's vector is not the vector of its whole text (it is the parts').
        [full] = embedder.embed([read[1].memory])
        assert _cosine(text_mem.get(result.result["added_ids"][1]).metadata.embedding, full) < 0.99


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_an_add_without_access_is_not_written_by_its_batch(
    batch_mos: MOS, rclient: redis.Redis, keys: SchedulerKeys
) -> None:
    (owner, cube), (other, other_cube) = _tenants(batch_mos, 2)
    intruder = _add(other, cube, "I should not be able to write here.")
    fair = _add(other, other_cube, "My own cube, my own note.")
    results = _apply(rclient, keys, [intruder, fair])
    assert not results[0].ok and results[0].error.type == AccessDeniedError.__name__
    assert results[1].ok
    assert _node_ids(batch_mos, cube, owner) == set()


def test_batched_queries_find_what_one_by_one_searches_find(
    batch_mos: MOS, rclient: redis.Redis, keys: SchedulerKeys
) -> None:
    tenants = _tenants(batch_mos, 3)
    facts = [
        "Caroline adopted a beagle named Rex in May.",
        "Melanie ran the Boston marathon last spring.",
        "The pottery class meets on Tuesday evenings.",
        "John's degree is in civil engineering.",
    ]
    adds = [
        _add(u, c, f"{fact} (tenant {i})") for i, (u, c) in enumerate(tenants) for fact in facts
    ]
    assert all(r.ok for r in _apply(rclient, keys, adds))
    questions = ["Who has a dog?", "When does the pottery class meet?", "What did John study?"]
    queries = [
        make_event("query", user_id=u, cube_id=c, payload={"query": q, "top_k": 3})
        for (u, c), q in zip(tenants, questions, strict=True)
    ]
    prepared = batching.prepare(rclient, keys, queries)
    assert set(prepared) == {q.id for q in queries}  # one embedding call prepared all three

    def hits(result: Any) -> list[tuple[str, float]]:
        found = result["text_mem"][0]["memories"]
        return [(m["id"], m["metadata"]["relativity"]) for m in found]

    for query in queries:
        alone = hits(_run_query(rclient, keys, query, None))
        together = hits(_run_query(rclient, keys, query, prepared[query.id]))
        assert [i for i, _ in together] == [i for i, _ in alone]
        assert [s for _, s in together] == pytest.approx([s for _, s in alone], abs=1e-9)
        assert len(alone) == 3


def _run_query(client: redis.Redis, keys: SchedulerKeys, event: Any, prepared: Any) -> Any:
    from memos.workers.handlers import HandlerContext

    with client.pipeline(transaction=True) as tx:
        ctx = HandlerContext(redis=client, tx=tx, keys=keys, attempt=0, prepared=prepared)
        out = handlers.handle_query(event, ctx)
        tx.reset()
    return out


def test_a_query_batch_catches_the_cube_indexes_up_once_while_it_embeds(
    batch_mos: MOS, rclient: redis.Redis, keys: SchedulerKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from memos.graph_dbs.store import CubeGraph

    tenants = _tenants(batch_mos, 2)
    for i, (user, cube) in enumerate(tenants):
        assert all(r.ok for r in _apply(rclient, keys, [_add(user, cube, f"Tenant {i} bakes rye")]))
    search = [
        make_event("query", user_id=u, cube_id=c, payload={"query": "What kind of bread?"})
        for u, c in tenants
    ]
    for query in search:  # both cubes' indexes exist and are caught up
        _run_query(rclient, keys, query, None)
    # Committed after the last catch-up, before the batch: the batch's searches must see it.
    user, cube = tenants[0]
    assert all(r.ok for r in _apply(rclient, keys, [_add(user, cube, "Tenant 0 bakes spelt")]))
    reads: list[str] = []
    real = CubeGraph.changes_since

    def counted(graph: Any, *args: Any, **kwargs: Any) -> Any:
        reads.append(graph.cube_id)
        return real(graph, *args, **kwargs)

    monkeypatch.setattr(CubeGraph, "changes_since", counted)
    queries = [
        make_event("query", user_id=u, cube_id=c, payload={"query": "Who bakes spelt?"})
        for u, c in tenants
    ]
    prepared = batching.prepare(rclient, keys, queries)
    assert sorted(reads) == sorted(c for _, c in tenants)  # one catch-up per cube, meanwhile
    reads.clear()
    found = _run_query(rclient, keys, queries[0], prepared[queries[0].id])
    assert reads == []  # the search used the index the batch caught up
    assert "spelt" in found["text_mem"][0]["memories"][0]["memory"]
    # Without what the batch prepared, a search catches up itself.
    _run_query(rclient, keys, queries[1], None)
    assert reads == [tenants[1][1]]
