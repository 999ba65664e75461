"""Pure ranking helpers for hybrid memory search.

Everything here is free of I/O and of third-party state so the same functions serve the
tree memory's ``search`` (vector + full-text + graph expansion) and the recall benchmark:

* :func:`keywords` turns a question into lowercase content words (stopwords dropped).
* :func:`fulltext_query` turns a question into a Lucene query string that is safe to hand to
  an ArcadeDB / Neo4j full-text index (no special characters survive, terms are OR-ed).
* :func:`reciprocal_rank_fusion` fuses several ranked id lists (Cormack et al., 2009).
* :func:`mmr_diversify` re-ranks fused candidates by maximal marginal relevance.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

__all__ = [
    "STOPWORDS",
    "fulltext_query",
    "keywords",
    "mmr_diversify",
    "reciprocal_rank_fusion",
]

# A compact English stopword list: question words and auxiliaries carry no topical signal
# in a full-text index and would match nearly every memory. (A split string keeps the list
# readable; a literal of ~170 quoted words would not be.)
STOPWORDS: frozenset[str] = frozenset(
    """
    a about above after again against all am an and any are aren as at be because been before
    being below between both but by can cannot could couldn did didn do does doesn doing don down
    during each few for from further had hadn has hasn have haven having he her here hers herself
    him himself his how i if in into is isn it its itself just let ll me more most must mustn my
    myself no nor not now of off on once only or other ought our ours ourselves out over own re
    same shan she should shouldn so some such than that the their theirs them themselves then
    there these they this those through to too under until up upon us ve very was wasn we were
    weren what when where which while who whom whose why will with won would wouldn you your
    yours yourself yourselves s t d m o y also get got gets like really yes yeah oh ok okay
    """.split()  # noqa: SIM905
)

# Unicode-aware word tokens; apostrophes inside words are kept so "Caroline's" -> "caroline's"
# and then reduced to "caroline" below.
_TOKEN_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*", re.UNICODE)
# Anything that is not a letter or digit is removed from Lucene terms: this covers every
# Lucene special character (+ - && || ! ( ) { } [ ] ^ " ~ * ? : \ /) by construction.
_NON_ALNUM_RE = re.compile(r"[^\w]|_", re.UNICODE)
# Lucene's boolean operators are reserved words when upper-case; terms are lowercased, but
# drop them anyway so a question like "AND or NOT" can never produce a dangling operator.
_LUCENE_RESERVED = frozenset({"and", "or", "not", "to"})


def keywords(text: str) -> list[str]:
    """Return the distinct content words of ``text``, lowercased, in first-seen order.

    Possessive ``'s`` is stripped, stopwords and one-character tokens (except digits) are
    dropped. The result may be empty, e.g. for "What is it?".
    """
    seen: dict[str, None] = {}
    for raw in _TOKEN_RE.findall(text.lower()):
        token = raw[:-2] if raw.endswith("'s") else raw
        token = token.replace("'", "")
        if not token or token in STOPWORDS:
            continue
        if len(token) == 1 and not token.isdigit():
            continue
        seen.setdefault(token, None)
    return list(seen)


def fulltext_query(text: str) -> str:
    """Build a safe Lucene query string from a natural-language question.

    The terms are the question's :func:`keywords` with every non-alphanumeric character
    removed, joined with ``" OR "``. When the question has no keywords (empty, only
    stopwords or punctuation) the function returns ``""``: callers must treat an empty
    string as "skip the full-text leg" rather than sending it to the index, which would
    raise a parse error.
    """
    terms: list[str] = []
    for word in keywords(text):
        term = _NON_ALNUM_RE.sub("", word)
        if term and term not in _LUCENE_RESERVED and term not in terms:
            terms.append(term)
    return " OR ".join(terms)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]],
    weights: Sequence[float] | None = None,
    k: int = 60,
) -> list[tuple[str, float]]:
    """Fuse ranked id lists with (weighted) reciprocal rank fusion.

    Each id scores ``sum(w_i / (k + rank_i))`` over the lists it appears in (rank starts at
    1; a repeated id within one list counts at its best rank only). Returns ``(id, score)``
    pairs, best first; ties keep the order in which ids were first seen, so the result is
    deterministic.

    Raises:
        ValueError: if ``weights`` does not have one entry per ranking, a weight is negative,
            or ``k`` is negative.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"got {len(weights)} weights for {len(rankings)} rankings; give one each")
    if any(w < 0 for w in weights):
        raise ValueError("weights must be >= 0")
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        seen: set[str] = set()
        for rank, item_id in enumerate(ranking, start=1):
            if item_id in seen:
                continue
            seen.add(item_id)
            scores[item_id] = scores.get(item_id, 0.0) + weight / (k + rank)
    order = {item_id: i for i, item_id in enumerate(scores)}
    return sorted(scores.items(), key=lambda kv: (-kv[1], order[kv[0]]))


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return dot / (na * nb)


def mmr_diversify(
    candidates: Sequence[tuple[str, float]],
    embeddings: Mapping[str, Sequence[float]],
    top_k: int,
    lambda_: float = 0.7,
) -> list[tuple[str, float]]:
    """Pick ``top_k`` candidates by maximal marginal relevance.

    ``candidates`` are ``(id, relevance)`` pairs (any scale; they are min-max normalised).
    Each step picks the id maximising ``lambda_ * relevance - (1 - lambda_) * max_sim`` where
    ``max_sim`` is the highest cosine similarity to an already picked id. Candidates without
    an embedding are treated as dissimilar to everything. Returned pairs keep their original
    relevance scores, in pick order. ``lambda_ = 1`` reproduces the relevance order.

    Raises:
        ValueError: if ``lambda_`` is outside ``[0, 1]``.
    """
    if not 0.0 <= lambda_ <= 1.0:
        raise ValueError(f"lambda_ must be in [0, 1], got {lambda_}")
    if top_k <= 0 or not candidates:
        return []
    # Deduplicate while keeping the first (best-listed) score of each id.
    pool: dict[str, float] = {}
    for item_id, score in candidates:
        pool.setdefault(item_id, score)
    lo, hi = min(pool.values()), max(pool.values())
    span = hi - lo
    norm = {i: ((s - lo) / span if span > 0 else 1.0) for i, s in pool.items()}
    remaining = list(pool)
    picked: list[str] = []
    max_sim: dict[str, float] = dict.fromkeys(remaining, 0.0)
    while remaining and len(picked) < top_k:
        best = max(
            remaining,
            key=lambda i: lambda_ * norm[i] - (1.0 - lambda_) * max_sim[i],
        )
        picked.append(best)
        remaining.remove(best)
        best_vec = embeddings.get(best)
        if best_vec is None:
            continue
        for other in remaining:
            vec = embeddings.get(other)
            if vec is not None:
                max_sim[other] = max(max_sim[other], _cosine(best_vec, vec))
    return [(i, pool[i]) for i in picked]
