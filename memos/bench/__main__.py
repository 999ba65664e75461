"""``python -m memos.bench <suite> [--quick | --smoke] [--json PATH] [--out DIR]``.

Also ``memos bench <suite>``.

Each suite registers a ``(add_arguments, run)`` pair in ``SUITES`` and a sanity check in
``CHECKS``; ``run(args)`` prints its table and returns its result dict, which is written under
the suite's name with ``--json PATH`` together with ``checks`` (passed, failures) and its wall
time; plots go to ``--out`` (default: the JSON's folder, else ``bench/results``). ``all`` runs
every suite and exits 1 when any check fails or any suite raises. ``--quick`` is the few-minute
run for ``make bench-quick``; ``--smoke`` is a tiny run of every suite for the test suite.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Few threads before torch / faiss load: the machines have 2 cores.
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from memos.bench import (
    checks,
    ingest,
    kv_ttft,
    locomo_consolidation,
    locomo_recall,
    reorganize,
    search_latency,
    tenants,
)
from memos.bench.common import LOCOMO, REPO_ROOT, print_table, write_json

Suite = tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], Any]]
Check = Callable[[dict[str, Any]], list[str]]


def _throughput_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=None, help="default 2000, quick 500")
    parser.add_argument("--round-trips", type=int, default=None, help="default 300, quick 100")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")


def _throughput_run(args: argparse.Namespace) -> dict[str, Any]:
    """``bench.scheduler_throughput`` in the suite shape (no-op handler: the bus alone)."""
    # Imported here: importing it registers no-op handlers for every event type.
    from memos.bench import scheduler_throughput
    from memos.bench.common import machine

    small = args.quick or getattr(args, "smoke", False)
    events = args.events or (200 if getattr(args, "smoke", False) else 500 if small else 2000)
    trips = args.round_trips or (50 if getattr(args, "smoke", False) else 100 if small else 300)
    result = scheduler_throughput.run(events, trips, args.concurrency)
    print_table(
        "scheduler-throughput (no-op handler: bus, daemon and Celery only)",
        ["events", "events/s", "round trip p50 ms", "p95 ms", "worker processes"],
        [[result["events"], result["events_per_s"], result["p50_ms"], result["p95_ms"],
          result["worker_concurrency"]]],
    )  # fmt: skip
    return {**result, "machine": machine()}


SUITES: dict[str, Suite] = {
    "locomo-recall": (locomo_recall.add_arguments, locomo_recall.run),
    "locomo-consolidation": (locomo_consolidation.add_arguments, locomo_consolidation.run),
    "ingest": (ingest.add_arguments, ingest.run),
    "search-latency": (search_latency.add_arguments, search_latency.run),
    "tenants": (tenants.add_arguments, tenants.run),
    "kv-ttft": (kv_ttft.add_arguments, kv_ttft.run),
    "reorganize": (reorganize.add_arguments, reorganize.run),
    "scheduler-throughput": (_throughput_arguments, _throughput_run),
}

CHECKS: dict[str, Check] = {
    "locomo-recall": checks.locomo_recall,
    "locomo-consolidation": locomo_consolidation.check,
    "ingest": ingest.check,
    "search-latency": search_latency.check,
    "tenants": tenants.check,
    "kv-ttft": checks.kv_ttft,
    "reorganize": checks.reorganize,
    "scheduler-throughput": checks.scheduler_throughput,
}

# Extra options of suites whose modules know --quick but not --smoke.
SMOKE_ARGS: dict[str, list[str]] = {
    # One conversation; the required systems only (fast-inproc would double the time).
    "locomo-recall": ["--conversations", "1", "--systems", "fast,bm25,dense,rrf"],
    "locomo-consolidation": ["--conversations", "1", "--questions", "40"],
    "kv-ttft": ["--repeats", "1"],
    "reorganize": ["--size", "300"],
}


def build_parser() -> argparse.ArgumentParser:
    """The argparse dispatcher: one sub-command per suite plus ``all``."""
    parser = argparse.ArgumentParser(
        prog="python -m memos.bench",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    sub = parser.add_subparsers(dest="suite", required=True)
    for name, (add_arguments, _run) in SUITES.items():
        p = sub.add_parser(name)
        _common(p)
        add_arguments(p)
    p_all = sub.add_parser("all", help="every suite with its defaults")
    _common(p_all)
    p_all.add_argument("--skip", default="", help="comma-separated suites to leave out")
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a small, fast subset (CI)")
    size.add_argument("--smoke", action="store_true", help="a tiny run (implies --quick)")
    parser.add_argument("--json", metavar="PATH", help="write results as JSON here")
    parser.add_argument("--out", metavar="DIR", help="write PNG plots here")


def _suite_args(name: str, args: argparse.Namespace) -> argparse.Namespace:
    """The suite's own defaults, keeping --quick / --smoke / --json / --out of the command."""
    parser = argparse.ArgumentParser(prog=f"python -m memos.bench {name}")
    _common(parser)
    SUITES[name][0](parser)
    suite_args = parser.parse_args(SMOKE_ARGS.get(name, []) if args.smoke else [])
    suite_args.quick, suite_args.smoke = args.quick or args.smoke, args.smoke
    suite_args.json, suite_args.out = args.json, args.out
    return suite_args


