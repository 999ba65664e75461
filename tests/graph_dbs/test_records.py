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
