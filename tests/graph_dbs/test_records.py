"""``records``: rows as plain dicts, the fast path equal to ``Record.data()``."""

from __future__ import annotations

from typing import Any

import pytest

from memos.graph_dbs import GraphStore
from memos.graph_dbs.drivers import records
from tests.graph_dbs.helpers import new_cube, unit_vector

pytestmark = pytest.mark.services


def _both(store: GraphStore, query: str, params: dict[str, Any]) -> tuple[list, list]:
    """The rows through ``records`` and through ``Record.data()``, from two runs of ``query``."""
    with store.driver().session(database=store.database) as session:
        fast = records(session.run(query, params))
        slow = [record.data() for record in session.run(query, params)]
    return fast, slow


def test_plain_and_graph_values_match_record_data(graph_store: GraphStore) -> None:
    graph = graph_store.for_cube(new_cube(), "alice")
    vector = unit_vector(3)
    graph.create_nodes(
        [{"id": "n1", "memory": "plain", "embedding": vector, "status": "activated",
          "memory_type": "LongTermMemory", "tags": ["a", "b"]}]
    )  # fmt: skip
    params = {"cube_id": graph.cube_id}
    # Scalars and lists of scalars: the fast path (no recursive walk).
    fast, slow = _both(
        graph_store,
        "MATCH (n:Memory {cube_id: $cube_id}) "
        "RETURN n.id AS id, n.embedding AS embedding, n.tags AS tags, n.missing AS missing",
        params,
    )
    assert fast == slow
    assert fast[0]["id"] == "n1" and fast[0]["missing"] is None
    assert fast[0]["embedding"] == pytest.approx(vector)
    # A node, and a list holding a node: converted as ``data()`` converts them.
    fast, slow = _both(
        graph_store,
        "MATCH (n:Memory {cube_id: $cube_id}) RETURN n AS node, [n] AS nodes, n.id AS id",
        params,
    )
    assert fast == slow
    assert isinstance(fast[0]["node"], dict) and fast[0]["node"]["memory"] == "plain"
    assert isinstance(fast[0]["nodes"][0], dict)


def test_property_maps_skip_the_recursive_walk(
    graph_store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import neo4j

    graph = graph_store.for_cube(new_cube(), "alice")
    graph.create_nodes(
        [{"id": "n1", "memory": "map", "embedding": unit_vector(5), "status": "activated",
          "memory_type": "LongTermMemory", "tags": ["x"]}]
    )  # fmt: skip
    params = {"cube_id": graph.cube_id}
    maps = (
        "MATCH (n:Memory {cube_id: $cube_id}) "
        "RETURN properties(n) AS props, {ids: [n.id], inner: {tags: n.tags}} AS nested"
    )
    with_node = "MATCH (n:Memory {cube_id: $cube_id}) RETURN {node: n} AS wrapped, [[n]] AS deep"
    expected = {q: _both(graph_store, q, params) for q in (maps, with_node)}
    for fast, slow in expected.values():
        assert fast == slow
    walked: list[int] = []
    real = neo4j.Record.data

    def counted(record: neo4j.Record, *keys: Any) -> dict[str, Any]:
        walked.append(1)
        return real(record, *keys)

    monkeypatch.setattr(neo4j.Record, "data", counted)
    with graph_store.driver().session(database=graph_store.database) as session:
        props = records(session.run(maps, params))
        assert walked == []  # maps and lists of plain values are taken as they are
        assert props == expected[maps][1]
        assert props[0]["props"]["embedding"] == pytest.approx(unit_vector(5))
        # A map or a nested list holding a node still goes through ``data()``.
        assert records(session.run(with_node, params)) == expected[with_node][1]
        assert walked == [1]