def _out_dir(args: argparse.Namespace) -> Path:
    if args.out:
        return Path(args.out)
    if args.json:
        return Path(args.json).absolute().parent
    return REPO_ROOT / "bench" / "results"


def run_suite(name: str, args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    """Run one suite, check it, plot it; its result (with ``checks``) and its failures."""
    from memos.bench import plots

    started = time.perf_counter()
    try:
        result = SUITES[name][1](args)
    except Exception as exc:  # a failing suite must not stop `all`; it fails the run instead
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
        failures = [f"{name} raised {type(exc).__name__}: {exc}"]
    else:
        failures = CHECKS[name](result)
        try:
            result["plots"] = [str(p) for p in plots.plot(name, result, _out_dir(args))]
        except RuntimeError as exc:
            failures.append(str(exc))
    result["wall_s"] = round(time.perf_counter() - started, 1)
    result["checks"] = {"passed": not failures, "failures": failures}
    if args.json:
        write_json(args.json, name, checks.json_safe(result))
    return result, failures


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen suite(s); 1 when a sanity check failed."""
    # SIGTERM (timeout, kill) unwinds like Ctrl-C: the suites' private stacks stop by PID
    # instead of being left running.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = build_parser().parse_args(argv)
    if args.smoke:
        args.quick = True
    if args.suite != "all":
        _, failures = run_suite(args.suite, args)
        _print_failures(failures)
        return 1 if failures else 0
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = skip - set(SUITES)
    if unknown:
        raise SystemExit(f"unknown suites in --skip: {sorted(unknown)}; choose from {list(SUITES)}")
    summary: list[list[Any]] = []
    all_failures: list[str] = []
    for name in SUITES:
        if name in skip:
            summary.append([name, "skipped (--skip)", ""])
            continue
        if name in ("locomo-recall", "locomo-consolidation") and not LOCOMO.is_file():
            print(f"{name} skipped: LoCoMo data not found at {LOCOMO}", file=sys.stderr)
            summary.append([name, "skipped (no data)", ""])
            continue
        result, failures = run_suite(name, _suite_args(name, args))
        all_failures += failures
        summary.append([name, "FAILED" if failures else "ok", result["wall_s"]])
    print_table("bench all" + (" --smoke" if args.smoke else " --quick" if args.quick else ""),
                ["suite", "checks", "seconds"], summary)  # fmt: skip
    _print_failures(all_failures)
    return 1 if all_failures else 0


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _print_failures(failures: list[str]) -> None:
    for failure in failures:
        print(f"CHECK FAILED: {failure}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
