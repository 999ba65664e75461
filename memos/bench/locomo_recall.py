"""LoCoMo evidence recall@k: how many gold evidence turns the retrieved memories cite.

Definition (see DESIGN.md "Benchmark data"): questions of categories 1-4 (1 multi-hop,
2 temporal, 3 open-domain, 4 single-hop); a question's evidence is its ``evidence`` dia_ids that
name a real turn of its conversation (questions with none are skipped, leaving 1,531). Walking
the retrieved memories in rank order, their ``sources[].message_id`` are collected until ``k``
distinct turns are seen; recall@k is the share of evidence turns among them.

Systems, all in one run on the same questions:
  fast        the fast MemReader -> TreeTextMemory (one cube per conversation) -> search()
              (only when memos.memories.textual.tree exists; otherwise skipped)
  fast-inproc the fast MemReader's memories, ranked in process by BM25 (keywords) + dense +
              RRF with the k of TreeTextMemory's hybrid search (10)
  bm25        rank_bm25 over raw turns, plain tokens (lowercased word-character runs, no stopwords
              removed)
  bm25-kw     rank_bm25 over raw turns, the project's tokenizer (``retrieval.keywords``:
              stopwords and possessives dropped): a stronger plain lexical baseline
  dense       packaged MiniLM over raw turns, cosine of normalised vectors, the question
              embedded as is
  rrf         reciprocal-rank fusion (k=60, equal weights) of the bm25 and dense rankings
              (the reference recipe of DESIGN.md)
  rrf-tuned   the same raw turns fused the way the fast mode fuses: bm25-kw + dense with
              RRF k=10 (the strongest plain baseline measured here; see BENCHMARKS.md)

Every raw-turn baseline indexes one document per turn, ``"<speaker>: <text>"`` plus
``" [shares an image: <BLIP caption>]"`` when the turn shares an image: exactly what a reader of
the dialogue sees. (Without the speaker name a question such as "What did Caroline research?"
cannot tell the two speakers apart: dense recall@10 drops from 0.45 to 0.31.)

Train / test split: ranking constants are tuned on the first :data:`TRAIN_CONVERSATIONS`
conversations only (``train``); the rest (``test``) are held out, so a gain that only fits the
tuning data shows. ``--split`` picks which conversations run; every system's result carries a
summary per split present (``splits``) next to the overall one.
"""

from __future__ import annotations

import argparse
import logging
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memos.bench import peers
from memos.bench.common import REPO_ROOT, add_reader_argument, machine, reader_options
from memos.bench.locomo_data import (
    CATEGORIES,
    Conversation,
    Question,
    Ranked,
    load_locomo,
    turn_document,
)
from memos.bench.peers import mem0_peer
from memos.memories.textual.retrieval import keywords, reciprocal_rank_fusion
from memos.memories.textual.tree_search import DEFAULT_SEARCH

logger = logging.getLogger(__name__)

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "locomo" / "locomo10.json"
CATEGORY_NAMES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
KS = (5, 10, 20)
# The in-process fast variant fuses like TreeTextMemory's hybrid search.
FAST_RRF_K = DEFAULT_SEARCH.rrf_k
# Memories fetched per question: enough to reach 20 distinct source turns in practice.
FETCH = 60
ALL_SYSTEMS = ("fast", "fast-inproc", "bm25", "bm25-kw", "dense", "rrf", "rrf-tuned")
RAW_SYSTEMS = ("bm25", "bm25-kw", "dense", "rrf", "rrf-tuned")
# RRF constant of the reference baseline (Cormack et al.'s default).
BASELINE_RRF_K = 60
_WORD_RE = re.compile(r"\w+", re.UNICODE)
# Signals of the fast mode's search that --ablate can switch off (query_signals, stemming).
ABLATABLE = ("stem", "speaker", "entity", "time")
# Conversations 1-5 tune ranking constants; 6-10 are held out (reported separately).
TRAIN_CONVERSATIONS = 5
SPLITS = ("train", "test", "all")


