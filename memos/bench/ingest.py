"""ingest: fast-mode turns per second through the daemon vs the embedder alone.

Each chat session (LoCoMo turns, or synthetic turns without the data file) is one ``MOS.add``:
facade -> Redis stream -> scheduler daemon -> Celery worker -> fast MemReader ->
``TreeTextMemory`` on ArcadeDB (the facade's call blocks until the memories are stored). The
baseline embeds the same turn texts directly in this process with the same packaged MiniLM at
the worker's torch thread count (``worker_threads``: one by default); the ratio (daemon /
embedder) says how much of the embedder's speed survives the whole path. A second baseline
embeds what the worker really embeds, the texts the fast reader's memories of those turns are
embedded from (a memory's text quoting less context than the stored one; still longer
than the turns), for reference. Afterwards every id an add returned is looked up in the store
(``lost`` must be 0) and the cube's node count must equal the distinct ids.

``--inflight 1,8`` runs the ingest once per number of adds the client keeps in flight: a
realistic client (an API server ingesting its users' chats) has several at once. Each LoCoMo
conversation goes to its own user's cube, as it would in a multi-user deployment; the
sessions come interleaved (every conversation's first session, then every second one, ...:
``memos.bench.turns.load_sessions``) and ``N`` client threads take them in that order, so at 8
in flight the adds of different conversations meet on the worker (and are embedded together,
see ``memos.workers.batching``) while each cube's adds still apply in publish order. (Before
2026-12-06 the sessions came one conversation after another, so the 8 threads mostly waited on
one cube's ordering and 8 in flight measured about what 1 did.) Every level runs on a fresh
stack (a cold worker: its part-vector cache, in the reader's ``composite`` mode, holds nothing
of an earlier level's identical turns). ``--reader KEY=VALUE`` sets fast-reader fields (e.g.
``embedding_mode=composite``) for the daemon's adds and the reader-text baseline.

    python -m memos.bench ingest [--quick] [--turns N] [--inflight 1,8] [--data locomo10.json]
        [--reader embedding_mode=composite]
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memos.bench import peers
from memos.bench.common import (
    LOCOMO,
    add_reader_argument,
    finite_positive,
    machine,
    percentiles,
    print_table,
    progress,
    ratio,
    reader_options,
)
from memos.bench.peers import mem0_peer
from memos.bench.turns import load_sessions

if TYPE_CHECKING:
    from memos.bench.harness import MOSHarness

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Suite options (``--quick`` / ``--smoke`` / ``--json`` come from the dispatcher)."""
    parser.add_argument("--data", default=str(LOCOMO), help="path to locomo10.json")
    parser.add_argument(
        "--turns", type=int, default=None, help="turns to ingest (default 2000, quick 300)"
    )
    parser.add_argument(
        "--batch-max",
        type=int,
        default=None,
        help="the daemon's batch_max_events (default: the config's, 1: no batching)",
    )
    parser.add_argument(
        "--inflight",
        default="1,8",
        help="comma-separated numbers of adds the client keeps in flight, one run each "
        "(default 1,8)",
    )
    add_reader_argument(parser)
    peers.add_peers_argument(parser)


def _turn_budget(args: argparse.Namespace) -> int:
    if args.turns:
        return int(args.turns)
    if getattr(args, "smoke", False):
        return 40
    return 300 if args.quick else 2000


def worker_threads(embedder: Any, harness: MOSHarness) -> int:
    """The torch threads the worker's embedder runs with; the baseline uses the same.

    Loading the model sets torch's intra-op threads to the embedder config's ``num_threads``,
    capped by the stack's ``embedded.worker_torch_threads`` (1 by default), which the worker
    process receives as ``$MEMOS_TORCH_THREADS``.
    """
    configured = int(getattr(embedder.config, "num_threads", 1))
    return min(configured, int(harness.mos.config.embedded.worker_torch_threads))


