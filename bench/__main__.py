"""``python -m bench <suite> [options]``: run one benchmark suite (or ``all``).

Each suite registers a ``(add_arguments, run)`` pair in ``SUITES``; ``run(args)`` returns its
result dict, written under the suite's name with ``--json PATH``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

# Few threads before torch / faiss load: the machines have 2 cores.
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from bench import kv_ttft, locomo_recall, reorganize
from bench.common import write_json

Suite = tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], Any]]

# Later suites (ingest, search-latency, tenants, kv-ttft, reorganize) register here.
SUITES: dict[str, Suite] = {
    "locomo-recall": (locomo_recall.add_arguments, locomo_recall.run),
    "kv-ttft": (kv_ttft.add_arguments, kv_ttft.run),
    "reorganize": (reorganize.add_arguments, reorganize.run),
}


def build_parser() -> argparse.ArgumentParser:
    """The argparse dispatcher: one sub-command per suite plus ``all``."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="suite", required=True)
    for name, (add_arguments, _run) in SUITES.items():
        p = sub.add_parser(name)
        _common(p)
        add_arguments(p)
    p_all = sub.add_parser("all", help="every suite with its defaults")
    _common(p_all)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="a small, fast subset")
    parser.add_argument("--json", metavar="PATH", help="write results as JSON here")


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen suite(s)."""
    args = build_parser().parse_args(argv)
    names = list(SUITES) if args.suite == "all" else [args.suite]
    for name in names:
        add_arguments, run = SUITES[name]
        suite_args = args
        if args.suite == "all":
            # Fill the suite's own defaults, keeping --quick / --json from the command line.
            p = argparse.ArgumentParser()
            _common(p)
            add_arguments(p)
            suite_args = p.parse_args([])
            suite_args.quick, suite_args.json = args.quick, args.json
        result = run(suite_args)
        if args.json:
            write_json(args.json, name, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