def plain_tokens(text: str) -> list[str]:
    """The plain BM25 tokenizer: lowercased runs of word characters, nothing dropped."""
    return _WORD_RE.findall(text.lower())


def recall_at_k(evidence: Sequence[str], ranked: Ranked, k: int) -> float:
    """Share of ``evidence`` among the first ``k`` distinct turns cited by ``ranked``."""
    seen: list[str] = []
    for sources in ranked:
        for turn in sources:
            if turn not in seen:
                seen.append(turn)
                if len(seen) == k:
                    break
        if len(seen) == k:
            break
    gold = set(evidence)
    return len(gold.intersection(seen)) / len(gold) if gold else 0.0


class HybridIndex:
    """BM25 + dense + RRF over a list of texts, each citing some turn ids."""

    def __init__(
        self,
        texts: list[str],
        sources: list[list[str]],
        embed: Callable[[list[str]], np.ndarray],
        tokenize: Callable[[str], list[str]] = keywords,
        vectors: np.ndarray | None = None,
    ) -> None:
        from rank_bm25 import BM25Okapi

        self.sources = sources
        self._embed = embed
        self._tokenize = tokenize
        self._bm25 = BM25Okapi([tokenize(t) or ["<empty>"] for t in texts])
        # Precomputed vectors let two indexes of the same texts share one embedding pass.
        self.vectors = embed(texts) if vectors is None else vectors

    def bm25(self, question: str, n: int) -> list[int]:
        """Indices of the ``n`` best BM25 matches."""
        scores = self._bm25.get_scores(self._tokenize(question))
        return [int(i) for i in np.argsort(-scores, kind="stable")[:n]]

    def dense(self, query_vectors: np.ndarray, n: int) -> list[list[int]]:
        """Indices of the ``n`` nearest texts for each query vector."""
        sims = query_vectors @ self.vectors.T
        return [[int(i) for i in np.argsort(-row, kind="stable")[:n]] for row in sims]

    def search_all(
        self, questions: list[str], n: int, rrf_k: int = BASELINE_RRF_K
    ) -> dict[str, list[Ranked]]:
        """Rankings of every question by bm25, dense and their RRF, as cited turn lists."""
        qv = self._embed(questions)
        out: dict[str, list[Ranked]] = {"bm25": [], "dense": [], "rrf": []}
        for question, dense_ids in zip(questions, self.dense(qv, n), strict=True):
            bm25_ids = self.bm25(question, n)
            fused = reciprocal_rank_fusion(
                [[str(i) for i in bm25_ids], [str(i) for i in dense_ids]], k=rrf_k
            )
            rrf_ids = [int(i) for i, _ in fused[:n]]
            for name, ids in (("bm25", bm25_ids), ("dense", dense_ids), ("rrf", rrf_ids)):
                out[name].append([self.sources[i] for i in ids])
        return out


def _base_embedder() -> Any:
    from memos.configs.embedder import EmbedderConfigFactory
    from memos.embedders.factory import EmbedderFactory

    return EmbedderFactory.from_config(
        EmbedderConfigFactory.model_validate(
            {"backend": "sentence_transformer", "config": {"batch_size": 128}}
        )
    )


def _as_matrix(embedder: Any) -> Callable[[list[str]], np.ndarray]:
    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray(embedder.embed(texts), dtype=np.float32)

    return embed


def _reader_sessions(
    conv: Conversation, reader_options: dict[str, Any] | None = None
) -> list[list[Any]]:
    """The fast reader's memories, read session by session (one LoCoMo session each), with
    ``reader_options`` over the reader's default config."""
    from memos.configs.mem_reader import SimpleStructMemReaderConfig
    from memos.mem_reader.simple_struct import SimpleStructMemReader

    reader = SimpleStructMemReader(SimpleStructMemReaderConfig(**(reader_options or {})))
    by_session: dict[str, list[dict[str, str]]] = {}
    for message in conv.messages:
        by_session.setdefault(message["message_id"].split(":", 1)[0], []).append(message)
    sessions = []
    for name, messages in by_session.items():
        info = {"user_id": conv.sample_id, "session_id": f"{conv.sample_id}-{name}"}
        sessions.extend(reader.get_memory([messages], type="chat", info=info))
    return sessions


