"""Deduplication: exact and near duplicates merge into one new memory; originals are archived.

Candidates are live memories (activated, not ended) of the same tier and user. Exact duplicates
share the hash of their normalised text; near duplicates have embeddings with cosine at or
above ``near_dup_threshold`` (faiss inner product on normalised vectors, ``near_dup_neighbors``
per memory, so a 10k cube needs one flat search, not 10k x 10k comparisons). A near pair is
not merged when the rules read a contradiction into it (that is a conflict, not a duplicate),
when the two texts hold different numbers (embeddings barely see "5 km" versus "10 km") or,
with ``dedup_require_same_key``, when both carry keys naming different subjects (a MemReader key
``"<subject>: <topic>"`` is compared by its subject, any other key whole). With an LLM judge,
pairs between ``llm_candidate_threshold`` and the threshold are asked about; its
"contradiction" answers are handed to the conflicts phase.

A statement repeated on several days ("The user said on 1 May 2023: My favourite food is
ramen." and the same on four other days) is one fact: the day of "<speaker> said on <date>:" is
not among the numbers compared, so the repeats merge, and the merged text names every day
("... said on 1 May 2023, 8 May 2023 and ...: ...") while its sources keep every turn with its
``chat_time``; a temporal question about any of the days still finds it.

A merged memory gets a deterministic id (from its members' ids), the text of the most recent
member (or the judge's merged text, or the repeated statement with every day), the union of
sources, tags, entities and usage, the earliest ``created_at`` / ``valid_at`` and the highest
confidence; each original becomes ``archived`` with a ``MERGED_TO`` edge to it, in the same
transaction.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import faiss

from memos.configs.organize import ReorganizeConfig
from memos.errors import GraphStoreError
from memos.memories.textual.item import SourceMessage, TextualMemoryItem, utc_now_iso
from memos.memories.textual.organize.judge import LLMJudge
from memos.memories.textual.organize.prompts import PairContext
from memos.memories.textual.organize.report import ReorganizeReport
from memos.memories.textual.organize.rules import contradicts, extract_facts
from memos.memories.textual.organize.snapshot import (
    CubeSnapshot,
    Deadline,
    Props,
    batched,
    embedding_matrix,
    is_live,
    is_topic,
    node_time_s,
    props_for,
)
from memos.memories.textual.tree_nodes import as_tree_metadata, props_to_item

logger = logging.getLogger(__name__)

_MERGE_NAMESPACE = uuid.UUID("5b0f3f0e-8d0c-4b5e-9a43-0c5e7f1d2a61")
Embed = Callable[[list[str]], list[list[float]]]


@dataclass
class MergeGroup:
    """Ids merging into one node, how they were found, and an LLM's merged text if any."""

    member_ids: list[str]
    reasons: dict[str, str]
    similarity: dict[str, float]
    text: str | None = None

    @property
    def merged_id(self) -> str:
        """Deterministic: two workers planning the same merge name the same node."""
        return str(uuid.uuid5(_MERGE_NAMESPACE, "\n".join(sorted(self.member_ids))))


@dataclass
class DedupPlan:
    """Groups to merge and pairs the judge called contradictions (older id, newer id)."""

    groups: list[MergeGroup] = field(default_factory=list)
    contradictions: list[tuple[str, str]] = field(default_factory=list)


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


_NUMBER_RE = re.compile(r"\d+(?:[.,:]\d+)*")
_DATE_RE = re.compile(r"\b\d{1,2} [A-Z][a-z]+ \d{4}\b")
# "<speaker> said on <date>: <statement>" (the fast MemReader's text); a merged one names every
# day the statement was said: "<speaker> said on 7 May 2023, 9 June 2023 and 2 July 2023: ...".
_SAID_ON_RE = re.compile(
    r"^(?P<speaker>[^:]{1,60}?) said on (?P<dates>[^:]{1,2000}?): (?P<body>.*)$", re.S
)


@dataclass(frozen=True)
class _Said:
    speaker: str
    dates: tuple[str, ...]
    body: str


