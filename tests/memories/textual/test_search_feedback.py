"""Pseudo-relevance feedback on the vector leg of hybrid search (``feedback_*`` knobs)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from memos.graph_dbs import NodeFilter
from memos.memories.textual.cube_index import CubeIndex
from memos.memories.textual.query_signals import SignalWeights
from memos.memories.textual.tree_search import DEFAULT_SEARCH, RecallLeg, hybrid_search

DIM = 8
ALL = NodeFilter(statuses=None)


class _NoEdgesGraph:
    """What hybrid search asks of the store beside the cube index: no edges, nodes by id."""

    def neighbors(self, seeds: Any, edge_types: Any, node_filter: Any, limit: int) -> list:
        return []

    def get_nodes(self, ids: list[str]) -> list[dict[str, Any]]:
        return [{"id": i, "type": "fact"} for i in ids]


def _unit(values: list[float]) -> list[float]:
    vector = np.zeros(DIM)
    vector[: len(values)] = values
    return list(vector / np.linalg.norm(vector))


def _index() -> CubeIndex:
    """The query is axis 0. ``hit`` is half on it; ``context`` shares ``hit``'s other half but
    nothing with the query; 30 weak distractors are each a little closer to the query."""
    rng = np.random.default_rng(0)
    rows = [
        {"id": "hit", "embedding": _unit([1.0, 1.0]), "memory": "first"},
        {"id": "context", "embedding": _unit([0.0, 1.0]), "memory": "second"},
    ]
    for i in range(30):
        noise = rng.normal(0.0, 1.0, DIM - 2)
        rows.append({"id": f"d{i}", "embedding": _unit([0.3, 0.0, *noise]), "memory": f"other {i}"})
    index = CubeIndex(DIM)
    index.upsert([{**row, "status": "activated", "memory_type": "LongTermMemory"} for row in rows])
    return index


def _search(weight: float, legs: list[RecallLeg] | None = None) -> list[str]:
    config = dataclasses.replace(
        DEFAULT_SEARCH,
        signals=SignalWeights(),
        rrf_k=1,
        feedback_weight=weight,
        feedback_docs=1,
        feedback_alpha=1.0,
    )
    hits = hybrid_search(
        _NoEdgesGraph(),  # type: ignore[arg-type]
        _unit([1.0]),
        "zzz",
        5,
        ALL,
        config=config,
        index=_index(),
        legs=legs,
    )
    return [h.props["id"] for h in hits]


def test_feedback_reaches_a_memory_that_only_shares_the_best_hits_context() -> None:
    # Without feedback the context memory is in no list (30 distractors are closer to the query).
    assert "context" not in _search(0.0)
    legs: list[RecallLeg] = []
    found = _search(1.0, legs)
    assert found[0] == "hit"
    assert "context" in found
    feedback = [ids for name, _, ids in legs if name == "feedback"]
    assert len(feedback) == 1 and feedback[0][:2] == ["hit", "context"]


def test_feedback_is_off_by_default_weight_zero() -> None:
    legs: list[RecallLeg] = []
    _search(0.0, legs)
    assert "feedback" not in {name for name, _, _ in legs}


def test_vectors_of_skips_unknown_ids() -> None:
    index = _index()
    vectors = index.vectors_of(["context", "missing", "hit"])
    assert vectors.shape == (2, DIM)
    assert float(vectors[0] @ np.asarray(_unit([0.0, 1.0]))) > 0.999
