"""Composite vectors: parts embedded once per call, recent parts cached, combined by weight.

Run with the real packaged MiniLM; :class:`Recording` only records which texts reach it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from memos.embedders.base import BaseEmbedder
from memos.memories.textual.composite import (
    PartVectorCache,
    combine,
    embed_items,
    embedder_identity,
)
from memos.memories.textual.item import (
    EmbeddingPart,
    TextualMemoryItem,
    TreeNodeTextualMemoryMetadata,
)
from memos.memories.textual.tree_nodes import item_to_props

HEADER = "Caroline said on 8 May 2023"
TURNS = [
    "I went to a LGBTQ support group yesterday.",
    "That sounds brave. How did it feel?",
    "It felt like a family; I want to study counseling now.",
]


class Recording:
    """The real embedder, recording each call's texts (same config, so the same identity)."""

    def __init__(self, inner: BaseEmbedder) -> None:
        self.inner = inner
        self.config = inner.config
        self.calls: list[list[str]] = []

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return self.inner.embed(texts)


def _item(parts: list[tuple[str, float]] | None = None, memory: str = "m") -> TextualMemoryItem:
    meta = TreeNodeTextualMemoryMetadata(
        embedding_parts=[EmbeddingPart(text=t, weight=w) for t, w in parts] if parts else None
    )
    return TextualMemoryItem(memory=memory, metadata=meta)


def _chain(weights: tuple[float, float, float] = (1.0, 0.5, 0.35)) -> list[TextualMemoryItem]:
    """One memory per turn: turn, header, previous turn (none for the first)."""
    w_t, w_h, w_p = weights
    items = []
    for i, turn in enumerate(TURNS):
        parts = [(turn, w_t), (HEADER, w_h)] + ([(TURNS[i - 1], w_p)] if i else [])
        items.append(_item(parts, memory=f"Caroline said on 8 May 2023: {turn}"))
    return items


def _unit(vector: Any) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float64)
    return v / np.linalg.norm(v)


def test_combined_vector_is_the_normalised_weighted_sum_of_unit_part_vectors(
    embedder: BaseEmbedder,
) -> None:
    items = _chain()
    got = embed_items(embedder, items, cache=PartVectorCache())
    texts = [*TURNS, HEADER]
    v = {t: _unit(x) for t, x in zip(texts, embedder.embed(texts), strict=True)}
    expected_last = _unit(1.0 * v[TURNS[2]] + 0.5 * v[HEADER] + 0.35 * v[TURNS[1]])
    assert np.allclose(got[2], expected_last, atol=1e-5)
    assert np.isclose(np.linalg.norm(got[2]), 1.0)
    # A memory with no previous turn: its turn and header only.
    assert np.allclose(got[0], _unit(v[TURNS[0]] + 0.5 * v[HEADER]), atol=1e-5)
    # combine() is that formula for given vectors (the scale of an input does not matter).
    parts = [EmbeddingPart(text="a", weight=2.0), EmbeddingPart(text="b", weight=1.0)]
    assert np.allclose(combine(parts, [np.array([3.0, 0.0]), np.array([0.0, 5.0])]),
                       _unit([2.0, 1.0]))  # fmt: skip
    with pytest.raises(ValueError):
        combine(parts, [np.array([1.0, 0.0])])


def test_each_distinct_part_is_embedded_once_per_call(embedder: BaseEmbedder) -> None:
    recording = Recording(embedder)
    embed_items(recording, _chain(), cache=PartVectorCache())
    # 3 memories, 8 parts, 4 distinct texts: one model call over the 4.
    assert len(recording.calls) == 1
    assert sorted(recording.calls[0]) == sorted([*TURNS, HEADER])


