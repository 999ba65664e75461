"""Hybrid search over one cube of the graph store.

Recall runs a fixed, small number of statements (vector, full-text, graph expansion, session
context, then one fetch of the candidates' properties) and everything else happens in Python:
reciprocal rank fusion of the ranked id lists, then, in ``fine`` mode, maximal-marginal-relevance
diversification. The fused score is what a result reports as ``metadata.relativity``.

Topic nodes (hierarchy summaries written by reorganisation, ``type == "topic"``) take part in
recall: vector search finds them and graph expansion walks from them to their members. They are
left out of the results unless asked for: a topic is a label over memories, not a memory, and
would take a result slot a real memory could fill.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from memos.graph_dbs import CubeGraph, NodeFilter
from memos.graph_dbs.queries import EXPANSION_EDGE_TYPES
from memos.memories.textual.query_signals import SignalWeights, signal_rankings
from memos.memories.textual.retrieval import (
    fulltext_query,
    mmr_diversify,
    reciprocal_rank_fusion,
)
from memos.memories.textual.step_timer import StepTimer
from memos.memories.textual.tree_nodes import TOPIC_TYPE

if TYPE_CHECKING:
    import numpy as np

    from memos.memories.textual.cube_index import CubeIndex, VectorQuery

logger = logging.getLogger(__name__)

SearchMode = Literal["fast", "fine"]


# Weights of the query-side signals, tuned on LoCoMo conversations 1-5 only (BENCHMARKS.md).
DEFAULT_SIGNALS = SignalWeights(speaker=0.5, entity=0.2, time=0.3)


@dataclass(frozen=True)
class HybridSearchConfig:
    """Knobs of hybrid search (derive variants with ``dataclasses.replace``)."""

    # Candidates each recall leg returns, as a multiple of top_k (fine mode uses the larger).
    pool_factor_fast: int = 2
    pool_factor_fine: int = 4
    min_pool: int = 10
    # Seeds of graph expansion: the best ids of the vector and full-text legs.
    expansion_seeds: int = 5
    # Neighbours one seed may add to the graph list (0: all), the best recalled first. A memory
    # has a few CONTEXT neighbours; a topic seed (a reorganised cube) has all its members, which
    # unbounded filled the list ahead of the other seeds' neighbours.
    expansion_per_seed: int = 0
    vector_weight: float = 1.0
    fulltext_weight: float = 1.0
    graph_weight: float = 0.5
    session_weight: float = 0.3
    # RRF constant: 10 rather than the customary 60 weighs the top of each leg more: a memory
    # ranked first by one leg outranks one ranked 13th or lower by both (with 60: 63rd). On
    # LoCoMo it lifted the fast reader's evidence recall@10 from 0.70 to 0.75 (3 conversations,
    # in process; see BENCHMARKS.md).
    rrf_k: int = 10
    mmr_lambda: float = 0.7
    # Query-side signals (speaker, named entities, "when" intent; see query_signals): RRF
    # weights of their lists, 0 switches one off. They need the cube index (the store's global
    # indexes hold no speaker or entity postings), so they apply only when it is on.
    signals: SignalWeights = DEFAULT_SIGNALS
    # Pseudo-relevance feedback on the vector leg (Rocchio): after a first fusion the query
    # vector moves towards the mean vector of the best ``feedback_docs`` fused candidates,
    # ``normalise(q + feedback_alpha * mean)``, and that vector's search of the cube is fused as
    # one more list of weight ``feedback_weight`` (0: off). It reaches memories that share the
    # context of the first hits but no words with the query. Needs the cube index. Off: on
    # LoCoMo's training half every setting tried lowered R@10 (BENCHMARKS.md, issue 17 r7).
    feedback_weight: float = 0.0
    feedback_docs: int = 5
    feedback_alpha: float = 0.5


DEFAULT_SEARCH = HybridSearchConfig()


#: One recall leg as the fusion saw it: its name, RRF weight and ranked ids (best first).
RecallLeg = tuple[str, float, list[str]]
#: Names of the main legs, in the order they are fused; query-side signals follow as "signal".
MAIN_LEGS: tuple[str, ...] = ("vector", "fulltext", "graph", "session")


@dataclass(frozen=True)
class SearchHit:
    """One fused result: the node's properties and its fused score."""

    props: dict[str, Any]
    score: float


