"""The batch preparer of ``query`` events: embed every waiting query in one model call.

A search's largest single cost on the worker is its query embedding (one MiniLM forward pass,
~14 ms on an idle core, mostly fixed cost), and 30 queries embed in one call in much less time
than in 30 calls. So for a batch of queries (:mod:`memos.workers.batching`) this embeds each
query once per distinct embedder of the tree cubes it will search, in one call per embedder,
and hands each event a :class:`PreparedQuery` as ``ctx.prepared``;
:func:`memos.workers.memory_handlers.handle_query` passes the vector to
``TreeTextMemory.search`` instead of embedding again. Results are identical to one-by-one
searches: the same model embeds the same text, only in a larger batch. While that model call
runs, helper threads catch the searched cubes' indexes up with the store, the round trip each
search would otherwise pay after the embedding (a direct search overlaps the two the same way).
An event whose cubes cannot be read (access denied, unknown cube) is left out and fails in its
own handler.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import redis

from memos.graph_dbs import CubeGraph
from memos.mem_scheduler.constants import SchedulerKeys
from memos.mem_scheduler.events import QueryEvent
from memos.memories.textual.cube_index_sync import sync_many_while
from memos.workers import memory_handlers as handlers
from memos.workers.handlers import HandlerContext
from memos.workers.memory_handlers import PreparedQuery

logger = logging.getLogger(__name__)


def _read_context(client: redis.Redis, keys: SchedulerKeys) -> HandlerContext:
    # Preparing only reads: the pipeline is never executed.
    return HandlerContext(redis=client, tx=client.pipeline(transaction=True), keys=keys, attempt=0)


def prepare_queries(
    events: Sequence[QueryEvent], client: redis.Redis, keys: SchedulerKeys
) -> dict[str, PreparedQuery]:
    """``{event.id: PreparedQuery}`` for the queries that search tree cubes.

    The cube indexes of the searched cubes catch up with the store on helper threads while the
    queries embed, so each search afterwards starts with a fresh index instead of a round trip.
    """
    ctx = _read_context(client, keys)
    cubes = handlers.cubes_for(ctx)
    graphs: dict[str, CubeGraph] = {}
    # embedder key -> (embedder, [(event, query text)])
    groups: dict[str, tuple[Any, list[tuple[QueryEvent, str]]]] = {}
    for event in events:
        options = dict(event.payload.options or {})
        if not bool(options.get("enable_textual_memory", True)):
            continue
        try:
            cube_ids, known = handlers._search_cubes(event, ctx)
            held = [cubes.get(c, known=known[c]) for c in cube_ids]
            chosen = [
                cube.text_mem for cube in held
                if cube.text_mem is not None and handlers._is_tree(cube)
            ]  # fmt: skip
        except Exception as exc:
            logger.info("query %s is searched on its own: reading it failed (%s)", event.id, exc)
            continue
        seen: set[str] = set()
        for text_mem in chosen:
            if text_mem.config.cube_index:
                graphs.setdefault(text_mem.graph.cube_id, text_mem.graph)
            key = handlers.embedder_key(text_mem)
            if key in seen:
                continue
            seen.add(key)
            groups.setdefault(key, (text_mem.embedder, []))[1].append((event, event.payload.query))
    fresh_since = time.time()
    vectors = sync_many_while(list(graphs.values()), partial(_embed_groups, groups))
    prepared = {
        event_id: PreparedQuery(vectors=by_key, index_fresh_since=fresh_since)
        for event_id, by_key in vectors.items()
    }
    logger.info(
        "prepared %d queries together (%d embedder groups, %d cube indexes caught up)",
        len(prepared), len(groups), len(graphs),
    )  # fmt: skip
    return prepared


def _embed_groups(
    groups: dict[str, tuple[Any, list[tuple[QueryEvent, str]]]],
) -> dict[str, dict[str, list[float]]]:
    """``{event.id: {embedder key: vector}}``: one model call per embedder."""
    vectors: dict[str, dict[str, list[float]]] = {}
    for key, (embedder, members) in groups.items():
        embedded = embedder.embed([text for _, text in members])
        for (event, _), vector in zip(members, embedded, strict=True):
            vectors.setdefault(event.id, {})[key] = list(vector)
    return vectors
