"""Bi-temporal conflicts: a newer fact ends an older one about the same subject and attribute.

The rules of :mod:`rules` read ``(subject, attribute, value)`` facts from every live memory
(activated, not ended; topics excluded). Per (subject, attribute), memories are ordered by when
they became true (``valid_at``, else ``created_at``); each is ended by the first strictly later
memory giving a different value: its ``invalid_at`` becomes that memory's time and a
``SUPERSEDES`` edge goes from the newer memory to it. Nothing is deleted and the status stays
``activated``, so default search (valid now) hides the older fact while ``as_of`` before its end
still finds it. Pairs an LLM judge called contradictions are ended the same way.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from memos.configs.organize import ReorganizeConfig
from memos.errors import GraphStoreError
from memos.memories.textual.item import TextualMemoryItem, utc_now_iso
from memos.memories.textual.organize.report import ReorganizeReport
from memos.memories.textual.organize.rules import extract_facts, same_value
from memos.memories.textual.organize.snapshot import (
    CubeSnapshot,
    Deadline,
    Mutation,
    Props,
    batched,
    is_live,
    is_topic,
    node_time_s,
    rewrite_nodes,
)
from memos.memories.textual.tree_nodes import as_tree_metadata

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Supersession:
    """``newer`` ends ``older`` at ``newer``'s time (ISO-8601, epoch seconds)."""

    older_id: str
    newer_id: str
    reason: str
    ends_at: str
    ends_at_s: float


def _time_iso(props: Props) -> str:
    valid = props.get("valid_at")
    if isinstance(valid, str) and valid:
        return valid
    created = props.get("created_at")
    if isinstance(created, str) and created:
        return created
    return datetime.fromtimestamp(node_time_s(props), UTC).isoformat()


def plan_conflicts(
    snap: CubeSnapshot,
    judged: Sequence[tuple[str, str]],
    merged_into: dict[str, str],
) -> list[Supersession]:
    """Supersessions among live memories: by rule, plus ``judged`` (older, newer) pairs."""
    live = snap.select(lambda p: is_live(p) and not is_topic(p))
    by_fact: dict[tuple[str, str], list[tuple[float, str, str]]] = defaultdict(list)
    for props in live:
        for fact in extract_facts(str(props["memory"]), props.get("user_id")):
            by_fact[(fact.subject, fact.attribute)].append(
                (node_time_s(props), props["id"], fact.value)
            )
    found: dict[str, Supersession] = {}

    def offer(older: Props, newer: Props, reason: str) -> None:
        ends_s = node_time_s(newer)
        if ends_s <= node_time_s(older):
            return  # not strictly later: no order to read a replacement from
        current = found.get(older["id"])
        if current is None or ends_s < current.ends_at_s:
            found[older["id"]] = Supersession(
                older["id"], newer["id"], reason, _time_iso(newer), ends_s
            )

    for (_subject, attribute), entries in by_fact.items():
        entries.sort()
        for index, (time_s, node_id, value) in enumerate(entries):
            for later_s, later_id, later_value in entries[index + 1 :]:
                if later_s > time_s and not same_value(value, later_value):
                    offer(snap.nodes[node_id], snap.nodes[later_id], f"rule:{attribute}")
                    break
    for older_id, newer_id in judged:
        older = snap.nodes.get(merged_into.get(older_id, older_id))
        newer = snap.nodes.get(merged_into.get(newer_id, newer_id))
        if older is None or newer is None or older["id"] == newer["id"]:
            continue
        if is_live(older) and is_live(newer) and older["id"] not in found:
            offer(older, newer, "llm")
    return [found[i] for i in sorted(found)]


def _end(item_end: Supersession) -> Mutation:
    def mutate(item: TextualMemoryItem, props: Props) -> TextualMemoryItem | None:
        meta = as_tree_metadata(item.metadata)
        if meta.status != "activated" or meta.invalid_at is not None:
            return None
        new_meta = meta.model_copy(
            update={"invalid_at": item_end.ends_at, "updated_at": utc_now_iso()}
        )
        return item.model_copy(update={"metadata": new_meta})

    return mutate


def apply_conflicts(
    snap: CubeSnapshot,
    plan: Sequence[Supersession],
    config: ReorganizeConfig,
    deadline: Deadline,
    report: ReorganizeReport,
) -> None:
    """End the older memories and link ``newer -[SUPERSEDES]-> older``, in batches."""
    done = 0
    for batch in batched(plan, config.write_batch):
        if deadline.expired():
            break
        now = utc_now_iso()
        try:
            with snap.graph.transaction() as tx:
                newer_live = {
                    str(p["id"]) for p in tx.get_nodes([s.newer_id for s in batch]) if is_live(p)
                }
                todo = {s.older_id: _end(s) for s in batch if s.newer_id in newer_live}
                rows = rewrite_nodes(tx, todo)
                ended = {str(r["id"]) for r in rows}
                edges: list[dict[str, Any]] = [
                    {
                        "source": s.newer_id,
                        "target": s.older_id,
                        "props": {"reason": s.reason, "at": now, "ends_at": s.ends_at},
                    }
                    for s in batch
                    if s.older_id in ended
                ]
                tx.merge_edges("SUPERSEDES", edges)
        except GraphStoreError as exc:
            report.errors.append(f"conflicts: {exc}")
            logger.warning(
                "conflict batch of cube %s failed; left for next run", snap.graph.cube_id
            )
            done += len(batch)
            continue
        done += len(batch)
        snap.refresh(rows)
        for s in batch:
            if s.older_id in ended:
                report.conflicts.superseded += 1
                if s.reason == "llm":
                    report.conflicts.by_llm += 1
                else:
                    report.conflicts.by_rule += 1
    if done < len(plan):
        report.left["conflicts"] = len(plan) - done
        report.completed = False
