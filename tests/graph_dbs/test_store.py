"""The Cypher graph store against the real ArcadeDB (and Neo4j where configured)."""

from __future__ import annotations

import time
import uuid

import pytest

from memos.configs.graph_db import GraphDBConfigFactory
from memos.errors import (
    BackendUnavailableError,
    ConfigError,
    GraphStoreError,
    InvalidMemoryInputError,
)
from memos.graph_dbs import ANY_NODE, GraphStore, NodeFilter, validate_cube_id
from memos.graph_dbs.queries import CHANGE_SLOT_S, EDGE_TYPES, LOG_CHANGE, safe_identifier
from memos.graph_dbs.store import change_slot
from memos.memories.textual.retrieval import fulltext_query
from tests.graph_dbs.helpers import new_cube, unit_vector

pytestmark = pytest.mark.services


def node(text: str, seed: int, **extra: object) -> dict[str, object]:
    """A minimal node row."""
    return {
        "id": str(uuid.uuid4()),
        "memory": text,
        "embedding": unit_vector(seed),
        "status": "activated",
        "memory_type": "LongTermMemory",
        **extra,
    }


def test_setup_is_idempotent(graph_store: GraphStore) -> None:
    graph_store.setup()
    graph_store.setup()
    graph_store.verify()


def test_schema_is_set_up_once_per_process_and_again_after_the_server_was_lost(
    graph_store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = GraphStore._setup

    def counting(self: GraphStore, *args: object) -> None:
        calls.append(1)
        real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(GraphStore, "_setup", counting)
    graph_store.setup()  # the session's store: already set up in this process
    # Another store (a cube's memory) on the same server: no schema statements either.
    other = GraphStore(graph_store.config, dialect=graph_store.dialect.name)
    other.setup()
    other.close()
    assert calls == []
    graph_store.forget_connection()  # what an unreachable server leads to
    graph_store.setup()
    assert calls == [1]
    graph_store.setup()
    assert calls == [1]
    graph_store.verify()


def test_create_get_update_delete(graph_store: GraphStore) -> None:
    graph = graph_store.for_cube(new_cube(), "alice")
    rows = [node("first", 1, tags=["a", "b"]), node("second", 2)]
    assert graph.create_nodes(rows) == 2
    got = graph.get_nodes([rows[1]["id"], rows[0]["id"], "missing"])
    assert [g["memory"] for g in got] == ["second", "first"]
    assert got[1]["tags"] == ["a", "b"]
    assert all(g["cube_id"] == graph.cube_id and g["user_id"] == "alice" for g in got)

    assert graph.update_node(str(rows[0]["id"]), {"memory": "changed", "tags": None})
    changed = graph.get_node(str(rows[0]["id"]))
    assert changed is not None and changed["memory"] == "changed" and "tags" not in changed
    assert not graph.update_node("no-such-id", {"memory": "x"})

    assert graph.delete_nodes([str(rows[0]["id"]), "no-such-id"]) == 1
    assert graph.count() == 1


def test_row_cannot_choose_its_cube(graph_store: GraphStore) -> None:
    mine = graph_store.for_cube(new_cube())
    other = graph_store.for_cube(new_cube())
    row = node("sneaky", 3, cube_id=other.cube_id)
    mine.create_nodes([row])
    assert other.count() == 0
    assert mine.get_node(str(row["id"])) is not None
    # update cannot move a node either
    mine.update_node(str(row["id"]), {"cube_id": other.cube_id})
    assert other.count() == 0 and mine.count() == 1


def test_cubes_are_isolated(graph_store: GraphStore) -> None:
    a = graph_store.for_cube(new_cube())
    b = graph_store.for_cube(new_cube())
    a_rows = [node(f"alpha secret number {i}", 100 + i) for i in range(5)]
    a.create_nodes(a_rows)
    a_ids = [str(r["id"]) for r in a_rows]
    a.merge_edges("RELATE_TO", [{"source": a_ids[0], "target": a_ids[1]}])
    b.create_nodes([node("beta note", 200)])

    assert b.get_nodes(a_ids) == []
    assert b.existing_ids(a_ids) == set()
    assert not b.update_node(a_ids[0], {"memory": "hijacked"})
    assert b.delete_nodes(a_ids) == 0
    assert b.merge_edges("RELATE_TO", [{"source": a_ids[0], "target": a_ids[2]}]) == 0
    assert b.neighbors(a_ids) == []
    assert b.edges_from(a_ids) == []
    vec_hits = b.vector_search(unit_vector(100), 10)
    assert vec_hits and not {i for i, _ in vec_hits} & set(a_ids)
    assert b.fulltext_search(fulltext_query("alpha secret"), 10) == []
    b.delete_all()
    # cube A is exactly as it was
    assert a.count() == 5
    assert a.get_node(a_ids[0])["memory"] == "alpha secret number 0"  # type: ignore[index]
    assert len(a.edges_from(a_ids)) == 1


def test_guessed_id_in_another_cube_creates_a_separate_node(graph_store: GraphStore) -> None:
    a = graph_store.for_cube(new_cube())
    b = graph_store.for_cube(new_cube())
    row = node("owned by a", 5)
    a.create_nodes([row])
    b.create_nodes([{**row, "memory": "written by b"}])
    assert a.get_node(str(row["id"]))["memory"] == "owned by a"  # type: ignore[index]
    assert b.get_node(str(row["id"]))["memory"] == "written by b"  # type: ignore[index]
    b.delete_nodes([str(row["id"])])
    assert a.get_node(str(row["id"])) is not None


def test_small_cube_gets_its_top_k_among_many_closer_nodes(graph_store: GraphStore) -> None:
    query = unit_vector(7)
    crowd = graph_store.for_cube(new_cube())
    # The crowd sits right on the query; the small cube's nodes are far from it.
    crowd.create_nodes([node(f"crowd {i}", 7, id=str(uuid.uuid4())) for i in range(120)])
    small = graph_store.for_cube(new_cube())
    small_rows = [node(f"small {i}", 900 + i) for i in range(3)]
    small.create_nodes(small_rows)
    hits = small.vector_search(query, 3)
    assert {i for i, _ in hits} == {str(r["id"]) for r in small_rows}
    assert all(0.0 <= score <= 1.0 for _, score in hits)
    # exact-scan scores are on the index's (1 + cos) / 2 scale: random 384-d vectors have cos~0
    assert all(abs(score - 0.5) < 0.1 for _, score in hits)
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)
    crowd_hits = crowd.vector_search(query, 5)
    assert len(crowd_hits) == 5 and crowd_hits[0][1] > 0.99
    crowd.delete_all()


