"""TreeTextMemory: MemOS's graph-shaped textual memory on the Cypher graph store.

Each memory is a ``Memory`` node of one cube (``config.cube_id``); items added together are
linked by ``CONTEXT`` edges; the background reorganiser adds ``PARENT``, ``RELATE_TO``,
``MERGED_TO`` and ``SUPERSEDES``. Search is hybrid (see :mod:`tree_search`). Adds are idempotent:
an item whose normalised text and source message ids already exist in the cube creates nothing.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from memos.configs.memory import TreeTextMemoryConfig
from memos.embedders.base import BaseEmbedder
from memos.embedders.factory import EmbedderFactory
from memos.errors import (
    DimensionMismatchError,
    DumpFormatError,
    GraphStoreConflictError,
    InvalidMemoryInputError,
    MemoryNotFoundError,
)
from memos.graph_dbs import CubeGraph, GraphStore, NodeFilter
from memos.graph_dbs.store import CubeWrite, StoreTransaction
from memos.memories.textual.base import BaseTextMemory, MemoryInput
from memos.memories.textual.composite import embed_items
from memos.memories.textual.entity_graph import EntityWrite, entity_write
from memos.memories.textual.item import MEMORY_TYPES, TextualMemoryItem, utc_now_iso
from memos.memories.textual.step_timer import StepTimer
from memos.memories.textual.tree_dump import DUMP_FORMAT, DUMP_VERSION, DumpFile, read_dump
from memos.memories.textual.tree_nodes import (
    as_tree_metadata,
    coerce_item,
    item_to_props,
    props_to_item,
    to_epoch_s,
)
from memos.memories.textual.tree_search import (
    DEFAULT_SEARCH,
    HybridSearchConfig,
    RecallLeg,
    SearchMode,
    hybrid_search,
)

logger = logging.getLogger(__name__)

# Each new item is linked by CONTEXT to at most this many items added before it in its window.
CONTEXT_LINKS = 4
_FILTER_KEYS = frozenset({"memory_type", "session_id", "status"})


# Attempts of an add that owns its transaction when it conflicts with a concurrent write.
ADD_ATTEMPTS = 3
ADD_RETRY_S = 0.02


class AddResult(list[str]):
    """The ids ``add`` returns (a list, as in MemOS), plus which were new and which duplicates.

    ``duplicates`` maps the id an item was given to the id of the memory it duplicates (the one
    in the returned list).
    """

    def __init__(self, ids: Sequence[str], new_ids: Sequence[str], duplicates: Mapping[str, str]):
        super().__init__(ids)
        self.new_ids: list[str] = list(new_ids)
        self.duplicates: dict[str, str] = dict(duplicates)


def _plan_rows(
    rows: list[dict[str, Any]], existing: dict[str, str]
) -> tuple[list[str], list[dict[str, Any]], dict[str, str]]:
    """Which of an add's rows are new and which duplicate ``existing`` (dedup key -> id, of the
    cube; the new rows' keys are added to it): final ids, rows to create, duplicates."""
    final_ids: list[str] = []
    new_rows: list[dict[str, Any]] = []
    duplicates: dict[str, str] = {}
    for row in rows:
        key = row["dedup_key"]
        if key in existing:
            duplicates[row["id"]] = existing[key]
            final_ids.append(existing[key])
            continue
        existing[key] = row["id"]
        new_rows.append(row)
        final_ids.append(row["id"])
    return final_ids, new_rows, duplicates


