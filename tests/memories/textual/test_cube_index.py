"""The in-process cube index: its own behaviour, and kept in step with the real graph store."""

from __future__ import annotations

import dataclasses
import math
import random
import time
import types
from typing import Any

import numpy as np
import pytest

from memos.graph_dbs import GraphStore, NodeFilter
from memos.graph_dbs import store as store_module
from memos.memories.textual import cube_index, cube_index_sync
from memos.memories.textual.cube_index import CubeIndex, doc_terms, query_terms
from memos.memories.textual.query_signals import SignalWeights
from memos.memories.textual.retrieval import fulltext_query
from memos.memories.textual.tree import TreeTextMemory
from memos.memories.textual.tree_search import DEFAULT_SEARCH
from tests.memories.textual.test_tree import chat_item

DIM = 16
ALL = NodeFilter(statuses=None)


def unit(seed: int, dim: int = DIM) -> list[float]:
    rng = random.Random(seed)
    raw = [rng.gauss(0.0, 1.0) for _ in range(dim)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


def row(i: int, text: str = "", **props: Any) -> dict[str, Any]:
    base = {"id": f"n{i}", "embedding": unit(i), "memory": text or f"memory number {i}"}
    base.update(status="activated", memory_type="LongTermMemory")
    base.update(props)
    return base


def exact_order(index: CubeIndex, query: list[float], ids: list[str]) -> list[str]:
    q = np.asarray(query)
    scored = [(-float(np.dot(unit(int(i[1:])), q)), i) for i in ids]
    return [i for _, i in sorted(scored)]


# -- the index alone ------------------------------------------------------------------------


def test_tokenisation_matches_the_query_builder() -> None:
    terms = ["caroline", "dog", "walking", "melanie"]
    assert doc_terms("Caroline's dog-walking, Melanie!") == terms
    assert query_terms(fulltext_query("What did Caroline's dog eat?")) == ["caroline", "dog", "eat"]


def test_vector_search_is_exact_and_follows_upsert_and_remove() -> None:
    index = CubeIndex(DIM)
    index.upsert([row(i) for i in range(50)])
    query = unit(7)
    hits = index.vector_search(query, 5, index.mask(ALL))
    assert [h[0] for h in hits] == exact_order(index, query, [f"n{i}" for i in range(50)])[:5]
    # Vectors are rounded to multiples of 2**-11 (position-independent cosines): about 1e-4.
    assert hits[0][0] == "n7" and hits[0][1] == pytest.approx(1.0, abs=1e-4)
    index.remove(["n7"])
    assert "n7" not in [h[0] for h in index.vector_search(query, 5, index.mask(ALL))]
    # An update moves the node: its vector is now another seed's.
    index.upsert([row(3, embedding=unit(7))])
    assert index.vector_search(query, 1, index.mask(ALL))[0][0] == "n3"
    assert len(index) == 49


def test_filters_apply_exactly() -> None:
    index = CubeIndex(DIM)
    index.upsert(
        [
            row(0, status="archived"),
            row(1, memory_type="WorkingMemory"),
            row(2, session_id="s1"),
            row(3, valid_at_ts=100.0),
            row(4, invalid_at_ts=50.0),
            row(5, status=None),
            row(6),
        ]
    )

    def ids(node_filter: NodeFilter) -> set[str]:
        keep = index.mask(node_filter)
        return {h[0] for h in index.vector_search(unit(0), 10, keep)}

    assert ids(ALL) == {f"n{i}" for i in range(7)}
    assert ids(NodeFilter()) == {"n1", "n2", "n3", "n4", "n6"}
    assert ids(NodeFilter(statuses=("archived",))) == {"n0"}
    assert ids(NodeFilter(memory_types=("WorkingMemory",))) == {"n1"}
    assert ids(NodeFilter(memory_types=("UserMemory",))) == set()
    assert ids(NodeFilter(session_id="s1")) == {"n2"}
    assert ids(NodeFilter(session_id="nope")) == set()
    assert ids(NodeFilter(valid_at_ts=75.0)) == {"n1", "n2", "n6"}
    assert ids(NodeFilter(valid_at_ts=150.0)) == {"n1", "n2", "n3", "n6"}
    text = index.text_search("memory", 10, index.mask(NodeFilter(session_id="s1")))
    assert [h[0] for h in text] == ["n2"]


def test_a_kept_mask_follows_every_change_of_the_index() -> None:
    """``mask`` keeps a filter's mask between searches; any change must be seen at once."""
    index = CubeIndex(DIM)
    index.upsert([row(i) for i in range(6)])
    live = NodeFilter()

    def ids(node_filter: NodeFilter) -> set[str]:
        return {index._ids[p] for p in np.flatnonzero(index.mask(node_filter))}

    assert ids(live) == {f"n{i}" for i in range(6)}
    returned = index.mask(live)
    returned[:] = False  # a caller's copy: the kept mask is not touched
    assert ids(live) == {f"n{i}" for i in range(6)}
    index.upsert([row(1, status="archived"), row(6)])
    assert ids(live) == {"n0", "n2", "n3", "n4", "n5", "n6"}
    index.remove(["n0"])
    assert ids(live) == {"n2", "n3", "n4", "n5", "n6"}
    # Validity bounds set by an update count at every instant, the kept part notwithstanding.
    index.upsert([row(2, valid_at_ts=100.0), row(3, invalid_at_ts=50.0)])
    for at, expected in ((10.0, {"n3", "n4", "n5", "n6"}), (75.0, {"n4", "n5", "n6"}),
                         (150.0, {"n2", "n4", "n5", "n6"})):  # fmt: skip
        assert ids(dataclasses.replace(live, valid_at_ts=at)) == expected
    # Compaction renumbers positions: the masks are those of the new positions.
    index.remove([f"n{i}" for i in (2, 3, 4)])
    index.upsert([row(i) for i in range(300, 560)])
    index.remove([f"n{i}" for i in range(300, 420)])
    assert index._n == len(index)  # compacted
    assert ids(live) == {"n5", "n6"} | {f"n{i}" for i in range(420, 560)}
    assert len(index._masks) <= cube_index._KEPT_MASKS
    # More filters than are kept (one per session): each still gets its own mask.
    index.upsert([row(700 + i, session_id=f"s{i}") for i in range(cube_index._KEPT_MASKS + 4)])
    for _ in range(2):
        for i in range(cube_index._KEPT_MASKS + 4):
            assert ids(dataclasses.replace(live, session_id=f"s{i}")) == {f"n{700 + i}"}
    assert len(index._masks) <= cube_index._KEPT_MASKS


def test_type_filter_and_counts() -> None:
    index = CubeIndex(DIM)
    index.upsert([row(0, type="fact"), row(1, type="topic"), row(2, type="fact"), row(3)])
    assert set(index.recent(index.mask(NodeFilter(types=("fact",))), 10)) == {"n0", "n2"}
    assert index.recent(index.mask(NodeFilter(types=("opinion",))), 10) == []
    assert index.type_counts(index.mask(ALL)) == {"fact": 2, "topic": 1}
    index.remove(["n0"])
    assert index.type_counts(index.mask(ALL)) == {"fact": 1, "topic": 1}


def test_recent_pages_match_a_full_sort_of_the_cube() -> None:
    """Newest first by creation time, ties by id descending, unparsable times last."""
    rng = random.Random(7)
    stamps = [f"2026-01-{d:02d}T{h:02d}:00:00+00:00" for d in (1, 2, 3) for h in (0, 12)]
    stamps += ["2026-01-02T13:00:00+01:00", "2026-01-02T12:00:00", "", "not a time"]
    index = CubeIndex(DIM)
    index.upsert([row(i, created_at=rng.choice(stamps)) for i in range(300)])
    index.remove([f"n{i}" for i in range(0, 300, 5)])

    def seconds(node_id: str) -> float:
        text = index._created[index._pos[node_id]]
        value = cube_index._created_seconds(text) if text else math.nan
        return -math.inf if math.isnan(value) else value

    keep = index.mask(ALL)
    everything = sorted(
        index.ids(), key=lambda i: (seconds(i), index._created[index._pos[i]], i), reverse=True
    )
    for limit in (1, 7, 50, 240, 500):
        assert index.recent(keep, limit) == everything[:limit]
        for offset in (1, 13, 100, 239, 240, 400):
            assert index.recent(keep, limit, offset) == everything[offset : offset + limit]
    # "+01:00" is 12:00 UTC: it ties with the naive "12:00" (read as UTC) and "12:00+00:00".
    noon = cube_index._created_seconds("2026-01-02T12:00:00+00:00")
    assert cube_index._created_seconds("2026-01-02T13:00:00+01:00") == noon
    assert cube_index._created_seconds("2026-01-02T12:00:00") == noon
    assert index.recent(keep, 0) == []


def test_bm25_ranks_by_term_weight_and_ignores_removed_nodes() -> None:
    index = CubeIndex(DIM)
    index.upsert(
        [
            row(0, "tulips tulips in the garden"),
            row(1, "a garden"),
            row(2, "tulips"),
            row(3, "nothing relevant at all here"),
        ]
    )
    hits = index.text_search("tulips OR garden", 10, index.mask(ALL))
    assert [h[0] for h in hits][:1] == ["n0"] and {h[0] for h in hits} == {"n0", "n1", "n2"}
    assert index.text_search("absent", 10, index.mask(ALL)) == []
    index.remove(["n0"])
    index.upsert([row(2, "roses")])
    assert [h[0] for h in index.text_search("tulips OR garden", 10, index.mask(ALL))] == ["n1"]


def test_compaction_keeps_results(monkeypatch: pytest.MonkeyPatch) -> None:
    index = CubeIndex(DIM)
    index.upsert([row(i, f"word{i % 7} common") for i in range(400)])
    before_v = index.vector_search(unit(3), 10, index.mask(ALL))
    before_t = index.text_search("word3 OR common", 10, index.mask(ALL))
    index.remove([f"n{i}" for i in range(400) if i % 7 not in (3,) and i % 2 == 0])
    assert index._n == len(index)  # compacted: every retired position dropped
    after_v = [h for h in index.vector_search(unit(3), 10, index.mask(ALL))]
    assert after_v[0] == before_v[0]
    after_t = index.text_search("word3 OR common", 10, index.mask(ALL))
    assert {h[0] for h in after_t} <= index.ids()
    assert after_t[0][0] == before_t[0][0]


def test_caught_up_index_ranks_like_a_rebuilt_one() -> None:
    """Updates, removals and compaction leave no trace in what a search returns.

    The incremental index (updated nodes moved to new positions, dead positions kept until
    compaction) and one built afresh from the final rows in another order must return the same
    ranked lists, equal scores included, and know the same speakers and entities. Before, equal
    scores were ordered by position and retired nodes' speakers and entities still matched
    questions, so the two could rank differently.
    """
    rng = random.Random(7)
    words = ["camp", "paint", "run", "swim", "book", "group", "church", "gym", "dog", "race"]

    def make(i: int, version: int) -> dict[str, Any]:
        text = " ".join(rng.choice(words) for _ in range(4))  # equal lengths: BM25 ties
        return row(
            i,
            text,
            embedding=unit(1000 + rng.randrange(12)),  # shared vectors: cosine ties
            entities=[
                f"@{rng.choice(['ann', 'bob', f'temp{version}'])}",
                rng.choice(["Paris", f"Town{version}"]),
            ],
            created_at=f"2024-01-{1 + rng.randrange(3):02d}",
            status=rng.choice(["activated", "activated", "archived"]),
        )

    final: dict[str, dict[str, Any]] = {f"n{i}": make(i, 0) for i in range(300)}
    incremental = CubeIndex(DIM)
    incremental.upsert(list(final.values()))
    for step in range(1, 25):
        changed = rng.sample(sorted(final), 30)
        rows = []
        for node_id in changed:
            if rng.random() < 0.3:
                del final[node_id]
            else:
                final[node_id] = make(int(node_id[1:]), step)
                rows.append(final[node_id])
        incremental.upsert(rows)
        incremental.remove([i for i in changed if i not in final])
    rebuilt = CubeIndex(DIM)
    shuffled = list(final.values())
    rng.shuffle(shuffled)
    rebuilt.upsert(shuffled)
    assert incremental._n > len(incremental)  # dead positions are still there

    active = NodeFilter(statuses=("activated",))
    for query_seed in (1000, 1003, 5):
        for index_speakers in (["ann"], ["bob"]):
            got = []
            for index in (incremental, rebuilt):
                keep = index.mask(active)
                said = keep & index.speaker_mask(index_speakers)
                vq = index.vector_query(unit(query_seed))
                assert vq is not None
                got.append(
                    (
                        vq.search(keep, 40),
                        vq.search(said, 15),
                        index.text_search("camp OR church OR dog", 40, keep),
                        index.text_search("gym", 25, said),
                        index.recent(keep, 20),
                    )
                )
            assert got[0] == got[1]
    assert incremental.speakers() == rebuilt.speakers()
    live_towns = {e for r in final.values() for e in r["entities"] if not e.startswith("@")}
    for name in ("Paris", *(f"Town{v}" for v in range(25))):
        assert incremental.is_entity(name.lower()) == rebuilt.is_entity(name.lower())
        assert incremental.is_entity(name.lower()) == (name in live_towns)


def test_hnsw_path_agrees_with_exact_and_respects_the_filter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cube_index, "HNSW_MIN", 200)
    dim = 384  # the embedder's: the HNSW links are small next to such vectors
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((40, dim))
    vectors = centers[rng.integers(0, 40, 3000)] + 0.3 * rng.standard_normal((3000, dim))
    index = CubeIndex(dim)
    statuses = ["activated" if i % 3 else "archived" for i in range(3000)]
    index.upsert(
        [
            {"id": f"n{i}", "embedding": v.tolist(), "memory": "m", "status": s}
            for i, (v, s) in enumerate(zip(vectors, statuses, strict=True))
        ]
    )
    keep = index.mask(NodeFilter())
    recall = []
    for qi in range(20):
        query = vectors[qi * 7] + 0.05 * rng.standard_normal(dim)
        hnsw = index.vector_search(query.tolist(), 10, keep)
        assert index._hnsw is not None
        assert all(statuses[int(i[1:])] == "activated" for i, _ in hnsw)
        normed = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        scores = normed @ (query / np.linalg.norm(query))
        scores[~keep] = -np.inf
        exact = {f"n{i}" for i in np.argsort(-scores)[:10]}
        recall.append(len(exact & {i for i, _ in hnsw}) / 10)
    assert np.mean(recall) >= 0.9
    sizes = index.vector_bytes()
    assert sizes["held"] <= 1.5 * sizes["raw"]