def test_filters_apply_to_vector_and_fulltext(graph_store: GraphStore) -> None:
    graph = graph_store.for_cube(new_cube())
    now = 1_800_000_000.0
    rows = [
        node("lemon tart recipe current", 11, memory_type="UserMemory"),
        node("lemon tart recipe expired", 12, invalid_at_ts=now - 10),
        node("lemon tart recipe future", 13, valid_at_ts=now + 10),
        node("lemon tart recipe archived", 14, status="archived"),
    ]
    graph.create_nodes(rows)
    flt = NodeFilter(valid_at_ts=now)
    texts = {str(r["id"]): str(r["memory"]) for r in rows}
    vec = {texts[i] for i, _ in graph.vector_search(unit_vector(11), 10, flt)}
    ft = {texts[i] for i, _ in graph.fulltext_search("lemon OR tart", 10, flt)}
    assert vec == ft == {"lemon tart recipe current"}
    past = NodeFilter(valid_at_ts=now - 100)
    assert {texts[i] for i, _ in graph.fulltext_search("lemon", 10, past)} == {
        "lemon tart recipe current",
        "lemon tart recipe expired",
    }
    only_user = NodeFilter(memory_types=("LongTermMemory",), valid_at_ts=now)
    assert graph.fulltext_search("lemon", 10, only_user) == []
    assert len(graph.fulltext_search("lemon", 10, ANY_NODE)) == 4


def test_injection_shaped_text_is_stored_verbatim(graph_store: GraphStore) -> None:
    graph = graph_store.for_cube(new_cube())
    texts = [
        "'}) DETACH DELETE n //",
        'MATCH (n) DETACH DELETE n; {"json": [1, 2]}',
        'Robert"); DROP TABLE memories;-- and \\backslash',
        'lucene +special -chars && || ! ( ) { } [ ] ^ " ~ * ? : \\ /',
    ]
    rows = [node(t, 30 + i) for i, t in enumerate(texts)]
    graph.create_nodes(rows)
    stored = [g["memory"] for g in graph.get_nodes([str(r["id"]) for r in rows])]
    assert stored == texts
    hits = graph.fulltext_search(fulltext_query("'}) DETACH DELETE n //"), 10)
    assert {i for i, _ in hits} >= {str(rows[0]["id"]), str(rows[1]["id"])}
    assert graph.fulltext_search(fulltext_query(texts[3]), 10)
    assert graph.count() == 4


