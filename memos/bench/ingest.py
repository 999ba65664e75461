"""ingest: fast-mode turns per second through the daemon vs the embedder alone.

Each chat session (LoCoMo turns, or synthetic turns without the data file) is one ``MOS.add``:
facade -> Redis stream -> scheduler daemon -> Celery worker -> fast MemReader ->
``TreeTextMemory`` on ArcadeDB, one event in flight at a time (the facade's call blocks until the
memories are stored). The baseline embeds the same turn texts directly in this process with the
same packaged MiniLM at the worker's thread count; the ratio (daemon / embedder) says how much of
the embedder's speed survives the whole path. Afterwards every id an add returned is looked up in
the store (``lost`` must be 0) and the cube's node count must equal the distinct ids.

    python -m memos.bench ingest [--quick] [--turns N] [--data locomo10.json]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from memos.bench import peers
from memos.bench.common import (
    LOCOMO,
    finite_positive,
    machine,
    percentiles,
    print_table,
    progress,
    ratio,
)
from memos.bench.peers import mem0_peer
from memos.bench.turns import load_sessions

logger = logging.getLogger(__name__)

# The worker runs with one OpenMP thread (memos.mem_os.services); the baseline matches it.
WORKER_THREADS = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Suite options (``--quick`` / ``--smoke`` / ``--json`` come from the dispatcher)."""
    parser.add_argument("--data", default=str(LOCOMO), help="path to locomo10.json")
    parser.add_argument(
        "--turns", type=int, default=None, help="turns to ingest (default 2000, quick 300)"
    )
    peers.add_peers_argument(parser)


def _turn_budget(args: argparse.Namespace) -> int:
    if args.turns:
        return int(args.turns)
    if getattr(args, "smoke", False):
        return 40
    return 300 if args.quick else 2000


def embed_baseline(embedder: Any, texts: list[str]) -> float:
    """Texts per second of ``embedder`` on ``texts`` in this process at the worker's threads."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(WORKER_THREADS)
    try:
        embedder.embed(texts[:8])  # warm-up: first call allocates
        started = time.perf_counter()
        embedder.embed(texts)
        elapsed = time.perf_counter() - started
    finally:
        torch.set_num_threads(before)
    return len(texts) / elapsed


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Ingest through the daemon, embed in process, verify the store; print and return."""
    from memos.bench.harness import MOSHarness

    wanted_peers = peers.requested(args)
    if wanted_peers:
        mem0_peer.require()
    result: dict[str, Any] = {"machine": machine()}
    sessions, source = load_sessions(Path(args.data), _turn_budget(args))
    turns = sum(len(s.messages) for s in sessions)
    texts = [m["content"] for s in sessions for m in s.messages]
    result.update({"source": source, "turns": turns, "sessions": len(sessions)})
    with MOSHarness() as harness:
        mos = harness.mos
        harness.new_tree_cube("warmup")
        # The worker loads its models on its first event: keep that out of the timing.
        mos.add(memory_content="warm-up memory", mem_cube_id="warmup")
        cube_id = harness.new_tree_cube("ingest")
        ids: list[str] = []
        latencies_ms: list[float] = []
        with progress() as bar:
            task = bar.add_task("ingest: MOS.add per session", total=turns)
            started = time.perf_counter()
            for session in sessions:
                t0 = time.perf_counter()
                ids.extend(
                    mos.add(
                        messages=session.messages,
                        mem_cube_id=cube_id,
                        session_id=session.session_id,
                    )
                )
                latencies_ms.append((time.perf_counter() - t0) * 1000)
                bar.advance(task, len(session.messages))
            elapsed = time.perf_counter() - started
        graph = harness.tree_memory(cube_id).graph
        stored = graph.count()
        present = graph.existing_ids(sorted(set(ids)))
        embedder = harness.embedder
    # After the stack has stopped, so its idle processes take nothing from the baseline.
    embed_tps = embed_baseline(embedder, texts)
    if "mem0" in wanted_peers:  # the same sessions into mem0, also after the stack stopped
        result["peers"] = {"mem0": mem0_peer.ingest(sessions)}
    daemon_tps = turns / elapsed
    result.update(
        {
            "memories": len(set(ids)),
            "stored_nodes": stored,
            "lost": len(set(ids) - present),
            "duplicated": max(0, stored - len(set(ids))),
            "seconds": round(elapsed, 2),
            "daemon_turns_per_s": round(daemon_tps, 2),
            "daemon_memories_per_s": round(len(set(ids)) / elapsed, 2),
            "embedder_turns_per_s": round(embed_tps, 2),
            "embedder_threads": WORKER_THREADS,
            "ratio_daemon_to_embedder": ratio(daemon_tps, embed_tps),
            "add_latency_per_session": percentiles(latencies_ms),
            "events_in_flight": 1,
        }
    )
    print_table(
        f"ingest ({turns} turns from {source}, {len(sessions)} MOS.add calls)",
        ["path", "turns/s", "memories stored", "lost", "duplicated"],
        [
            ["daemon (MOS.add)", result["daemon_turns_per_s"], stored, result["lost"],
             result["duplicated"]],
            ["embedder only (in process)", result["embedder_turns_per_s"], "-", "-", "-"],
            ["ratio daemon / embedder", result["ratio_daemon_to_embedder"], "", "", ""],
            *mem0_peer.ingest_rows(result),
        ],
    )  # fmt: skip
    return result


def check(result: dict[str, Any]) -> list[str]:
    """Failures of the suite's sanity checks (empty when it passed)."""
    failures = mem0_peer.check_ingest(result)
    if result.get("lost") != 0:
        failures.append(f"ingest lost {result.get('lost')} memories (must be 0)")
    if result.get("duplicated") != 0:
        failures.append(f"ingest stored {result.get('duplicated')} extra nodes (must be 0)")
    for key in ("daemon_turns_per_s", "embedder_turns_per_s", "ratio_daemon_to_embedder"):
        if not finite_positive(result.get(key)):
            failures.append(f"ingest {key} is {result.get(key)!r}, not a finite positive number")
    return failures