def add_together(
    shared: StoreTransaction, adds: Sequence[tuple[TreeTextMemory, Sequence[MemoryInput]]]
) -> list[AddResult]:
    """``memory.add(memories, tx=...)`` for every pair, in ``shared``, with each kind of
    statement sent once for all of them.

    A worker's batch of adds for many tenants is mostly small adds (a chat exchange: two
    memories), and one add alone costs ~7 statements whatever its size (1,000 adds of 2
    memories: 5.8 ms of wall time per memory in their own transactions; BENCHMARKS.md,
    issue 15, round 8). Here the dedup lookup, the id check, the nodes, the change log, the
    ``CONTEXT`` edges and the entities of every add go in one statement each
    (:meth:`StoreTransaction.find_by_dedup_keys_many` and friends), each row scoped to its
    own cube. The outcome is that of adding them one after the other in this order: an add
    whose text repeats an earlier add of the same cube in the batch is its duplicate, and an id
    already taken, in the store or earlier in the batch, fails the whole call (the worker then
    writes each add alone, and only the bad one fails).

    Raises:
        InvalidMemoryInputError: malformed input, or an id that already names another memory.
    """
    prepared = []
    for memory, memories in adds:
        items, rows = memory._prepared_rows(memories)
        view = shared.for_cube(memory.cube_id, memory.graph.user_id)
        prepared.append((memory, view, items, rows))
    found = shared.find_by_dedup_keys_many(
        [(view, [r["dedup_key"] for r in rows]) for _, view, _, rows in prepared]
    )
    known: dict[str, dict[str, str]] = {}  # per cube: dedup key -> id, stored or planned
    planned: dict[str, set[str]] = {}  # per cube: ids the batch creates
    plans = []
    for (memory, view, items, rows), existing in zip(prepared, found, strict=True):
        keys = known.setdefault(memory.cube_id, {})
        for key, node_id in existing.items():
            keys.setdefault(key, node_id)
        final_ids, new_rows, duplicates = _plan_rows(rows, keys)
        taken = planned.setdefault(memory.cube_id, set())
        memory._check_clash({r["id"] for r in new_rows} & taken)
        taken.update(r["id"] for r in new_rows)
        plans.append((memory, view, items, final_ids, new_rows, duplicates))
    clashes = shared.existing_ids_many(
        [(view, [r["id"] for r in new_rows]) for _, view, _, _, new_rows, _ in plans]
    )
    writes: list[CubeWrite] = []
    for (memory, view, items, final_ids, new_rows, _), clash in zip(plans, clashes, strict=True):
        memory._check_clash(clash)
        entities = entity_write(new_rows) if memory.config.entity_nodes else EntityWrite()
        if not entities.entities:  # as CubeGraph.write_entities: nothing without entities
            entities = EntityWrite()
        context = memory._context_edges(items, final_ids)
        writes.append(
            CubeWrite(view, new_rows, context, entities.entities, entities.mentions,
                      entities.aliases)
        )  # fmt: skip
    created = shared.write_many(writes)
    logger.info("added %d memories to %d cubes together", created, len(known))
    return [
        AddResult(final_ids, [r["id"] for r in new_rows], duplicates)
        for _, _, _, final_ids, new_rows, duplicates in plans
    ]