def test_transaction_commits_and_rolls_back(graph_store: GraphStore) -> None:
    graph = graph_store.for_cube(new_cube())
    with graph.transaction() as tx:
        tx.create_nodes([node("kept", 40)])
        assert tx.count() == 1
    assert graph.count() == 1
    with pytest.raises(RuntimeError), graph.transaction() as tx:
        tx.create_nodes([node("dropped", 41)])
        raise RuntimeError("boom")
    assert graph.count() == 1
    with graph.transaction() as tx, pytest.raises(GraphStoreError), tx.transaction():
        pass


def test_edges_merge_once_and_list(graph_store: GraphStore) -> None:
    graph = graph_store.for_cube(new_cube())
    rows = [node(f"n{i}", 50 + i) for i in range(3)]
    graph.create_nodes(rows)
    ids = [str(r["id"]) for r in rows]
    pairs = [{"source": ids[0], "target": ids[1]}, {"source": ids[1], "target": ids[2]}]
    assert graph.merge_edges("CONTEXT", pairs) == 2
    graph.merge_edges("CONTEXT", pairs)
    graph.merge_edges("PARENT", [{"source": ids[0], "target": ids[2], "props": {"w": 0.5}}])
    edges = sorted(
        (e["source"], e["target"], e["type"], e["props"].get("w")) for e in graph.edges_from(ids)
    )
    assert len(edges) == 3
    assert (ids[0], ids[2], "PARENT", 0.5) in edges
    seeds = {r["id"] for r in graph.neighbors([ids[1]], ("CONTEXT",))}
    assert seeds == {ids[0], ids[2]}
    assert graph.delete_edges("CONTEXT", pairs[:1]) == 1
    assert len(graph.edges_from(ids)) == 2


def test_edges_of_finds_both_directions_once(graph_store: GraphStore) -> None:
    graph = graph_store.for_cube(new_cube())
    rows = [node(f"e{i}", 60 + i) for i in range(4)]
    graph.create_nodes(rows)
    ids = [str(r["id"]) for r in rows]
    graph.merge_edges("SUPERSEDES", [{"source": ids[1], "target": ids[0]}])
    graph.merge_edges("MERGED_TO", [{"source": ids[0], "target": ids[2]}])
    graph.merge_edges("CONTEXT", [{"source": ids[0], "target": ids[3]}])
    edges = {(e["source"], e["target"], e["type"]) for e in graph.edges_of([ids[0]])}
    assert edges == {
        (ids[1], ids[0], "SUPERSEDES"),
        (ids[0], ids[2], "MERGED_TO"),
        (ids[0], ids[3], "CONTEXT"),
    }
    lineage = graph.edges_of([ids[0], ids[1]], ("SUPERSEDES", "MERGED_TO"))
    assert len(lineage) == 2  # the edge between two seeds is listed once
    other = graph_store.for_cube(new_cube())
    assert other.edges_of([ids[0]]) == []  # scoped to the cube
    with pytest.raises(GraphStoreError):
        graph.edges_of([ids[0]], ("X]->(m) DETACH DELETE m //",))


def test_identifiers_are_checked() -> None:
    assert safe_identifier("CONTEXT", EDGE_TYPES) == "CONTEXT"
    for bad in ("CONTEXT]->() DETACH DELETE n //", "UNKNOWN", "", "context"):
        with pytest.raises(GraphStoreError):
            safe_identifier(bad, EDGE_TYPES)


def test_bad_edge_type_is_refused(graph_store: GraphStore) -> None:
    graph = graph_store.for_cube(new_cube())
    with pytest.raises(GraphStoreError):
        graph.merge_edges("X]->(m) DETACH DELETE m //", [{"source": "a", "target": "b"}])


@pytest.mark.parametrize("cube_id", ["", "a b", "x'}) //", "c" * 129, "tab\t"])
def test_cube_ids_are_validated(cube_id: str) -> None:
    with pytest.raises(InvalidMemoryInputError):
        validate_cube_id(cube_id)


def test_delete_all_in_slices(graph_store: GraphStore) -> None:
    graph = graph_store.for_cube(new_cube())
    graph.create_nodes([node(f"n{i}", 60 + i) for i in range(25)], batch_size=7)
    pages = list(graph.iter_node_pages(page_size=10))
    assert [len(p) for p in pages] == [10, 10, 5]
    assert len({p["id"] for page in pages for p in page}) == 25
    assert graph.delete_all(slice_size=10) == 25
    assert graph.count() == 0