def memory_texts(sessions: list[Any], reader: dict[str, Any] | None = None) -> list[str]:
    """The texts the worker embeds for these sessions: for the fast reader's memories of each
    (with ``reader`` fields over its default config), the text their vectors are computed from
    (``embedding_source``), or, for composite memories, the distinct part texts of all of them
    in first-use order (each embedded once, as the worker's part cache does while it holds
    them)."""
    from memos.mem_scheduler.events import AddEvent, make_event
    from memos.memories.textual.tree_nodes import as_tree_metadata, embedding_source
    from memos.workers.memory_handlers import _tree_items

    options = {"mem_reader": {"backend": "simple_struct", "config": reader}} if reader else {}
    texts: list[str] = []
    parts: dict[str, None] = {}  # ordered set: a part shared by memories is embedded once
    for session in sessions:
        event = make_event(
            "add", user_id="u", cube_id="c", session_id=str(session.session_id),
            payload={"messages": session.messages, "options": options},
        )  # fmt: skip
        assert isinstance(event, AddEvent)
        for item in _tree_items(event):
            composite = as_tree_metadata(item.metadata).embedding_parts
            if composite:
                parts.update(dict.fromkeys(p.text for p in composite))
            else:
                texts.append(embedding_source(item))
    return texts + list(parts)


def embed_baseline(embedder: Any, texts: list[str], threads: int = 1) -> float:
    """Texts per second of ``embedder`` on ``texts`` in this process with ``threads``."""
    import torch

    before = torch.get_num_threads()
    # Warm-up first: the first call allocates, and it may load the model, which sets torch's
    # threads to the embedder config's num_threads (2 by default). Set after it, the timed call
    # runs with ``threads`` as the worker does; set before it (as until 2026-12-06), the
    # raw-turn baseline of a fresh process ran with 2 threads, ~1.6x the worker's 1.
    embedder.embed(texts[:8])
    torch.set_num_threads(threads)
    try:
        started = time.perf_counter()
        embedder.embed(texts)
        elapsed = time.perf_counter() - started
    finally:
        torch.set_num_threads(before)
    return len(texts) / elapsed


def _conversation(session: Any) -> str:
    """The conversation a session belongs to (LoCoMo ids are ``<sample>-s<n>``)."""
    return str(session.session_id).rsplit("-s", 1)[0]


