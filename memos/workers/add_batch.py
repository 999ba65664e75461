"""The batch preparer of ``add`` events: read, embed in one call, write in one transaction.

Embedding is most of an add's cost, and MiniLM embeds 30 short texts in one call in much less
time than in 15 calls of two (the fixed cost of a forward pass dominates small batches). So for a
batch of adds (:mod:`memos.workers.batching`) this reads each event's memories exactly as
:func:`memos.workers.memory_handlers.handle_add` would (same reader, same derived ids), embeds
their texts a stage of a few adds at a time (one model call per embedder and stage) and writes
them to the graph in one transaction per store, a writer thread writing each stage while the
next one is embedded (:func:`embed_and_write`), each kind of statement once per stage for all
its adds (:func:`~memos.memories.textual.tree.add_together`). Each event gets the ids it stored
(:class:`~memos.workers.memory_handlers.StoredAdd`), so the handler only records its reply; if
the shared write fails, each event gets its items, embeddings set, as ``ctx.prepared``
(``TreeTextMemory.add`` embeds only items without one) and its handler writes it alone. Only
tree cubes are prepared (a general cube's extraction is its own business); an event whose
reading fails is left out and fails (or succeeds) in its own handler.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from memos.mem_scheduler.constants import SchedulerKeys
from memos.mem_scheduler.events import AddEvent
from memos.memories.textual.composite import embed_items
from memos.memories.textual.item import TextualMemoryItem
from memos.memories.textual.tree import add_together
from memos.memories.textual.tree_nodes import as_tree_metadata
from memos.workers import memory_handlers as handlers
from memos.workers.handlers import HandlerContext

logger = logging.getLogger(__name__)

#: Texts per pipeline stage: one stage is embedded while the one before it is written.
#: Bigger stages make fuller model calls (a call of one batch of 8 chat sessions embeds at ~0.6
#: of the speed of one call of 2,000 texts), but 256 lost to 32 in an idle sitting (ingest at 8
#: in flight 97-100 vs 114-119 turns/s, 100 tenants 49-52 vs 58-63 ops/s): overlapping the
#: writes with the embedding is worth more (BENCHMARKS.md, issue 15 item 6, 2026-12-06).
STAGE_TEXTS = 32


def _read_context(client: redis.Redis, keys: SchedulerKeys) -> HandlerContext:
    # Preparing only reads: the pipeline is never executed.
    return HandlerContext(redis=client, tx=client.pipeline(transaction=True), keys=keys, attempt=0)


@dataclass(frozen=True, slots=True)
class _Member:
    """One add of the batch, read: its event, its cube's memory and its items (ids derived)."""

    event: AddEvent
    text_mem: Any
    items: list[TextualMemoryItem]


def prepare_adds(
    events: Sequence[AddEvent], client: redis.Redis, keys: SchedulerKeys
) -> dict[str, Any]:
    """``{event.id: StoredAdd}`` for the adds written together, ``{event.id: items}`` for the
    adds read and embedded but left to their handlers to write (their shared write failed)."""
    ctx = _read_context(client, keys)
    by_store: dict[str, list[_Member]] = {}
    for event in events:
        try:
            # Checked here too: a batch writes to the graph before the handler runs.
            _, cube = handlers.checked_cube(ctx, event)
            text_mem = cube.text_mem
            if text_mem is None or not handlers._is_tree(cube):
                continue
            items = handlers._with_ids(event, handlers._tree_items(event))
        except Exception as exc:
            logger.info("add %s is applied on its own: reading it failed (%s)", event.id, exc)
            continue
        key = text_mem.store.config.model_dump_json()
        by_store.setdefault(key, []).append(_Member(event, text_mem, items))
    prepared: dict[str, Any] = {}
    written = 0
    for members in by_store.values():
        stored = embed_and_write(members, prepared)
        prepared.update(stored)
        written += len(stored)
    logger.info(
        "prepared %d adds together (%d stores, %d written in one transaction per store)",
        len(prepared),
        len(by_store),
        written,
    )
    return prepared


def stages(members: Sequence[_Member], min_texts: int | None = None) -> list[list[_Member]]:
    """Consecutive runs of ``members`` holding at least ``min_texts`` texts each (default
    :data:`STAGE_TEXTS`; the last may hold fewer): the units that are embedded while the
    previous one is written."""
    min_texts = STAGE_TEXTS if min_texts is None else min_texts
    out: list[list[_Member]] = []
    current: list[_Member] = []
    count = 0
    for member in members:
        current.append(member)
        count += len(member.items)
        if count >= min_texts:
            out.append(current)
            current, count = [], 0
    if current:
        out.append(current)
    return out


