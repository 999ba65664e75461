"""TreeTextMemory on the real embedded ArcadeDB with the real packaged MiniLM embedder."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memos.configs.embedder import EmbedderConfigFactory
from memos.configs.memory import MemoryConfigFactory, TreeTextMemoryConfig
from memos.embedders.base import BaseEmbedder
from memos.embedders.factory import EmbedderFactory
from memos.errors import (
    DimensionMismatchError,
    DumpFormatError,
    GraphStoreError,
    InvalidMemoryInputError,
    MemoryNotFoundError,
)
from memos.graph_dbs import CubeGraph, GraphStore
from memos.memories.textual.item import TextualMemoryItem, TreeNodeTextualMemoryMetadata
from memos.memories.textual.tree import TreeTextMemory
from tests.graph_dbs.helpers import DIALECT_PARAMS, graph_config, make_store

pytestmark = pytest.mark.services

EXAMPLE_CONFIG = Path(__file__).parents[3] / "examples" / "data" / "config" / "tree_config.json"


@pytest.fixture(scope="session")
def embedder() -> BaseEmbedder:
    """The packaged all-MiniLM-L6-v2, loaded once."""
    return EmbedderFactory.from_config(
        EmbedderConfigFactory(backend="sentence_transformer", config={})
    )


@pytest.fixture(scope="session", params=DIALECT_PARAMS)
def tree_store(request: pytest.FixtureRequest) -> Iterator[tuple[GraphStore, Any]]:
    """A set-up store per dialect and its config."""
    store = make_store(request.param, request)
    try:
        yield store, graph_config(request.param, request)
    finally:
        store.close()


@pytest.fixture
def make_memory(tree_store: tuple[GraphStore, Any], embedder: BaseEmbedder) -> Iterator[Any]:
    """Factory of TreeTextMemory instances, each on its own new cube; dropped afterwards."""
    store, graph_db = tree_store
    made: list[TreeTextMemory] = []

    def factory(cube_id: str | None = None, **fields: Any) -> TreeTextMemory:
        config = TreeTextMemoryConfig(
            cube_id=cube_id or f"test-{uuid.uuid4().hex}",
            user_id="alice",
            graph_db=graph_db,
            **fields,
        )
        memory = TreeTextMemory(config, embedder=embedder, store=store)
        made.append(memory)
        return memory

    yield factory
    for memory in made:
        memory.delete_all()


def chat_item(text: str, message_id: str | None = None, **meta: Any) -> TextualMemoryItem:
    """A tree item citing one chat message."""
    sources = [{"type": "chat", "role": "user", "message_id": message_id, "content": text}]
    return TextualMemoryItem(
        memory=text,
        metadata=TreeNodeTextualMemoryMetadata(sources=sources if message_id else [], **meta),
    )


FACTS = [
    "Caroline adopted a beagle named Rex last spring.",
    "Melanie is training for the Boston marathon.",
    "Caroline works as a counselor for LGBTQ youth.",
    "Melanie's favourite food is lemon tart.",
    "The book club meets every Thursday at the library.",
]


def test_example_config_validates() -> None:
    tree = TreeTextMemoryConfig.from_json_file(EXAMPLE_CONFIG)
    assert tree.graph_db.backend == "arcadedb"
    assert tree.graph_db.config.uri == "embedded"  # type: ignore[attr-defined]
    assert tree.embedder.backend == "sentence_transformer"
    factory = MemoryConfigFactory(
        backend="tree_text", config=json.loads(EXAMPLE_CONFIG.read_text())
    )
    assert isinstance(factory.config, TreeTextMemoryConfig)


def test_crud(make_memory: Any) -> None:
    memory = make_memory()
    ids = memory.add([{"memory": FACTS[0], "metadata": {"memory_type": "UserMemory"}}, FACTS[1]])
    assert len(ids) == 2 and ids.new_ids == list(ids) and ids.duplicates == {}
    first = memory.get(ids[0])
    assert first.memory == FACTS[0]
    assert first.metadata.memory_type == "UserMemory"  # type: ignore[union-attr]
    assert len(first.metadata.embedding or []) == 384  # type: ignore[union-attr]
    assert first.metadata.user_id == "alice"
    assert [m.memory for m in memory.get_by_ids([ids[1], ids[0]])] == [FACTS[1], FACTS[0]]

    memory.update(
        ids[0], {"memory": "Caroline adopted a cat named Luna.", "metadata": {"tags": ["pet"]}}
    )
    updated = memory.get(ids[0])
    assert updated.memory == "Caroline adopted a cat named Luna."
    assert updated.metadata.tags == ["pet"]
    assert updated.metadata.memory_type == "UserMemory"  # type: ignore[union-attr]
    assert updated.metadata.embedding != first.metadata.embedding  # type: ignore[union-attr]
    assert memory.search("Who has a cat called Luna?", 1)[0].id == ids[0]

    memory.delete([ids[1]])
    with pytest.raises(MemoryNotFoundError):
        memory.get(ids[1])
    with pytest.raises(MemoryNotFoundError):
        memory.delete([ids[0], str(uuid.uuid4())])
    assert memory.get(ids[0])  # nothing deleted by the failed call
    with pytest.raises(MemoryNotFoundError):
        memory.update(str(uuid.uuid4()), "nope")
    with pytest.raises(MemoryNotFoundError):
        memory.get_by_ids([ids[0], str(uuid.uuid4())])
    memory.delete_all()
    assert memory.get_all() == {"nodes": [], "edges": []}


def test_invalid_input(make_memory: Any) -> None:
    memory = make_memory()
    for bad in (["   "], [{"metadata": {}}], [42], "not a list"):
        with pytest.raises(InvalidMemoryInputError):
            memory.add(bad)
    with pytest.raises(InvalidMemoryInputError):
        memory.search("", 3)
    with pytest.raises(InvalidMemoryInputError):
        memory.search("x", 0)
    with pytest.raises(InvalidMemoryInputError):
        memory.search("x", 3, memory_type="ShortTermMemory")
    with pytest.raises(InvalidMemoryInputError):
        memory.search("x", 3, filter={"cube_id": "other"})


def test_get_all_shape_and_context_edges(make_memory: Any) -> None:
    memory = make_memory()
    window = [chat_item(f, f"m{i}", session_id="s1") for i, f in enumerate(FACTS[:3])]
    ids = memory.add(window)
    everything = memory.get_all()
    assert set(everything) == {"nodes", "edges"}
    json.dumps(everything)  # plain JSON all the way down
    node = next(n for n in everything["nodes"] if n["id"] == ids[0])
    assert node["memory"] == FACTS[0]
    assert node["metadata"]["memory_type"] == "LongTermMemory"
    assert node["metadata"]["sources"][0]["message_id"] == "m0"
    assert node["metadata"]["session_id"] == "s1"
    pairs = {(e["source"], e["target"]) for e in everything["edges"] if e["type"] == "CONTEXT"}
    assert pairs == {(ids[0], ids[1]), (ids[0], ids[2]), (ids[1], ids[2])}


def test_idempotent_re_add(make_memory: Any) -> None:
    memory = make_memory()
    window = [chat_item(f, f"msg-{i}", session_id="s") for i, f in enumerate(FACTS[:3])]
    first = memory.add(window)
    again = memory.add([chat_item(f, f"msg-{i}", session_id="s") for i, f in enumerate(FACTS[:3])])
    assert list(again) == list(first)
    assert again.new_ids == [] and set(again.duplicates.values()) == set(first)
    # whitespace and case do not make a new memory; a different source message does
    spaced = memory.add([chat_item("  caroline ADOPTED a beagle named Rex last spring. ", "msg-0")])
    assert list(spaced) == [first[0]] and spaced.new_ids == []
    other_source = memory.add([chat_item(FACTS[0], "msg-99")])
    assert other_source.new_ids == list(other_source)
    # re-delivering the same items (same ids) is also a no-op
    assert list(memory.add(window)) == list(first)
    everything = memory.get_all()
    assert len(everything["nodes"]) == 4
    assert len([e for e in everything["edges"] if e["type"] == "CONTEXT"]) == 3


def test_same_id_with_other_content_is_refused(make_memory: Any) -> None:
    memory = make_memory()
    ids = memory.add([FACTS[0]])
    with pytest.raises(InvalidMemoryInputError, match="update"):
        memory.add([{"id": ids[0], "memory": FACTS[1]}])
    assert memory.get(ids[0]).memory == FACTS[0]


def test_tenant_isolation(make_memory: Any) -> None:
    a = make_memory()
    b = make_memory()
    a_ids = a.add([chat_item(f, f"a{i}") for i, f in enumerate(FACTS)])
    b.add(["Zed keeps bees on his roof."])
    # reads
    for memory_id in a_ids:
        with pytest.raises(MemoryNotFoundError):
            b.get(memory_id)
    with pytest.raises(MemoryNotFoundError):
        b.get_by_ids(list(a_ids[:1]))
    assert {n["memory"] for n in b.get_all()["nodes"]} == {"Zed keeps bees on his roof."}
    # searches
    for query in ("Who adopted a beagle?", "marathon", FACTS[3]):
        assert {r.id for r in b.search(query, 10, mode="fine")}.isdisjoint(a_ids)
    # updates and deletes
    with pytest.raises(MemoryNotFoundError):
        b.update(a_ids[0], "hijacked")
    with pytest.raises(MemoryNotFoundError):
        b.delete([a_ids[0]])
    # a guessed id used in cube b makes b's own node and leaves a's alone
    guessed = b.add([{"id": a_ids[1], "memory": "b writes under a's id"}])
    assert list(guessed) == [a_ids[1]]
    assert a.get(a_ids[1]).memory == FACTS[1]
    b.update(a_ids[1], "b changes its own node")
    b.delete([a_ids[1]])
    b.delete_all()
    assert a.get(a_ids[1]).memory == FACTS[1]
    assert len(a.get_all()["nodes"]) == len(FACTS)
    assert a.search("Who adopted a beagle?", 1)[0].id == a_ids[0]


INJECTIONS = [
    "'}) DETACH DELETE n //",
    '"}) MATCH (m) DETACH DELETE m RETURN 1 //',
    '{"memory": "json", "cube_id": "other", "nested": {"a": [1, 2]}}',
    'Lucene: +must -not && || ! (group) {range} [x TO y] ^2 "phrase" fuzzy~ wild* que?y \\ /',
    "O'Brien's café — naïve 東京 emoji 🎉 and a backslash \\' quote",
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_shaped_text_round_trips(make_memory: Any, text: str) -> None:
    memory = make_memory()
    ids = memory.add([text, "An unrelated note about gardening tomatoes."])
    assert memory.get(ids[0]).memory == text
    for mode in ("fast", "fine"):
        results = memory.search(text, 2, mode=mode)
        assert results[0].id == ids[0]
    assert len(memory.get_all()["nodes"]) == 2


@pytest.mark.parametrize("query", ["AND OR NOT", "***", "(((", '"', "\\", "' OR 1=1 --", "?"])
def test_lucene_special_queries_do_not_fail(make_memory: Any, query: str) -> None:
    memory = make_memory()
    memory.add(FACTS[:2])
    assert len(memory.search(query, 2)) == 2


def test_search_ranks_and_scores(make_memory: Any) -> None:
    memory = make_memory()
    ids = memory.add(FACTS)
    for mode in ("fast", "fine"):
        results = memory.search("What is Melanie training for?", 3, mode=mode)
        assert results[0].id == ids[1]
        scores = [r.metadata.relativity for r in results]
        assert all(s is not None and s > 0 for s in scores)
        if mode == "fast":
            assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    assert len(memory.search("anything", 50)) == len(FACTS)


def test_memory_type_filter(make_memory: Any) -> None:
    memory = make_memory()
    memory.add(
        [
            {"memory": FACTS[0], "metadata": {"memory_type": "UserMemory"}},
            {"memory": FACTS[1], "metadata": {"memory_type": "WorkingMemory"}},
            {"memory": FACTS[2], "metadata": {"memory_type": "LongTermMemory"}},
        ]
    )
    only = memory.search("Caroline", 5, memory_type="UserMemory")
    assert [r.memory for r in only] == [FACTS[0]]
    two = memory.search("Caroline", 5, memory_type=["UserMemory", "LongTermMemory"])
    assert {r.memory for r in two} == {FACTS[0], FACTS[2]}
    assert len(memory.search("Caroline", 5, memory_type="All")) == 3
    via_filter = memory.search("Caroline", 5, filter={"memory_type": "WorkingMemory"})
    assert [r.memory for r in via_filter] == [FACTS[1]]


def test_validity_and_status(make_memory: Any) -> None:
    memory = make_memory()
    old, new, future, archived = memory.add(
        [
            {
                "memory": "Melanie lives in Denver.",
                "metadata": {"valid_at": "2020-01-01", "invalid_at": "2024-06-01T00:00:00Z"},
            },
            {"memory": "Melanie lives in Seattle.", "metadata": {"valid_at": "2024-06-01"}},
            {"memory": "Melanie will live in Oslo.", "metadata": {"valid_at": "2999-01-01"}},
            {"memory": "Melanie lived in Rome.", "metadata": {"status": "archived"}},
        ]
    )
    now_ids = {r.id for r in memory.search("Where does Melanie live?", 10)}
    assert now_ids == {new}
    then_ids = {r.id for r in memory.search("Where does Melanie live?", 10, as_of="2023-03-01")}
    assert then_ids == {old}
    later = memory.search("Where does Melanie live?", 10, as_of="3000-01-01T00:00:00+00:00")
    assert {r.id for r in later} == {new, future}
    archived_hits = memory.search("Melanie", 10, filter={"status": "archived"})
    assert [r.id for r in archived_hits] == [archived]
    # invalidating a fact removes it from search without deleting it
    memory.update(new, {"metadata": {"invalid_at": "2025-01-01T00:00:00+00:00"}})
    assert memory.search("Where does Melanie live?", 10) == []
    assert memory.get(new).metadata.invalid_at == "2025-01-01T00:00:00+00:00"  # type: ignore[union-attr]
    with pytest.raises(InvalidMemoryInputError):
        memory.search("x", 1, as_of="yesterday-ish")


def test_graph_and_session_context(make_memory: Any) -> None:
    memory = make_memory()
    window = [
        chat_item("Caroline adopted a beagle named Rex.", "w1", session_id="s1"),
        chat_item("She picked him up from a shelter in Ohio.", "w2", session_id="s1"),
    ]
    ids = memory.add(window)
    memory.add([chat_item(f, f"x{i}", session_id="s2") for i, f in enumerate(FACTS[1:])])
    # The shelter memory shares no word with the question: the CONTEXT edge brings it in.
    results = memory.search("Tell me about the beagle Rex", 2)
    assert [r.id for r in results] == list(ids)
    with_session = memory.search("Where is the shelter?", 3, session_id="s1")
    assert set(ids) <= {r.id for r in with_session}


def test_dump_load_round_trip(make_memory: Any, tmp_path: Path) -> None:
    source = make_memory()
    ids = source.add([chat_item(f, f"m{i}", session_id="s") for i, f in enumerate(FACTS)])
    source.update(ids[0], {"metadata": {"tags": ["dog"], "invalid_at": "2999-01-01"}})
    source.graph.merge_edges("PARENT", [{"source": ids[4], "target": ids[2], "props": {"w": 1}}])
    source.dump(tmp_path)
    dumped = json.loads((tmp_path / "textual_memory.json").read_text())
    assert dumped["format_version"] == 1 and len(dumped["nodes"]) == len(FACTS)
    assert len(dumped["nodes"][0]["metadata"]["embedding"]) == 384

    target = make_memory()
    target.add(["something that the load replaces"])
    target.load(tmp_path)
    before, after = source.get_all(), target.get_all()
    assert after["nodes"] == before["nodes"]
    assert after["edges"] == before["edges"]
    for query in ("Who adopted a dog?", "book club", "marathon training"):
        for mode in ("fast", "fine"):
            got = [(r.id, r.metadata.relativity) for r in target.search(query, 3, mode=mode)]
            want = [(r.id, r.metadata.relativity) for r in source.search(query, 3, mode=mode)]
            assert got == want
    # loading again is a no-op on content
    target.load(tmp_path)
    assert target.get_all() == after


def corrupt_dumps(good: dict[str, Any]) -> dict[str, str]:
    """File contents that load must refuse."""
    dangling = json.loads(json.dumps(good))
    dangling["edges"].append(
        {"source": good["nodes"][0]["id"], "target": "nowhere", "type": "CONTEXT"}
    )
    bad_dim = json.loads(json.dumps(good))
    bad_dim["nodes"][0]["metadata"]["embedding"] = [0.1, 0.2]
    bad_type = json.loads(json.dumps(good))
    bad_type["edges"].append(
        {"source": good["nodes"][0]["id"], "target": good["nodes"][1]["id"], "type": "OWNS"}
    )
    return {
        "not json": "{ this is not json",
        "truncated": json.dumps(good)[:-40],
        "wrong version": json.dumps({**good, "format_version": 99}),
        "other dimension": json.dumps({**good, "embedding_dimension": 768}),
        "dangling edge": json.dumps(dangling),
        "bad embedding": json.dumps(bad_dim),
        "unknown edge type": json.dumps(bad_type),
        "node without text": json.dumps({**good, "nodes": [{"id": str(uuid.uuid4())}]}),
    }


def test_load_refuses_corrupt_dumps(make_memory: Any, tmp_path: Path) -> None:
    source = make_memory()
    source.add([chat_item(f, f"m{i}", session_id="s") for i, f in enumerate(FACTS[:2])])
    source.dump(tmp_path / "good")
    good = json.loads((tmp_path / "good" / "textual_memory.json").read_text())

    target = make_memory()
    kept = target.add(["kept through failed loads"])
    with pytest.raises(DumpFormatError):
        target.load(tmp_path / "missing")
    for name, text in corrupt_dumps(good).items():
        folder = tmp_path / name.replace(" ", "_")
        folder.mkdir()
        (folder / "textual_memory.json").write_text(text)
        with pytest.raises(DumpFormatError):
            target.load(folder)
        assert [n["id"] for n in target.get_all()["nodes"]] == list(kept), name


def test_load_is_all_or_nothing(
    make_memory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_memory()
    ids = source.add(FACTS[:2])
    source.graph.merge_edges("RELATE_TO", [{"source": ids[0], "target": ids[1]}])
    source.dump(tmp_path)
    target = make_memory()
    kept = target.add(["kept"])
    calls: list[str] = []

    def failing_merge(self: CubeGraph, rel_type: str, rows: Any, batch_size: int = 500) -> int:
        calls.append(rel_type)
        raise GraphStoreError("simulated failure after the nodes were written")

    # The edges are the last step of load's transaction: the delete and node writes roll back.
    monkeypatch.setattr(CubeGraph, "merge_edges", failing_merge)
    with pytest.raises(GraphStoreError, match="simulated"):
        target.load(tmp_path)
    monkeypatch.undo()
    assert len(calls) == 1
    assert [n["id"] for n in target.get_all()["nodes"]] == list(kept)


def test_dimension_mismatch_is_reported(
    tree_store: tuple[GraphStore, Any], embedder: BaseEmbedder
) -> None:
    _, graph_db = tree_store
    wrong = graph_db.model_copy(
        update={"config": graph_db.config.model_copy(update={"embedding_dimension": 128})}
    )
    memory = TreeTextMemory(
        TreeTextMemoryConfig(cube_id=f"test-{uuid.uuid4().hex}", graph_db=wrong), embedder=embedder
    )
    with pytest.raises(DimensionMismatchError):
        memory.add(["anything"])
    memory.close()


def test_extract_then_add(make_memory: Any) -> None:
    memory = make_memory()
    items = memory.extract(
        [
            {"role": "user", "content": "I just moved to Lisbon and I love the tiles here."},
            {"role": "assistant", "content": "Lisbon is lovely! How are you settling in?"},
        ]
    )
    assert items
    ids = memory.add(items)
    assert memory.search("Where did the user move?", 1)[0].id in ids


def test_memory_factory_builds_tree_memory_without_io() -> None:
    from memos.memories.factory import MemoryFactory

    built = MemoryFactory.from_config(
        MemoryConfigFactory(backend="tree_text", config={"cube_id": "factory-cube"})
    )
    assert isinstance(built, TreeTextMemory)
    assert built.cube_id == "factory-cube"
    with pytest.raises(InvalidMemoryInputError):
        TreeTextMemory(TreeTextMemoryConfig(cube_id="bad cube id"))
