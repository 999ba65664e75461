"""An in-process index of one cube: exact / HNSW vectors and BM25, with the search filters.

The graph store's vector and full-text indexes are global: a cube's search asks them for many
more hits than it needs and drops other cubes' (and filtered-out) nodes, and falls back to exact
scans of the cube when that is not enough. Its cost grows with the cube and with every other
tenant of the database. This index holds just one cube, so a search costs what the cube's
matches cost:

* vectors: a float32 matrix (normalised, so a dot product is the cosine). Up to
  :data:`HNSW_MIN` candidate vectors a search is one exact matrix-vector product; above it an
  HNSW graph over 8-bit scalar-quantised codes (faiss) proposes candidates inside the filter
  (a bitmap selector), which are re-scored exactly from the float32 matrix. The graph adds about
  a third of the raw vectors' size (codes 1/4, links about 1/12); the matrix grows by 1/8 at a
  time, so the whole stays within 1.5x of the raw vectors.
* text: an inverted index (term -> positions, term frequencies) scored by BM25 with the cube's
  own statistics; the query terms are those of :func:`retrieval.fulltext_query`, and documents
  are tokenised the same way.
* filters: per-position status, memory type, session and validity, compared in numpy, so the
  :class:`NodeFilter` of a search applies exactly as the Cypher ``WHERE`` did.
* entities (the node's ``entities`` property, see :mod:`entities`): the speaker of each position
  and, per named entity, the positions that mention it; and whether the memory states a time of
  its own (``memory_time``). These are the query-side signals of hybrid search (who a question
  is about, which names it mentions, whether it asks "when"); they come from node properties the
  index already re-reads, so they stay in step with the store like the rest.

Positions are append-only: an update appends a new position and retires the old one; retired
positions are dropped by compaction once they are a quarter of the index. Nothing a search
returns depends on that history: equal scores are ordered by ``(created_at, id)``, not by
position, and the entity and speaker vocabularies count live positions only, so an index caught
up change by change ranks exactly like one rebuilt from the store (an index built in the store's
order and one whose updated nodes moved to the end used to break ties differently). The index
knows nothing of the store; :mod:`cube_index_sync` keeps it in step.
"""

from __future__ import annotations

import logging
import math
import re
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np

from memos.graph_dbs import NodeFilter
from memos.memories.textual.entities import SPEAKER_PREFIX, normalise
from memos.memories.textual.retrieval import STOPWORDS
from memos.memories.textual.stemming import stem

logger = logging.getLogger(__name__)

# Candidate vectors (after filtering) from which the HNSW graph is used instead of an exact scan.
HNSW_MIN = 20_000
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 128
# Compaction when retired positions are at least this share of all positions.
COMPACT_SHARE = 0.25
# BM25 terms are stemmed ("researching" meets "research"; see stemming). Off: exact word forms,
# as the store's full-text index matches them.
STEM_TERMS = True
# Lucene's BM25 defaults.
BM25_K1 = 1.2
BM25_B = 0.75
# Vectors (stored and query) are rounded to multiples of 2**-11 per component. Every product of
# two components is then a multiple of 2**-22 and every partial sum of a dot product (below 2 in
# magnitude for unit vectors) fits a float32 mantissa exactly, so a cosine does not depend on how
# BLAS blocks the rows: the same vector scores the same at any position (unrounded, a node's
# score moved in the last bit with its position, and equal vectors could swap places between
# an updated index and a rebuilt one). The rounding moves a cosine by about 1e-4.
_VECTOR_SCALE = 2048.0
_GROWTH = 1.125
# Filters whose masks the index keeps (searches use a handful: status, type, session).
_KEPT_MASKS = 16
_MIN_CAPACITY = 256

_TOKEN_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*", re.UNICODE)
_NON_ALNUM_RE = re.compile(r"[^\w]|_", re.UNICODE)


def doc_terms(text: str) -> list[str]:
    """A document's terms, normalised like the query terms of ``retrieval.fulltext_query``."""
    out: list[str] = []
    for raw in _TOKEN_RE.findall(text.lower()):
        token = raw[:-2] if raw.endswith("'s") else raw
        token = _NON_ALNUM_RE.sub("", token.replace("'", ""))
        if token:
            out.append(token)
    return out


