"""LoCoMo evidence recall before and after consolidation (``reorganize_cube``) on the same cubes.

For each conversation: the fast MemReader's memories go into a fresh TreeTextMemory cube (as the
``fast`` system of :mod:`bench.locomo_recall` does), every question is searched (``before``),
``reorganize_cube`` runs with the default ``ReorganizeConfig`` (dedup/merge, conflicts, tiers,
hierarchy), and every question is searched again on the same cube (``after``). Recall is the
evidence recall@k of :mod:`bench.locomo_recall` (distinct cited turns through ``sources``).

How the consolidated cube is counted, honestly:
  - a merged memory cites the union of its originals' sources (the originals are archived and
    no longer searchable), so a merge hides no evidence turn;
  - a superseded memory (``invalid_at`` set) is no longer returned by default search: its turns
    are only reachable through other memories;
  - a topic node (hierarchy) cites no turn. Default search (``after``) lets topics guide recall
    (vector hits on a topic seed graph expansion to its members) but leaves them out of the
    results. ``after-with-topics`` returns them too (``include_topics=True``): recall counts a
    topic as citing nothing, so it uses up none of the ``k`` turns but takes one of the
    ``SEARCH_TOP_K`` result slots. ``after-topics-blind`` measures the same cube with search
    blind to topic nodes (as if every search statement filtered ``type <> 'topic'``), to tell the
    topics' share of any change from the merges' and supersessions'.

Also reported: what reorganisation did (merges, superseded, topics), node counts, the share of
evidence turns still cited by some searchable memory, and topic hits in the results. The
sanity check fails when R@10 drops by more than ``MAX_R10_DROP`` or reorganisation did not
complete.
"""

from __future__ import annotations

import argparse
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from memos.bench.common import machine, print_table
from memos.bench.locomo_data import CATEGORIES, Conversation, Question, Ranked, load_locomo
from memos.bench.locomo_recall import (
    CATEGORY_NAMES,
    DEFAULT_DATA,
    KS,
    _base_embedder,
    _reader_sessions,
    _summarise,
    recall_at_k,
)
from memos.bench.tree_system import SEARCH_TOP_K, TreeSystem

logger = logging.getLogger(__name__)

# The bar: consolidation may cost at most this much evidence recall@10.
MAX_R10_DROP = 0.01
# Generous: a cut-short run would make "recall did not drop" vacuous (the check fails then).
DEFAULT_DEADLINE_S = 900.0
VARIANTS = ("before", "after", "after-with-topics", "after-topics-blind")


