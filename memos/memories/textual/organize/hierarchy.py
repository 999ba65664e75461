"""Hierarchy: long-term memories clustered into topics, each big cluster under a PARENT node.

Live long-term memories (LongTermMemory and UserMemory, topics excluded) are clustered by
spherical k-means (faiss, fixed seed, so the same memories give the same clusters) with about
``cluster_target_size`` memories per cluster. A cluster of at least ``cluster_min_size`` gets a
topic node (``metadata.type == "topic"``) with ``(topic)-[:PARENT]->(memory)`` edges; its text is
an extractive summary (distinctive keywords of the cluster and the keys of its most central
memories) or, with an LLM judge, a title and summary; its embedding is the members' mean
direction, so vector search finds the topic and graph expansion (which walks PARENT both ways)
reaches its memories.

Updates are incremental: an existing topic is kept for the new cluster holding more than
``parent_reuse_share`` of its children; it is rewritten only when its children changed. A topic
no cluster claims is archived (never deleted). Running again on unchanged memories changes
nothing.
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from memos.configs.organize import ReorganizeConfig
from memos.errors import GraphStoreError
from memos.memories.textual.item import (
    TextualMemoryItem,
    TreeNodeTextualMemoryMetadata,
    utc_now_iso,
)
from memos.memories.textual.organize.judge import LLMJudge
from memos.memories.textual.organize.prompts import TopicContext
from memos.memories.textual.organize.report import ReorganizeReport
from memos.memories.textual.organize.snapshot import (
    LONG_TERM_TYPES,
    CubeSnapshot,
    Deadline,
    Mutation,
    Props,
    batched,
    embedding_matrix,
    is_live,
    is_topic,
    props_for,
    rewrite_nodes,
)
from memos.memories.textual.tree_nodes import TOPIC_TYPE, as_tree_metadata, props_to_item

logger = logging.getLogger(__name__)

_TOPIC_NAMESPACE = uuid.UUID("8f4b2a49-2f0b-4c3c-a0e5-3e1d6c9b7a10")
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'\-]{2,}")
_STOPWORD_TEXT = """
the and for are but not you all any can had her was one our out day get has him his how
man new now old see two way who boy did its let put say she too use that with have this
will your from they know want been good much some time very when come here just like long
make many over such take than them well were what said user about after again also because
before being both could does doing down during each few further into more most myself
other same should then there these those through under until while which would yours
really going think thing things told talk talked yeah okay sure lot got today yesterday
replying followed
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_CENTRAL = 3
_KEYWORDS = 5


@dataclass
class TopicAction:
    """Create, update or archive one topic node."""

    kind: str  # "create" | "update" | "archive"
    parent_id: str
    members: list[str] = field(default_factory=list)
    add_edges: list[str] = field(default_factory=list)
    drop_edges: list[str] = field(default_factory=list)
    item: TextualMemoryItem | None = None


def _words(text: str) -> list[str]:
    words = [w.casefold().strip("'-") for w in _WORD_RE.findall(text)]
    return [w for w in words if w not in _STOPWORDS and len(w) > 2]


def _label(props: Props) -> str:
    key = props.get("key")
    if isinstance(key, str) and key.strip():
        return key.strip()
    text = " ".join(str(props["memory"]).split())
    return text if len(text) <= 80 else text[:79].rstrip() + "…"


def _children(snap: CubeSnapshot, parent_ids: Sequence[str]) -> dict[str, set[str]]:
    children: dict[str, set[str]] = {p: set() for p in parent_ids}
    for page in batched(list(parent_ids), 500):
        for edge in snap.graph.edges_from(list(page)):
            if edge["type"] == "PARENT":
                children[edge["source"]].add(edge["target"])
    return children


def _cluster(matrix: npt.NDArray[np.float32], config: ReorganizeConfig) -> npt.NDArray[np.int64]:
    n, dim = matrix.shape
    k = min(
        config.max_clusters,
        max(2, round(n / config.cluster_target_size)),
        n // config.cluster_min_size,
    )
    kmeans = faiss.Kmeans(
        dim,
        k,
        niter=config.kmeans_iterations,
        seed=config.seed,
        spherical=True,
        verbose=False,
        min_points_per_centroid=1,
        # Several restarts, keeping the best objective: one unlucky seeding can split a clear
        # topic in two and merge two others.
        nredo=5,
    )
    kmeans.train(matrix)
    _, labels = kmeans.index.search(matrix, 1)
    out: npt.NDArray[np.int64] = labels[:, 0].astype(np.int64)
    return out


