"""Store-level scoping, called directly: cube A's ``CubeGraph`` never reaches cube B's nodes.

The attacker knows everything about B (its node ids, dedup keys, session id, exact embeddings,
unique words, edges) and calls every public method of A's view with them, alone and mixed with
A's own ids (a derandomised hypothesis run). No call returns anything of B's, and B's nodes and
edges are byte-for-byte what they were. Runs on the embedded ArcadeDB over Bolt.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memos.graph_dbs import ANY_NODE, CubeGraph, GraphStore, NodeFilter
from memos.graph_dbs.queries import EDGE_TYPES
from tests.graph_dbs.helpers import make_store, new_cube, unit_vector

pytestmark = pytest.mark.services

B_NODES = 12
B_SESSION = "sess-of-b"


def _node(text: str, seed: int, index: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "memory": text,
        "embedding": unit_vector(seed),
        "status": "activated",
        "memory_type": "LongTermMemory",
        "dedup_key": f"dk-{seed}",
        "created_at": f"2026-01-01T00:00:{index:02d}",
        **extra,
    }


@dataclass
class Cubes:
    """A (the attacker's view), B (the victim) and everything known about B."""

    store: GraphStore
    a: CubeGraph
    b: CubeGraph
    a_ids: list[str]
    b_rows: list[dict[str, Any]]

    @property
    def b_ids(self) -> list[str]:
        return [str(row["id"]) for row in self.b_rows]


def snapshot(graph: CubeGraph) -> str:
    """Every node's properties and every edge of a cube, canonically serialised."""
    nodes = [node for page in graph.iter_node_pages() for node in page]
    edges = graph.edges_from([str(n["id"]) for n in nodes])
    canon_edges = sorted((e["source"], e["target"], e["type"]) for e in edges)
    return json.dumps({"nodes": nodes, "edges": canon_edges}, sort_keys=True, default=str)


@pytest.fixture(scope="module")
def cubes(request: pytest.FixtureRequest) -> Iterator[Cubes]:
    """A with three nodes; B with nodes, a session, dedup keys and edges of every type."""
    store = make_store("arcadedb", request)
    try:
        a = store.for_cube(new_cube(), "attacker")
        b = store.for_cube(new_cube(), "victim")
        b_rows = [
            _node(f"zephyrquokka secret {i} of b", 5000 + i, i, session_id=B_SESSION)
            for i in range(B_NODES)
        ]
        b.create_nodes(b_rows)
        ids = [str(row["id"]) for row in b_rows]
        for n, rel in enumerate(sorted(EDGE_TYPES)):
            b.merge_edges(rel, [{"source": ids[n], "target": ids[n + 1], "props": {"w": n}}])
        a_rows = [_node(f"attacker note {i}", 9000 + i, i, session_id=B_SESSION) for i in range(3)]
        a.create_nodes(a_rows)
        yield Cubes(store, a, b, [str(r["id"]) for r in a_rows], b_rows)
    finally:
        store.close()


def _reads(c: Cubes, ids: list[str]) -> set[str]:
    """Every id any read method of A's view returns when handed ``ids`` (B's, guessed)."""
    a = c.a
    seen: set[str] = set()
    seen |= {str(n["id"]) for n in a.get_nodes(ids)}
    seen |= {str(n["id"]) for i in ids[:3] if (n := a.get_node(i)) is not None}
    seen |= a.existing_ids(ids)
    seen |= set(a.find_by_dedup_keys([str(r["dedup_key"]) for r in c.b_rows]).values())
    seen |= {str(n["id"]) for page in a.iter_node_pages(page_size=2) for n in page}
    for edge in a.edges_from(ids):
        seen |= {str(edge["source"]), str(edge["target"])}
    for rel_types in ((*EDGE_TYPES,),):
        for row in a.neighbors(ids, rel_types=rel_types, node_filter=ANY_NODE):
            seen |= {str(row["seed"]), str(row["id"])}
    for row in c.b_rows[:4]:
        seen |= {i for i, _ in a.vector_search(row["embedding"], 5, ANY_NODE)}
        seen |= {i for i, _ in a.vector_search(row["embedding"], 50)}
    seen |= {i for i, _ in a.fulltext_search("zephyrquokka", 20, ANY_NODE)}
    seen |= {i for i, _ in a.fulltext_search("zephyrquokka OR secret OR attacker", 50)}
    seen |= set(a.recent_in_session(NodeFilter(statuses=None, session_id=B_SESSION), 100))
    return seen


def test_reads_of_a_never_return_b(cubes: Cubes) -> None:
    before = snapshot(cubes.b)
    seen = _reads(cubes, cubes.b_ids)
    assert seen <= set(cubes.a_ids), seen - set(cubes.a_ids)
    assert cubes.a.count() == len(cubes.a_ids)
    assert cubes.a.count(NodeFilter(session_id=B_SESSION)) == len(cubes.a_ids)
    assert snapshot(cubes.b) == before
    # The control: B's own view finds what A's could not (the attack used real data).
    assert set(cubes.b.existing_ids(cubes.b_ids)) == set(cubes.b_ids)
    assert {i for i, _ in cubes.b.fulltext_search("zephyrquokka", 20)} == set(cubes.b_ids)
    assert cubes.b.vector_search(cubes.b_rows[0]["embedding"], 1)[0][0] == cubes.b_ids[0]
    assert len(cubes.b.edges_from(cubes.b_ids)) == len(EDGE_TYPES)


def test_writes_of_a_never_change_b(cubes: Cubes) -> None:
    a, b, b_ids = cubes.a, cubes.b, cubes.b_ids
    before = snapshot(b)
    assert not a.update_node(b_ids[0], {"memory": "hijacked", "cube_id": a.cube_id})
    assert a.delete_nodes(b_ids) == 0
    for rel in sorted(EDGE_TYPES):
        assert a.merge_edges(rel, [{"source": b_ids[0], "target": b_ids[1]}]) == 0
        assert a.merge_edges(rel, [{"source": cubes.a_ids[0], "target": b_ids[1]}]) == 0
        assert a.merge_edges(rel, [{"source": b_ids[2], "target": cubes.a_ids[0]}]) == 0
        assert (
            a.delete_edges(rel, [{"source": b_ids[n], "target": b_ids[n + 1]} for n in range(6)])
            == 0
        )
    with a.transaction() as tx:
        assert not tx.update_node(b_ids[1], {"status": "deleted"})
        assert tx.delete_nodes(b_ids[:3]) == 0
    assert snapshot(b) == before
    # A row with B's id, written through A, is A's own node; B's keeps its text.
    stolen = {**cubes.b_rows[4], "memory": "written through a", "cube_id": b.cube_id}
    assert a.upsert_nodes([stolen]) == 1
    assert a.create_nodes([{**cubes.b_rows[5], "cube_id": b.cube_id}]) == 1
    assert b.get_node(b_ids[4])["memory"] == cubes.b_rows[4]["memory"]  # type: ignore[index]
    assert a.get_node(b_ids[4])["cube_id"] == a.cube_id  # type: ignore[index]
    assert a.delete_nodes([b_ids[4], b_ids[5]]) == 2
    assert a.delete_all() == len(cubes.a_ids)
    assert snapshot(b) == before
    # Put A back for the other tests of the module.
    a.create_nodes([_node(f"attacker note {i}", 9000 + i, i, id=cubes.a_ids[i]) for i in range(3)])


def test_batch_writes_through_a_never_reach_b(cubes: Cubes) -> None:
    """StoreTransaction's ``*_many`` (a worker's batch of adds) with A's view and B's data."""
    from memos.graph_dbs.store import CubeWrite

    b_ids, b_rows = cubes.b_ids, cubes.b_rows
    before = snapshot(cubes.b)
    keys = [str(r["dedup_key"]) for r in b_rows]
    with cubes.store.transaction() as shared:
        a = shared.for_cube(cubes.a.cube_id, "attacker")
        assert shared.find_by_dedup_keys_many([(a, keys)]) == [{}]
        assert shared.existing_ids_many([(a, b_ids)]) == [set()]
        stolen = {**b_rows[6], "memory": "batch through a", "cube_id": cubes.b.cube_id}
        created = shared.write_many(
            [
                CubeWrite(
                    cube=a,
                    nodes=[stolen],
                    context=[{"source": b_ids[0], "target": b_ids[1]},
                             {"source": b_ids[6], "target": b_ids[2]}],
                    entities=[{"id": "zephyrquokka", "name": "zephyrquokka", "kind": "name",
                               "cube_id": cubes.b.cube_id}],
                    mentions=[{"memory": b_ids[3], "entity": "zephyrquokka", "role": "mention"}],
                    aliases=[],
                )
            ]
        )  # fmt: skip
        assert created == 1
    assert snapshot(cubes.b) == before
    assert cubes.b.entities() == []
    assert cubes.a.get_node(b_ids[6])["cube_id"] == cubes.a.cube_id  # type: ignore[index]
    assert cubes.a.edges_from([b_ids[6]]) == []  # its edge's other end is B's, not A's
    assert cubes.a.delete_nodes([b_ids[6]]) == 1
    with cubes.store.transaction() as shared:  # the control: B's view finds them
        b = shared.for_cube(cubes.b.cube_id, "victim")
        assert shared.existing_ids_many([(b, b_ids)]) == [set(b_ids)]


@settings(
    max_examples=12,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_mixed_and_guessed_ids_randomised(cubes: Cubes, data: st.DataObject) -> None:
    pool = [*cubes.a_ids, *cubes.b_ids, str(uuid.uuid4())]
    ids = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=8), label="ids")
    rel = data.draw(st.sampled_from(sorted(EDGE_TYPES)), label="rel")
    before = snapshot(cubes.b)
    assert _reads(cubes, ids) <= set(cubes.a_ids)
    target = data.draw(st.sampled_from(cubes.b_ids), label="target")
    assert not cubes.a.update_node(target, {"memory": "pwned"})
    assert cubes.a.merge_edges(rel, [{"source": ids[0], "target": target}]) == 0
    assert cubes.a.delete_edges(rel, [{"source": i, "target": target} for i in ids]) == 0
    assert cubes.a.delete_nodes([i for i in ids if i not in cubes.a_ids]) == 0
    assert snapshot(cubes.b) == before