@dataclass
class CubeOutcome:
    """One conversation's rankings in each variant and what reorganisation did to its cube."""

    rankings: dict[str, list[Ranked]]
    report: dict[str, Any]
    nodes_before: dict[str, int]
    nodes_after: dict[str, int]
    reachable_before: set[str]
    reachable_after: set[str]
    # Per question: the ranks of topics in the results of ``after-with-topics``.
    topic_hits: list[list[int]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


class _TopicBlindGraph:
    """A read-only view of a ``CubeGraph`` to which the ``hidden`` node ids do not exist.

    Every recall statement over-fetches by the number of hidden ids and drops them, which gives
    the same lists as a ``type <> 'topic'`` condition in each statement would.
    """

    def __init__(self, graph: Any, hidden: frozenset[str]) -> None:
        self._graph = graph
        self._hidden = hidden

    def __getattr__(self, name: str) -> Any:
        return getattr(self._graph, name)

    def _drop(self, hits: list[tuple[str, float]], k: int) -> list[tuple[str, float]]:
        return [h for h in hits if h[0] not in self._hidden][:k]

    def vector_search(self, vector: Sequence[float], k: int, node_filter: Any) -> Any:
        return self._drop(self._graph.vector_search(vector, k + len(self._hidden), node_filter), k)

    def fulltext_search(self, query: str, k: int, node_filter: Any) -> Any:
        hits = self._graph.fulltext_search(query, k + len(self._hidden), node_filter)
        return self._drop(hits, k)

    def neighbors(
        self, ids: Sequence[str], rel_types: Sequence[str], node_filter: Any, limit: int = 100
    ) -> list[dict[str, Any]]:
        # A live leaf has at most one live topic parent: one extra row per seed covers it.
        rows = self._graph.neighbors(ids, rel_types, node_filter, limit=limit + len(ids))
        return [r for r in rows if r["id"] not in self._hidden][:limit]

    def recent_in_session(self, node_filter: Any, limit: int) -> list[str]:
        rows = self._graph.recent_in_session(node_filter, limit + len(self._hidden))
        return [i for i in rows if i not in self._hidden][:limit]


def _cited(item: Any) -> list[str]:
    return [s.message_id for s in item.metadata.sources if s.message_id]


def _scan(memory: Any) -> tuple[dict[str, int], set[str], frozenset[str]]:
    """Node counts, the turns cited by searchable leaves, and the live topic ids of a cube."""
    from memos.memories.textual.organize.snapshot import is_live, is_topic
    from memos.memories.textual.tree_nodes import props_to_item

    counts = {"live_leaves": 0, "live_topics": 0, "archived": 0, "ended": 0, "total": 0}
    reachable: set[str] = set()
    topics: set[str] = set()
    for page in memory.graph.iter_node_pages():
        for props in page:
            counts["total"] += 1
            if props.get("status") == "archived":
                counts["archived"] += 1
            elif props.get("invalid_at_ts") is not None:
                counts["ended"] += 1
            if not is_live(props):
                continue
            if is_topic(props):
                counts["live_topics"] += 1
                topics.add(str(props["id"]))
                continue
            counts["live_leaves"] += 1
            reachable.update(_cited(props_to_item(props, with_embedding=False)))
    return counts, reachable, frozenset(topics)


class ConsolidationSystem(TreeSystem):
    """The ``fast`` system's private stack, measuring each cube before and after reorganising."""

    def measure(
        self,
        sample_id: str,
        sessions: list[list[Any]],
        questions: list[str],
        config: Any,
        deadline_s: float,
    ) -> CubeOutcome:
        """Add, search, ``reorganize_cube``, search again (plain and topic-blind); then drop."""
        from datetime import UTC, datetime

        from memos.configs.memory import TreeTextMemoryConfig
        from memos.graph_dbs import NodeFilter
        from memos.memories.textual.organize import reorganize_cube
        from memos.memories.textual.tree import TreeTextMemory
        from memos.memories.textual.tree_nodes import props_to_item, to_epoch_s
        from memos.memories.textual.tree_search import hybrid_search

        memory = TreeTextMemory(
            TreeTextMemoryConfig(
                cube_id=f"locomo-cons-{sample_id}-{uuid.uuid4().hex[:8]}",
                user_id=sample_id,
                graph_db=self._graph_db,
            ),
            embedder=self.embedder,
            store=self._store,
        )
        seconds: dict[str, float] = {}

        def search_all(include_topics: bool = False) -> tuple[list[Ranked], list[list[int]]]:
            ranked, topic_ranks = [], []
            for question in questions:
                hits = memory.search(question, top_k=SEARCH_TOP_K, include_topics=include_topics)
                ranked.append([_cited(h) for h in hits])
                topic_ranks.append([r for r, h in enumerate(hits) if h.metadata.type == "topic"])
            return ranked, topic_ranks

        try:
            t0 = time.perf_counter()
            for items in sessions:
                if items:
                    memory.add(items)
            seconds["ingest"] = time.perf_counter() - t0
            nodes_before, reach_before, _ = _scan(memory)
            t0 = time.perf_counter()
            before, _ = search_all()
            seconds["search_before"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            report = reorganize_cube(memory, config, deadline_s=deadline_s)
            seconds["reorganize"] = time.perf_counter() - t0
            nodes_after, reach_after, topics = _scan(memory)

            t0 = time.perf_counter()
            after, _ = search_all()
            seconds["search_after"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            with_topics, topic_hits = search_all(include_topics=True)
            seconds["search_with_topics"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            blind = _TopicBlindGraph(memory.graph, topics)
            vectors = memory.embedder.embed(questions)
            node_filter = NodeFilter(valid_at_ts=to_epoch_s(datetime.now(UTC), field="now"))
            hidden: list[Ranked] = []
            for question, vector in zip(questions, vectors, strict=True):
                hits = hybrid_search(blind, vector, question, SEARCH_TOP_K, node_filter)  # type: ignore[arg-type]
                hidden.append([_cited(props_to_item(h.props, with_embedding=False)) for h in hits])
            seconds["search_topics_blind"] = time.perf_counter() - t0
        finally:
            memory.delete_all()
        return CubeOutcome(
            rankings={
                "before": before,
                "after": after,
                "after-with-topics": with_topics,
                "after-topics-blind": hidden,
            },
            report=report.model_dump(mode="json"),
            nodes_before=nodes_before,
            nodes_after=nodes_after,
            reachable_before=reach_before,
            reachable_after=reach_after,
            topic_hits=topic_hits,
            seconds=seconds,
        )


def _sum_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals of the per-cube reports (nested counters summed; flags and-ed; errors joined)."""
    total: dict[str, Any] = {
        "cubes": len(reports),
        "completed": all(r["completed"] for r in reports),
        "duration_s": round(sum(r["duration_s"] for r in reports), 2),
        "nodes_read": sum(r["nodes_read"] for r in reports),
        "errors": [e for r in reports for e in r["errors"]],
        "left": {},
        "phases_not_run": sorted({p for r in reports for p in r["phases_not_run"]}),
    }
    for phase in ("tiers", "dedup", "conflicts", "hierarchy"):
        total[phase] = {
            key: sum(r[phase][key] for r in reports)
            for key in (reports[0][phase] if reports else {})
        }
    for r in reports:
        for key, value in r["left"].items():
            total["left"][key] = total["left"].get(key, 0) + value
    return total


def _delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {f"R@{k}": round(after[f"R@{k}"] - before[f"R@{k}"], 4) for k in KS}
    out["by_category"] = {
        cat: {f"R@{k}": round(after["by_category"][cat][f"R@{k}"] - v[f"R@{k}"], 4) for k in KS}
        for cat, v in before["by_category"].items()
    }
    return out


def evaluate(
    conversations: list[Conversation],
    system: ConsolidationSystem,
    config: Any,
    deadline_s: float,
    max_questions: int | None = None,
) -> dict[str, Any]:
    """Measure every conversation before and after consolidation; the suite's result dict."""
    rows: dict[str, list[tuple[Question, Ranked]]] = {v: [] for v in VARIANTS}
    reports: list[dict[str, Any]] = []
    nodes: dict[str, dict[str, int]] = {"before": {}, "after": {}}
    seconds: dict[str, float] = {"read": 0.0}
    evidence_total = 0
    reachable = {"before": 0, "after": 0}
    topic_ranks: list[list[int]] = []
    for conv in conversations:
        questions = conv.questions[:max_questions] if max_questions else conv.questions
        t0 = time.perf_counter()
        sessions = _reader_sessions(conv)
        seconds["read"] += time.perf_counter() - t0
        outcome = system.measure(
            conv.sample_id, sessions, [q.text for q in questions], config, deadline_s
        )
        for variant in VARIANTS:
            rows[variant].extend(zip(questions, outcome.rankings[variant], strict=True))
        reports.append(outcome.report)
        for when, counts in (("before", outcome.nodes_before), ("after", outcome.nodes_after)):
            for key, value in counts.items():
                nodes[when][key] = nodes[when].get(key, 0) + value
        for phase, spent in outcome.seconds.items():
            seconds[phase] = seconds.get(phase, 0.0) + spent
        for q in questions:
            evidence_total += len(q.evidence)
            reachable["before"] += sum(e in outcome.reachable_before for e in q.evidence)
            reachable["after"] += sum(e in outcome.reachable_after for e in q.evidence)
        topic_ranks.extend(outcome.topic_hits)
        logger.info("conversation %s: %d questions measured", conv.sample_id, len(questions))

    summaries = {v: _summarise(rows[v]) for v in VARIANTS}
    per_question = {
        "R@10_down": 0,
        "R@10_up": 0,
        "R@10_same": 0,
    }
    for (q, before), (_, after) in zip(rows["before"], rows["after"], strict=True):
        diff = recall_at_k(q.evidence, after, 10) - recall_at_k(q.evidence, before, 10)
        per_question["R@10_down" if diff < 0 else "R@10_up" if diff > 0 else "R@10_same"] += 1
    n_questions = len(rows["before"])
    with_topic = [r for r in topic_ranks if r]
    return {
        "conversations": len(conversations),
        "questions": n_questions,
        "search_top_k": SEARCH_TOP_K,
        "deadline_s": deadline_s,
        "config": config.model_dump(mode="json", exclude={"llm"}),
        "variants": summaries,
        "delta": _delta(summaries["after"], summaries["before"]),
        "delta_with_topics": _delta(summaries["after-with-topics"], summaries["before"]),
        "delta_topics_blind": _delta(summaries["after-topics-blind"], summaries["before"]),
        "questions_changed": per_question,
        "reorganize": _sum_reports(reports),
        "reorganize_per_cube": reports,
        "nodes": nodes,
        "evidence_reachable": {
            when: round(count / evidence_total, 4) if evidence_total else 0.0
            for when, count in reachable.items()
        },
        "topics_in_results": {
            "mean_per_question": round(float(np.mean([len(r) for r in topic_ranks])), 3)
            if topic_ranks
            else 0.0,
            "share_of_questions": round(len(with_topic) / len(topic_ranks), 4)
            if topic_ranks
            else 0.0,
            "mean_best_rank": round(float(np.mean([r[0] + 1 for r in with_topic])), 2)
            if with_topic
            else None,
        },
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "machine": machine(),
    }


def check(result: dict[str, Any]) -> list[str]:
    """R@10 may drop by at most ``MAX_R10_DROP``; reorganisation completed and changed the cubes."""
    failures: list[str] = []
    if not result.get("questions"):
        return ["locomo-consolidation evaluated no question"]
    drop = -float(result["delta"]["R@10"])
    if drop > MAX_R10_DROP:
        before = result["variants"]["before"]["R@10"]
        after = result["variants"]["after"]["R@10"]
        failures.append(
            f"locomo-consolidation R@10 dropped by {drop:.4f} after reorganize "
            f"({before:.4f} -> {after:.4f}; at most {MAX_R10_DROP} allowed)"
        )
    totals = result["reorganize"]
    if not totals["completed"]:
        failures.append(
            "locomo-consolidation: reorganize did not complete "
            f"(left {totals['left']}, not run {totals['phases_not_run']}, errors "
            f"{totals['errors'][:3]}); raise --deadline-s"
        )
    changes = (
        totals["dedup"]["groups_merged"]
        + totals["conflicts"]["superseded"]
        + totals["hierarchy"]["parents_created"]
        + sum(totals["tiers"].values())
    )
    if changes == 0:
        failures.append("locomo-consolidation: reorganize changed nothing; the comparison is moot")
    return failures


def print_tables(result: dict[str, Any]) -> None:
    """Recall per variant (and the deltas), then what reorganisation did."""
    columns = ["variant", *(f"R@{k}" for k in KS)]
    columns += [f"{CATEGORY_NAMES[c]} R@10" for c in CATEGORIES]

    def row(name: str, s: dict[str, Any]) -> list[Any]:
        return [name, *(s[f"R@{k}"] for k in KS)] + [
            s["by_category"][str(c)]["R@10"] for c in CATEGORIES
        ]

    variants = result["variants"]
    rows = [row(v, variants[v]) for v in VARIANTS]
    rows += [row("delta (after - before)", result["delta"])]
    rows += [row("delta (with topics)", result["delta_with_topics"])]
    rows += [row("delta (topics blind)", result["delta_topics_blind"])]
    print_table(
        f"LoCoMo evidence recall before/after reorganize ({result['questions']} questions, "
        f"{result['conversations']} conversations, top_k={result['search_top_k']})",
        columns,
        [[c if not isinstance(c, float) else round(c, 4) for c in r] for r in rows],
    )
    t = result["reorganize"]
    nodes = result["nodes"]
    topics = result["topics_in_results"]
    print_table(
        "What reorganize did (all cubes)",
        ["merged groups", "originals archived", "superseded", "topics", "tier moves",
         "live leaves before", "after", "evidence reachable before", "after",
         "topic hits/question (with topics)", "reorganize s"],
        [[t["dedup"]["groups_merged"], t["dedup"]["originals_archived"],
          t["conflicts"]["superseded"], t["hierarchy"]["parents_created"],
          t["tiers"]["moved_to_long_term"] + t["tiers"]["moved_to_user"],
          nodes["before"]["live_leaves"], nodes["after"]["live_leaves"],
          result["evidence_reachable"]["before"], result["evidence_reachable"]["after"],
          topics["mean_per_question"], t["duration_s"]]],
    )  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Suite options (``--quick`` and ``--json`` are added by the dispatcher)."""
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="path to locomo10.json")
    parser.add_argument(
        "--conversations", type=int, default=None, help="use only the first N (quick: 2)"
    )
    parser.add_argument(
        "--questions", type=int, default=None, help="use only the first N questions of each"
    )
    parser.add_argument(
        "--deadline-s",
        type=float,
        default=DEFAULT_DEADLINE_S,
        help="reorganize_cube deadline per cube",
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Entry point of ``python -m memos.bench locomo-consolidation``."""
    from memos.configs.organize import ReorganizeConfig

    logging.basicConfig(level=logging.WARNING)
    data = Path(args.data)
    if not data.is_file():
        raise SystemExit(f"LoCoMo data not found at {data}; pass --data PATH")
    limit = args.conversations or (2 if args.quick else None)
    conversations = load_locomo(data, limit)
    system = ConsolidationSystem(_base_embedder())
    with system:
        result = evaluate(
            conversations, system, ReorganizeConfig(), args.deadline_s, args.questions
        )
    print_tables(result)
    return result