def _ingest(harness: Any, sessions: list[Any], inflight: int, tag: str) -> dict[str, Any]:
    """Add every session with ``inflight`` client threads; one cube per conversation."""
    mos = harness.mos
    cubes: dict[str, tuple[str, str]] = {}
    for session in sessions:
        conv = _conversation(session)
        if conv not in cubes:
            user, cube = f"{tag}u{len(cubes)}", f"{tag}c{len(cubes)}"
            harness.new_tree_cube(cube, user_id=user)
            cubes[conv] = (user, cube)
    turns = sum(len(s.messages) for s in sessions)
    ids: dict[str, set[str]] = {cube: set() for _, cube in cubes.values()}
    latencies_ms: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    pending = list(reversed(sessions))

    with progress() as bar:
        task = bar.add_task(f"ingest: {inflight} in flight", total=turns)

        def client() -> None:
            while True:
                with lock:
                    if not pending:
                        return
                    session = pending.pop()
                user, cube = cubes[_conversation(session)]
                t0 = time.perf_counter()
                try:
                    got = mos.add(messages=session.messages, mem_cube_id=cube, user_id=user,
                                  session_id=session.session_id)  # fmt: skip
                except Exception as exc:  # counted and reported
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                with lock:
                    ids[cube].update(got)
                    latencies_ms.append((time.perf_counter() - t0) * 1000)
                    bar.advance(task, len(session.messages))

        threads = [threading.Thread(target=client, name=f"ingest-{i}") for i in range(inflight)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    stored = lost = 0
    for user, cube in cubes.values():
        graph = harness.tree_memory(cube, user).graph
        stored += graph.count()
        lost += len(ids[cube] - graph.existing_ids(sorted(ids[cube])))
    memories = sum(len(v) for v in ids.values())
    return {
        "inflight": inflight,
        "cubes": len(cubes),
        "memories": memories,
        "stored_nodes": stored,
        "lost": lost,
        "duplicated": max(0, stored - memories),
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:5],
        "seconds": round(elapsed, 2),
        "daemon_turns_per_s": round(turns / elapsed, 2),
        "add_latency_per_session": percentiles(latencies_ms),
    }


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
    levels = [int(x) for x in str(args.inflight).split(",") if x.strip()] or [1]
    result.update({"source": source, "turns": turns, "sessions": len(sessions),
                   "batch_max": args.batch_max})  # fmt: skip
    runs: dict[str, dict[str, Any]] = {}
    reader = reader_options(args)
    result["reader"] = reader
    for level in levels:
        # A fresh stack per level: the same turns are ingested at every level, and a worker
        # keeps recent part vectors (composite mode), which must not make a later level's
        # texts free. Every level starts from a cold worker, whatever the mode.
        with MOSHarness(batch_max_events=args.batch_max, reader_options=reader) as harness:
            harness.new_tree_cube("warmup")
            # The worker loads its models on its first event: keep that out of the timing.
            harness.mos.add(memory_content="warm-up memory", mem_cube_id="warmup")
            runs[str(level)] = _ingest(harness, sessions, level, f"i{level}")
            embedder = harness.embedder
            threads = worker_threads(embedder, harness)
    # After the stack has stopped, so its idle processes take nothing from the baseline.
    embed_tps = embed_baseline(embedder, texts, threads)
    # What the worker must embed: the reader's memories' vector texts (longer than the raw turns:
    # "<speaker> said: ...", replies quoting what they answer), in turns per second.
    reader_texts = memory_texts(sessions, reader)
    reader_tps = embed_baseline(embedder, reader_texts, threads) * turns / len(reader_texts)
    for r in runs.values():
        r["ratio_daemon_to_embedder"] = ratio(r["daemon_turns_per_s"], embed_tps)
        r["ratio_daemon_to_reader_embedding"] = ratio(r["daemon_turns_per_s"], reader_tps)
    first = runs[str(levels[0])]
    if "mem0" in wanted_peers:  # the same sessions into mem0, also after the stack stopped
        result["peers"] = {"mem0": mem0_peer.ingest(sessions)}
    result.update(
        {
            # The first level's figures stay at the top level (earlier results' shape).
            **{k: first[k] for k in ("memories", "stored_nodes", "lost", "duplicated", "seconds",
                                     "daemon_turns_per_s", "add_latency_per_session")},
            "embedder_turns_per_s": round(embed_tps, 2),
            "embedder_threads": threads,
            "reader_memory_texts": len(reader_texts),
            "reader_embedding_turns_per_s": round(reader_tps, 2),
            "ratio_daemon_to_embedder": first["ratio_daemon_to_embedder"],
            "events_in_flight": levels[0],
            "by_inflight": runs,
        }
    )  # fmt: skip
    rows: list[list[Any]] = [
        [f"daemon (MOS.add), {k} in flight", r["daemon_turns_per_s"], r["ratio_daemon_to_embedder"],
         r["stored_nodes"], r["lost"], r["duplicated"], r["errors"]]
        for k, r in runs.items()
    ]  # fmt: skip
    rows.append([f"embedder only, raw turns ({threads} threads)", result["embedder_turns_per_s"],
                 1.0, "-", "-", "-", "-"])  # fmt: skip
    rows.append([f"embedder only, the reader's {len(reader_texts)} memory texts",
                 result["reader_embedding_turns_per_s"],
                 ratio(result["reader_embedding_turns_per_s"], embed_tps), "-", "-", "-",
                 "-"])  # fmt: skip
    rows += mem0_peer.ingest_rows(result)
    print_table(
        f"ingest ({turns} turns from {source}, {len(sessions)} MOS.add calls per run)",
        ["path", "turns/s", "/ embedder", "memories stored", "lost", "duplicated", "errors"],
        rows,
    )
    return result


def check(result: dict[str, Any]) -> list[str]:
    """Failures of the suite's sanity checks (empty when it passed)."""
    failures = mem0_peer.check_ingest(result)
    if result.get("lost") != 0:
        failures.append(f"ingest lost {result.get('lost')} memories (must be 0)")
    if result.get("duplicated") != 0:
        failures.append(f"ingest stored {result.get('duplicated')} extra nodes (must be 0)")
    for level, r in result.get("by_inflight", {}).items():
        for key in ("lost", "duplicated", "errors"):
            if r.get(key):
                failures.append(f"ingest {level} in flight: {key} = {r[key]} (must be 0)")
        if not finite_positive(r.get("ratio_daemon_to_embedder")):
            failures.append(
                f"ingest {level} in flight: ratio is {r.get('ratio_daemon_to_embedder')!r}"
            )
    for key in ("daemon_turns_per_s", "embedder_turns_per_s", "ratio_daemon_to_embedder"):
        if not finite_positive(result.get(key)):
            failures.append(f"ingest {key} is {result.get(key)!r}, not a finite positive number")
    return failures
