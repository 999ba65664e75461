"""Keeps each process's :class:`CubeIndex` of a cube in step with the graph store.

Every transaction that writes a cube's nodes also writes a change-log entry (``CubeChange``:
the changed ids, or ``reset`` when the cube was emptied or replaced; see
:meth:`CubeGraph._log_change`), in the same transaction, so an entry exists exactly when its
writes committed. Before a search, :func:`synced_index` reads the entries it has not seen yet and
re-reads just those nodes: a node that is gone is dropped, any other is replaced. So any number
of workers (and the API process) may write the same cube; each one's index catches up
incrementally at its next search, including after reorganisation archived or merged nodes.

Entries carry their writer's clock. A reader re-reads a window reaching back
``timeout + CLOCK_SKEW_S`` before its previous check: a transaction cannot commit later than its
timeout after it logged, so an entry that committed after the previous check is always inside the
window; the keys already applied are skipped. A reader that has not looked for longer than the
log keeps entries (``CHANGE_RETENTION_S``), a reset entry, or a catch-up larger than half the
cube rebuilds the index from the store instead. A process that starts (or restarts) builds an
index lazily, at its first search of the cube.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from memos.graph_dbs import CubeGraph
from memos.graph_dbs.store import CHANGE_RETENTION_S
from memos.memories.textual.cube_index import CubeIndex
from memos.memories.textual.step_timer import StepTimer

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Allowance for clocks of different writers disagreeing.
CLOCK_SKEW_S = 5.0
# Rows read per page when (re)building an index from the store.
BUILD_PAGE = 2000


@dataclass
class _Entry:
    index: CubeIndex
    checked_at: float
    # Change keys already applied, with their ``at``, pruned once outside the re-read window.
    seen: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_registry: dict[tuple[str, str, str], _Entry] = {}
_registry_lock = threading.Lock()


def _key(graph: CubeGraph) -> tuple[str, str, str]:
    target = graph.store._resolve()
    return (target.bolt_url, target.database, graph.cube_id)


def forget(graph: CubeGraph | None = None) -> None:
    """Drop the index of ``graph``'s cube (all indexes without one); the next search rebuilds."""
    with _registry_lock:
        if graph is None:
            _registry.clear()
        else:
            _registry.pop(_key(graph), None)


def _build(graph: CubeGraph) -> _Entry:
    started = time.time()
    # Entries visible now committed before the pages below are read, so the build includes
    # their effects: mark them applied. Entries that commit later are caught up afterwards.
    window = graph.store.timeout_s + CLOCK_SKEW_S
    seen = {str(c["key"]): float(c["at"]) for c in graph.changes_since(started - window)}
    index = CubeIndex(graph.store.config.embedding_dimension)
    for page in graph.iter_index_pages(BUILD_PAGE):
        index.upsert(page)
    logger.info(
        "cube index of %s built: %d nodes in %.1f s", graph.cube_id, len(index),
        time.time() - started,
    )  # fmt: skip
    return _Entry(index=index, checked_at=started, seen=seen)


def synced_index(graph: CubeGraph, fresh_since: float | None = None) -> CubeIndex:
    """This process's index of ``graph``'s cube, caught up with every write committed before
    the call (or before ``fresh_since``, an epoch time, when given).

    A catch-up that *started* at or after that moment has already seen every such write, so the
    index is returned without another round trip to the store when one did: concurrent searches
    of a cube share one catch-up, and a worker that caught its cubes up while it embedded a
    batch of queries (:mod:`memos.workers.query_batch`) passes the time it received them.
    """
    wanted = time.time() if fresh_since is None else fresh_since
    key = _key(graph)
    with _registry_lock:
        entry = _registry.get(key)
    if entry is None:
        entry = _build(graph)
        with _registry_lock:
            entry = _registry.setdefault(key, entry)
        # Entries committed during the build are applied below (they are idempotent).
    with entry.lock:
        if entry.checked_at < wanted:
            _catch_up(graph, entry)
        return entry.index


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _helper_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cube-index")
        return _pool


def synced_index_while(
    graph: CubeGraph,
    work: Callable[[], T],
    timer: StepTimer | None = None,
    fresh_since: float | None = None,
) -> tuple[CubeIndex, T]:
    """:func:`synced_index` on a helper thread while ``work`` runs here; both results.

    The catch-up mostly waits on the store, ``work`` (the query embedding) on the CPU, so the
    two overlap. ``timer`` gets the catch-up's own time as ``index_sync``.
    """
    # Taken here, not on the helper thread: writes committed before this call must be seen.
    wanted = time.time() if fresh_since is None else fresh_since

    def timed() -> CubeIndex:
        started = time.perf_counter()
        try:
            return synced_index(graph, wanted)
        finally:
            if timer is not None:
                timer.ms["index_sync"] = (time.perf_counter() - started) * 1000.0

    future = _helper_pool().submit(timed)
    try:
        value = work()
    finally:
        index = future.result()
    return index, value


def sync_many_while(graphs: list[CubeGraph], work: Callable[[], T]) -> T:
    """Catch the indexes of ``graphs``' cubes up on helper threads while ``work`` runs here.

    For a batch of queries: their embedding (one model call) overlaps the catch-ups, and each
    search afterwards passes the time this started as ``fresh_since`` so it does not catch up
    again. A catch-up that fails is logged and left to the search, which catches up itself.
    """
    wanted = time.time()
    futures = [_helper_pool().submit(synced_index, graph, wanted) for graph in graphs]
    try:
        return work()
    finally:
        for graph, future in zip(graphs, futures, strict=True):
            try:
                future.result()
            except Exception as exc:
                logger.info("catching up the index of %s failed (%s)", graph.cube_id, exc)


def _catch_up(graph: CubeGraph, entry: _Entry) -> None:
    now = time.time()
    window = graph.store.timeout_s + CLOCK_SKEW_S
    if now - entry.checked_at > CHANGE_RETENTION_S - window:
        _rebuild(graph, entry)
        return
    since = entry.checked_at - window
    changes = graph.changes_since(since, list(entry.seen))
    if not changes:
        entry.checked_at = now
        _prune_seen(entry, since)
        return
    if any(c.get("reset") for c in changes):
        _rebuild(graph, entry)
        return
    ids = list(dict.fromkeys(str(i) for c in changes for i in (c.get("ids") or [])))
    if len(ids) > max(1000, len(entry.index) // 2):
        _rebuild(graph, entry)
        return
    rows = graph.index_rows(ids)
    present = {str(r["id"]) for r in rows}
    entry.index.upsert(rows)
    entry.index.remove([i for i in ids if i not in present])
    for change in changes:
        entry.seen[str(change["key"])] = float(change["at"])
    entry.checked_at = now
    _prune_seen(entry, since)
    logger.debug("cube index of %s caught up: %d changed ids", graph.cube_id, len(ids))


def _prune_seen(entry: _Entry, since: float) -> None:
    stale = [k for k, at in entry.seen.items() if at <= since]
    for k in stale:
        del entry.seen[k]


def _rebuild(graph: CubeGraph, entry: _Entry) -> None:
    fresh = _build(graph)
    entry.index, entry.checked_at, entry.seen = fresh.index, fresh.checked_at, fresh.seen
