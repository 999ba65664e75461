"""Where the daemon's fixed cost goes: the hops of one search event, from the stamps it carries.

A query event is published through the MOS's own transport and its result read back; the worker
returns the stamps of its way (``EventResult.trace``: the daemon read it, sent it to Celery, the
worker started, the handler started and ended), and the client adds its own two (published,
reply seen). The median of each hop over the queries is reported next to the handler's own time,
so ``daemon - direct`` splits into stream hop, dispatch, Celery hop, worker set-up, and reply.
All stamps are wall-clock times of one machine (the processes share its clock).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from memos.bench.common import print_table

#: Trace keys of the worker's own steps (``ms:<step>``: milliseconds, not stamps).
STEP_PREFIX = "ms:"

#: (hop, from stamp, to stamp), in the order an event passes them.
HOPS = (
    ("facade: access check + publish", "called", "published"),
    ("stream -> daemon read", "published", "read"),
    ("daemon: dispatch -> Celery send", "read", "sent"),
    ("Celery: broker -> worker task", "sent", "worker_start"),
    ("worker: parse, done marker, set-up", "worker_start", "handler_start"),
    ("handler (the search itself)", "handler_start", "handler_end"),
    ("commit + reply -> facade wakes", "handler_end", "seen"),
)


def profile(mos: Any, cube_id: str, queries: list[str], top_k: int) -> dict[str, Any]:
    """Median of every hop over ``queries`` (a search of ``cube_id`` each); milliseconds."""
    samples: dict[str, list[float]] = {name: [] for name, _, _ in HOPS}
    steps: dict[str, list[float]] = {}
    totals: list[float] = []
    user = mos.user_id
    for query in queries:
        called = time.time()
        # The facade's own steps before publishing: MOS.search's very code.
        event = mos._search_event(query, user, [cube_id], top_k)
        published = time.time()
        result = mos.transport.publish_and_wait(event, mos.config.event_timeout_s)
        seen = time.time()
        if not result.ok or not result.trace:
            continue
        stamps = {**result.trace, "called": called, "published": published, "seen": seen}
        if not all(stamps.get(a) and stamps.get(b) for _, a, b in HOPS):
            continue
        for name, start, end in HOPS:
            samples[name].append((stamps[end] - stamps[start]) * 1000)
        for key, value in result.trace.items():
            if key.startswith(STEP_PREFIX):
                steps.setdefault(key[len(STEP_PREFIX) :], []).append(value)
        totals.append((seen - called) * 1000)
    hops = {name: round(statistics.median(v), 2) if v else None for name, v in samples.items()}
    handler = hops["handler (the search itself)"] or 0.0
    total = round(statistics.median(totals), 2) if totals else None
    return {
        "queries": len(totals),
        "hops_p50_ms": hops,
        # The worker's own steps inside and right after the handler (``ms:<step>`` stamps).
        "steps_p50_ms": {k: round(statistics.median(v), 2) for k, v in sorted(steps.items())},
        "total_p50_ms": total,
        "overhead_p50_ms": round(total - handler, 2) if total is not None else None,
    }


def report(by_size: dict[str, dict[str, Any]]) -> None:
    """One table: a row per hop, a column per cube size."""
    sizes = [s for s, r in by_size.items() if r.get("hops_p50_ms")]
    if not sizes:
        return
    rows: list[list[Any]] = []
    for name, _, _ in HOPS:
        rows.append([name, *(by_size[s]["hops_p50_ms"][name] for s in sizes)])
        if name.startswith("handler"):
            names = sorted({k for s in sizes for k in by_size[s].get("steps_p50_ms", {})})
            for step in names:
                cells = (by_size[s].get("steps_p50_ms", {}).get(step) for s in sizes)
                rows.append([f"  step: {step}", *cells])
    rows.append(["total (call -> result)", *(by_size[s]["total_p50_ms"] for s in sizes)])
    rows.append(["overhead (total - handler)", *(by_size[s]["overhead_p50_ms"] for s in sizes)])
    print_table(
        "daemon hops of one search (median ms per hop)",
        ["hop", *(f"cube {s}" for s in sizes)],
        rows,
    )