def _said(text: str) -> _Said | None:
    """The speaker, the days and the statement of a "said on <date>:" text, else None."""
    match = _SAID_ON_RE.match(text)
    if match is None:
        return None
    dates = tuple(_DATE_RE.findall(match.group("dates")))
    rest = _DATE_RE.sub("", match.group("dates")).replace(" and ", " ").replace(",", " ")
    if not dates or rest.strip():
        return None
    return _Said(match.group("speaker"), dates, match.group("body"))


def _numbers(props: Props) -> frozenset[str]:
    """Numbers of the statement: embeddings barely see them, yet "5 km" and "10 km" differ.

    The day of "<speaker> said on <date>:" is left out: the same statement said on another day
    is a repeat, merged into one memory that names every day (:func:`repeated_statement_text`).
    """
    text = str(props["memory"])
    said = _said(text)
    if said is not None:
        text = f"{said.speaker}: {said.body}"
    return frozenset(_NUMBER_RE.findall(text))


def _day_order(day: str) -> tuple[int, str]:
    try:
        return (datetime.strptime(day, "%d %B %Y").toordinal(), day)
    except ValueError:
        return (0, day)


def repeated_statement_text(texts: Sequence[str]) -> str | None:
    """One text naming every day a statement was said, when ``texts`` span several days.

    ``texts`` are the members' texts, oldest first; the statement is the newest one's. Returns
    None when a member is not a "said on <date>:" text of the same speaker, or when all were said
    on one day (then the newest text is kept as it is).
    """
    said = [_said(text) for text in texts]
    if not said or any(s is None for s in said):
        return None
    parts = [s for s in said if s is not None]
    if len({p.speaker for p in parts}) != 1:
        return None
    days = sorted({day for p in parts for day in p.dates}, key=_day_order)
    if len(days) < 2:
        return None
    listed = ", ".join(days[:-1]) + " and " + days[-1]
    return f"{parts[-1].speaker} said on {listed}: {parts[-1].body}"


def _key_subject(key: Any) -> str | None:
    if not isinstance(key, str) or not key.strip():
        return None
    text = key.split(":", 1)[0] if ":" in key else key
    return " ".join(text.casefold().split())


def plan_dedup(
    snap: CubeSnapshot,
    config: ReorganizeConfig,
    dim: int,
    judge: LLMJudge | None,
    deadline: Deadline,
    report: ReorganizeReport,
) -> DedupPlan:
    """Find duplicate groups (and, with a judge, contradiction pairs) among live memories."""
    faiss.omp_set_num_threads(config.faiss_threads)
    buckets: dict[tuple[Any, Any], list[Props]] = defaultdict(list)
    for props in snap.select(lambda p: is_live(p) and not is_topic(p)):
        buckets[(props.get("memory_type"), props.get("user_id"))].append(props)

    uf = _UnionFind()
    reasons: dict[str, str] = {}
    sims: dict[str, float] = {}
    merged_text: dict[frozenset[str], str] = {}
    plan = DedupPlan()
    facts_cache: dict[str, list[Any]] = {}

    def facts(props: Props) -> list[Any]:
        node_id = props["id"]
        if node_id not in facts_cache:
            facts_cache[node_id] = extract_facts(str(props["memory"]), props.get("user_id"))
        return facts_cache[node_id]

    for members in buckets.values():
        by_hash: dict[str, list[Props]] = defaultdict(list)
        for props in members:
            by_hash[str(props.get("content_hash"))].append(props)
        reps: list[Props] = []
        for same in by_hash.values():
            reps.append(same[0])
            for other in same[1:]:
                uf.union(same[0]["id"], other["id"])
                reasons.setdefault(same[0]["id"], "exact")
                reasons[other["id"]] = "exact"
                sims[other["id"]] = 1.0
                report.dedup.exact_pairs += 1
        if len(reps) < 2:
            continue
        matrix = embedding_matrix(reps, dim)
        index = faiss.IndexFlatIP(dim)
        index.add(matrix)
        k = min(config.near_dup_neighbors + 1, len(reps))
        scores, neighbours = index.search(matrix, k)
        low = config.llm_candidate_threshold if judge is not None else config.near_dup_threshold
        for row in range(len(reps)):
            for score, col in zip(scores[row], neighbours[row], strict=True):
                if col <= row or score < low:
                    continue  # each unordered pair once; faiss pads with -1
                a, b = reps[row], reps[int(col)]
                if contradicts(facts(a), facts(b)) or _numbers(a) != _numbers(b):
                    continue
                if score >= config.near_dup_threshold:
                    ka, kb = _key_subject(a.get("key")), _key_subject(b.get("key"))
                    if config.dedup_require_same_key and ka and kb and ka != kb:
                        continue
                    uf.union(a["id"], b["id"])
                    for end in (a["id"], b["id"]):
                        reasons.setdefault(end, "near")
                        sims.setdefault(end, float(score))
                    report.dedup.near_pairs += 1
                elif judge is not None and not judge.exhausted and not deadline.expired():
                    _ask_judge(
                        judge, a, b, float(score), uf, reasons, sims, merged_text, plan, report
                    )

    components: dict[str, list[str]] = defaultdict(list)
    for node_id in sorted(uf.parent):
        components[uf.find(node_id)].append(node_id)
    for ids in components.values():
        if len(ids) < 2:
            continue
        ordered = sorted(ids, key=lambda i: (node_time_s(snap.nodes[i]), i))
        chosen = ordered[: config.max_group_size]
        text = merged_text.get(frozenset(chosen)) or repeated_statement_text(
            [str(snap.nodes[i]["memory"]) for i in chosen]
        )
        plan.groups.append(
            MergeGroup(
                member_ids=chosen,
                reasons={i: reasons.get(i, "near") for i in chosen},
                similarity={i: sims.get(i, 1.0) for i in chosen},
                text=text,
            )
        )
        if len(ordered) > config.max_group_size:
            report.left["dedup_oversized"] = (
                report.left.get("dedup_oversized", 0) + len(ordered) - len(chosen)
            )
    return plan


