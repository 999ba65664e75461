"""``reorganize_cube``: one bounded, idempotent consolidation run over a tree memory cube.

Phases, in order: dedup (merge duplicates), conflicts (end superseded facts), tiers (bounded
working memory, long-term caps), hierarchy (topic parents). The cube is read once; every phase
plans on that view and writes batched transactions that re-check their preconditions, so a run
interrupted anywhere leaves a consistent cube and the next run finishes the work. A second run
over an unchanged cube writes nothing.

Concurrency: give ``redis_client`` and the run holds the cube's lock (:mod:`lock`) throughout,
extending it as it goes; a run that finds the cube locked returns a report with
``skipped="locked"``. Without a lock, concurrent runs still cannot corrupt the cube (merged and
topic ids are deterministic and unique per cube; a batch that loses a write race fails as a
whole and is left for the next run), but they may waste work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis

from memos.configs.organize import ReorganizeConfig
from memos.errors import CubeLockBusyError
from memos.memories.textual.organize.conflicts import apply_conflicts, plan_conflicts
from memos.memories.textual.organize.dedup import apply_dedup, plan_dedup
from memos.memories.textual.organize.hierarchy import apply_hierarchy, plan_hierarchy
from memos.memories.textual.organize.judge import LLMJudge
from memos.memories.textual.organize.lock import CubeLock, cube_lock
from memos.memories.textual.organize.report import ReorganizeReport
from memos.memories.textual.organize.snapshot import CubeSnapshot, Deadline
from memos.memories.textual.organize.tiers import apply_tiers, plan_tiers
from memos.memories.textual.tree import TreeTextMemory

logger = logging.getLogger(__name__)

# The lock outlives the run's deadline by this much (a batch in flight at the deadline).
LOCK_MARGIN_S = 60.0
# Dedup rounds per run at most (each round plans on the previous round's merged nodes).
MAX_DEDUP_ROUNDS = 5


def reorganize_cube(
    memory: TreeTextMemory,
    config: ReorganizeConfig | None = None,
    *,
    deadline_s: float | None = None,
    redis_client: redis.Redis | None = None,
    lock_wait_s: float = 0.0,
) -> ReorganizeReport:
    """Consolidate ``memory``'s cube within ``deadline_s`` seconds (default: the config's budget).

    Returns what was done and what was left (``completed`` False when the deadline cut the run
    short). With ``redis_client`` the cube lock is held for the run; if another worker holds it
    past ``lock_wait_s``, nothing runs and the report says ``skipped="locked"``.

    Raises:
        GraphStoreError: the cube could not be read.
        SchedulerError: Redis failed while taking or releasing the lock.
    """
    config = config or ReorganizeConfig()
    budget_s = deadline_s if deadline_s is not None else config.time_budget_s
    if redis_client is None:
        return _run(memory, config, budget_s, None)
    try:
        with cube_lock(
            redis_client, memory.cube_id, budget_s + LOCK_MARGIN_S, wait_s=lock_wait_s
        ) as lock:
            return _run(memory, config, budget_s, _extender(lock))
    except CubeLockBusyError:
        logger.info("reorganisation of cube %s skipped: locked", memory.cube_id)
        return ReorganizeReport(cube_id=memory.cube_id, completed=False, skipped="locked")


def _chain(earlier: dict[str, str], later: dict[str, str]) -> dict[str, str]:
    """Compose merge maps: an original merged twice maps to its final node."""
    chained = {k: later.get(v, v) for k, v in earlier.items()}
    chained.update(later)
    return chained


def _extender(lock: CubeLock) -> Callable[[], None]:
    """A tick hook extending the lock at most every third of its TTL."""
    every_s = lock.ttl_ms / 3000.0
    last = [time.monotonic()]

    def tick() -> None:
        now = time.monotonic()
        if now - last[0] >= every_s:
            lock.extend()
            last[0] = now

    return tick


def _run(
    memory: TreeTextMemory,
    config: ReorganizeConfig,
    budget_s: float,
    on_tick: Callable[[], None] | None,
) -> ReorganizeReport:
    started = time.monotonic()
    deadline = Deadline(budget_s, on_tick)
    report = ReorganizeReport(cube_id=memory.cube_id)
    dim = memory.store.config.embedding_dimension
    judge = LLMJudge.from_config(config)
    try:
        snap = CubeSnapshot.read(memory.graph)
        report.nodes_read = len(snap.nodes)
        merged_into: dict[str, str] = {}
        judged: list[tuple[str, str]] = []

        if config.dedup and _may_start("dedup", deadline, report):
            # Each memory keeps only its nearest neighbours as candidates, so a large set of
            # near-identical memories can need a second round once the first merges are made:
            # iterate to a fixpoint so that the next run finds nothing left to merge.
            for _round in range(MAX_DEDUP_ROUNDS):
                plan = plan_dedup(snap, config, dim, judge, deadline, report)
                judged.extend(plan.contradictions)
                merged = apply_dedup(snap, plan, config, memory.embedder.embed, deadline, report)
                merged_into = _chain(merged_into, merged)
                if not merged or deadline.expired():
                    break
        if config.conflicts and _may_start("conflicts", deadline, report):
            supersessions = plan_conflicts(snap, judged, merged_into)
            apply_conflicts(snap, supersessions, config, deadline, report)
        if config.tiers and _may_start("tiers", deadline, report):
            apply_tiers(snap, plan_tiers(snap, config, time.time()), config, deadline, report)
        if config.hierarchy and _may_start("hierarchy", deadline, report):
            actions = plan_hierarchy(snap, config, dim, judge, report)
            apply_hierarchy(snap, actions, config, deadline, report)
    finally:
        if judge is not None:
            report.llm_calls, report.llm_failures = judge.calls, judge.failures
            judge.close()
    report.completed = not (report.left or report.errors or report.phases_not_run)
    report.duration_s = round(time.monotonic() - started, 3)
    logger.info(
        "reorganised cube %s in %.2f s: %d changes, completed=%s",
        memory.cube_id,
        report.duration_s,
        report.changes,
        report.completed,
    )
    return report


def _may_start(phase: str, deadline: Deadline, report: ReorganizeReport) -> bool:
    if deadline.expired():
        report.phases_not_run.append(phase)
        return False
    return True