# -- kept in step with the store ------------------------------------------------------------


def _ids_in_store(memory: TreeTextMemory) -> set[str]:
    return {p["id"] for page in memory.graph.iter_node_pages() for p in page}


def _index(memory: TreeTextMemory) -> CubeIndex:
    return cube_index_sync.synced_index(memory.graph)


@pytest.mark.services
def test_index_follows_add_update_delete_and_archive(make_memory: Any) -> None:
    memory = make_memory()
    ids = memory.add([chat_item(f"Alice grew {n} tulips", f"m{n}") for n in range(6)])
    assert memory.search("tulips", 3)
    assert _index(memory).ids() == _ids_in_store(memory) == set(ids)
    memory.update(ids[0], "Alice now grows orchids in the greenhouse")
    assert memory.search("orchids greenhouse", 1)[0].id == ids[0]
    memory.delete([ids[1]])
    assert ids[1] not in _index(memory)
    # Archiving (what reorganisation does) through the graph, not the memory object.
    memory.graph.upsert_nodes([{**memory.graph.get_node(ids[2]), "status": "archived"}])
    assert ids[2] not in {m.id for m in memory.search("tulips", 10)}
    assert {m.id for m in memory.search("tulips", 10, filter={"status": "archived"})} == {ids[2]}
    memory.delete_all()
    assert len(_index(memory)) == 0 and memory.search("tulips", 3) == []


