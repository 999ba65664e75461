"""tenants: 1, 10 and 100 concurrent tenants adding and searching through one MOS.

Each tenant is a thread with its own user and its own tree cube; it alternates ``MOS.add`` (a
two-message chat exchange) and ``MOS.search`` on its cube. Reported per level: operations per
second (all tenants together), p50 / p95 latency of adds and of searches, and two counts taken
from the graph store afterwards: ``lost`` (ids an add returned that are not stored: must be 0)
and ``duplicated`` (nodes beyond one per distinct text and source turns: must be 0). The facade
is shared by the threads, as an API server would share it.

    python -m memos.bench tenants [--quick] [--levels 1,10,100] [--rounds 5] [--workers 1,2,4]

With ``--workers`` the levels run once per worker count, each on a fresh stack whose Celery
worker has that many processes (1: the solo pool, more: prefork), under ``by_workers``.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections import Counter
from typing import Any

from memos.bench.common import (
    add_reader_argument,
    finite_positive,
    machine,
    percentiles,
    print_table,
    progress,
    ratio,
    reader_options,
)

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Suite options (``--quick`` / ``--smoke`` / ``--json`` come from the dispatcher)."""
    parser.add_argument(
        "--levels", default=None, help="comma-separated tenant counts (default 1,10,100)"
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="add+search pairs per tenant (default 5)"
    )
    parser.add_argument(
        "--batch-max",
        type=int,
        default=None,
        help="the daemon's batch_max_events (default: the config's, 1: no batching)",
    )
    parser.add_argument(
        "--add-share",
        type=float,
        default=None,
        help="the daemon's add_batch_share_while_searching (default: the config's)",
    )
    parser.add_argument(
        "--workers",
        default=None,
        help="comma-separated worker process counts, one stack each (default: the embedded "
        "default's pool)",
    )

    add_reader_argument(parser)


def _levels(args: argparse.Namespace) -> list[int]:
    if args.levels:
        return [int(x) for x in str(args.levels).split(",") if x.strip()]
    if getattr(args, "smoke", False):
        return [1, 4]
    return [1, 10] if args.quick else [1, 10, 100]


def _rounds(args: argparse.Namespace) -> int:
    if args.rounds:
        return int(args.rounds)
    return 2 if getattr(args, "smoke", False) else 3 if args.quick else 5


def _messages(level: int, tenant: int, i: int) -> list[dict[str, str]]:
    return [
        {
            "role": "user",
            "content": f"Tenant {tenant} of run {level}, note {i}: I fed {i + 2} ducks at the "
            f"pond near gate {tenant % 7}.",
        },
        {"role": "assistant", "content": f"{i + 2} ducks, tenant {tenant}? They must love you."},
    ]


def run_level(harness: Any, level: int, rounds: int) -> dict[str, Any]:
    """``level`` tenants, ``rounds`` add+search pairs each; throughput, latency, loss, dups."""
    mos = harness.mos
    tenants = [(f"t{level}u{i}", f"t{level}c{i}") for i in range(level)]
    for user_id, cube_id in tenants:
        harness.new_tree_cube(cube_id, user_id=user_id)
    returned: dict[str, set[str]] = {cube: set() for _, cube in tenants}
    add_ms: list[float] = []
    search_ms: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    go = threading.Event()

    def tenant(index: int, user_id: str, cube_id: str, advance: Any) -> None:
        go.wait()
        for i in range(rounds):
            try:
                t0 = time.perf_counter()
                ids = mos.add(
                    messages=_messages(level, index, i),
                    mem_cube_id=cube_id,
                    user_id=user_id,
                    session_id=f"s{index}",
                )
                t1 = time.perf_counter()
                mos.search(f"ducks at gate {index % 7}", user_id=user_id,
                           install_cube_ids=[cube_id], top_k=5)  # fmt: skip
                t2 = time.perf_counter()
            except Exception as exc:  # counted and reported; the other tenants go on
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                advance()
                continue
            with lock:
                returned[cube_id].update(ids)
                add_ms.append((t1 - t0) * 1000)
                search_ms.append((t2 - t1) * 1000)
            advance()

    with progress() as bar:
        task = bar.add_task(f"tenants: {level} concurrent", total=level * rounds)

        def advance() -> None:
            with lock:
                bar.advance(task)

        threads = [
            threading.Thread(target=tenant, args=(i, u, c, advance), name=f"tenant-{i}")
            for i, (u, c) in enumerate(tenants)
        ]
        for thread in threads:
            thread.start()
        started = time.perf_counter()
        go.set()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    lost, duplicated, stored = _audit(harness, tenants, returned)
    operations = len(add_ms) + len(search_ms)
    return {
        "tenants": level,
        "rounds": rounds,
        "operations": operations,
        "seconds": round(elapsed, 2),
        "ops_per_s": round(operations / elapsed, 2),
        "all_ops": percentiles(add_ms + search_ms),
        "add": percentiles(add_ms),
        "search": percentiles(search_ms),
        "stored_nodes": stored,
        "lost": lost,
        "duplicated": duplicated,
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:5],
    }