def _ask_judge(
    judge: LLMJudge,
    a: Props,
    b: Props,
    score: float,
    uf: _UnionFind,
    reasons: dict[str, str],
    sims: dict[str, float],
    merged_text: dict[frozenset[str], str],
    plan: DedupPlan,
    report: ReorganizeReport,
) -> None:
    older, newer = sorted((a, b), key=lambda p: (node_time_s(p), p["id"]))
    verdict = judge.judge_pair(
        PairContext(
            older=str(older["memory"]),
            newer=str(newer["memory"]),
            older_time=older.get("valid_at") or older.get("created_at"),
            newer_time=newer.get("valid_at") or newer.get("created_at"),
        )
    )
    if verdict is None or verdict.relation == "unrelated":
        return
    if verdict.relation == "contradiction":
        plan.contradictions.append((older["id"], newer["id"]))
        return
    report.dedup.llm_pairs += 1
    uf.union(older["id"], newer["id"])
    for end in (older["id"], newer["id"]):
        reasons.setdefault(end, "llm")
        sims.setdefault(end, score)
    if verdict.merged and verdict.merged.strip():
        merged_text[frozenset((older["id"], newer["id"]))] = verdict.merged.strip()


def _union_sources(items: Sequence[TextualMemoryItem]) -> list[SourceMessage]:
    seen: set[tuple[Any, ...]] = set()
    out: list[SourceMessage] = []
    for item in items:
        for source in as_tree_metadata(item.metadata).sources:
            key = (
                ("id", source.message_id)
                if source.message_id
                else ("content", source.content, source.chat_time, source.doc_path)
            )
            if key not in seen:
                seen.add(key)
                out.append(source)
    return out


def _union_lists(values: Sequence[list[str] | None]) -> list[str] | None:
    merged = list(dict.fromkeys(v for values_ in values for v in (values_ or [])))
    return merged or None


