"""Entity nodes: what a write adds to the graph, and the nodes in the real store."""

from __future__ import annotations

from typing import Any

import pytest

from memos.memories.textual.entity_graph import entity_id, entity_write
from tests.memories.textual.test_tree import chat_item


def test_speakers_mentions_and_an_alias() -> None:
    rows = [
        {"id": "m1", "entities": ["@caroline", "mel", "charlotte web"]},
        {"id": "m2", "entities": ["@melanie", "caroline", "paris"]},
    ]
    write = entity_write(rows)
    names = {e["name"]: e["kind"] for e in write.entities}
    # "mel" is a short form of exactly one speaker of the write: an alias of melanie.
    assert names == {
        "caroline": "speaker",
        "melanie": "speaker",
        "charlotte web": "name",
        "paris": "name",
        "mel": "alias",
    }
    assert write.aliases == [{"alias": entity_id("mel"), "entity": entity_id("melanie")}]
    mentions = {(m["memory"], m["entity"], m["role"]) for m in write.mentions}
    assert mentions == {
        ("m1", entity_id("caroline"), "speaker"),
        ("m1", entity_id("melanie"), "mention"),
        ("m1", entity_id("charlotte web"), "mention"),
        ("m2", entity_id("melanie"), "speaker"),
        ("m2", entity_id("caroline"), "mention"),
        ("m2", entity_id("paris"), "mention"),
    }


def test_ambiguous_or_short_forms_are_not_aliases() -> None:
    rows = [
        {"id": "m1", "entities": ["@jonathan", "jo", "jon"]},
        {"id": "m2", "entities": ["@jonas"]},
    ]
    write = entity_write(rows)
    assert write.aliases == []  # "jon" starts two speakers; "jo" is too short
    assert {e["name"] for e in write.entities} == {"jonathan", "jonas", "jo", "jon"}


def test_no_entities_no_rows() -> None:
    write = entity_write([{"id": "m1", "entities": []}, {"id": "m2"}])
    assert (write.entities, write.mentions, write.aliases) == ([], [], [])


@pytest.mark.services
def test_entities_are_nodes_written_with_the_memories(make_memory: Any) -> None:
    memory = make_memory()
    items = [
        chat_item("Hey Mel! I went to Paris.", "D1:1", entities=["@caroline", "mel", "paris"]),
        chat_item("Paris sounds lovely, Caroline.", "D1:2", entities=["@melanie", "paris"]),
    ]
    ids = list(memory.add(items))
    graph = memory.graph
    found = {e["name"]: e for e in graph.entities()}
    assert set(found) == {"caroline", "mel", "melanie", "paris"}
    assert found["melanie"]["kind"] == "speaker" and found["melanie"]["aliases"] == ["mel"]
    # Mentions, with the alias resolved to the entity it stands for.
    by_entity: dict[str, set[tuple[str, str]]] = {}
    for row in graph.entity_memories([entity_id("paris"), entity_id("mel")]):
        by_entity.setdefault(row["entity"], set()).add((row["id"], row["role"]))
    assert by_entity[entity_id("paris")] == {(ids[0], "mention"), (ids[1], "mention")}
    assert by_entity[entity_id("mel")] == {(ids[0], "mention"), (ids[1], "speaker")}
    # Replaying the add (a redelivered event) changes nothing; entities are no memories.
    before = sorted((e["id"], e["kind"], tuple(e["aliases"])) for e in graph.entities())
    assert memory.add(items).duplicates
    after = sorted((e["id"], e["kind"], tuple(e["aliases"])) for e in graph.entities())
    assert after == before
    assert len(graph.entity_memories([entity_id("paris")])) == 2
    assert len(memory.get_all()) == 2
    # Dropping the cube drops its entities.
    memory.delete_all()
    assert graph.entities() == []


@pytest.mark.services
def test_entity_nodes_can_be_switched_off(make_memory: Any) -> None:
    memory = make_memory(entity_nodes=False)
    memory.add([chat_item("I went to Paris.", "D1:1", entities=["@caroline", "paris"])])
    assert memory.graph.entities() == []


@pytest.mark.services
def test_a_loaded_dump_gets_its_entities(make_memory: Any, tmp_path: Any) -> None:
    source = make_memory()
    source.add([chat_item("I went to Paris.", "D1:1", entities=["@caroline", "paris"])])
    source.dump(str(tmp_path))
    target = make_memory()
    target.load(str(tmp_path))
    assert {e["name"] for e in target.graph.entities()} == {"caroline", "paris"}


@pytest.mark.services
def test_an_add_that_loses_to_a_concurrent_write_runs_again(
    make_memory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from memos.errors import GraphStoreConflictError
    from memos.graph_dbs import CubeGraph

    memory = make_memory()
    real = CubeGraph.write_entities
    calls = {"n": 0}

    def conflicting(self: CubeGraph, *args: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:  # as a concurrent add creating the same entity would
            raise GraphStoreConflictError("graph constraint violated while merging entities")
        real(self, *args)

    monkeypatch.setattr(CubeGraph, "write_entities", conflicting)
    ids = list(memory.add([chat_item("I went to Paris.", "D1:1", entities=["@ann", "paris"])]))
    assert calls["n"] == 2
    assert memory.get(ids[0]).memory == "I went to Paris."
    assert {e["name"] for e in memory.graph.entities()} == {"ann", "paris"}
    assert memory.graph.count() == 1  # the first attempt left nothing behind