def _audit(
    harness: Any, tenants: list[tuple[str, str]], returned: dict[str, set[str]]
) -> tuple[int, int, int]:
    """Count, in the store, ids returned but missing, and nodes stored twice; per cube."""
    from memos.memories.textual.tree_nodes import as_tree_metadata, props_to_item

    lost = duplicated = stored = 0
    for user_id, cube_id in tenants:
        graph = harness.tree_memory(cube_id, user_id).graph
        nodes = [props_to_item(p) for page in graph.iter_node_pages() for p in page]
        stored += len(nodes)
        lost += len(returned[cube_id] - {n.id for n in nodes})
        keys = Counter(
            (
                n.memory,
                tuple(sorted(s.message_id or "" for s in as_tree_metadata(n.metadata).sources)),
            )
            for n in nodes
        )
        duplicated += sum(count - 1 for count in keys.values())
    return lost, duplicated, stored


def _run_stack(
    levels: list[int],
    rounds: int,
    workers: int | None,
    batch_max: int | None = None,
    reader: dict[str, Any] | None = None,
    add_share: float | None = None,
) -> dict[str, Any]:
    """Every level on one fresh stack with ``workers`` worker processes (None: the default)
    and ``reader`` fields over the fast reader's default config."""
    from memos.bench.harness import MOSHarness

    out: dict[str, Any] = {}
    scheduler = {} if add_share is None else {"add_batch_share_while_searching": add_share}
    with MOSHarness(
        workers=workers,
        batch_max_events=batch_max,
        reader_options=reader,
        scheduler_options=scheduler,
    ) as harness:
        harness.new_tree_cube("warmup")
        harness.mos.add(memory_content="warm-up memory", mem_cube_id="warmup")
        harness.mos.search("warm-up", install_cube_ids=["warmup"], top_k=1)
        for level in levels:
            out[str(level)] = run_level(harness, level, rounds)
    return out


def _table_rows(levels: dict[str, Any], workers: str) -> list[list[Any]]:
    return [
        [workers, int(k), v["ops_per_s"], v["all_ops"]["p50_ms"], v["all_ops"]["p95_ms"],
         v["add"]["p95_ms"], v["search"]["p95_ms"], v["lost"], v["duplicated"], v["errors"]]
        for k, v in levels.items()
    ]  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run every concurrency level on one stack; print a table and return the numbers."""
    reader = reader_options(args)
    result: dict[str, Any] = {
        "machine": machine(),
        "levels": {},
        "batch_max": args.batch_max,
        "add_share": args.add_share,
        "reader": reader,
    }
    rounds = _rounds(args)
    levels = _levels(args)
    counts = [int(x) for x in str(args.workers).split(",") if x.strip()] if args.workers else []
    rows: list[list[Any]] = []
    if counts:
        result["by_workers"] = {}
        for count in counts:
            result["by_workers"][str(count)] = _run_stack(
                levels, rounds, count, args.batch_max, reader, args.add_share
            )
            rows += _table_rows(result["by_workers"][str(count)], str(count))
        # The first count's curve is also the suite's main result (checked below).
        result["levels"] = result["by_workers"][str(counts[0])]
    else:
        result["levels"] = _run_stack(levels, rounds, None, args.batch_max, reader, args.add_share)
        rows = _table_rows(result["levels"], "default")
    result["lost"] = {k: v["lost"] for k, v in result["levels"].items()}
    result["duplicated"] = {k: v["duplicated"] for k, v in result["levels"].items()}
    for count, curve in result.get("by_workers", {}).items():
        result["lost"].update({f"{k}@{count}w": v["lost"] for k, v in curve.items()})
        result["duplicated"].update({f"{k}@{count}w": v["duplicated"] for k, v in curve.items()})
    first, last = str(levels[0]), str(levels[-1])
    if len(levels) > 1:
        result["ops_ratio_last_to_first"] = {
            w: ratio(curve[last]["ops_per_s"], curve[first]["ops_per_s"])
            for w, curve in (result.get("by_workers") or {"default": result["levels"]}).items()
        }
    print_table(
        f"tenants (each: {rounds} x (add 2 messages + search), one shared MOS)",
        ["workers", "tenants", "ops/s", "p50 ms", "p95 ms", "add p95", "search p95", "lost",
         "dup", "errors"],
        rows,
    )  # fmt: skip
    return result


def check(result: dict[str, Any]) -> list[str]:
    """Failures of the suite's sanity checks (empty when it passed)."""
    failures = []
    if not result.get("levels"):
        failures.append("tenants measured no level")
    curves = {"": result.get("levels", {})}
    curves.update({f" ({w} workers)": c for w, c in result.get("by_workers", {}).items()})
    for label, level, r in [(lb, lv, r) for lb, c in curves.items() for lv, r in c.items()]:
        level = f"{level}{label}"
        if r["lost"]:
            failures.append(f"tenants {level}: {r['lost']} memories lost (must be 0)")
        if r["duplicated"]:
            failures.append(f"tenants {level}: {r['duplicated']} memories duplicated (must be 0)")
        if r["errors"]:
            failures.append(f"tenants {level}: {r['errors']} operations failed: "
                            f"{r['error_samples']}")  # fmt: skip
        if not finite_positive(r["ops_per_s"]):
            failures.append(f"tenants {level}: ops_per_s is {r['ops_per_s']!r}")
    return failures