def test_index_rows_stream_in_chunks_of_one_cube(graph_store: GraphStore) -> None:
    graph = graph_store.for_cube(new_cube())
    other = graph_store.for_cube(new_cube())
    rows = [node(f"n{i}", 80 + i) for i in range(25)]
    graph.create_nodes(rows, batch_size=7)
    other.create_nodes([node("elsewhere", 79)])
    chunks = list(graph.iter_index_pages(page_size=10))
    assert [len(c) for c in chunks] == [10, 10, 5]
    got = {str(r["id"]): r for chunk in chunks for r in chunk}
    assert set(got) == {str(r["id"]) for r in rows}
    assert got[str(rows[3]["id"])]["memory"] == "n3"
    assert got[str(rows[3]["id"])]["embedding"] == pytest.approx(rows[3]["embedding"])
    # Inside a transaction the stream reads that transaction (its own uncommitted write too).
    with graph.transaction() as tx:
        tx.create_nodes([node("in tx", 78)])
        assert sum(len(c) for c in tx.iter_index_pages(page_size=10)) == 26
    # A stream left early closes its transaction: the cube stays writable and readable.
    stream = graph.iter_index_pages(page_size=10)
    assert len(next(stream)) == 10
    stream.close()
    graph.create_nodes([node("after", 77)])
    assert sum(len(c) for c in graph.iter_index_pages(page_size=100)) == 27


def _log_at(store: GraphStore, cube_id: str, at: float) -> str:
    """A change-log entry of ``cube_id`` stamped ``at`` (a writer with that clock)."""
    key = uuid.uuid4().hex
    with store.driver().session(database=store.database) as session:
        session.run(
            LOG_CHANGE,
            cube_id=cube_id, key=key, at=at, slot=change_slot(at), ids=["x"], reset=False,
        ).consume()  # fmt: skip
    return key


def test_change_log_reads_the_window_by_slot(graph_store: GraphStore) -> None:
    graph = graph_store.for_cube(new_cube())
    other = graph_store.for_cube(new_cube())
    now = time.time()
    # A real write logs its own entry, found right after.
    graph.create_nodes([node("logged", 90)])
    assert len(graph.changes_since(now - 5)) == 1
    boundary = (change_slot(now) - 3) * CHANGE_SLOT_S
    old = _log_at(graph_store, graph.cube_id, boundary - 30)  # before since
    early_slot = _log_at(graph_store, graph.cube_id, boundary + 1)  # after since, older slot
    ahead = _log_at(graph_store, graph.cube_id, now + 90)  # a writer clock 90 s ahead
    _log_at(graph_store, other.cube_id, now)  # another cube's entry
    keys = {c["key"] for c in graph.changes_since(boundary - 0.5)}
    assert early_slot in keys and ahead in keys and old not in keys
    assert len(keys) == 3  # and the write's own entry
    assert early_slot not in {c["key"] for c in graph.changes_since(boundary - 0.5, [early_slot])}


def test_dedup_key_lookup(graph_store: GraphStore) -> None:
    a = graph_store.for_cube(new_cube())
    b = graph_store.for_cube(new_cube())
    row = node("dup", 70, dedup_key="k1")
    a.create_nodes([row])
    assert a.find_by_dedup_keys(["k1", "k2"]) == {"k1": row["id"]}
    assert b.find_by_dedup_keys(["k1"]) == {}


def test_wrong_password_is_a_graph_store_error(request: pytest.FixtureRequest) -> None:
    state = request.getfixturevalue("embedded_stack")
    config = GraphDBConfigFactory(
        backend="arcadedb",
        config={
            "uri": state.arcadedb.bolt_url,
            "http_url": state.arcadedb.http_url,
            "password": "definitely-wrong",
            "db_name": state.arcadedb.database,
        },
    )
    with GraphStore(config) as store, pytest.raises(GraphStoreError, match=r"credentials|refused"):
        store.verify()


def test_unreachable_server_is_a_graph_store_error() -> None:
    config = GraphDBConfigFactory(
        backend="neo4j", config={"uri": "bolt://127.0.0.1:1", "password": "x"}
    )
    with GraphStore(config) as store, pytest.raises(GraphStoreError, match="unreachable") as info:
        store.verify()
    # An outage, not a bad event: the scheduler retries it without using up attempts.
    assert isinstance(info.value, BackendUnavailableError)


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="password"):
        GraphStore(GraphDBConfigFactory(backend="neo4j", config={"uri": "bolt://x"})).driver()
    with pytest.raises(ConfigError, match="db_name"):
        GraphStore(GraphDBConfigFactory(backend="neo4j", config={"db_name": "x`; DROP"}))
