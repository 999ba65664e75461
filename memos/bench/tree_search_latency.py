"""Insert throughput and search latency of TreeTextMemory on embedded ArcadeDB.

``python -m memos.bench.tree_search_latency [--nodes 10000] [--queries 100] [--json out.json]``

Builds one cube of ``--nodes`` memories from LoCoMo turns (embedded once with the packaged
MiniLM), inserts them through ``TreeTextMemory.add`` in batches (dedup lookup, nodes and CONTEXT
edges in one transaction per batch), then times ``search`` (fast and fine) on LoCoMo questions,
and the vector-index leg alone. A private embedded stack is started in a temporary home and
stopped by PID at the end. ``add_arguments`` / ``run`` follow the ``python -m memos.bench``
suite shape.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from memos.bench.common import REPO_ROOT, machine
from memos.bench.private_store import PrivateGraphStore

LOCOMO = REPO_ROOT.parent / "shared" / "data" / "locomo" / "locomo10.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this suite."""
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--top-k", type=int, default=10)


def _texts_and_questions(n: int, n_queries: int) -> tuple[list[dict[str, Any]], list[str]]:
    data = json.loads(LOCOMO.read_text(encoding="utf-8"))
    turns: list[tuple[str, str, str, str]] = []
    questions: list[str] = []
    for sample in data:
        conv = sample["conversation"]
        for key, value in conv.items():
            if key.startswith("session_") and isinstance(value, list):
                date = conv.get(f"{key}_date_time", "")
                turns.extend((t["speaker"], t["text"], t["dia_id"], date) for t in value)
        questions.extend(q["question"] for q in sample["qa"] if q.get("category") != 5)
    items: list[dict[str, Any]] = []
    templates = ("{s}: {t}", "{s} said on {d}: {t}", "Recalled from {d}, {s}: {t}")
    for round_, template in enumerate(templates):
        for speaker, text, dia_id, date in turns:
            if len(items) >= n:
                break
            items.append(
                {
                    "memory": template.format(s=speaker, t=text, d=date),
                    "metadata": {
                        "memory_type": "LongTermMemory",
                        "session_id": dia_id.split(":")[0],
                        "sources": [
                            {"type": "chat", "role": speaker, "message_id": f"{dia_id}#{round_}"}
                        ],
                    },
                }
            )
    return items, questions[:n_queries]


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        "mean_ms": round(statistics.fmean(ordered), 2),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark and return its numbers."""
    from memos.configs.embedder import EmbedderConfigFactory
    from memos.configs.memory import TreeTextMemoryConfig
    from memos.embedders.factory import EmbedderFactory
    from memos.graph_dbs import NodeFilter
    from memos.memories.textual.tree import TreeTextMemory

    items, questions = _texts_and_questions(args.nodes, args.queries)
    embedder = EmbedderFactory.from_config(
        EmbedderConfigFactory(backend="sentence_transformer", config={"batch_size": 128})
    )
    started = time.perf_counter()
    vectors = embedder.embed([i["memory"] for i in items])
    embed_s = time.perf_counter() - started
    for item, vector in zip(items, vectors, strict=True):
        item["metadata"]["embedding"] = vector

    with PrivateGraphStore("memos-bench-tree-") as private:
        graph_db = private.graph_db
        memory = TreeTextMemory(
            TreeTextMemoryConfig(cube_id=f"bench-{uuid.uuid4().hex[:8]}", graph_db=graph_db),
            embedder=embedder,
        )
        # a small second cube shares the indexes, as tenants do in production
        other = TreeTextMemory(
            TreeTextMemoryConfig(cube_id=f"bench-{uuid.uuid4().hex[:8]}", graph_db=graph_db),
            embedder=embedder,
            store=memory.store,
        )
        other.add(items[:200])

        started = time.perf_counter()
        for start in range(0, len(items), args.batch):
            memory.add(items[start : start + args.batch])
        insert_s = time.perf_counter() - started

        for query in questions[:5]:  # warm the JIT and the embedder
            memory.search(query, args.top_k)
        timings: dict[str, list[float]] = {"fast": [], "fine": [], "vector_leg": []}
        node_filter = NodeFilter(valid_at_ts=time.time())
        for query in questions:
            for mode in ("fast", "fine"):
                t0 = time.perf_counter()
                memory.search(query, args.top_k, mode=mode)  # type: ignore[arg-type]
                timings[mode].append((time.perf_counter() - t0) * 1000)
            vector = embedder.embed([query])[0]
            t0 = time.perf_counter()
            memory.graph.vector_search(vector, args.top_k, node_filter)
            timings["vector_leg"].append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        everything = memory.get_all()
        get_all_s = time.perf_counter() - t0
        memory.drop()
        other.drop()

    return {
        "machine": machine(),
        "nodes": len(items),
        "edges": len(everything["edges"]),
        "embed_texts_per_s": round(len(items) / embed_s, 1),
        "insert_nodes_per_s": round(len(items) / insert_s, 1),
        "insert_s": round(insert_s, 1),
        "get_all_s": round(get_all_s, 2),
        "search_fast": _percentiles(timings["fast"]),
        "search_fine": _percentiles(timings["fine"]),
        "vector_leg": _percentiles(timings["vector_leg"]),
        "queries": len(questions),
        "top_k": args.top_k,
    }


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