def test_recent_parts_are_served_from_the_cache(embedder: BaseEmbedder) -> None:
    cache = PartVectorCache()
    recording = Recording(embedder)
    first = embed_items(recording, _chain()[:2], cache=cache)
    # The next add starts with the third turn: its header and previous turn were embedded.
    later = embed_items(recording, _chain()[2:], cache=cache)
    assert recording.calls == [[TURNS[0], HEADER, TURNS[1]], [TURNS[2]]]
    # Vectors do not depend on what was cached.
    fresh = embed_items(embedder, _chain(), cache=PartVectorCache())
    assert np.allclose(first + later, fresh, atol=1e-5)
    # Another embedder (other config) never gets these vectors.
    other = Recording(embedder)
    other.config = embedder.config.model_copy(update={"batch_size": 7})
    assert embedder_identity(other) != embedder_identity(recording)
    embed_items(other, _chain()[2:], cache=cache)
    assert other.calls == [[TURNS[2], HEADER, TURNS[1]]]


def test_the_cache_is_bounded_and_evicts_the_least_recently_used() -> None:
    cache = PartVectorCache(max_entries=2)
    cache.put("e", "a", np.ones(2))
    cache.put("e", "b", np.ones(2))
    assert cache.get("e", "a") is not None  # "a" is now the most recent
    cache.put("e", "c", np.ones(2))
    assert len(cache) == 2
    assert cache.get("e", "b") is None
    assert cache.get("e", "a") is not None and cache.get("e", "c") is not None
    assert (cache.hits, cache.misses) == (3, 1)
    off = PartVectorCache(max_entries=0)
    off.put("e", "a", np.ones(2))
    assert len(off) == 0
    with pytest.raises(ValueError):
        PartVectorCache(max_entries=-1)


def test_items_without_parts_keep_their_text_vector_in_the_same_call(
    embedder: BaseEmbedder,
) -> None:
    recording = Recording(embedder)
    plain = _item(None, memory="Melanie painted a sunrise in 2022.")
    cache = PartVectorCache()
    got = embed_items(recording, [plain, *_chain()[:1]], cache=cache)
    assert recording.calls == [[plain.memory, TURNS[0], HEADER]]
    # Exactly the model's vector (text mode is unchanged), and only parts are cached.
    assert np.allclose(got[0], embedder.embed([plain.memory])[0], atol=1e-6)
    assert len(cache) == 2


def test_parts_are_never_stored() -> None:
    item = _chain()[1]
    props = item_to_props(item)
    assert "embedding_parts" not in (props.get("extra") or "")
    with pytest.raises(ValueError):
        EmbeddingPart(text="  ", weight=1.0)
    with pytest.raises(ValueError):
        EmbeddingPart(text="x", weight=0.0)


@pytest.mark.services
def test_tree_add_embeds_composite_reader_memories_by_their_parts(
    make_memory: Any, embedder: BaseEmbedder
) -> None:
    from memos.configs.mem_reader import SimpleStructMemReaderConfig
    from memos.mem_reader.simple_struct import SimpleStructMemReader

    when = "1:56 pm on 8 May, 2023"
    messages = [
        {"role": "Caroline", "content": t, "chat_time": when, "message_id": f"D1:{i}"}
        for i, t in enumerate(TURNS, start=1)
    ]
    config = SimpleStructMemReaderConfig(embedding_mode="composite")
    items = SimpleStructMemReader(config).get_memory(
        [messages], type="chat", info={"user_id": "alice", "session_id": "s1"}
    )[0]
    memory = make_memory()
    ids = memory.add(items)
    expected = embed_items(embedder, items, cache=PartVectorCache())
    for item_id, item, vector in zip(ids, items, expected, strict=True):
        stored = memory.get(item_id)
        assert stored.memory == item.memory
        meta = stored.metadata
        assert isinstance(meta, TreeNodeTextualMemoryMetadata)
        assert meta.embedding_parts is None  # transient: never stored
        assert np.allclose(meta.embedding or [], vector, atol=1e-5)
    # The search finds the turn through its composite vector.
    hits = memory.search("Who wants to study counseling?", top_k=1)
    assert hits and "counseling" in hits[0].memory
