"""Composite vectors: a memory's vector combined from the vectors of its parts.

The fast reader used to embed one long text per memory (``"Caroline said on 8 May 2023: <turn>
(replying to Mel: "<clip>")"``), about 3.4x the tokens of the raw turn, and embedding is most of
an add's cost. In ``composite`` mode it instead lists the parts with weights
(``embedding_parts``): the turn's text, a header (``"Caroline said on 8 May 2023"``) and the
nearest previous turn's text. A memory's vector is then

    normalize(sum_i w_i * normalize(v(part_i)))

and each part is embedded once however many memories use it: headers repeat (speaker x date),
and a memory's previous turn is the previous memory's own turn text, so within one call the
distinct texts are about one raw turn per memory. A small bounded LRU of part vectors per
process (:class:`PartVectorCache`) covers what the last call already embedded (the previous
add's last turn, the day's header). A part vector is a function of its text and the embedder
alone, so the cache is shared by every tenant without leaking anything between them.

Items without parts keep today's behaviour exactly: their ``embedding_text`` (or memory) is
embedded in the same model call and its vector is used as the model returns it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from memos.memories.textual.item import EmbeddingPart, TextualMemoryItem
from memos.memories.textual.tree_nodes import as_tree_metadata, embedding_source

__all__ = [
    "DEFAULT_CACHE_ENTRIES",
    "PART_CACHE",
    "PartVectorCache",
    "combine",
    "embed_items",
    "embedder_identity",
]

#: Part vectors kept per process: 4,096 x 384 float32 is 6 MiB for MiniLM. Enough for the
#: headers of a busy day and the last turns of many concurrent conversations.
DEFAULT_CACHE_ENTRIES = 4096


class PartVectorCache:
    """A thread-safe LRU of part vectors keyed by (embedder identity, text), bounded in entries.

    Only part vectors go in (never a whole memory's text-mode vector): they are the ones
    that repeat.
    """

    def __init__(self, max_entries: int = DEFAULT_CACHE_ENTRIES) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must be >= 0")
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(self, embedder_id: str, text: str) -> np.ndarray | None:
        """The cached unit vector of ``text``, or None (a hit becomes the most recent)."""
        key = (embedder_id, text)
        with self._lock:
            vector = self._entries.get(key)
            if vector is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return vector

    def put(self, embedder_id: str, text: str, vector: np.ndarray) -> None:
        """Keep ``vector`` for ``text``, evicting the least recently used beyond the bound."""
        if self.max_entries == 0:
            return
        key = (embedder_id, text)
        with self._lock:
            self._entries[key] = vector
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every vector (tests; a process that swaps models in place)."""
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0


#: The process-wide cache the write paths use.
PART_CACHE = PartVectorCache()


def embedder_identity(embedder: Any) -> str:
    """What makes two embedders give equal vectors for equal texts: class and config."""
    config: Any = getattr(embedder, "config", None)
    dump = getattr(config, "model_dump_json", None)
    dumped = dump() if callable(dump) else repr(config)
    return f"{type(embedder).__module__}.{type(embedder).__qualname__}:{dumped}"


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0.0 else vector


def combine(parts: Sequence[EmbeddingPart], vectors: Sequence[np.ndarray]) -> list[float]:
    """``normalize(sum_i w_i * normalize(v_i))`` for parts and their vectors, in order."""
    if not parts or len(parts) != len(vectors):
        raise ValueError("give one vector per part, and at least one part")
    total = np.zeros_like(np.asarray(vectors[0], dtype=np.float64))
    for part, vector in zip(parts, vectors, strict=True):
        total += part.weight * _unit(np.asarray(vector, dtype=np.float64))
    return [float(x) for x in _unit(total)]


def embed_items(
    embedder: Any,
    items: Sequence[TextualMemoryItem],
    *,
    cache: PartVectorCache | None = None,
) -> list[list[float]]:
    """One vector per item, from one ``embedder.embed`` call over the distinct texts needed.

    An item with ``embedding_parts`` gets the combination of its parts' vectors (parts found
    in ``cache``, default :data:`PART_CACHE`, are not embedded again; the others are added to
    it); any other item gets the vector of :func:`embedding_source` as the model returns it.
    Equal texts are embedded once per call.
    """
    cache = PART_CACHE if cache is None else cache
    identity = embedder_identity(embedder)
    known: dict[str, np.ndarray] = {}
    wanted: dict[str, None] = {}  # insertion-ordered set of texts to embed
    part_texts: set[str] = set()
    for item in items:
        parts = as_tree_metadata(item.metadata).embedding_parts
        if not parts:
            wanted.setdefault(embedding_source(item))
            continue
        for part in parts:
            if part.text in known or part.text in wanted:
                part_texts.add(part.text)
                continue
            cached = cache.get(identity, part.text)
            if cached is not None:
                known[part.text] = cached
            else:
                wanted.setdefault(part.text)
                part_texts.add(part.text)
    texts = list(wanted)
    fresh = embedder.embed(texts) if texts else []
    raw: dict[str, list[float]] = {}
    for text, vector in zip(texts, fresh, strict=True):
        raw[text] = vector
        if text in part_texts:
            unit = _unit(np.asarray(vector, dtype=np.float32))
            known[text] = unit
            cache.put(identity, text, unit)
    out: list[list[float]] = []
    for item in items:
        parts = as_tree_metadata(item.metadata).embedding_parts
        if not parts:
            out.append(list(raw[embedding_source(item)]))
        else:
            out.append(combine(parts, [known[p.text] for p in parts]))
    return out
