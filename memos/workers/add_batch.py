"""The batch preparer of ``add`` events: read, embed in one call, write in one transaction.

Embedding is most of an add's cost, and MiniLM embeds 30 short texts in one call in much less
time than in 15 calls of two (the fixed cost of a forward pass dominates small batches). So for a
batch of adds (:mod:`memos.workers.batching`) this reads each event's memories exactly as
:func:`memos.workers.memory_handlers.handle_add` would (same reader, same derived ids), embeds all
their texts with one model call per embedder, and hands each event its items, embeddings set, as
``ctx.prepared``; ``TreeTextMemory.add`` embeds only items without one. Then it writes all of
them to the graph in one transaction (:func:`write_together`) and hands each event the ids it
stored (:class:`~memos.workers.memory_handlers.StoredAdd`), so the handler only records its
reply. Only tree cubes are prepared (a general cube's extraction is its own business); an
event whose reading fails is left out and fails (or succeeds) in its own handler.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import redis

from memos.mem_scheduler.constants import SchedulerKeys
from memos.mem_scheduler.events import AddEvent
from memos.memories.textual.item import TextualMemoryItem
from memos.memories.textual.tree_nodes import as_tree_metadata
from memos.workers import memory_handlers as handlers
from memos.workers.handlers import HandlerContext

logger = logging.getLogger(__name__)


def _read_context(client: redis.Redis, keys: SchedulerKeys) -> HandlerContext:
    # Preparing only reads: the pipeline is never executed.
    return HandlerContext(redis=client, tx=client.pipeline(transaction=True), keys=keys, attempt=0)


def prepare_adds(
    events: Sequence[AddEvent], client: redis.Redis, keys: SchedulerKeys
) -> dict[str, list[TextualMemoryItem]]:
    """``{event.id: items with ids and embeddings}`` for the adds into tree cubes."""
    ctx = _read_context(client, keys)
    cubes = handlers.cubes_for(ctx)
    groups: dict[str, tuple[Any, list[tuple[AddEvent, list[TextualMemoryItem]]]]] = {}
    registry = handlers.registry_for(ctx)
    for event in events:
        try:
            # Checked here too: a batch writes to the graph before the handler runs.
            registry.check_access(event.user_id, event.cube_id)
            cube = cubes.get(event.cube_id)
            text_mem = cube.text_mem
            if text_mem is None or not handlers._is_tree(cube):
                continue
            items = handlers._with_ids(event, handlers._tree_items(event))
        except Exception as exc:
            logger.info("add %s is applied on its own: reading it failed (%s)", event.id, exc)
            continue
        key = text_mem.config.embedder.model_dump_json()
        groups.setdefault(key, (text_mem.embedder, []))[1].append((event, items))
    prepared: dict[str, Any] = {}
    for embedder, members in groups.values():
        texts = [
            item.memory
            for _, items in members
            for item in items
            if not as_tree_metadata(item.metadata).embedding
        ]
        vectors = iter(embedder.embed(texts) if texts else [])
        for event, items in members:
            prepared[event.id] = [_with_embedding(item, vectors) for item in items]
    ordered = [(event, prepared[event.id]) for event in events if event.id in prepared]
    written = write_together(ordered, cubes)
    prepared.update(written)
    logger.info(
        "prepared %d adds together (%d embedder groups, %d written in one transaction)",
        len(prepared),
        len(groups),
        len(written),
    )
    return prepared


def write_together(
    adds: Sequence[tuple[AddEvent, list[TextualMemoryItem]]], cubes: Any
) -> dict[str, handlers.StoredAdd]:
    """Write the adds of a batch, in order, in one graph transaction per store.

    Each add runs the statements it would run alone (dedup by key, id check, nodes, CONTEXT
    edges, change log), on its own cube's view of the shared transaction. If anything fails,
    the whole transaction rolls back and the adds are left to their handlers, one by one, so
    a bad add still fails alone. An empty answer then, never a partial one.
    """
    by_store: dict[str, list[tuple[AddEvent, Any, list[TextualMemoryItem]]]] = {}
    for event, items in adds:
        if not items:
            continue
        text_mem = cubes.get(event.cube_id).text_mem
        key = text_mem.store.config.model_dump_json()
        by_store.setdefault(key, []).append((event, text_mem, items))
    written: dict[str, handlers.StoredAdd] = {}
    for members in by_store.values():
        store = members[0][1].store
        try:
            ids: dict[str, handlers.StoredAdd] = {}
            with store.transaction() as shared:
                for event, text_mem, items in members:
                    view = shared.for_cube(text_mem.cube_id, text_mem.graph.user_id)
                    ids[event.id] = handlers.StoredAdd(tuple(text_mem.add(items, tx=view)))
        except Exception as exc:
            logger.warning(
                "writing %d adds in one transaction failed (%s); each is written alone",
                len(members),
                exc,
            )
            continue
        written.update(ids)
    return written


def _with_embedding(item: TextualMemoryItem, vectors: Any) -> TextualMemoryItem:
    meta = as_tree_metadata(item.metadata)
    if meta.embedding:
        return item
    vector = list(next(vectors))
    return item.model_copy(update={"metadata": meta.model_copy(update={"embedding": vector})})