def embed_and_write(
    members: Sequence[_Member], prepared: dict[str, Any]
) -> dict[str, handlers.StoredAdd]:
    """Embed the adds of one store stage by stage while a writer thread writes the stages
    already embedded, in batch order, in one transaction; the ids each add stored.

    Embedding is CPU work in torch (which releases the GIL) and a write mostly waits for the
    graph server, so a stage's embedding overlaps the previous stage's statements. The
    transaction still commits only after every add of the batch is written, before any
    event is acknowledged (each by its own ``apply_once`` after this returns), so
    exactly-once and ack-after-effect are those of one transaction written at once. Every add's
    embedded items go into ``prepared`` as they are embedded: if the shared write fails it
    rolls back, the answer is empty, and each handler writes its own add alone.
    """
    if not members:
        return {}
    store = members[0].text_mem.store
    writer = _StageWriter(store)
    writer.start()
    try:
        for stage in stages(members):
            embedded = _embed_stage(stage)
            for member in embedded:
                prepared[member.event.id] = member.items
            writer.submit(embedded)
    except BaseException:
        writer.abort()
        raise
    return writer.finish()


def _embed_stage(stage: Sequence[_Member]) -> list[_Member]:
    """The stage's members with every item embedded: one model call per embedder."""
    groups: dict[str, tuple[Any, list[_Member]]] = {}
    for member in stage:
        key = handlers.embedder_key(member.text_mem)
        groups.setdefault(key, (member.text_mem.embedder, []))[1].append(member)
    done: dict[str, _Member] = {}
    for embedder, group in groups.values():
        pending = [
            item
            for member in group
            for item in member.items
            if not as_tree_metadata(item.metadata).embedding
        ]
        # One model call over the distinct texts: composite memories (embedding_parts) share
        # their part vectors within the stage and with the process's recent parts.
        vectors = iter(embed_items(embedder, pending) if pending else [])
        for member in group:
            items = [_with_embedding(item, vectors) for item in member.items]
            done[member.event.id] = _Member(member.event, member.text_mem, items)
    return [done[member.event.id] for member in stage]


class _Aborted(Exception):
    """Raised inside the writer's transaction so that it rolls back."""


_ABORT = object()
_END = object()


class _StageWriter:
    """A thread that writes submitted stages, in order, in one transaction of ``store``."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._ids: dict[str, handlers.StoredAdd] = {}
        self._ok = False
        self._thread = threading.Thread(target=self._run, name="add-batch-writer", daemon=True)

    def start(self) -> None:
        """Start the thread; it opens the transaction at once (overlapping the first stage)."""
        self._thread.start()

    def submit(self, stage: list[_Member]) -> None:
        """Queue an embedded stage for writing after the stages before it."""
        self._queue.put(stage)

    def abort(self) -> None:
        """Roll the transaction back and wait for the thread (the caller failed)."""
        self._queue.put(_ABORT)
        self._thread.join()

    def finish(self) -> dict[str, handlers.StoredAdd]:
        """Commit after the last stage; the ids each add stored, or {} if the write failed."""
        self._queue.put(_END)
        self._thread.join()
        return dict(self._ids) if self._ok else {}

    def _run(self) -> None:
        count = 0
        ended = False
        try:
            with self._store.transaction() as shared:
                while True:
                    stage = self._queue.get()
                    if stage is _END:
                        ended = True
                        break
                    if stage is _ABORT:
                        raise _Aborted
                    # Each kind of statement once for the whole stage, rows scoped per cube.
                    results = add_together(shared, [(m.text_mem, m.items) for m in stage])
                    for member, result in zip(stage, results, strict=True):
                        self._ids[member.event.id] = handlers.StoredAdd(tuple(result))
                        count += 1
            self._ok = True
        except _Aborted:
            logger.info("the batch's shared write was rolled back: preparing it failed")
        except Exception as exc:
            logger.warning(
                "writing adds in one transaction failed after %d (%s); each is written alone",
                count,
                exc,
            )
            if not ended:
                self._drain()

    def _drain(self) -> None:
        """After a failure, consume the stages still coming until the end (nothing written)."""
        while True:
            stage = self._queue.get()
            if stage is _END or stage is _ABORT:
                return


def _with_embedding(item: TextualMemoryItem, vectors: Any) -> TextualMemoryItem:
    meta = as_tree_metadata(item.metadata)
    if meta.embedding:
        return item
    vector = list(next(vectors))
    return item.model_copy(update={"metadata": meta.model_copy(update={"embedding": vector})})
