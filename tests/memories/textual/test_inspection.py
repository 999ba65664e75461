"""The inspector's read-only views of a tree cube: leg ranks, pages, lineage, neighbourhoods."""

from __future__ import annotations

from typing import Any

import pytest

from memos.errors import InvalidMemoryInputError, MemoryNotFoundError
from memos.memories.textual import inspection
from memos.memories.textual.retrieval import reciprocal_rank_fusion
from tests.memories.textual.test_tree import (  # noqa: F401 (fixtures)
    FACTS,
    embedder,
    make_memory,
    tree_store,
)


def test_leg_shares_add_up_to_the_fused_score() -> None:
    legs = [
        ("vector", 1.0, ["a", "b", "c"]),
        ("fulltext", 1.0, ["b", "a"]),
        ("graph", 0.5, ["c", "a", "a"]),
        ("signal", 0.0, ["c"]),  # switched off: not a reason
    ]
    fused = reciprocal_rank_fusion([r for _, _, r in legs], [w for _, w, _ in legs], k=10)
    explained = inspection.explain_hits(fused, legs, rrf_k=10)
    assert [e["id"] for e in explained] == [i for i, _ in fused]
    for entry, (_, score) in zip(explained, fused, strict=True):
        assert sum(leg["share"] for leg in entry["legs"]) == pytest.approx(score)
    a = next(e for e in explained if e["id"] == "a")
    assert {leg["leg"]: leg["rank"] for leg in a["legs"]} == {
        "vector": 1,
        "fulltext": 2,
        "graph": 2,
    }
    c = next(e for e in explained if e["id"] == "c")
    assert "signal" not in {leg["leg"] for leg in c["legs"]}


@pytest.mark.services
def test_explained_search_is_the_search(make_memory: Any) -> None:  # noqa: F811
    memory = make_memory()
    memory.add(FACTS)
    for mode in ("fast", "fine"):
        plain = memory.search("What is Melanie training for?", 3, mode=mode)
        answer = inspection.explain_search(
            memory, "What is Melanie training for?", top_k=3, mode=mode
        )
        results = answer["results"]
        assert [r["id"] for r in results] == [item.id for item in plain]
        assert [r["score"] for r in results] == pytest.approx(
            [item.metadata.relativity for item in plain]
        )
        top = results[0]
        assert {"vector", "fulltext"} <= {leg["leg"] for leg in top["legs"]}
        assert sum(leg["share"] for leg in top["legs"]) == pytest.approx(top["score"])
        assert answer["rrf_k"] == memory.search_config.rrf_k


@pytest.mark.services
def test_pages_filters_counts_and_lineage(make_memory: Any) -> None:  # noqa: F811
    memory = make_memory()
    ids = memory.add(
        [
            {
                "memory": f,
                "metadata": {
                    "memory_type": t,
                    "type": "event" if i == 2 else "fact",
                    "created_at": f"2026-01-0{i + 1}T00:00:00Z",
                },
            }
            for i, (f, t) in enumerate(
                zip(FACTS, ["UserMemory", "LongTermMemory"] * 2 + ["WorkingMemory"], strict=True)
            )
        ]
    )
    memory.graph.merge_edges("SUPERSEDES", [{"source": ids[4], "target": ids[0]}])
    memory.graph.merge_edges("MERGED_TO", [{"source": ids[1], "target": ids[3]}])
    counts = inspection.tier_counts(memory)
    assert counts["total"] == 5
    assert counts["tiers"] == {"WorkingMemory": 1, "LongTermMemory": 2, "UserMemory": 2}
    assert counts["status"]["activated"] == 5
    page = inspection.memory_page(memory, offset=1, limit=2)
    assert page["total"] == 5 and [i["id"] for i in page["items"]] == [ids[3], ids[2]]
    assert "embedding" not in page["items"][0]["metadata"]
    assert page["items"][0]["lineage"]["merged_from"] == [ids[1]]
    users = inspection.memory_page(memory, tier="UserMemory")
    assert [i["id"] for i in users["items"]] == [ids[2], ids[0]]
    assert users["items"][1]["lineage"]["superseded_by"] == [ids[4]]
    assert inspection.memory_detail(memory, ids[4])["lineage"]["supersedes"] == [ids[0]]
    assert inspection.memory_page(memory, offset=10)["items"] == []
    with pytest.raises(InvalidMemoryInputError):
        inspection.memory_page(memory, tier="Nope")
    with pytest.raises(InvalidMemoryInputError):
        inspection.memory_page(memory, limit=10_000)
    assert page["types"] == {"fact": 4, "event": 1}
    events = inspection.memory_page(memory, node_type="event")
    assert events["total"] == 1 and [i["id"] for i in events["items"]] == [ids[2]]
    facts = inspection.memory_page(memory, node_type="fact", tier="UserMemory")
    assert [i["id"] for i in facts["items"]] == [ids[0]]
    assert inspection.memory_page(memory, node_type="no-such-type")["total"] == 0
    with pytest.raises(InvalidMemoryInputError):
        inspection.memory_page(memory, node_type="x" * 65)
    memory.update(ids[0], {"metadata": {"invalid_at": "2026-02-01T00:00:00Z"}})
    ended = inspection.memory_page(memory, validity="ended")
    assert [i["id"] for i in ended["items"]] == [ids[0]]
    valid = inspection.memory_page(memory, validity="valid")
    assert valid["total"] == 4 and ids[0] not in {i["id"] for i in valid["items"]}
    with pytest.raises(InvalidMemoryInputError):
        inspection.memory_page(memory, validity="sometimes")
    hood = inspection.neighbourhood(memory, ids[0], hops=1)
    hops = {n["id"]: n["hop"] for n in hood["nodes"]}
    assert hops[ids[0]] == 0 and hops[ids[4]] == 1 and set(hops.values()) == {0, 1}
    assert {"source": ids[4], "target": ids[0], "type": "SUPERSEDES"} in hood["edges"]
    assert all(e["source"] in hops and e["target"] in hops for e in hood["edges"])
    capped = inspection.neighbourhood(memory, ids[0], hops=2, max_nodes=2)
    assert len(capped["nodes"]) == 2 and capped["truncated"]
    with pytest.raises(MemoryNotFoundError):
        inspection.neighbourhood(memory, "no-such-memory")


@pytest.mark.services
def test_every_view_sets_the_store_up_before_reading(
    make_memory: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A database written without the schema (no writer set it up yet) got no index: the
    inspector's lookups scanned every node (1-2 ms per id at 100k) until something set it up."""
    memory = make_memory()
    (memory_id,) = memory.add(FACTS[:1])
    calls: list[int] = []
    monkeypatch.setattr(memory.store, "setup", lambda: calls.append(1))
    for view, args in (
        (inspection.memory_page, {}),
        (inspection.memory_detail, {"memory_id": memory_id}),
        (inspection.neighbourhood, {"memory_id": memory_id}),
    ):
        calls.clear()
        view(make_memory(cube_id=memory.cube_id), **args)
        assert calls == [1], view.__name__
