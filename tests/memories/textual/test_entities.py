"""Rule-based entities, query decomposition and the cube index's entity signals."""

from __future__ import annotations

import math
import random

import numpy as np

from memos.graph_dbs import NodeFilter
from memos.memories.textual.cube_index import CubeIndex
from memos.memories.textual.entities import (
    SPEAKER_PREFIX,
    extract_entities,
    match_query,
    memory_entities,
    normalise,
)
from memos.memories.textual.query_signals import (
    SignalWeights,
    asks_when,
    decompose,
    signal_rankings,
)
from memos.memories.textual.retrieval import fulltext_query

DIM = 8
ALL = NodeFilter(statuses=None)


def unit(seed: int) -> list[float]:
    rng = random.Random(seed)
    raw = [rng.gauss(0.0, 1.0) for _ in range(DIM)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


def test_capitalised_spans_are_entities_normalised_like_the_text_index() -> None:
    text = "I loved reading Charlotte's Web and visiting New York with the Beatles fan club."
    assert extract_entities(text) == ["charlotte web", "new york", "beatles"]
    # Stopword-only spans ("I", "The") are not entities.
    assert extract_entities("I think The End") == ["end"]
    # Greetings are not part of a name.
    assert extract_entities("Hey Mel! Thanks, Jon.") == ["mel", "jon"]
    assert normalise("Charlotte's  Web!") == "charlotte web"


def test_memory_entities_put_the_speaker_first_with_its_prefix() -> None:
    assert memory_entities("Melanie", "Went to Paris with Caroline") == [
        SPEAKER_PREFIX + "melanie",
        "went",
        "paris",
        "caroline",
    ]
    assert memory_entities(None, "nothing named here") == []


def _decompose(question: str, speakers: list[str], entities: list[str]) -> tuple[list, list]:
    def prefix(term: str) -> list[str]:
        return [s for s in speakers if s.startswith(term)]

    parts = match_query(question, set(entities).__contains__, speakers, prefix)
    return parts.speakers, parts.entities


def test_questions_name_speakers_entities_and_short_forms_of_the_cube() -> None:
    speakers = ["melanie", "caroline"]
    entities = ["new york", "paris"]
    assert _decompose("What did Caroline do in New York?", speakers, entities) == (
        ["caroline"],
        ["new york"],
    )
    # Lowercase questions match too; "Mel" is a short form of exactly one speaker.
    assert _decompose("when did mel go to paris", speakers, entities) == (["melanie"], ["paris"])
    # A prefix shared by two names is ambiguous, so it names nobody.
    assert _decompose("What did Car say?", ["carl", "caroline"], []) == ([], [])
    # Names of another cube are unknown here.
    assert _decompose("What did Oscar do in Rome?", speakers, entities) == ([], [])


def test_first_person_questions_are_about_the_user_speaker_when_there_is_one() -> None:
    assert _decompose("What did I buy last week?", ["user", "assistant"], []) == (["user"], [])
    assert _decompose("What did I buy last week?", ["melanie"], []) == ([], [])


def test_when_intent() -> None:
    assert asks_when("When did Melanie paint a sunrise?")
    assert asks_when("In what year did she move?")
    assert not asks_when("What did Melanie paint?")


def _index() -> CubeIndex:
    index = CubeIndex(DIM)
    rows = [
        ("a0", "alice", "Alice said: I adopted a dog in Paris", ["paris"], "2023-05-01"),
        ("a1", "alice", "Alice said: the weather is nice", [], None),
        ("b0", "bob", "Bob said: Alice, I went hiking", ["alice"], None),
        ("b1", "bob", "Bob said: Paris is lovely", ["paris"], None),
    ]
    index.upsert(
        [
            {
                "id": node_id,
                "embedding": unit(i),
                "memory": text,
                "status": "activated",
                "memory_type": "LongTermMemory",
                "entities": [SPEAKER_PREFIX + speaker, *names],
                "memory_time": when,
            }
            for i, (node_id, speaker, text, names, when) in enumerate(rows)
        ]
    )
    return index


def test_cube_index_speaker_entity_and_time_masks_follow_upsert_and_remove() -> None:
    index = _index()
    ids = np.array(["a0", "a1", "b0", "b1"])
    assert sorted(index.speakers()) == ["alice", "bob"]
    assert list(ids[index.speaker_mask(["alice"])]) == ["a0", "a1"]
    assert list(ids[index.entity_mask(["paris"])]) == ["a0", "b1"]
    assert list(ids[index.timed_mask()]) == ["a0"]
    assert index.is_entity("paris") and not index.is_entity("rome")
    # An update moves the node to a new position: the old one no longer counts.
    index.upsert([{"id": "b1", "embedding": unit(9), "memory": "Bob: Rome", "entities": ["rome"]}])
    live = index.mask(ALL)
    assert live.sum() == 4
    assert int((index.entity_mask(["paris"]) & live).sum()) == 1
    assert index.is_entity("rome")
    # Names stored as written (an LLM's entities) are keyed as questions are matched.
    index.upsert([{"id": "c0", "embedding": unit(5), "memory": "x", "entities": ["New York"]}])
    assert index.is_entity("new york")


def test_entity_postings_survive_compaction() -> None:
    index = CubeIndex(DIM)
    rows = [
        {
            "id": f"n{i}",
            "embedding": unit(i),
            "memory": f"memory {i}",
            "entities": [SPEAKER_PREFIX + ("x" if i % 2 else "y"), f"e{i % 3}"],
            "memory_time": "2023" if i % 5 == 0 else None,
        }
        for i in range(400)
    ]
    index.upsert(rows)
    index.remove([f"n{i}" for i in range(150)])  # over a quarter retired: compacts
    assert len(index) == 250
    live = index.mask(ALL)
    assert len(live) == 250  # compacted: positions are the live nodes only
    assert int(index.entity_mask(["e0"]).sum()) == sum(1 for i in range(150, 400) if i % 3 == 0)
    assert int(index.speaker_mask(["x"]).sum()) == sum(1 for i in range(150, 400) if i % 2)
    assert int(index.timed_mask().sum()) == sum(1 for i in range(150, 400) if i % 5 == 0)


def _signals(index: CubeIndex, question: str, seed: int, weights: SignalWeights) -> list:
    vector = index.vector_query(unit(seed))
    assert vector is not None
    scores = index.text_scores(fulltext_query(question))
    return signal_rankings(index, question, vector, scores, 10, index.mask(ALL), weights)


def test_signal_rankings_restrict_to_the_named_speaker_and_entities() -> None:
    index = _index()
    assert _signals(index, "What did Alice adopt?", 0, SignalWeights()) == []
    lists = _signals(index, "Which dog did Alice get?", 0, SignalWeights(speaker=0.5))
    # Vector and full-text legs over Alice's memories only; the full-text one without her name,
    # so only the memory about a dog matches (and Bob's "Alice, I went hiking" never does).
    assert [set(ids) for ids, _ in lists] == [{"a0", "a1"}, {"a0"}]
    assert all(weight == 0.5 for _, weight in lists)
    lists = _signals(index, "When was Bob in Paris?", 3, SignalWeights(entity=1.0, time=1.0))
    assert [set(ids) for ids, _ in lists] == [{"a0", "b1"}, {"a0"}]
    assert decompose(index, "what about ali").speakers == ["alice"]


def test_entity_hops_reach_memories_through_a_co_mentioned_name() -> None:
    index = CubeIndex(DIM)
    index.upsert(
        [
            # The question names Rex; Rex's memory also names Dr. Lee; Dr. Lee's memory is the
            # second hop (it shares no word and no name with the question).
            {
                "id": "h0",
                "embedding": unit(0),
                "memory": "Rex saw Dr. Lee",
                "entities": ["@ann", "rex", "dr lee"],
            },
            {
                "id": "h1",
                "embedding": unit(1),
                "memory": "the vet said rest",
                "entities": ["@ann", "dr lee"],
            },
            {"id": "h2", "embedding": unit(2), "memory": "a walk", "entities": ["@bob", "park"]},
        ]
    )
    assert index.co_mentioned(["h0"], exclude=["rex"]) == ["dr lee"]
    lists = _signals(index, "How is Rex doing?", 0, SignalWeights(entity_hops=0.4))
    assert lists == [(["h1"], 0.4)]  # the first hop itself is the entity signal's (off here)
    # A speaker is never a hop: every memory of a chat is said by one.
    assert index.co_mentioned(["h0"], exclude=index.speakers()) == ["rex", "dr lee"]