def _cited(item: Any) -> list[str]:
    return [s.message_id for s in item.metadata.sources if s.message_id]


def _tree_available() -> bool:
    try:
        import memos.memories.textual.tree  # noqa: F401
    except ImportError:
        return False
    return True


def split_of(position: int) -> str:
    """``train`` for the first :data:`TRAIN_CONVERSATIONS` positions (0-based), else ``test``."""
    return "train" if position < TRAIN_CONVERSATIONS else "test"


def select_split(conversations: list[Conversation], split: str) -> list[tuple[int, Conversation]]:
    """The conversations of ``split`` with their 0-based positions in the data file."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return [
        (i, conv) for i, conv in enumerate(conversations) if split == "all" or split_of(i) == split
    ]


def _summarise(rows: list[tuple[Question, Ranked]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for k in KS:
        values = [recall_at_k(q.evidence, r, k) for q, r in rows]
        result[f"R@{k}"] = round(float(np.mean(values)), 4) if values else 0.0
    by_cat: dict[str, dict[str, float]] = {}
    for cat in CATEGORIES:
        sub = [(q, r) for q, r in rows if q.category == cat]
        by_cat[str(cat)] = {
            f"R@{k}": round(float(np.mean([recall_at_k(q.evidence, r, k) for q, r in sub])), 4)
            if sub
            else 0.0
            for k in KS
        }
        by_cat[str(cat)]["questions"] = len(sub)
    result["by_category"] = by_cat
    return result


def evaluate(
    conversations: list[Conversation],
    systems: Sequence[str] = ALL_SYSTEMS,
    tree: Any = None,
    positions: Sequence[int] | None = None,
    reader_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the chosen systems over ``conversations``; the suite's result dict.

    ``reader_options`` are fields of the fast reader's config (``--reader``).

    ``tree`` is an open :class:`bench.tree_system.TreeSystem`, required for ``fast``.
    ``positions`` are the conversations' 0-based places in the data file (default 0, 1, ...):
    they decide each conversation's split (:func:`split_of`).
    """
    if positions is None:
        positions = range(len(conversations))
    if len(positions) != len(conversations):
        raise ValueError("give one position per conversation")
    wanted = [s for s in systems if s != "fast" or tree is not None]
    skipped = [s for s in systems if s not in wanted]
    embedder = tree.embedder if tree is not None else _base_embedder()
    embed_fn = _as_matrix(embedder)
    rows: dict[str, list[tuple[Question, Ranked]]] = {s: [] for s in wanted}
    seconds: dict[str, float] = dict.fromkeys(wanted, 0.0)
    questions = 0
    split_rows: dict[str, list[str]] = {s: [] for s in wanted}
    for position, conv in zip(positions, conversations, strict=True):
        texts = [q.text for q in conv.questions]
        for name in wanted:
            split_rows[name].extend([split_of(position)] * len(texts))
        questions += len(texts)
        raw_wanted = [s for s in RAW_SYSTEMS if s in wanted]
        if raw_wanted:
            t0 = time.perf_counter()
            documents = [turn_document(m) for m in conv.messages]
            turn_ids = [[m["message_id"]] for m in conv.messages]
            index = HybridIndex(documents, turn_ids, embed_fn, tokenize=plain_tokens)
            raw = index.search_all(texts, FETCH)
            if {"bm25-kw", "rrf-tuned"} & set(wanted):
                # Same vectors, the project's tokenizer and the fast mode's RRF constant.
                tuned = HybridIndex(
                    documents, turn_ids, embed_fn, tokenize=keywords, vectors=index.vectors
                )
                tuned_raw = tuned.search_all(texts, FETCH, rrf_k=FAST_RRF_K)
                raw["bm25-kw"] = tuned_raw["bm25"]
                raw["rrf-tuned"] = tuned_raw["rrf"]
            spent = time.perf_counter() - t0
            for name in raw_wanted:
                rows[name].extend(zip(conv.questions, raw[name], strict=True))
                seconds[name] += spent / len(raw_wanted)
        if {"fast", "fast-inproc"} & set(wanted):
            t0 = time.perf_counter()
            sessions = _reader_sessions(conv, reader_options)
            items = [item for scene in sessions for item in scene]
            read_s = time.perf_counter() - t0
            if "fast-inproc" in wanted:
                t0 = time.perf_counter()
                idx = HybridIndex([i.memory for i in items], [_cited(i) for i in items], embed_fn)
                ranked = idx.search_all(texts, FETCH, rrf_k=FAST_RRF_K)["rrf"]
                rows["fast-inproc"].extend(zip(conv.questions, ranked, strict=True))
                seconds["fast-inproc"] += read_s + time.perf_counter() - t0
            if "fast" in wanted:
                t0 = time.perf_counter()
                ranked = tree.rankings(conv.sample_id, sessions, texts)
                rows["fast"].extend(zip(conv.questions, ranked, strict=True))
                seconds["fast"] += read_s + time.perf_counter() - t0
        logger.info("conversation %s: %d questions done", conv.sample_id, len(texts))
    result_systems = {}
    for name in wanted:
        summary = _summarise(rows[name])
        summary["seconds"] = round(seconds[name], 1)
        summary["splits"] = {
            split: _summarise(
                [row for row, tag in zip(rows[name], split_rows[name], strict=True) if tag == split]
            )
            for split in ("train", "test")
            if split in split_rows[name]
        }
        result_systems[name] = summary
    out: dict[str, Any] = {
        "systems": result_systems,
        "machine": machine(),
        "questions": questions,
        "conversations": len(conversations),
    }
    if skipped:
        out["skipped"] = {s: "TreeTextMemory (embedded stack) not available" for s in skipped}
    return out


