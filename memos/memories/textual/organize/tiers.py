"""Memory tiers: bounded working memory per (user, session), optional long-term caps.

Working memory keeps the ``working_capacity`` best-scoring memories of each (user, session);
the rest move to ``UserMemory`` (what the user says about themselves) or ``LongTermMemory``.
Long-term caps archive the lowest-scoring memories of a tier (``status=archived``): nothing is
ever deleted. The score mixes recency (exponential decay with ``recency_half_life_s``), use
count (``len(usage)``, log-scaled) and importance (``confidence`` / 100, 0.5 when unset).
"""

from __future__ import annotations

import logging
import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from memos.configs.organize import ReorganizeConfig
from memos.errors import GraphStoreError
from memos.memories.textual.item import TextualMemoryItem, utc_now_iso
from memos.memories.textual.organize.report import ReorganizeReport
from memos.memories.textual.organize.rules import extract_facts
from memos.memories.textual.organize.snapshot import (
    CubeSnapshot,
    Deadline,
    Mutation,
    Props,
    batched,
    is_topic,
    node_time_s,
    rewrite_nodes,
)
from memos.memories.textual.tree_nodes import as_tree_metadata, props_to_item

logger = logging.getLogger(__name__)

_FIRST_PERSON_RE = re.compile(r"\b(?:I|I'm|I've|I'd|my|me|mine|myself)\b")
_USER_ROLES = frozenset({"user", "human"})
# A superseded fact is worth less than a current one when a cap forces a choice.
_INVALID_FACTOR = 0.5


def memory_score(props: Props, now_s: float, config: ReorganizeConfig) -> float:
    """How much a memory is worth keeping close: recency, use count and importance, weighted."""
    age_s = max(0.0, now_s - node_time_s(props))
    recency = math.exp(-math.log(2.0) * age_s / config.recency_half_life_s)
    usage = props.get("usage") or []
    use = min(1.0, math.log1p(len(usage)) / math.log1p(10))
    confidence = props.get("confidence")
    importance = float(confidence) / 100.0 if isinstance(confidence, int | float) else 0.5
    score = (
        config.recency_weight * recency
        + config.usage_weight * use
        + config.importance_weight * importance
    )
    return score * (_INVALID_FACTOR if props.get("invalid_at_ts") is not None else 1.0)


def is_about_user(item: TextualMemoryItem) -> bool:
    """Whether a memory is something the user said about themselves (goes to UserMemory)."""
    meta = as_tree_metadata(item.metadata)
    if any(f.subject.startswith("user:") for f in extract_facts(item.memory, meta.user_id)):
        return True
    from_user = any((s.role or "").lower() in _USER_ROLES for s in meta.sources)
    return from_user and bool(_FIRST_PERSON_RE.search(item.memory))


@dataclass
class TierPlan:
    """Moves out of working memory (id -> new tier) and archives over a cap."""

    moves: dict[str, str] = field(default_factory=dict)
    archives: dict[str, str] = field(default_factory=dict)


def plan_tiers(snap: CubeSnapshot, config: ReorganizeConfig, now_s: float) -> TierPlan:
    """What overflows working memory, and what exceeds the long-term caps afterwards."""
    plan = TierPlan()
    groups: dict[tuple[str | None, str | None], list[Props]] = defaultdict(list)
    for props in snap.select(
        lambda p: (
            p.get("status") == "activated"
            and p.get("memory_type") == "WorkingMemory"
            and not is_topic(p)
        )
    ):
        groups[(props.get("user_id"), props.get("session_id"))].append(props)
    for members in groups.values():
        if len(members) <= config.working_capacity:
            continue
        ranked = sorted(
            members, key=lambda p: (-memory_score(p, now_s, config), -node_time_s(p), p["id"])
        )
        for props in ranked[config.working_capacity :]:
            item = props_to_item(props, with_embedding=False)
            plan.moves[props["id"]] = "UserMemory" if is_about_user(item) else "LongTermMemory"

    caps = {"LongTermMemory": config.long_term_cap, "UserMemory": config.user_memory_cap}
    for tier, cap in caps.items():
        if cap is None:
            continue
        members = snap.select(_in_tier(tier, plan.moves))
        if len(members) <= cap:
            continue
        ranked = sorted(
            members, key=lambda p: (-memory_score(p, now_s, config), -node_time_s(p), p["id"])
        )
        for props in ranked[cap:]:
            plan.archives[props["id"]] = tier
    return plan


def _in_tier(tier: str, moves: dict[str, str]) -> Callable[[Props], bool]:
    """Activated non-topic memories of ``tier`` once the planned moves are made."""

    def keep(props: Props) -> bool:
        return (
            props.get("status") == "activated"
            and not is_topic(props)
            and moves.get(props["id"], props.get("memory_type")) == tier
        )

    return keep


def _move(target: str) -> Mutation:
    def mutate(item: TextualMemoryItem, props: Props) -> TextualMemoryItem | None:
        meta = as_tree_metadata(item.metadata)
        if meta.status != "activated" or meta.memory_type != "WorkingMemory":
            return None
        new_meta = meta.model_copy(update={"memory_type": target, "updated_at": utc_now_iso()})
        return item.model_copy(update={"metadata": new_meta})

    return mutate


def _archive(tier: str) -> Mutation:
    def mutate(item: TextualMemoryItem, props: Props) -> TextualMemoryItem | None:
        meta = as_tree_metadata(item.metadata)
        # The plan may also move this node into ``tier`` first (same batch order: moves first).
        if meta.status != "activated" or meta.memory_type not in (tier, "WorkingMemory"):
            return None
        new_meta = meta.model_copy(
            update={"status": "archived", "memory_type": tier, "updated_at": utc_now_iso()}
        )
        return item.model_copy(update={"metadata": new_meta})

    return mutate


def apply_tiers(
    snap: CubeSnapshot,
    plan: TierPlan,
    config: ReorganizeConfig,
    deadline: Deadline,
    report: ReorganizeReport,
) -> None:
    """Write the plan in batches; stop (and count what is left) when the deadline passes."""
    work: list[tuple[str, Mutation, str]] = [
        (node_id, _move(target), target)
        for node_id, target in plan.moves.items()
        if node_id not in plan.archives
    ]
    work += [(node_id, _archive(tier), "archive") for node_id, tier in plan.archives.items()]
    done = 0
    for batch in batched(work, config.write_batch):
        if deadline.expired():
            break
        try:
            with snap.graph.transaction() as tx:
                rows = rewrite_nodes(tx, {node_id: mutation for node_id, mutation, _ in batch})
        except GraphStoreError as exc:
            report.errors.append(f"tiers: {exc}")
            logger.warning("tier batch of cube %s failed; left for next run", snap.graph.cube_id)
            done += len(batch)
            continue
        snap.refresh(rows)
        written = {str(r["id"]) for r in rows}
        for node_id, _, what in batch:
            if node_id not in written:
                continue
            if what == "archive":
                report.tiers.archived_over_cap += 1
            elif what == "UserMemory":
                report.tiers.moved_to_user += 1
            else:
                report.tiers.moved_to_long_term += 1
        done += len(batch)
    if done < len(work):
        report.left["tiers"] = len(work) - done
        report.completed = False