def hybrid_search(
    graph: CubeGraph,
    query_vector: Sequence[float],
    query: str,
    top_k: int,
    node_filter: NodeFilter,
    *,
    mode: SearchMode = "fast",
    session_id: str | None = None,
    config: HybridSearchConfig = DEFAULT_SEARCH,
    include_topics: bool = False,
    index: CubeIndex | None = None,
    timer: StepTimer | None = None,
    legs: list[RecallLeg] | None = None,
) -> list[SearchHit]:
    """The ``top_k`` best nodes of ``graph``'s cube for ``query``, best first.

    ``include_topics`` lets topic nodes into the results (they always take part in recall).
    With ``index`` (the cube's in-process index, caught up with the store) the vector and
    full-text legs run on it instead of the store's global indexes; ``timer`` receives each
    step's time; ``legs``, when given, receives every ranked list the fusion used (why a result
    came back: the inspector shows each result's rank per leg). Neither changes the ranking.
    """
    timer = timer or StepTimer()
    factor = config.pool_factor_fine if mode == "fine" else config.pool_factor_fast
    pool = max(top_k * factor, config.min_pool)
    lucene = fulltext_query(query)

    if index is not None:
        with timer.step("filter"):
            keep = index.mask(node_filter)
        with timer.step("vector"):
            # One scan of the vectors (and one BM25 pass) serves the signals' subsets too.
            vector_query = index.vector_query(query_vector)
            vector_ids = [i for i, _ in vector_query.search(keep, pool)] if vector_query else []
        with timer.step("fulltext"):
            text_scores = index.text_scores(lucene) if lucene else None
            text_ids = (
                [i for i, _ in index.text_top(text_scores, pool, keep)]
                if text_scores is not None
                else []
            )
    else:
        with timer.step("vector"):
            vector_ids = [i for i, _ in graph.vector_search(query_vector, pool, node_filter)]
        with timer.step("fulltext"):
            text_ids = (
                [i for i, _ in graph.fulltext_search(lucene, pool, node_filter)] if lucene else []
            )

    # Seeds alternate between the two legs so both contribute neighbours.
    seeds: list[str] = []
    for pair in zip(vector_ids, text_ids, strict=False):
        seeds.extend(pair)
    seeds.extend(vector_ids[len(text_ids) :] or text_ids[len(vector_ids) :])
    seeds = list(dict.fromkeys(seeds))[: config.expansion_seeds]
    graph_ids: list[str] = []
    if seeds:
        with timer.step("graph"):
            rows = graph.neighbors(seeds, EXPANSION_EDGE_TYPES, node_filter, limit=pool * 4)
        seed_rank = {s: r for r, s in enumerate(seeds)}
        base_rank: dict[str, int] = {}
        for ranking in (vector_ids, text_ids):
            for rank, node_id in enumerate(ranking):
                base_rank[node_id] = min(rank, base_rank.get(node_id, rank))
        # Deterministic whatever order the database returns edges in: by seed, then by how
        # well the neighbour itself was recalled, then by id.
        rows.sort(
            key=lambda row: (
                seed_rank.get(row["seed"], len(seeds)),
                base_rank.get(row["id"], pool),
                row["id"],
            )
        )
        if config.expansion_per_seed > 0:
            taken: dict[str, int] = {}
            kept = []
            for row in rows:
                if taken.get(row["seed"], 0) < config.expansion_per_seed:
                    taken[row["seed"]] = taken.get(row["seed"], 0) + 1
                    kept.append(row)
            rows = kept
        graph_ids = list(dict.fromkeys(row["id"] for row in rows))

    session_ids: list[str] = []
    if session_id is not None:
        session_filter = NodeFilter(
            statuses=node_filter.statuses,
            memory_types=node_filter.memory_types,
            session_id=session_id,
            valid_at_ts=node_filter.valid_at_ts,
        )
        with timer.step("session"):
            if index is not None:
                session_ids = index.recent(index.mask(session_filter), pool)
            else:
                session_ids = graph.recent_in_session(session_filter, pool)

    rankings = [vector_ids, text_ids, graph_ids, session_ids]
    weights = [
        config.vector_weight,
        config.fulltext_weight,
        config.graph_weight,
        config.session_weight,
    ]
    if index is not None and vector_query is not None:
        with timer.step("signals"):
            for ids, weight in signal_rankings(
                index, query, vector_query, text_scores, pool, keep, config.signals
            ):
                rankings.append(ids)
                weights.append(weight)
    names = [*MAIN_LEGS, *["signal"] * (len(rankings) - len(MAIN_LEGS))]
    fusion_started = time.perf_counter()
    fused = reciprocal_rank_fusion(rankings, weights=weights, k=config.rrf_k)
    timer.ms["fusion"] = (time.perf_counter() - fusion_started) * 1000.0
    if config.feedback_weight > 0 and index is not None and vector_query is not None and fused:
        with timer.step("feedback"):
            feedback_ids = _feedback_ranking(index, vector_query, fused, keep, pool, config)
            if feedback_ids:
                rankings.append(feedback_ids)
                weights.append(config.feedback_weight)
                names.append("feedback")
                fused = reciprocal_rank_fusion(rankings, weights=weights, k=config.rrf_k)
    if legs is not None:
        legs.extend((n, w, list(r)) for n, w, r in zip(names, weights, rankings, strict=True))
    with timer.step("fetch"):
        candidates, nodes = _fetch_candidates(
            graph, fused, pool if mode == "fine" else top_k, include_topics
        )
    if mode == "fine":
        with timer.step("mmr"):
            embeddings = {i: p["embedding"] for i, p in nodes.items() if p.get("embedding")}
            candidates = mmr_diversify(candidates, embeddings, top_k, lambda_=config.mmr_lambda)
    logger.debug(
        "hybrid search: %d vector, %d text, %d graph, %d session -> %d",
        len(vector_ids),
        len(text_ids),
        len(graph_ids),
        len(session_ids),
        len(candidates),
    )
    return [SearchHit(props=nodes[i], score=s) for i, s in candidates[:top_k]]


