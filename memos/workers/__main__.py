"""``python -m memos.workers --config FILE [--queues a,b] [--pool solo] [--concurrency N]``."""

from __future__ import annotations

import argparse
import logging

from memos.configs.loader import load_config
from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.constants import ALL_QUEUES
from memos.workers.app import run_worker


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and run a worker until it is stopped."""
    parser = argparse.ArgumentParser(prog="python -m memos.workers")
    parser.add_argument("--config", required=True)
    parser.add_argument("--queues", default=",".join(ALL_QUEUES))
    parser.add_argument("--pool", default="prefork")
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--hostname", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = load_config(args.config, SchedulerConfig)
    run_worker(
        config,
        [q for q in args.queues.split(",") if q],
        pool=args.pool,
        concurrency=args.concurrency,
        hostname=args.hostname,
    )


if __name__ == "__main__":
    main()
