"""The batch preparer of ``add`` events: read every event's memories, embed them in one call.

Embedding is most of an add's cost, and MiniLM embeds 30 short texts in one call in much less
time than in 15 calls of two (the fixed cost of a forward pass dominates small batches). So for a
batch of adds (:mod:`memos.workers.batching`) this reads each event's memories exactly as
:func:`memos.workers.memory_handlers.handle_add` would (same reader, same derived ids), embeds all
their texts with one model call per embedder, and hands each event its items, embeddings set, as
``ctx.prepared``; ``TreeTextMemory.add`` embeds only items without one, so the handler then only
writes. Only tree cubes are prepared (a general cube's extraction is its own business); an
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
    for event in events:
        try:
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
    prepared: dict[str, list[TextualMemoryItem]] = {}
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
    logger.info("prepared %d adds together (%d embedder groups)", len(prepared), len(groups))
    return prepared


def _with_embedding(item: TextualMemoryItem, vectors: Any) -> TextualMemoryItem:
    meta = as_tree_metadata(item.metadata)
    if meta.embedding:
        return item
    vector = list(next(vectors))
    return item.model_copy(update={"metadata": meta.model_copy(update={"embedding": vector})})