def _topic_item(
    parent_id: str,
    members: Sequence[Props],
    matrix: npt.NDArray[np.float32],
    doc_freq: Counter[str],
    total_docs: int,
    user_id: str | None,
    judge: LLMJudge | None,
    previous: TextualMemoryItem | None,
) -> TextualMemoryItem:
    centroid = matrix.mean(axis=0)
    norm = float(np.linalg.norm(centroid)) or 1.0
    centroid = centroid / norm
    order = np.argsort(-(matrix @ centroid), kind="stable")
    central = [members[int(i)] for i in order[:_CENTRAL]]
    counts: Counter[str] = Counter()
    for props in members:
        counts.update(set(_words(str(props["memory"]))))
    scored = sorted(
        counts,
        key=lambda w: (-counts[w] * math.log((1 + total_docs) / (1 + doc_freq[w])), w),
    )
    keywords = scored[:_KEYWORDS]
    title = ", ".join(keywords) or _label(central[0])
    text = (
        f"Topic: {title}. {len(members)} memories, e.g. "
        + "; ".join(_label(p) for p in central)
        + "."
    )
    if judge is not None and not judge.exhausted:
        summary = judge.summarise(
            TopicContext(
                memories=[str(p["memory"]) for p in central]
                + [str(members[int(i)]["memory"]) for i in order[_CENTRAL : _CENTRAL + 7]]
            )
        )
        if summary is not None:
            title, text = summary.title, f"{summary.title}: {summary.summary}"
    base = as_tree_metadata(previous.metadata) if previous is not None else None
    meta = TreeNodeTextualMemoryMetadata(
        user_id=user_id,
        memory_type="LongTermMemory",
        type=TOPIC_TYPE,
        status="activated",
        key=title,
        tags=["topic", *keywords],
        background=f"summary of {len(members)} memories",
        embedding=[float(x) for x in centroid],
        created_at=base.created_at if base is not None else utc_now_iso(),
    )
    return TextualMemoryItem(id=parent_id, memory=text, metadata=meta)


def plan_hierarchy(
    snap: CubeSnapshot,
    config: ReorganizeConfig,
    dim: int,
    judge: LLMJudge | None,
    report: ReorganizeReport,
) -> list[TopicAction]:
    """Cluster the live long-term memories and decide which topics to create/update/archive."""
    leaves = snap.select(
        lambda p: (
            is_live(p)
            and not is_topic(p)
            and p.get("memory_type") in LONG_TERM_TYPES
            and bool(p.get("embedding"))
        )
    )
    if len(leaves) < 2 * config.cluster_min_size:
        return []
    # k-means seeds from row positions: order rows by content (not by random ids or the store's
    # return order) so the same memories always give the same clusters.
    leaves = sorted(leaves, key=lambda p: (str(p["memory"]), str(p["id"])))
    faiss.omp_set_num_threads(config.faiss_threads)
    matrix = embedding_matrix(leaves, dim)
    labels = _cluster(matrix, config)
    clusters: dict[int, list[int]] = defaultdict(list)
    for row, label in enumerate(labels):
        clusters[int(label)].append(row)
    big = [rows for rows in clusters.values() if len(rows) >= config.cluster_min_size]
    big.sort(key=lambda rows: (-len(rows), leaves[rows[0]]["id"]))
    report.hierarchy.clusters = len(big)

    parents = snap.select(lambda p: p.get("status") == "activated" and is_topic(p))
    children = _children(snap, [p["id"] for p in parents])
    doc_freq: Counter[str] = Counter()
    for props in leaves:
        doc_freq.update(set(_words(str(props["memory"]))))

    claimed: set[str] = set()
    actions: list[TopicAction] = []
    for rows in big:
        member_ids = [leaves[r]["id"] for r in rows]
        members = set(member_ids)
        best: tuple[int, str] | None = None
        for parent in parents:
            pid = parent["id"]
            kids = children.get(pid, set())
            overlap = len(kids & members)
            if pid in claimed or not kids or overlap / len(kids) <= config.parent_reuse_share:
                continue
            if best is None or (overlap, pid) > best:
                best = (overlap, pid)
        if best is not None:
            pid = best[1]
            claimed.add(pid)
            kids = children[pid]
            if kids == members:
                report.hierarchy.parents_unchanged += 1
                continue
            previous = snap.nodes[pid]
            item = _topic_item(
                pid,
                [leaves[r] for r in rows],
                matrix[rows],
                doc_freq,
                len(leaves),
                snap.graph.user_id,
                judge,
                props_to_item(previous),
            )
            actions.append(
                TopicAction(
                    "update",
                    pid,
                    member_ids,
                    sorted(members - kids),
                    sorted(kids - members),
                    item,
                )
            )
            continue
        pid = str(uuid.uuid5(_TOPIC_NAMESPACE, "\n".join(sorted(member_ids))))
        item = _topic_item(
            pid,
            [leaves[r] for r in rows],
            matrix[rows],
            doc_freq,
            len(leaves),
            snap.graph.user_id,
            judge,
            None,
        )
        actions.append(TopicAction("create", pid, member_ids, member_ids, [], item))
    for parent in parents:
        if parent["id"] not in claimed:
            actions.append(TopicAction("archive", parent["id"]))
    return actions


