"""BaseEmbedder.embed: batches group texts of similar length; vectors keep the input order."""

from __future__ import annotations

from memos.configs.embedder import BaseEmbedderConfig
from memos.embedders.base import MAX_LENGTH_SPREAD, BaseEmbedder, length_sorted_batches


class RecordingEmbedder(BaseEmbedder):
    """Embeds a text as [its length, its first character's code]; records every batch."""

    def __init__(self, batch_size: int) -> None:
        super().__init__(BaseEmbedderConfig(model_name_or_path="recording", batch_size=batch_size))
        self.batches: list[list[str]] = []

    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        self.batches.append(list(texts))
        return [[float(len(t)), float(ord(t[0]))] for t in texts]


def test_batches_are_split_after_sorting_by_length() -> None:
    # Long and short texts alternate: splitting in input order would put one long text in
    # every batch, so every batch would be padded to the long length.
    texts = [("long " * 30 + str(i)) if i % 2 == 0 else f"s{i}" for i in range(8)]
    embedder = RecordingEmbedder(batch_size=4)
    embedder.embed(texts)
    assert len(embedder.batches) == 2
    assert all(len(t) > 100 for t in embedder.batches[0])
    assert all(len(t) < 5 for t in embedder.batches[1])


def test_vectors_come_back_in_input_order() -> None:
    texts = ["a" * n + chr(ord("b") + n) for n in (5, 1, 9, 3, 7, 2, 8)]
    embedder = RecordingEmbedder(batch_size=3)
    vectors = embedder.embed(texts)
    assert vectors == [[float(len(t)), float(ord(t[0]))] for t in texts]
    assert sum(len(b) for b in embedder.batches) == len(texts)


def test_ties_keep_input_order_and_every_position_appears_once() -> None:
    texts = ["xx", "yy", "z", "ww", "q"]
    assert length_sorted_batches(texts, 2) == [[0, 1], [3, 2], [4]]
    assert length_sorted_batches([], 4) == []


def test_a_batch_never_mixes_lengths_beyond_the_spread() -> None:
    # One add's texts: a few long ones among many short ones (what one event embeds).
    texts = ["x" * n for n in (300, 40, 35, 280, 90, 33, 200, 60, 45, 150, 38, 100)]
    batches = length_sorted_batches(texts, 64)
    assert sorted(p for b in batches for p in b) == list(range(len(texts)))
    for batch in batches:
        lengths = [max(len(texts[p]), 32) for p in batch]
        assert max(lengths) <= MAX_LENGTH_SPREAD * min(lengths)
    # Without the bound all twelve would be one batch padded to 300 characters.
    assert len(batches) > 1
    assert [len(texts[p]) for p in batches[0]] == [300, 280, 200]


def test_short_texts_share_a_batch_below_the_floor() -> None:
    texts = ["ok", "a reply", "yes!", "twenty-something chars"]
    assert length_sorted_batches(texts, 8) == [[3, 1, 2, 0]]