def _feedback_ranking(
    index: CubeIndex,
    vector_query: VectorQuery,
    fused: list[tuple[str, float]],
    keep: np.ndarray,
    pool: int,
    config: HybridSearchConfig,
) -> list[str]:
    """The cube's best ``pool`` ids for the query moved towards its best fused candidates."""
    vectors = index.vectors_of([i for i, _ in fused[: config.feedback_docs]])
    if not len(vectors):
        return []
    moved = index.vector_query(vector_query.q + config.feedback_alpha * vectors.mean(axis=0))
    return [i for i, _ in moved.search(keep, pool)] if moved is not None else []


def _fetch_candidates(
    graph: CubeGraph, fused: list[tuple[str, float]], wanted: int, include_topics: bool
) -> tuple[list[tuple[str, float]], dict[str, dict[str, Any]]]:
    """The first ``wanted`` fused ids whose nodes exist (and are not topics unless included).

    Reads the nodes in fused order, a batch the size of what is still missing at a time, so a
    cube without topics costs the single read it always did.
    """
    chosen: list[tuple[str, float]] = []
    nodes: dict[str, dict[str, Any]] = {}
    start = 0
    while len(chosen) < wanted and start < len(fused):
        batch = fused[start : start + wanted - len(chosen)]
        start += len(batch)
        fetched = {p["id"]: p for p in graph.get_nodes([i for i, _ in batch])}
        for node_id, score in batch:
            props = fetched.get(node_id)
            if props is None or (not include_topics and props.get("type") == TOPIC_TYPE):
                continue
            chosen.append((node_id, score))
            nodes[node_id] = props
    return chosen, nodes
