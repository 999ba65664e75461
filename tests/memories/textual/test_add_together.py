"""``add_together``: a batch of adds for several cubes, each kind of statement once, on the real
embedded ArcadeDB; the graph it leaves must be the one of the same adds made one by one."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from memos.errors import GraphStoreError, InvalidMemoryInputError
from memos.memories.textual.item import TextualMemoryItem, TreeNodeTextualMemoryMetadata
from memos.memories.textual.tree import TreeTextMemory, add_together

pytestmark = pytest.mark.services


def u(name: str) -> str:
    """A memory id (ids are UUIDs) named for the test."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def item(node_id: str, text: str, message_id: str, *entities: str) -> TextualMemoryItem:
    meta = TreeNodeTextualMemoryMetadata(
        sources=[{"type": "chat", "role": "user", "message_id": message_id, "content": text}],
        session_id="s1",
        entities=list(entities),
        created_at="2026-12-06T00:00:00+00:00",
        updated_at="2026-12-06T00:00:00+00:00",
    )
    return TextualMemoryItem(id=u(node_id), memory=text, metadata=meta)


def batch() -> list[tuple[str, list[TextualMemoryItem]]]:
    """Adds of two cubes ("a", "b"), in order; the third repeats a memory of the first."""
    return [
        ("a", [item("a1", "Mel painted a lake at sunrise.", "m1", "@Melanie", "Mel"),
               item("a2", "Caroline went to the support group.", "m2", "@Caroline")]),
        ("b", [item("b1", "Bob fixed the fence in Paris.", "m1", "@Bob", "Paris")]),
        ("a", [item("a3", "They talked about the lake again.", "m3", "@Melanie"),
               item("a4", "Mel painted a lake at sunrise.", "m1", "@Melanie", "Mel")]),
    ]  # fmt: skip


def graph_of(memory: TreeTextMemory, ids: list[str]) -> dict[str, Any]:
    """What a cube holds: its nodes (without the volatile), edges and entities."""
    nodes = {
        n["id"]: {k: v for k, v in n.items() if k not in ("embedding", "cube_id")}
        for n in memory.graph.get_nodes(ids)
    }
    edges = {(e["source"], e["target"], e["type"]) for e in memory.graph.edges_of(ids)}
    entities = sorted((e["id"], e["name"], e["kind"]) for e in memory.graph.entities())
    return {"nodes": nodes, "edges": edges, "entities": entities}


def test_a_batch_leaves_the_graph_of_the_same_adds_made_one_by_one(make_memory) -> None:
    one_by_one = {"a": make_memory(), "b": make_memory()}
    together = {"a": make_memory(), "b": make_memory()}
    expected = [one_by_one[cube].add(items) for cube, items in batch()]
    with together["a"].store.transaction() as shared:
        got = add_together(shared, [(together[cube], items) for cube, items in batch()])
    assert [list(r) for r in got] == [list(r) for r in expected]
    assert [r.new_ids for r in got] == [r.new_ids for r in expected]
    assert [r.duplicates for r in got] == [r.duplicates for r in expected]
    assert got[2].duplicates == {u("a4"): u("a1")}  # a repeat of an earlier add of the batch
    for cube, names in (("a", ["a1", "a2", "a3", "a4"]), ("b", ["b1"])):
        ids = [u(n) for n in names]
        assert graph_of(together[cube], ids) == graph_of(one_by_one[cube], ids)
    # Each cube holds only its own: b's entities are b's.
    assert {e[1] for e in graph_of(together["b"], [u("b1")])["entities"]} == {"bob", "paris"}
    # The change log names every new node of each cube (other processes' indexes catch up).
    since = time.time() - 120
    logged = {i for c in together["a"].graph.changes_since(since) for i in c["ids"]}
    assert logged == {u("a1"), u("a2"), u("a3")}
    assert {i for c in together["b"].graph.changes_since(since) for i in c["ids"]} == {u("b1")}
    # Applied again (a redelivered batch): nothing new, the same ids.
    with together["a"].store.transaction() as shared:
        again = add_together(shared, [(together[cube], items) for cube, items in batch()])
    assert [list(r) for r in again] == [list(r) for r in expected]
    assert all(not r.new_ids for r in again)


def test_a_taken_id_fails_the_batch_and_writes_nothing(make_memory) -> None:
    a, b = make_memory(), make_memory()
    a.add([item("x", "An old memory.", "m0")])
    clash = [(b, [item("y", "Fine.", "m1")]), (a, [item("x", "Other text, same id.", "m2")])]
    with (
        pytest.raises(InvalidMemoryInputError, match=f"'{u('x')}' already exists"),
        a.store.transaction() as shared,
    ):
        add_together(shared, clash)
    assert b.graph.get_nodes([u("y")]) == []  # rolled back with the batch
    twice = [(b, [item("z", "One text.", "m1")]), (b, [item("z", "Another text.", "m2")])]
    with (
        pytest.raises(InvalidMemoryInputError, match=f"'{u('z')}' already exists"),
        b.store.transaction() as shared,
    ):
        add_together(shared, twice)
    assert b.graph.get_nodes([u("z")]) == []


def test_rows_reach_only_their_own_cube(make_memory) -> None:
    a, b = make_memory(), make_memory()
    a.add([item("same", "Alice's secret plan.", "m1")])
    same = u("same")
    key = a.graph.get_nodes([same])[0]["dedup_key"]
    with a.store.transaction() as shared:
        va, vb = shared.for_cube(a.cube_id, "alice"), shared.for_cube(b.cube_id, "alice")
        assert shared.find_by_dedup_keys_many([(vb, [key]), (va, [key])]) == [{}, {key: same}]
        assert shared.existing_ids_many([(vb, [same]), (va, [same])]) == [set(), {same}]
    # b may use the same id and text: another cube, another node.
    with a.store.transaction() as shared:
        (result,) = add_together(shared, [(b, [item("same", "Alice's secret plan.", "m1")])])
    assert result.new_ids == [same]
    assert a.graph.get_nodes([same])[0]["cube_id"] == a.cube_id
    assert b.graph.get_nodes([same])[0]["cube_id"] == b.cube_id


def test_views_of_another_transaction_are_refused(make_memory) -> None:
    a = make_memory()
    a.ensure_ready()
    with a.store.transaction() as first, a.store.transaction() as second:
        foreign = first.for_cube(a.cube_id, "alice")
        with pytest.raises(GraphStoreError, match="not of this transaction"):
            second.existing_ids_many([(foreign, [u("x")])])