def _archive_topic(item: TextualMemoryItem, props: Props) -> TextualMemoryItem | None:
    meta = as_tree_metadata(item.metadata)
    if meta.status != "activated":
        return None
    new_meta = meta.model_copy(update={"status": "archived", "updated_at": utc_now_iso()})
    return item.model_copy(update={"metadata": new_meta})


def apply_hierarchy(
    snap: CubeSnapshot,
    actions: Sequence[TopicAction],
    config: ReorganizeConfig,
    deadline: Deadline,
    report: ReorganizeReport,
) -> None:
    """Write topic creations, updates and archives in batched transactions."""
    per_tx = max(1, config.write_batch // 20)
    done = 0
    for batch in batched(list(actions), per_tx):
        if deadline.expired():
            break
        try:
            with snap.graph.transaction() as tx:
                rows = _apply_batch(tx, snap, batch)
        except GraphStoreError as exc:
            report.errors.append(f"hierarchy: {exc}")
            logger.warning("topic batch of cube %s failed; left for next run", snap.graph.cube_id)
            done += len(batch)
            continue
        done += len(batch)
        snap.refresh(rows)
        for action in batch:
            if action.kind == "create":
                report.hierarchy.parents_created += 1
            elif action.kind == "update":
                report.hierarchy.parents_updated += 1
            else:
                report.hierarchy.parents_archived += 1
    if done < len(actions):
        report.left["hierarchy"] = len(actions) - done
        report.completed = False


def _apply_batch(tx: Any, snap: CubeSnapshot, batch: Sequence[TopicAction]) -> list[Props]:
    live_leaves = {
        str(p["id"])
        for p in tx.get_nodes([m for a in batch for m in a.add_edges])
        if is_live(p) and not is_topic(p)
    }
    rows: list[Props] = []
    archive: dict[str, Mutation] = {
        a.parent_id: _archive_topic for a in batch if a.kind == "archive"
    }
    rows.extend(rewrite_nodes(tx, archive))
    current = {str(p["id"]): p for p in tx.get_nodes([a.parent_id for a in batch])}
    upserts: list[Props] = []
    add: list[dict[str, Any]] = []
    drop: list[dict[str, Any]] = []
    for action in batch:
        if action.kind == "archive" or action.item is None:
            continue
        upserts.append(props_for(action.item, current.get(action.parent_id), tx.user_id))
        add.extend(
            {"source": action.parent_id, "target": m, "props": {}}
            for m in action.add_edges
            if m in live_leaves
        )
        drop.extend({"source": action.parent_id, "target": m} for m in action.drop_edges)
    if upserts:
        tx.upsert_nodes(upserts)
        tx.merge_edges("PARENT", add)
        tx.delete_edges("PARENT", drop)
    return rows + upserts
