"""Query-side signals of hybrid search: who a question is about, what it names, if it asks when.

A question is decomposed against the cube's own vocabulary (:func:`entities.match_query`): the
speakers it names (or the user, for a first-person question), the other entities it names, and
its intent (a question about a time). Each signal that applies adds ranked lists to the fusion:

* speaker: vector and full-text search restricted to the memories that speaker said (the
  name alone matches nearly every memory of a two-person chat: the other side addresses them by
  name, so the whole-cube legs cannot tell whose memory it is);
* entity: the memories that mention a named entity, by cosine to the question (the entity
  postings are the entity -> memory edges; graph expansion through them reaches memories of the
  same name that share no words with the question);
* time: for a "when" question, vector search restricted to memories that state a time of
  their own;
* entity hops (off by default: nothing gained on LoCoMo's training half, see BENCHMARKS.md):
  the names co-mentioned with a question's entity in its best memories, then the memories
  mentioning those names (the graph's Entity nodes and MENTIONS edges, read from the index).

All of it is numpy over the cube index, mostly masked top-k of the main legs' scores: no model
call beyond the question's one embedding, no second scan of the vectors.
A weight of 0 switches a signal off (the ablation switches of ``HybridSearchConfig``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from memos.memories.textual.entities import QueryEntities, match_query, normalise
from memos.memories.textual.retrieval import fulltext_query

if TYPE_CHECKING:
    from memos.memories.textual.cube_index import CubeIndex, VectorQuery

__all__ = ["SignalWeights", "asks_when", "signal_rankings"]

# Questions about a time: "when ...", "what year / month / date ...", "how long ago ...".
_WHEN_RE = re.compile(
    r"^\s*when\b|\bwhat (?:year|month|day|date|time)\b|\bhow long ago\b"
    r"|\bwhich (?:year|month|day)\b",
    re.IGNORECASE,
)


# Entity hops: first-hop memories whose names seed the second hop, and at most this many names.
HOP_SEEDS = 3
HOP_ENTITIES = 8


@dataclass(frozen=True)
class SignalWeights:
    """RRF weight of each query-side signal's lists; 0 switches the signal off."""

    speaker: float = 0.0
    entity: float = 0.0
    time: float = 0.0
    # Two hops through entities: the names co-mentioned with a question's entity in its best
    # memories, then the memories that mention those names (multi-hop questions whose second
    # fact shares a name, not words, with the question).
    entity_hops: float = 0.0


def asks_when(question: str) -> bool:
    """Whether ``question`` asks for a time ("When did ...", "What year ...")."""
    return bool(_WHEN_RE.search(question))


def decompose(index: CubeIndex, question: str) -> QueryEntities:
    """The speakers and entities of ``index``'s cube that ``question`` names."""
    speakers = index.speakers()

    def prefix_matches(term: str) -> list[str]:
        # Short forms resolve to speakers only: a speaker's name is the one a chat shortens.
        return [s for s in speakers if s.startswith(term)]

    return match_query(question, index.is_entity, speakers, prefix_matches)


def signal_rankings(
    index: CubeIndex,
    question: str,
    vector: VectorQuery,
    text_scores: np.ndarray | None,
    pool: int,
    keep: np.ndarray,
    weights: SignalWeights,
) -> list[tuple[list[str], float]]:
    """The extra ranked id lists (with their RRF weights) the question's signals give.

    ``vector`` and ``text_scores`` are the main legs' cosine query and BM25 scores: the lists
    here are masked top-k of them (a mask and a partial sort, not another scan), except the
    speaker's BM25 list, which scores the question again without the speaker's name.
    """
    if not (weights.speaker or weights.entity or weights.time or weights.entity_hops):
        return []
    parts = decompose(index, question)
    out: list[tuple[list[str], float]] = []
    if weights.speaker and parts.speakers:
        said = keep & index.speaker_mask(parts.speakers)
        if said.any():
            out.append(([i for i, _ in vector.search(said, pool)], weights.speaker))
            # BM25 without the speaker's name: it is in every memory of theirs that quotes or
            # addresses them, so its term frequencies would rank by how often a name recurs.
            dropped = set(parts.terms) & set(" ".join(parts.speakers).split())
            rest = " ".join(w for w in question.split() if normalise(w) not in dropped)
            scores = text_scores if not dropped else index.text_scores(fulltext_query(rest))
            if scores is not None:
                hits = index.text_top(scores, pool, said)
                out.append(([i for i, _ in hits], weights.speaker))
    if (weights.entity or weights.entity_hops) and parts.entities:
        named = keep & index.entity_mask(parts.entities)
        if named.any():
            first = [i for i, _ in vector.search(named, pool)]
            if weights.entity:
                out.append((first, weights.entity))
            if weights.entity_hops:
                # Names co-mentioned in the best few first-hop memories; never a speaker (in a
                # chat every memory is said by one, so a speaker hop reaches everything).
                exclude = set(parts.entities) | set(index.speakers())
                second = index.co_mentioned(first[:HOP_SEEDS], exclude)[:HOP_ENTITIES]
                if second:
                    hop = keep & index.entity_mask(second) & ~named
                    if hop.any():
                        out.append(([i for i, _ in vector.search(hop, pool)], weights.entity_hops))
    if weights.time and asks_when(question):
        timed = keep & index.timed_mask()
        if timed.any():
            out.append(([i for i, _ in vector.search(timed, pool)], weights.time))
    return out
