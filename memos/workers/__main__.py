"""``python -m memos.workers --config FILE [--queues a,b] [--pool solo] [--concurrency N]``.

``FILE`` is a deployment file (``config/production.yaml``: queues, pool and concurrency come
from its ``workers`` section) or a scheduler-only config; flags override the file.
"""

from __future__ import annotations

import argparse
import os

from memos.mem_scheduler.config import load_any_config
from memos.mem_scheduler.constants import ALL_QUEUES
from memos.observability.logging import configure_logging
from memos.workers.app import run_worker


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and run a worker until it is stopped."""
    parser = argparse.ArgumentParser(prog="python -m memos.workers")
    parser.add_argument("--config", required=True)
    parser.add_argument("--queues", default=None)
    parser.add_argument("--pool", default=None)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--hostname", default=None)
    parser.add_argument("--metrics-port", type=int, default=None)
    args = parser.parse_args(argv)
    config, deployment = load_any_config(args.config, env=os.environ)
    configure_logging(level=config.log_level, fmt=config.log_format, service="worker")
    pool_cfg = deployment.workers if deployment is not None else None
    if args.queues:
        queues = [q for q in args.queues.split(",") if q]
    else:
        queues = list(pool_cfg.queues if pool_cfg else ALL_QUEUES)
    run_worker(
        config,
        queues,
        pool=args.pool or (pool_cfg.pool if pool_cfg else "prefork"),
        concurrency=args.concurrency or (pool_cfg.concurrency if pool_cfg else None),
        hostname=args.hostname,
        metrics_port=args.metrics_port,
    )


if __name__ == "__main__":
    main()