def print_table(result: dict[str, Any]) -> None:
    """Render R@5/10/20 overall and by category as a rich table."""
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"LoCoMo evidence recall ({result['questions']} questions, "
        f"{result['conversations']} conversations)"
    )
    table.add_column("system")
    table.add_column("split")
    for k in KS:
        table.add_column(f"R@{k}", justify="right")
    for cat in CATEGORIES:
        table.add_column(f"{CATEGORY_NAMES[cat]} R@10", justify="right")
    table.add_column("s", justify="right")
    for name, s in result["systems"].items():
        parts = [("all", s)]
        if len(s.get("splits", {})) > 1:
            parts += list(s["splits"].items())
        for split, part in parts:
            table.add_row(
                name,
                split,
                *(f"{part[f'R@{k}']:.3f}" for k in KS),
                *(f"{part['by_category'][str(c)]['R@10']:.3f}" for c in CATEGORIES),
                f"{s['seconds']:.0f}" if split == "all" else "",
            )
    Console().print(table)
    for name, why in result.get("skipped", {}).items():
        Console().print(f"[yellow]skipped {name}: {why}[/yellow]")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Suite options (``--quick`` and ``--json`` are added by the dispatcher)."""
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="path to locomo10.json")
    parser.add_argument(
        "--systems",
        default=",".join(ALL_SYSTEMS),
        help=f"comma-separated subset of {', '.join(ALL_SYSTEMS)}",
    )
    parser.add_argument(
        "--conversations", type=int, default=None, help="use only the first N (of the split)"
    )
    parser.add_argument(
        "--split",
        choices=SPLITS,
        default="all",
        help=f"train: conversations 1-{TRAIN_CONVERSATIONS} (tuning), test: the rest (held out)",
    )
    parser.add_argument(
        "--user-view",
        action="store_true",
        help="stand-in for user-assistant chats: speakers user/assistant, first-person "
        "questions about the user only (see locomo_user_view)",
    )
    parser.add_argument(
        "--long-turns",
        action="store_true",
        help="stand-in for long user-assistant histories: the user view plus another "
        "conversation's sessions as haystack and long assistant turns (see locomo_long_turns; "
        "needs 3+ conversations)",
    )
    parser.add_argument(
        "--ablate",
        default="",
        help=f"fast: comma-separated signals to switch off ({', '.join(ABLATABLE)})",
    )
    parser.add_argument(
        "--global-index",
        action="store_true",
        help="fast: search through the store's global indexes instead of the cube index",
    )
    add_reader_argument(parser)
    peers.add_peers_argument(parser)


def ablated_search(ablate: Sequence[str]) -> Any:
    """The default search config with the ``ablate``d signals off (``stem``: exact BM25 terms).

    Stemming belongs to the cube index, not to the search config, so switching it off sets the
    index module's default for this process (the benchmark's own cubes only).
    """
    import dataclasses

    from memos.memories.textual import cube_index

    cube_index.STEM_TERMS = "stem" not in ablate
    signals = dataclasses.replace(
        DEFAULT_SEARCH.signals,
        **{name: 0.0 for name in ablate if name != "stem"},
    )
    return dataclasses.replace(DEFAULT_SEARCH, signals=signals)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Entry point of ``python -m memos.bench locomo-recall``."""
    logging.basicConfig(level=logging.WARNING)
    data = Path(args.data)
    if not data.is_file():
        raise SystemExit(f"LoCoMo data not found at {data}; pass --data PATH")
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = sorted(set(systems) - set(ALL_SYSTEMS))
    if unknown:
        raise SystemExit(f"unknown systems {unknown}; choose from {', '.join(ALL_SYSTEMS)}")
    wanted_peers = peers.requested(args)
    if wanted_peers:
        mem0_peer.require()
    limit = args.conversations or (2 if args.quick else None)
    chosen = select_split(load_locomo(data), getattr(args, "split", "all"))[:limit]
    positions = [i for i, _ in chosen]
    conversations = [conv for _, conv in chosen]
    if getattr(args, "long_turns", False):
        from memos.bench.locomo_long_turns import long_turn_view

        try:
            conversations = long_turn_view(conversations)
        except ValueError as exc:
            raise SystemExit(f"--long-turns: {exc}") from exc
    elif getattr(args, "user_view", False):
        from memos.bench.locomo_user_view import user_view

        conversations = [user_view(conv) for conv in conversations]
    reader = reader_options(args)
    ablate = [a.strip() for a in getattr(args, "ablate", "").split(",") if a.strip()]
    if set(ablate) - set(ABLATABLE):
        raise SystemExit(f"unknown --ablate {ablate}; choose from {', '.join(ABLATABLE)}")
    if "fast" in systems and _tree_available():
        from memos.bench.tree_system import TreeSystem

        with TreeSystem(
            _base_embedder(),
            cube_index=not getattr(args, "global_index", False),
            search_config=ablated_search(ablate),
        ) as tree:
            result = evaluate(
                conversations, systems, tree=tree, positions=positions, reader_options=reader
            )
    else:
        result = evaluate(conversations, systems, positions=positions, reader_options=reader)
    result["split"] = getattr(args, "split", "all")
    result["ablated"] = ablate
    result["reader"] = reader
    result["user_view"] = bool(getattr(args, "user_view", False))
    result["long_turns"] = bool(getattr(args, "long_turns", False))
    if "mem0" in wanted_peers:
        _add_mem0(result, conversations)
    print_table(result)
    return result


def _add_mem0(result: dict[str, Any], conversations: list[Conversation]) -> None:
    """The ``mem0`` row: the same turns as mem0 memories, the same questions and recall@k."""
    rows, facts = mem0_peer.locomo_rankings(conversations, FETCH)
    summary = _summarise(rows)
    summary["seconds"] = facts["seconds"]
    summary["peer"] = facts
    result["systems"]["mem0"] = summary