def query_terms(lucene_query: str) -> list[str]:
    """The terms of a query built by ``retrieval.fulltext_query`` (``a OR b OR c``)."""
    terms = [t for t in lucene_query.split(" OR ") if t and t not in STOPWORDS]
    return list(dict.fromkeys(terms))


class _Codes:
    """Small integer codes for the distinct values of one string property (``None`` is -1)."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}

    def code(self, value: Any) -> int:
        if value is None:
            return -1
        return self._codes.setdefault(str(value), len(self._codes))

    def lookup(self, values: Iterable[str]) -> list[int]:
        return [self._codes[v] for v in values if v in self._codes]

    def values(self) -> list[str]:
        return list(self._codes)


def _rounded(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` on the exact grid of :data:`_VECTOR_SCALE` (float32)."""
    return (np.rint(vectors * _VECTOR_SCALE) / _VECTOR_SCALE).astype(np.float32)


def _ts(value: Any) -> float:
    return math.nan if value is None else float(value)


def _created_seconds(text: str) -> float:
    """Epoch seconds of an ISO ``created_at`` (naive: UTC); NaN when it does not parse."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return math.nan
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class CubeIndex:
    """Vectors, BM25 postings and filter fields of one cube's nodes, by append-only position."""

    def __init__(self, dimension: int, *, stem_terms: bool | None = None) -> None:
        self.dimension = dimension
        self.stem_terms = STEM_TERMS if stem_terms is None else stem_terms
        self._ids: list[str] = []
        self._created: list[str] = []  # created_at by position (ISO text sorts by time)
        # The same as epoch seconds (NaN: unparsable), so that paging newest-first selects its
        # page with numpy instead of sorting the cube's matches in Python.
        self._created_ts = np.zeros(0, dtype=np.float64)
        self._pos: dict[str, int] = {}
        self._n = 0
        self._cap = 0
        self._vecs = np.zeros((0, dimension), dtype=np.float32)
        self._alive = np.zeros(0, dtype=bool)
        self._has_vec = np.zeros(0, dtype=bool)
        self._status = np.zeros(0, dtype=np.int32)
        self._mtype = np.zeros(0, dtype=np.int32)
        self._ntype = np.zeros(0, dtype=np.int32)  # the node's ``type`` (fact, topic, ...)
        self._session = np.zeros(0, dtype=np.int32)
        self._valid = np.zeros(0, dtype=np.float64)
        self._invalid = np.zeros(0, dtype=np.float64)
        self._doclen = np.zeros(0, dtype=np.float32)
        self._speaker = np.zeros(0, dtype=np.int32)
        self._timed = np.zeros(0, dtype=bool)
        self._speaker_codes = _Codes()
        # Live positions per speaker code and per entity: what a question can be matched to.
        self._speaker_live: dict[int, int] = {}
        self._entity_live: dict[str, int] = {}
        self._pos_entities: list[tuple[str, ...]] = []  # by position
        self._entities: dict[str, array[int]] = {}
        self._status_codes = _Codes()
        self._mtype_codes = _Codes()
        self._ntype_codes = _Codes()
        self._session_codes = _Codes()
        self._postings: dict[str, tuple[array[int], array[float]]] = {}
        self._hnsw: Any = None
        self._hnsw_n = 0
        # Bumped when a change starts and when it ends (see ``mask``'s cache).
        self._version = 0
        # Per filter: (version it was computed at, mask without the instant, bounded positions).
        self._masks: dict[tuple[Any, ...], tuple[int, np.ndarray, np.ndarray]] = {}

    # -- size -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._pos)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._pos

    def ids(self) -> set[str]:
        """The ids of the live nodes."""
        return set(self._pos)

    def vector_bytes(self) -> dict[str, int]:
        """Bytes of the raw live vectors and of what the index holds for them."""
        raw = int(self._has_vec[: self._n][self._alive[: self._n]].sum()) * self.dimension * 4
        held = int(self._vecs.nbytes)
        if self._hnsw is not None:
            import faiss

            held += int(faiss.serialize_index(self._hnsw).nbytes)
        return {"raw": raw, "held": held}

    # -- writing ----------------------------------------------------------------------------

    def _grow(self, need: int) -> None:
        if need <= self._cap:
            return
        cap = max(need, int(self._cap * _GROWTH) + 1, _MIN_CAPACITY)

        def grown(old: np.ndarray, fill: Any = 0) -> np.ndarray:
            new = np.full((cap, *old.shape[1:]), fill, dtype=old.dtype)
            new[: self._n] = old[: self._n]
            return new

        self._vecs = grown(self._vecs)
        self._alive = grown(self._alive, False)
        self._has_vec = grown(self._has_vec, False)
        self._status = grown(self._status, -1)
        self._mtype = grown(self._mtype, -1)
        self._ntype = grown(self._ntype, -1)
        self._created_ts = grown(self._created_ts, math.nan)
        self._session = grown(self._session, -1)
        self._valid = grown(self._valid, math.nan)
        self._invalid = grown(self._invalid, math.nan)
        self._doclen = grown(self._doclen)
        self._speaker = grown(self._speaker, -1)
        self._timed = grown(self._timed, False)
        self._cap = cap

    def upsert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Add or replace nodes from index rows (``id``, ``embedding``, ``memory``, filters)."""
        if not rows:
            return
        with self._changing():
            self._upsert(rows)

    @contextmanager
    def _changing(self) -> Iterator[None]:
        """Bump the version when a change starts and when it ends (see ``mask``)."""
        self._version += 1
        try:
            yield
        finally:
            self._version += 1

    def _upsert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self._grow(self._n + len(rows))
        # Vectors are converted and normalised for the whole batch at once (a build reads pages
        # of thousands of rows; one numpy call per row was a visible part of it).
        with_vector: list[int] = []
        vectors: list[Any] = []
        for row in rows:
            node_id = str(row["id"])
            self._retire(node_id)
            p = self._n
            self._n += 1
            self._ids.append(node_id)
            created = str(row.get("created_at") or "")
            self._created.append(created)
            self._created_ts[p] = _created_seconds(created) if created else math.nan
            names: list[str] = []
            self._pos[node_id] = p
            self._alive[p] = True
            vector = row.get("embedding")
            if vector is not None and len(vector) == self.dimension:
                with_vector.append(p)
                vectors.append(vector)
            self._status[p] = self._status_codes.code(row.get("status"))
            self._mtype[p] = self._mtype_codes.code(row.get("memory_type"))
            self._ntype[p] = self._ntype_codes.code(row.get("type"))
            self._session[p] = self._session_codes.code(row.get("session_id"))
            self._valid[p] = _ts(row.get("valid_at_ts"))
            self._invalid[p] = _ts(row.get("invalid_at_ts"))
            self._timed[p] = bool(row.get("memory_time"))
            speaker = None
            for entity in row.get("entities") or ():
                entity = str(entity)
                if entity.startswith(SPEAKER_PREFIX):
                    speaker = speaker or entity[len(SPEAKER_PREFIX) :]
                else:
                    # Writers other than the fast reader (an LLM's "entities") may store names
                    # as written: postings are keyed the way questions are matched.
                    name = normalise(entity)
                    if name and name not in names:
                        names.append(name)
                        self._entities.setdefault(name, array("i")).append(p)
                        self._entity_live[name] = self._entity_live.get(name, 0) + 1
            self._pos_entities.append(tuple(names))
            code = self._speaker[p] = self._speaker_codes.code(speaker)
            self._speaker_live[code] = self._speaker_live.get(code, 0) + 1
            terms = self._terms(doc_terms(str(row.get("memory") or "")))
            self._doclen[p] = len(terms)
            counts: dict[str, int] = {}
            for term in terms:
                counts[term] = counts.get(term, 0) + 1
            for term, tf in counts.items():
                posting = self._postings.get(term)
                if posting is None:
                    posting = self._postings[term] = (array("i"), array("f"))
                posting[0].append(p)
                posting[1].append(float(tf))
        if vectors:
            matrix = np.asarray(vectors, dtype=np.float32)
            norms = np.linalg.norm(matrix, axis=1)
            good = norms > 0
            positions = np.asarray(with_vector, dtype=np.int64)[good]
            self._vecs[positions] = _rounded(matrix[good] / norms[good, None])
            self._has_vec[positions] = True

    def remove(self, ids: Iterable[str]) -> None:
        """Drop these nodes (unknown ids are ignored)."""
        with self._changing():
            for node_id in ids:
                self._retire(node_id)
            self.maybe_compact()

    def _retire(self, node_id: str) -> None:
        p = self._pos.pop(node_id, None)
        if p is None:
            return
        self._alive[p] = False
        code = int(self._speaker[p])
        self._speaker_live[code] -= 1
        if not self._speaker_live[code]:
            del self._speaker_live[code]
        for name in self._pos_entities[p]:
            self._entity_live[name] -= 1
            if not self._entity_live[name]:
                del self._entity_live[name]

    def maybe_compact(self) -> None:
        """Rewrite the index without retired positions once they are a large share."""
        dead = self._n - len(self._pos)
        if self._n < _MIN_CAPACITY or dead < COMPACT_SHARE * self._n:
            return
        with self._changing():
            self._compact()

    def _compact(self) -> None:
        keep = np.flatnonzero(self._alive[: self._n])
        remap = np.full(self._n, -1, dtype=np.int64)
        remap[keep] = np.arange(len(keep))
        n = len(keep)

        def packed(old: np.ndarray) -> np.ndarray:
            return old[keep].copy()

        self._vecs = packed(self._vecs[: self._n])
        self._alive = packed(self._alive[: self._n])
        self._has_vec = packed(self._has_vec[: self._n])
        self._status = packed(self._status[: self._n])
        self._mtype = packed(self._mtype[: self._n])
        self._ntype = packed(self._ntype[: self._n])
        self._created_ts = packed(self._created_ts[: self._n])
        self._session = packed(self._session[: self._n])
        self._valid = packed(self._valid[: self._n])
        self._invalid = packed(self._invalid[: self._n])
        self._doclen = packed(self._doclen[: self._n])
        self._speaker = packed(self._speaker[: self._n])
        self._timed = packed(self._timed[: self._n])
        self._ids = [self._ids[int(p)] for p in keep]
        self._created = [self._created[int(p)] for p in keep]
        self._pos_entities = [self._pos_entities[int(p)] for p in keep]
        self._pos = {node_id: i for i, node_id in enumerate(self._ids)}
        postings: dict[str, tuple[array[int], array[float]]] = {}
        for term, (pos, tf) in self._postings.items():
            old = np.frombuffer(pos, dtype=np.int32) if len(pos) else np.zeros(0, np.int32)
            new = remap[old]
            live = new >= 0
            if live.any():
                tfs = np.frombuffer(tf, dtype=np.float32)[live]
                postings[term] = (array("i", new[live].astype(np.int32)), array("f", tfs))
        self._postings = postings
        entities: dict[str, array[int]] = {}
        for entity, pos in self._entities.items():
            old = np.frombuffer(pos, dtype=np.int32) if len(pos) else np.zeros(0, np.int32)
            new = remap[old]
            if (new >= 0).any():
                entities[entity] = array("i", new[new >= 0].astype(np.int32))
        self._entities = entities
        self._n = self._cap = n
        self._hnsw, self._hnsw_n = None, 0
        logger.debug("cube index compacted to %d positions", n)

    # -- searching --------------------------------------------------------------------------

    def mask(self, node_filter: NodeFilter) -> np.ndarray:
        """Which positions are live and pass ``node_filter`` (as ``NodeFilter.compile`` does).

        Every search asks for the same few filters, and only the validity instant changes from
        one search to the next: the rest of the mask, and the few positions with validity
        bounds, are kept until the index changes (at 100k nodes, 0.65 ms of numpy per search
        otherwise). Each kept mask carries the version it was computed at, and only one of the
        current version is used: a mask computed while a change ran is never reused, since the
        version was bumped again when the change ended.
        """
        key = (
            node_filter.statuses,
            node_filter.memory_types,
            node_filter.types,
            node_filter.session_id,
        )
        version = self._version
        cached = self._masks.get(key)
        if cached is None or cached[0] != version:
            static = self._static_mask(node_filter)
            valid, invalid = self._valid[: len(static)], self._invalid[: len(static)]
            bounded = np.flatnonzero(static & ~(np.isnan(valid) & np.isnan(invalid)))
            cached = (version, static, bounded)
            if len(self._masks) >= _KEPT_MASKS:
                self._masks = {k: v for k, v in self._masks.items() if v[0] == version}
            if len(self._masks) < _KEPT_MASKS:
                self._masks[key] = cached
        _, static, bounded = cached
        keep = static.copy()
        if node_filter.valid_at_ts is not None and len(bounded):
            at = float(node_filter.valid_at_ts)
            valid, invalid = self._valid[bounded], self._invalid[bounded]
            with np.errstate(invalid="ignore"):
                ok = (np.isnan(valid) | (valid <= at)) & (np.isnan(invalid) | (invalid > at))
            keep[bounded[~ok]] = False
        return keep

    def _static_mask(self, node_filter: NodeFilter) -> np.ndarray:
        """``mask`` without the validity instant."""
        n = self._n
        keep = self._alive[:n].copy()
        if node_filter.statuses is not None:
            codes = self._status_codes.lookup(node_filter.statuses)
            keep &= np.isin(self._status[:n], codes)
        if node_filter.memory_types is not None:
            codes = self._mtype_codes.lookup(node_filter.memory_types)
            keep &= np.isin(self._mtype[:n], codes)
        if node_filter.types is not None:
            codes = self._ntype_codes.lookup(node_filter.types)
            keep &= np.isin(self._ntype[:n], codes)
        if node_filter.session_id is not None:
            keep &= (
                self._session[:n]
                == (self._session_codes.lookup([node_filter.session_id]) or [-2])[0]
            )
        return keep

    def _order_key(self, p: int) -> tuple[str, str]:
        """How equal scores are ordered: oldest first, then by id (not by position)."""
        return (self._created[p], self._ids[p])

    def _top(self, positions: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[str, float]]:
        if len(positions) > k:
            # The k best; among scores tied with the k-th, the first by ``_order_key``.
            kth = np.partition(scores, len(scores) - k)[len(scores) - k]
            better = np.flatnonzero(scores > kth)
            tied = np.flatnonzero(scores == kth)
            if len(tied) > k - len(better):
                ranked = sorted(tied.tolist(), key=lambda i: self._order_key(int(positions[i])))
                tied = np.asarray(ranked[: k - len(better)], dtype=np.int64)
            cut = np.concatenate([better, tied])
            positions, scores = positions[cut], scores[cut]
        # Best first; equal scores by ``_order_key`` (only runs of equal scores are re-sorted,
        # in Python: rare, and at most ``k`` items).
        order = np.argsort(-scores, kind="stable")
        ordered = scores[order]
        if len(ordered) > 1 and bool((ordered[1:] == ordered[:-1]).any()):
            listed = order.tolist()
            listed.sort(key=lambda i: (-float(scores[i]), self._order_key(int(positions[i]))))
            order = np.asarray(listed, dtype=np.int64)
        return [(self._ids[int(positions[i])], float(scores[i])) for i in order]

    def vector_search(
        self, vector: Sequence[float], k: int, keep: np.ndarray
    ) -> list[tuple[str, float]]:
        """Top ``k`` positions of ``keep`` by cosine, on the store's ``(1 + cos) / 2`` scale."""
        query = self.vector_query(vector)
        return query.search(keep, k) if query is not None else []

    def vectors_of(self, ids: Sequence[str]) -> np.ndarray:
        """The stored (unit) vectors of those ``ids`` that are live and have one, in order."""
        positions = [self._pos[i] for i in ids if i in self._pos]
        positions = [p for p in positions if self._has_vec[p]]
        return self._vecs[positions]

    def vector_query(self, vector: Sequence[float]) -> VectorQuery | None:
        """One query vector's searches over several filters, sharing one scan of the vectors.

        ``None`` for a zero vector. Hybrid search asks it for the whole cube and for subsets
        (one speaker's memories, those naming an entity): each is a masked top-k over the same
        cosines, not another matrix-vector product.
        """
        q = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(q))
        if norm == 0:
            return None
        return VectorQuery(self, _rounded(q / norm))

    def _hnsw_candidates(self, q: np.ndarray, k: int, keep: np.ndarray) -> np.ndarray:
        import faiss

        if self._hnsw is None:
            self._build_hnsw()
        if self._hnsw_n < self._n:
            self._hnsw.add(self._vecs[self._hnsw_n : self._n])
            self._hnsw_n = self._n
        bits = np.packbits(keep, bitorder="little")
        fetch = max(4 * k, 40)
        params = faiss.SearchParametersHNSW(  # type: ignore[attr-defined]
            sel=faiss.IDSelectorBitmap(self._n, faiss.swig_ptr(bits)),
            efSearch=max(HNSW_EF_SEARCH, fetch),
        )
        _, found = self._hnsw.search(q[None, :], fetch, params=params)
        return np.asarray(found[0][found[0] >= 0], dtype=np.int64)

    def _build_hnsw(self) -> None:
        import faiss

        index = faiss.IndexHNSWSQ(
            self.dimension,
            faiss.ScalarQuantizer.QT_8bit,  # type: ignore[arg-type]  # the stubs lag the API
            HNSW_M,
            faiss.METRIC_INNER_PRODUCT,
        )
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        live = self._vecs[: self._n]
        # Quantiser ranges from the vectors themselves (a sample is enough, and cheaper).
        step = max(1, self._n // 20_000)
        index.train(np.ascontiguousarray(live[::step]))
        index.add(live)
        self._hnsw, self._hnsw_n = index, self._n
        logger.info("cube index: HNSW over %d vectors built", self._n)

    def recent(self, keep: np.ndarray, limit: int, offset: int = 0) -> list[str]:
        """Ids of positions ``offset`` to ``offset + limit`` of ``keep``, newest first.

        Ties in creation time are ordered by id (descending), as ``_order_key`` reversed; an
        unparsable ``created_at`` counts as oldest. Two numpy partitions of the creation seconds
        bound the page's window, and only the window (with its ties) is sorted: a page of an
        inspector at 100k memories costs a scan of one float array at any offset, not a sort
        of the cube's matches.
        """
        positions = np.flatnonzero(keep[: self._n])
        total = len(positions)
        if limit <= 0 or offset >= total:
            return []
        seconds = self._created_ts[positions]
        seconds = np.where(np.isnan(seconds), -np.inf, seconds)
        end = min(offset + limit, total)
        # Newest first is descending seconds: rank r is the (total - 1 - r)-th ascending.
        lowest = np.partition(seconds, total - end)[total - end]
        highest = np.partition(seconds, total - 1 - offset)[total - 1 - offset]
        before = int((seconds > highest).sum())  # certainly ranked before the window
        window = (seconds >= lowest) & (seconds <= highest)
        positions, seconds = positions[window], seconds[window]
        ids = np.array([self._ids[p] for p in positions.tolist()], dtype=str)
        created = np.array([self._created[p] for p in positions.tolist()], dtype=str)
        order = np.lexsort((ids, created, seconds))[::-1]
        return [str(ids[i]) for i in order[offset - before : end - before]]

    def type_counts(self, keep: np.ndarray) -> dict[str, int]:
        """How many positions of ``keep`` have each node ``type`` (``fact``, ``topic``, ...)."""
        codes = self._ntype[: self._n][keep[: self._n]]
        counts = np.bincount(codes[codes >= 0], minlength=len(self._ntype_codes.values()))
        return {v: int(c) for v, c in zip(self._ntype_codes.values(), counts, strict=True) if c}

    def text_search(self, lucene_query: str, k: int, keep: np.ndarray) -> list[tuple[str, float]]:
        """Top ``k`` positions of ``keep`` matching any query term, by BM25 (cube statistics)."""
        if k <= 0:
            return []
        scores = self.text_scores(lucene_query)
        return self.text_top(scores, k, keep) if scores is not None else []

    def text_top(self, scores: np.ndarray, k: int, keep: np.ndarray) -> list[tuple[str, float]]:
        """Top ``k`` positions of ``keep`` with a positive score in ``text_scores``' array."""
        positions = np.flatnonzero((scores > 0) & keep[: len(scores)])
        return self._top(positions, scores[positions], k)

    def text_scores(self, lucene_query: str) -> np.ndarray | None:
        """BM25 score of every position for the query (``None`` when no term can match)."""
        terms = list(dict.fromkeys(self._terms(query_terms(lucene_query))))
        if not terms or not self._pos:
            return None
        n = self._n
        alive = self._alive[:n]
        docs = len(self._pos)
        # A float64 sum of whole numbers is exact, so the mean does not depend on position order.
        avgdl = float(self._doclen[:n][alive].sum(dtype=np.float64)) / max(docs, 1) or 1.0
        scores = np.zeros(n, dtype=np.float32)
        for term in terms:
            posting = self._postings.get(term)
            if posting is None or not len(posting[0]):
                continue
            pos = np.frombuffer(posting[0], dtype=np.int32)
            live = alive[pos]
            df = int(live.sum())
            if df == 0:
                continue
            idf = math.log(1.0 + (docs - df + 0.5) / (df + 0.5))
            tf = np.frombuffer(posting[1], dtype=np.float32)
            norm = BM25_K1 * (1.0 - BM25_B + BM25_B * self._doclen[pos] / avgdl)
            weight = idf * tf / (tf + norm)
            # A position appears once per term's posting, so plain fancy-index addition is exact.
            scores[pos[live]] += weight[live]
        return scores

    def _terms(self, terms: list[str]) -> list[str]:
        return [stem(t) for t in terms] if self.stem_terms else terms

    # -- entities ---------------------------------------------------------------------------

    def speakers(self) -> list[str]:
        """The speakers of this cube's live nodes (normalised, without prefix), sorted."""
        values = self._speaker_codes.values()
        return sorted(values[c] for c in self._speaker_live if c >= 0)

    def is_entity(self, name: str) -> bool:
        """Whether some live node of this cube mentions the (normalised) entity ``name``."""
        return name in self._entity_live

    def speaker_mask(self, speakers: Sequence[str]) -> np.ndarray:
        """Which positions were said by one of ``speakers``."""
        codes = self._speaker_codes.lookup(speakers)
        return np.isin(self._speaker[: self._n], codes)

    def timed_mask(self) -> np.ndarray:
        """Which positions state a time of their own (a resolved ``memory_time``)."""
        return self._timed[: self._n].copy()

    def co_mentioned(self, ids: Sequence[str], exclude: Iterable[str] = ()) -> list[str]:
        """Entities the live nodes ``ids`` mention, first-seen order, without ``exclude``.

        The second hop of entity expansion: the names that share a memory with a question's
        entity (the graph's ``(memory)-[:MENTIONS]->(entity)`` edges, read from the index).
        """
        skip = set(exclude)
        out: dict[str, None] = {}
        for node_id in ids:
            p = self._pos.get(node_id)
            if p is None:
                continue
            for name in self._pos_entities[p]:
                if name not in skip:
                    out.setdefault(name, None)
        return list(out)

    def entity_mask(self, entities: Sequence[str]) -> np.ndarray:
        """Which positions mention at least one of ``entities``."""
        out = np.zeros(self._n, dtype=bool)
        for entity in entities:
            pos = self._entities.get(entity)
            if pos is not None and len(pos):
                out[np.frombuffer(pos, dtype=np.int32)] = True
        return out


class VectorQuery:
    """A normalised query vector over one index; caches the full cosine scan once it is made."""

    def __init__(self, index: CubeIndex, q: np.ndarray) -> None:
        self._index = index
        self.q = q
        self._all: np.ndarray | None = None

    def search(self, keep: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Top ``k`` positions of ``keep`` by cosine, on the store's ``(1 + cos) / 2`` scale."""
        index = self._index
        if k <= 0:
            return []
        n = index._n
        keep = keep[:n] & index._has_vec[:n]
        count = int(keep.sum())
        if count == 0:
            return []
        if count >= HNSW_MIN:
            found = index._hnsw_candidates(self.q, k, keep)
            if len(found) >= min(k, count):
                scores = index._vecs[found] @ self.q
                return [(i, (1.0 + s) / 2.0) for i, s in index._top(found, scores, k)]
        positions = np.flatnonzero(keep)
        if self._all is None and count * 2 >= n:
            self._all = index._vecs[:n] @ self.q
        if self._all is not None and len(self._all) == n:
            scores = self._all[positions]
        else:
            scores = index._vecs[positions] @ self.q
        return [(i, (1.0 + s) / 2.0) for i, s in index._top(positions, scores, k)]