@pytest.mark.services
def test_second_writer_and_late_commit_are_caught_up(
    make_memory: Any, tree_store: tuple[GraphStore, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = make_memory()
    memory.add([chat_item("Bob repairs bicycles", "m1")])
    assert memory.search("bicycles", 1)
    # Another writer (a second store connection, as another worker would have).
    _, graph_db = tree_store
    other = GraphStore(graph_db)
    try:
        graph = other.for_cube(memory.cube_id, "alice")
        graph.create_nodes([row(99, "Bob also restores canoes", embedding=unit(99, 384))])
        assert "n99" in _index(memory)
        # A transaction that logged before this reader's last check but committed after it
        # (here: a writer stamping its entry 20 s before now, after the reader checked): its
        # entry is older than the check, and must still be found.
        real_time = time.time
        monkeypatch.setattr(
            store_module, "time", types.SimpleNamespace(time=lambda: real_time() - 20.0)
        )
        graph.create_nodes([row(98, "Bob sails kayaks", embedding=unit(98, 384))])
        monkeypatch.setattr(store_module, "time", time)
        assert "n98" in _index(memory)
        index = _index(memory)
        assert [i for i, _ in index.text_search("kayaks", 3, index.mask(ALL))] == ["n98"]
    finally:
        other.close()


@pytest.mark.services
def test_restart_and_long_idle_rebuild(make_memory: Any) -> None:
    memory = make_memory()
    ids = memory.add([chat_item(f"Carol visited city {n}", f"m{n}") for n in range(5)])
    first = [m.id for m in memory.search("Carol city 3", 5)]
    cube_index_sync.forget(memory.graph)  # a fresh process: built lazily on the next search
    assert [m.id for m in memory.search("Carol city 3", 5)] == first
    entry = cube_index_sync._registry[cube_index_sync._key(memory.graph)]
    entry.checked_at -= 10 * 3600  # idle longer than the change log is kept
    memory.graph.delete_nodes([ids[0]])
    assert _index(memory).ids() == set(ids[1:])


@pytest.mark.services
def test_same_results_as_the_global_index_path(
    make_memory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the cube index adds on top (stemmed BM25 terms, the speaker / entity / time signals)
    # has no counterpart in the store's global indexes: switched off, the two paths must agree.
    monkeypatch.setattr(cube_index, "STEM_TERMS", False)
    cube = f"test-equal-{time.time_ns()}"
    indexed = make_memory(cube_id=cube)
    indexed.search_config = dataclasses.replace(DEFAULT_SEARCH, signals=SignalWeights())
    plain = make_memory(cube_id=cube, cube_index=False)
    texts = [
        "Dana adopted a grey cat named Pixel",
        "Dana runs a marathon every spring",
        "Eli bakes sourdough bread on Sundays",
        "Eli fixed the roof after the storm",
        "Fay studies volcanoes in Iceland",
        "Fay plays the cello in an orchestra",
        "Gus collects vintage postcards",
        "Gus learned to fly a small plane",
    ]
    indexed.add([chat_item(t, f"m{i}") for i, t in enumerate(texts)])
    for query in ("Which pet did Dana adopt?", "volcanoes", "What does Eli bake?", "plane"):
        for top_k in (1, 3):
            got = [m.id for m in indexed.search(query, top_k)]
            want = [m.id for m in plain.search(query, top_k)]
            assert got == want, query
    got = indexed.search("cello orchestra", 2, memory_type="WorkingMemory")
    assert got == plain.search("cello orchestra", 2, memory_type="WorkingMemory") == []


@pytest.mark.parametrize("stem_terms", [True, False])
def test_stemmed_terms_meet_inflections(stem_terms: bool) -> None:
    index = CubeIndex(DIM, stem_terms=stem_terms)
    index.upsert([row(0, "Eli bakes sourdough bread"), row(1, "Gus researching postcards")])
    hits = index.text_search(fulltext_query("What does Eli bake? What did Gus research?"), 5,
                             index.mask(ALL))  # fmt: skip
    # Only the stemmed index finds "bakes" and "researching" for "bake" and "research"; the
    # names match either way.
    assert {h[0] for h in hits} == {"n0", "n1"}
    scores = dict(hits)
    plain = CubeIndex(DIM, stem_terms=False)
    plain.upsert([row(0, "Eli bakes sourdough bread"), row(1, "Gus researching postcards")])
    base = dict(plain.text_search(fulltext_query("Eli Gus"), 5, plain.mask(ALL)))
    if stem_terms:
        assert scores["n0"] > base["n0"] and scores["n1"] > base["n1"]
    else:
        assert scores == pytest.approx(base)


@pytest.mark.services
def test_a_catch_up_started_since_the_wanted_moment_is_not_repeated(
    make_memory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = make_memory()
    memory.add([chat_item("Hana paints murals", "m1")])
    before = time.time()
    _index(memory)  # a catch-up that starts after ``before``
    reads: list[float] = []
    real = memory.graph.changes_since

    def counted(since: float, seen: Any = ()) -> Any:
        reads.append(since)
        return real(since, seen)

    monkeypatch.setattr(memory.graph, "changes_since", counted)
    cube_index_sync.synced_index(memory.graph, fresh_since=before)
    assert reads == []
    # A write after that catch-up, and a caller that needs it: caught up again.
    memory.add([chat_item("Hana also sculpts", "m2")])
    reads.clear()
    index = cube_index_sync.synced_index(memory.graph)
    assert len(reads) == 1 and len(index) == 2
