"""Sanity checks of each suite's result: a list of failures, empty when the result is sound.

Suites that define ``check(result)`` in their own module register it in ``bench.__main__``;
the checks here cover the suites that predate the convention.
"""

from __future__ import annotations

import math
from typing import Any

from memos.bench.common import finite_positive

BASELINES = ("bm25", "dense", "rrf")


def locomo_recall(result: dict[str, Any]) -> list[str]:
    """The raw-turn baselines are present and every recall is a number in [0, 1]."""
    systems = result.get("systems", {})
    failures = [f"locomo-recall baseline {b!r} missing" for b in BASELINES if b not in systems]
    for name, s in systems.items():
        for k in ("R@5", "R@10", "R@20"):
            value = s.get(k)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                failures.append(f"locomo-recall {name} {k} is {value!r}, not in [0, 1]")
    if not result.get("questions"):
        failures.append("locomo-recall evaluated no question")
    return failures


def kv_ttft(result: dict[str, Any]) -> list[str]:
    """Both paths agree on the first token, and every ratio is finite and positive."""
    failures = []
    sizes = [k for k in result if not k.startswith("_")]
    if not sizes:
        failures.append("kv-ttft measured no prefix size")
    for size in sizes:
        r = result[size]
        if not finite_positive(r.get("ratio")):
            failures.append(f"kv-ttft {size}: ratio is {r.get('ratio')!r}")
        if r.get("same_first_token") is not True:
            failures.append(f"kv-ttft {size}: cached and injected first tokens differ")
    return failures


def reorganize(result: dict[str, Any]) -> list[str]:
    """A second run changes nothing, and the first one completed."""
    failures = []
    if result.get("second_run_changes") != 0:
        failures.append(
            f"reorganize second run made {result.get('second_run_changes')} changes (must be 0)"
        )
    if not result.get("first_run_report", {}).get("completed"):
        failures.append("reorganize first run did not complete")
    return failures


def scheduler_throughput(result: dict[str, Any]) -> list[str]:
    """Events per second and the latency percentiles are finite and positive."""
    return [
        f"scheduler-throughput {key} is {result.get(key)!r}"
        for key in ("events_per_s", "p50_ms", "p95_ms")
        if not finite_positive(result.get(key))
    ]


def json_safe(value: Any) -> Any:
    """``value`` with NaN / infinity replaced by None (strict JSON readers reject them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