class TreeTextMemory(BaseTextMemory):
    """Textual memories as graph nodes of one cube, with hybrid search."""

    def __init__(
        self,
        config: TreeTextMemoryConfig,
        *,
        embedder: BaseEmbedder | None = None,
        store: GraphStore | None = None,
    ) -> None:
        self.config = config
        self.embedder: BaseEmbedder = embedder or EmbedderFactory.from_config(config.embedder)
        self._owns_store = store is None
        self.store: GraphStore = store or GraphStore(config.graph_db)
        self.graph: CubeGraph = self.store.for_cube(config.cube_id or "default", config.user_id)
        self._ready = False
        # Step times (ms) of the latest search: the search-latency bench's profile reads them.
        self.last_search_steps: dict[str, float] = {}
        # Knobs of hybrid search (benchmarks replace it to switch signals off for an ablation).
        self.search_config: HybridSearchConfig = DEFAULT_SEARCH

    @property
    def cube_id(self) -> str:
        """The cube whose nodes this memory sees."""
        return self.graph.cube_id

    # -- lifecycle --------------------------------------------------------------------------

    def ensure_ready(self) -> None:
        """Create the schema once per instance and check the embedder fits the vector index.

        Writes and searches call it; a reader that goes to ``graph`` directly (the inspector)
        calls it first, so that its lookups never run on a database without the indexes.
        """
        if self._ready:
            return
        expected = self.store.config.embedding_dimension
        if self.embedder.dimension != expected:
            raise DimensionMismatchError(
                expected, self.embedder.dimension, where="graph_db.config.embedding_dimension"
            )
        self.store.setup()
        self._ready = True

    def close(self) -> None:
        """Release the graph driver (when this memory created its own store)."""
        if self._owns_store:
            self.store.close()

    # -- writing ----------------------------------------------------------------------------

    def _embed_missing(self, items: list[TextualMemoryItem]) -> list[TextualMemoryItem]:
        expected = self.store.config.embedding_dimension
        missing = [
            i for i, item in enumerate(items) if not as_tree_metadata(item.metadata).embedding
        ]
        # Composite items (embedding_parts) share part vectors; others embed their text.
        vectors = embed_items(self.embedder, [items[i] for i in missing]) if missing else []
        out = list(items)
        for index, vector in zip(missing, vectors, strict=True):
            meta = as_tree_metadata(out[index].metadata).model_copy(update={"embedding": vector})
            out[index] = out[index].model_copy(update={"metadata": meta})
        for item in out:
            got = len(as_tree_metadata(item.metadata).embedding or [])
            if got != expected:
                raise DimensionMismatchError(expected, got, where=f"memory {item.id}")
        return out

    def add(self, memories: Sequence[MemoryInput], *, tx: CubeGraph | None = None) -> AddResult:
        """Store memories (items, dicts or text); returns their ids in order.

        Missing embeddings are computed in batches. Items added together are linked by
        ``CONTEXT`` edges within each session. An item whose text and source messages already
        exist in the cube is not stored again: its id in the result is the existing memory's,
        and ``result.duplicates`` says so.

        ``tx`` is a view of this cube inside a transaction the caller owns (several adds of
        a worker's batch share one, :meth:`GraphStore.transaction`); without it the add is its
        own transaction.

        Raises:
            InvalidMemoryInputError: malformed item, or an id that already names another memory.
        """
        if tx is not None and (tx.cube_id != self.cube_id or not tx.in_transaction):
            raise InvalidMemoryInputError(
                f"add into cube {self.cube_id!r} got a view of {tx.cube_id!r} or no transaction"
            )
        items, rows = self._prepared_rows(memories)
        if not items:
            return AddResult([], [], {})
        if tx is not None:
            final_ids, new_rows, duplicates = self._write(tx, items, rows)
        else:
            # A concurrent add into the same cube can win a shared node (an entity every memory
            # mentions) or a lock; nothing was committed then, and the add is idempotent (dedup
            # keys, merged entities), so it runs again rather than failing the whole event.
            for attempt in range(1, ADD_ATTEMPTS + 1):
                try:
                    with self.graph.transaction() as own:
                        final_ids, new_rows, duplicates = self._write(own, items, rows)
                    break
                except GraphStoreConflictError:
                    if attempt == ADD_ATTEMPTS:
                        raise
                    logger.info("add into cube %s lost to a concurrent write; again", self.cube_id)
                    time.sleep(ADD_RETRY_S * attempt)
        logger.info(
            "added %d memories to cube %s (%d duplicates)",
            len(new_rows),
            self.cube_id,
            len(duplicates),
        )
        return AddResult(final_ids, [r["id"] for r in new_rows], duplicates)

    def _prepared_rows(
        self, memories: Sequence[MemoryInput]
    ) -> tuple[list[TextualMemoryItem], list[dict[str, Any]]]:
        """``add``'s items (embedded) and their node rows; checks the input's shape."""
        if isinstance(memories, str | bytes) or not isinstance(memories, Sequence):
            raise InvalidMemoryInputError("add expects a list of memories")
        items = [coerce_item(m) for m in memories]
        if not items:
            return [], []
        self.ensure_ready()
        items = self._embed_missing(items)
        rows = [item_to_props(item) for item in items]
        for row in rows:
            row["user_id"] = row.get("user_id") or self.graph.user_id
        return items, rows

    def _write(
        self, tx: CubeGraph, items: list[TextualMemoryItem], rows: list[dict[str, Any]]
    ) -> tuple[list[str], list[dict[str, Any]], dict[str, str]]:
        """The statements of one add inside ``tx``: final ids, rows created, duplicates."""
        existing = tx.find_by_dedup_keys([r["dedup_key"] for r in rows])
        final_ids, new_rows, duplicates = _plan_rows(rows, existing)
        self._check_clash(tx.existing_ids([r["id"] for r in new_rows]))
        tx.create_nodes(new_rows)
        tx.merge_edges("CONTEXT", self._context_edges(items, final_ids))
        if self.config.entity_nodes:
            entities = entity_write(new_rows)
            tx.write_entities(entities.entities, entities.mentions, entities.aliases)
        return final_ids, new_rows, duplicates

    def _check_clash(self, clash: set[str]) -> None:
        if clash:
            raise InvalidMemoryInputError(
                f"memory id {sorted(clash)[0]!r} already exists in cube {self.cube_id!r} "
                "with other content; use update() to change it"
            )

    @staticmethod
    def _context_edges(
        items: Sequence[TextualMemoryItem], ids: Sequence[str]
    ) -> list[dict[str, Any]]:
        """CONTEXT edges between items of one add call that share a session."""
        windows: dict[str | None, list[str]] = {}
        for item, node_id in zip(items, ids, strict=True):
            group = windows.setdefault(as_tree_metadata(item.metadata).session_id, [])
            if node_id not in group:
                group.append(node_id)
        edges: list[dict[str, Any]] = []
        for group in windows.values():
            for index, target in enumerate(group):
                for source in group[max(0, index - CONTEXT_LINKS) : index]:
                    edges.append({"source": source, "target": target})
        return edges

    def update(self, memory_id: str, new_memory: MemoryInput) -> None:
        """Replace a memory's text and/or metadata (a partial dict merges over the old one).

        A new text without a given embedding is re-embedded; ``updated_at`` is set to now.

        Raises:
            MemoryNotFoundError: no such memory in this cube.
        """
        current = self.get(memory_id)
        old_meta = as_tree_metadata(current.metadata).model_dump()
        if isinstance(new_memory, TextualMemoryItem):
            text = new_memory.memory
            changes = as_tree_metadata(new_memory.metadata).model_dump(exclude_unset=True)
        elif isinstance(new_memory, str):
            text, changes = new_memory, {}
        elif isinstance(new_memory, Mapping):
            text = new_memory.get("memory", current.memory)
            raw = new_memory.get("metadata") or {}
            if not isinstance(raw, Mapping):
                raise InvalidMemoryInputError("update metadata must be a dict")
            changes = dict(raw)
        else:
            raise InvalidMemoryInputError("update expects an item, a dict or a string")
        if text != current.memory and "embedding" not in changes:
            changes["embedding"] = None
        merged = {**old_meta, **changes, "updated_at": utc_now_iso()}
        merged.pop("relativity", None)
        item = coerce_item({"id": memory_id, "memory": text, "metadata": merged})
        item = self._embed_missing([item])[0]
        props = item_to_props(item)
        props["user_id"] = props.get("user_id") or self.graph.user_id
        if not self.graph.update_node(memory_id, props):
            raise MemoryNotFoundError(memory_id, where=f"cube {self.cube_id}")

    def delete(self, memory_ids: Sequence[str]) -> None:
        """Delete memories of this cube; an unknown id raises and deletes nothing.

        Raises:
            MemoryNotFoundError: naming the first id not in this cube.
        """
        ids = list(dict.fromkeys(memory_ids))
        with self.graph.transaction() as tx:
            found = tx.existing_ids(ids)
            for memory_id in ids:
                if memory_id not in found:
                    raise MemoryNotFoundError(memory_id, where=f"cube {self.cube_id}")
            tx.delete_nodes(ids)

    def delete_all(self) -> None:
        """Delete every memory of this cube (other cubes are untouched)."""
        deleted = self.graph.delete_all()
        logger.info("deleted %d memories of cube %s", deleted, self.cube_id)

    def drop(self) -> None:
        """Delete this cube's nodes and release the driver."""
        self.delete_all()
        self.close()

    # -- reading ----------------------------------------------------------------------------

    def get(self, memory_id: str) -> TextualMemoryItem:
        """The memory with ``memory_id`` in this cube.

        Raises:
            MemoryNotFoundError: no such memory in this cube.
        """
        props = self.graph.get_node(memory_id)
        if props is None:
            raise MemoryNotFoundError(memory_id, where=f"cube {self.cube_id}")
        return props_to_item(props)

    def get_by_ids(self, memory_ids: Sequence[str]) -> list[TextualMemoryItem]:
        """The memories with these ids, in order (MemoryNotFoundError for an unknown id)."""
        found = {p["id"]: p for p in self.graph.get_nodes(list(memory_ids))}
        for memory_id in memory_ids:
            if memory_id not in found:
                raise MemoryNotFoundError(memory_id, where=f"cube {self.cube_id}")
        return [props_to_item(found[i]) for i in memory_ids]

    def get_all(self) -> dict[str, list[dict[str, Any]]]:  # type: ignore[override]
        """Every memory and edge of the cube as plain dicts: ``{"nodes": [...], "edges": [...]}``.

        Nodes are ``TextualMemoryItem.to_dict()`` shapes; edges are
        ``{"source", "target", "type", "properties"}`` (MemOS's shape for tree memories).
        """
        nodes: list[dict[str, Any]] = []
        edges: list[dict[str, Any]] = []
        for page in self.graph.iter_node_pages():
            nodes.extend(props_to_item(p).to_dict() for p in page)
            for edge in self.graph.edges_from([p["id"] for p in page]):
                edges.append(
                    {
                        "source": edge["source"],
                        "target": edge["target"],
                        "type": edge["type"],
                        "properties": dict(edge.get("props") or {}),
                    }
                )
        edges.sort(key=lambda e: (e["source"], e["target"], e["type"]))
        return {"nodes": nodes, "edges": edges}

    def search(  # type: ignore[override]
        self,
        query: str,
        top_k: int,
        filter: Mapping[str, Any] | None = None,
        mode: SearchMode = "fast",
        memory_type: str | Sequence[str] | None = None,
        session_id: str | None = None,
        as_of: str | datetime | None = None,
        *,
        info: Mapping[str, Any] | None = None,
        include_topics: bool = False,
        query_vector: Sequence[float] | None = None,
        index_fresh_since: float | None = None,
        legs: list[RecallLeg] | None = None,
    ) -> list[TextualMemoryItem]:
        """The ``top_k`` memories most related to ``query``, best first.

        Hybrid recall (vector, full-text, graph neighbours of the best hits, and the session's
        recent memories when ``session_id`` is given) fused by reciprocal rank; ``fine`` mode
        recalls more and diversifies by MMR. Only ``activated`` memories valid at ``as_of``
        (default now) are returned. ``memory_type`` (or ``"All"``) and ``filter``
        (``memory_type``, ``session_id``, ``status``) narrow the results; ``info`` is accepted
        for MemOS compatibility (its ``session_id`` adds session context). Each result carries
        its fused score in ``metadata.relativity``. Topic nodes written by reorganisation guide
        recall (graph expansion walks from a topic to its members) but are returned only with
        ``include_topics=True``. ``query_vector`` is the query's embedding when the caller
        already has it (a worker embeds a batch of queries in one model call); it must come
        from this memory's embedder. ``index_fresh_since`` (epoch seconds, no later than when the
        query was issued) lets the search use the cube index as it is when a catch-up started
        since then (the worker catches a batch's cubes up while it embeds the queries).
        ``legs`` receives the ranked lists fusion used
        (see :func:`~memos.memories.textual.tree_search.hybrid_search`).
        """
        if not isinstance(query, str) or not query.strip():
            raise InvalidMemoryInputError("search query must be a non-empty string")
        if not isinstance(top_k, int) or top_k <= 0:
            raise InvalidMemoryInputError(f"top_k must be a positive integer, got {top_k!r}")
        if mode not in ("fast", "fine"):
            raise InvalidMemoryInputError(f"mode must be 'fast' or 'fine', got {mode!r}")
        options = dict(filter or {})
        unknown = set(options) - _FILTER_KEYS
        if unknown:
            raise InvalidMemoryInputError(
                f"unknown search filter keys {sorted(unknown)}; use {sorted(_FILTER_KEYS)}"
            )
        memory_type = memory_type if memory_type is not None else options.get("memory_type")
        statuses = options.get("status", "activated")
        node_filter = NodeFilter(
            statuses=(statuses,) if isinstance(statuses, str) else tuple(statuses),
            memory_types=_memory_types(memory_type),
            session_id=options.get("session_id"),
            valid_at_ts=to_epoch_s(as_of or datetime.now(UTC), field="as_of"),
        )
        if session_id is None and info is not None and isinstance(info.get("session_id"), str):
            session_id = info["session_id"]
        self.ensure_ready()
        timer = StepTimer()
        index = None

        def embed() -> Sequence[float]:
            if query_vector is not None:
                return list(query_vector)
            return self.embedder.embed([query])[0]

        if self.config.cube_index:
            from memos.memories.textual.cube_index_sync import synced_index_while

            # The catch-up's round trip to the store overlaps the query embedding.
            with timer.step("embed"):
                index, vector = synced_index_while(self.graph, embed, timer, index_fresh_since)
        else:
            with timer.step("embed"):
                vector = embed()
        hits = hybrid_search(
            self.graph,
            vector,
            query,
            top_k,
            node_filter,
            mode=mode,
            session_id=session_id,
            include_topics=include_topics,
            index=index,
            timer=timer,
            config=self.search_config,
            legs=legs,
        )
        self.last_search_steps = timer.ms
        results: list[TextualMemoryItem] = []
        for hit in hits:
            item = props_to_item(hit.props)
            item.metadata.relativity = hit.score
            results.append(item)
        return results

    def extract(self, messages: Sequence[Mapping[str, Any]]) -> list[TextualMemoryItem]:
        """Turn one conversation into tree memory items with the rule-based MemReader."""
        from memos.configs.mem_reader import SimpleStructMemReaderConfig
        from memos.mem_reader.simple_struct import SimpleStructMemReader

        reader = SimpleStructMemReader(SimpleStructMemReaderConfig())
        info = {"user_id": self.config.user_id} if self.config.user_id else None
        windows = reader.get_memory([list(messages)], type="chat", info=info, mode="fast")
        return [item for window in windows for item in window]

    # -- persistence ------------------------------------------------------------------------

    def dump(self, dir: str | Path) -> None:
        """Write nodes (with embeddings) and edges to ``dir/<memory_filename>`` atomically."""
        target_dir = Path(dir)
        target_dir.mkdir(parents=True, exist_ok=True)
        everything = self.get_all()
        document: dict[str, Any] = {
            "format": DUMP_FORMAT,
            "format_version": DUMP_VERSION,
            "cube_id": self.cube_id,
            "embedding_dimension": self.store.config.embedding_dimension,
            "embedder": self.embedder.model_name,
            "nodes": everything["nodes"],
            "edges": everything["edges"],
        }
        path = target_dir / self.config.memory_filename
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
        logger.info("dumped %d memories of cube %s", len(everything["nodes"]), self.cube_id)

    def load(self, dir: str | Path) -> None:
        """Replace this cube's memories with a dump (from any cube); all or nothing.

        Raises:
            DumpFormatError: the file is missing, corrupt, of another version or dimension.
        """
        dump: DumpFile = read_dump(
            Path(dir) / self.config.memory_filename, self.store.config.embedding_dimension
        )
        self.ensure_ready()
        try:
            items = [coerce_item(node) for node in dump.nodes]
            rows = [item_to_props(item) for item in self._embed_missing(items)]
        except (InvalidMemoryInputError, DimensionMismatchError) as exc:
            raise DumpFormatError(f"tree memory dump in {dir} has a bad node: {exc}") from exc
        for row in rows:
            row["user_id"] = row.get("user_id") or self.graph.user_id
        by_type: dict[str, list[dict[str, Any]]] = {}
        for edge in dump.edges:
            by_type.setdefault(edge.type, []).append(
                {"source": edge.source, "target": edge.target, "props": edge.properties}
            )
        with self.graph.transaction() as tx:
            tx.delete_all()
            tx.upsert_nodes(rows)
            for rel_type, edge_rows in sorted(by_type.items()):
                tx.merge_edges(rel_type, edge_rows)
            if self.config.entity_nodes:  # derived from the memories, so not in the dump
                entities = entity_write(rows)
                tx.write_entities(entities.entities, entities.mentions, entities.aliases)
        logger.info("loaded %d memories into cube %s", len(rows), self.cube_id)


def _memory_types(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None or value == "All":
        return None
    names = (value,) if isinstance(value, str) else tuple(value)
    for name in names:
        if name not in MEMORY_TYPES:
            raise InvalidMemoryInputError(
                f"unknown memory_type {name!r}; use one of {', '.join(MEMORY_TYPES)} or 'All'"
            )
    return names