def merged_item(
    group: MergeGroup, items: Sequence[TextualMemoryItem], text_vector: list[float] | None
) -> TextualMemoryItem:
    """The one memory ``items`` (ordered oldest first) merge into."""
    metas = [as_tree_metadata(i.metadata) for i in items]
    latest, latest_meta = items[-1], metas[-1]
    valid = [m.valid_at for m in metas if m.valid_at]
    confidences = [m.confidence for m in metas if m.confidence is not None]
    now = utc_now_iso()
    meta = latest_meta.model_copy(
        update={
            "status": "activated",
            "sources": _union_sources(items),
            "tags": _union_lists([m.tags for m in metas]),
            "entities": _union_lists([m.entities for m in metas]),
            "usage": _union_lists([m.usage for m in metas]) or [],
            "key": latest_meta.key or next((m.key for m in metas if m.key), None),
            "confidence": max(confidences) if confidences else None,
            "created_at": min(m.created_at for m in metas),
            "valid_at": min(valid) if valid else None,
            "invalid_at": None,
            "updated_at": now,
            "embedding": text_vector if text_vector is not None else latest_meta.embedding,
        }
    )
    return TextualMemoryItem(id=group.merged_id, memory=group.text or latest.memory, metadata=meta)


def apply_dedup(
    snap: CubeSnapshot,
    plan: DedupPlan,
    config: ReorganizeConfig,
    embed: Embed,
    deadline: Deadline,
    report: ReorganizeReport,
) -> dict[str, str]:
    """Merge the planned groups in batched transactions; returns original id -> merged id."""
    merged_into: dict[str, str] = {}
    # Fewer groups per transaction than rows: each group writes 1 + len(members) nodes.
    per_tx = max(1, config.write_batch // 10)
    done = 0
    for batch in batched(plan.groups, per_tx):
        if deadline.expired():
            break
        texts = [g.text for g in batch if g.text]
        vectors = dict(zip(texts, embed(texts), strict=True)) if texts else {}
        try:
            with snap.graph.transaction() as tx:
                written = _merge_batch(tx, batch, vectors)
        except GraphStoreError as exc:
            report.errors.append(f"dedup: {exc}")
            logger.warning("dedup batch of cube %s failed; left for next run", snap.graph.cube_id)
            done += len(batch)
            continue
        done += len(batch)
        for group, rows in written:
            snap.refresh(rows)
            for node_id in group.member_ids:
                merged_into[node_id] = group.merged_id
            report.dedup.groups_merged += 1
            report.dedup.originals_archived += len(group.member_ids)
    if done < len(plan.groups):
        report.left["dedup"] = len(plan.groups) - done
        report.completed = False
    return merged_into


def _merge_batch(
    tx: Any, groups: Sequence[MergeGroup], vectors: dict[str, list[float]]
) -> list[tuple[MergeGroup, list[Props]]]:
    all_ids = [i for g in groups for i in g.member_ids]
    current = {str(p["id"]): p for p in tx.get_nodes(all_ids)}
    taken = tx.existing_ids([g.merged_id for g in groups])
    created: list[Props] = []
    archived: list[Props] = []
    edges: list[dict[str, Any]] = []
    written: list[tuple[MergeGroup, list[Props]]] = []
    now = utc_now_iso()
    for group in groups:
        members = [current.get(i) for i in group.member_ids]
        # Re-checked inside the transaction: a concurrent run or user change wins.
        if group.merged_id in taken or any(m is None or not is_live(m) for m in members):
            continue
        present = [m for m in members if m is not None]
        items = [props_to_item(p) for p in present]
        node = merged_item(group, items, vectors.get(group.text) if group.text else None)
        rows = [props_for(node, None, tx.user_id)]
        for props, item in zip(present, items, strict=True):
            meta = as_tree_metadata(item.metadata).model_copy(
                update={"status": "archived", "updated_at": now}
            )
            rows.append(props_for(item.model_copy(update={"metadata": meta}), props, tx.user_id))
            edges.append(
                {
                    "source": item.id,
                    "target": group.merged_id,
                    "props": {
                        "reason": group.reasons.get(item.id, "near"),
                        "similarity": group.similarity.get(item.id, 1.0),
                        "at": now,
                    },
                }
            )
        created.append(rows[0])
        archived.extend(rows[1:])
        written.append((group, rows))
    if created:
        tx.create_nodes(created)
        tx.upsert_nodes(archived)
        tx.merge_edges("MERGED_TO", edges)
    return written
