"""The Celery app factory: one broker and result backend on the scheduler's Redis, JSON only.

No module-level app reads the environment at import time; ``create_app(config)`` builds one from
an explicit :class:`SchedulerConfig`, and ``memos worker --config ...`` (or
``python -m memos.workers --config ...``) starts a worker from a config file.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from typing import Any

from celery import Celery
from kombu.entity import Queue

from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.constants import ALL_QUEUES, QUEUE_ADD
from memos.observability.metrics import (
    MULTIPROC_ENV,
    MetricsServer,
    enable_multiprocess,
    mark_process_dead,
)
from memos.workers.handlers import import_handler_modules
from memos.workers.tasks import register_tasks

logger = logging.getLogger(__name__)


def create_app(config: SchedulerConfig) -> Celery:
    """Build the Celery app for ``config`` with every task registered.

    Settings that carry the no-loss guarantee: late acks and requeue when a worker process dies
    (``task_acks_late``, ``task_reject_on_worker_lost``), one message prefetched at a time, and
    JSON as the only accepted content type (never pickle).
    """
    app = Celery(
        "memos",
        broker=config.celery_broker_url,
        backend=config.celery_result_backend,
        set_as_current=False,
    )
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUEUE_ADD,
        task_queues=[Queue(name) for name in ALL_QUEUES],  # type: ignore[no-untyped-call]
        task_create_missing_queues=False,
        result_expires=config.result_ttl_s,
        # A message held by a worker that vanished is restored after this long. The daemon
        # already retries after task_timeout_s; the restored copy is a harmless replay.
        broker_transport_options={
            "visibility_timeout": max(60, int(config.task_timeout_s) * 2),
            # Queue names are the same in every deployment: prefixing the broker's keys keeps
            # two deployments (bus prefixes) on one Redis from taking each other's tasks.
            "global_keyprefix": f"{config.prefix}:celery:",
        },
        result_backend_transport_options={"global_keyprefix": f"{config.prefix}:celery:"},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        enable_utc=True,
    )
    app.memos_config = config  # type: ignore[attr-defined]
    register_tasks(app)
    import_handler_modules(config.handler_modules)
    return app


def worker_argv(
    queues: Sequence[str] = ALL_QUEUES,
    *,
    pool: str = "prefork",
    concurrency: int | None = None,
    hostname: str | None = None,
    loglevel: str = "INFO",
) -> list[str]:
    """Arguments for ``app.worker_main``; queues listed first are consumed first."""
    argv = ["worker", f"--pool={pool}", f"--queues={','.join(queues)}", f"--loglevel={loglevel}"]
    argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    if concurrency is not None:
        argv.append(f"--concurrency={concurrency}")
    if hostname:
        argv.append(f"--hostname={hostname}")
    return argv


def run_worker(
    config: SchedulerConfig,
    queues: Sequence[str] = ALL_QUEUES,
    *,
    pool: str = "prefork",
    concurrency: int | None = None,
    hostname: str | None = None,
    metrics_port: int | None = None,
) -> None:
    """Start a Celery worker in this process (blocks until it stops; SIGTERM = warm shutdown).

    With a metrics port (``metrics_port``, else ``config.worker_metrics_port``) the worker
    serves ``/metrics`` from its main process, adding up what every pool process recorded
    (prometheus-client multiprocess mode, in a fresh directory removed at exit).
    """
    port = config.worker_metrics_port if metrics_port is None else metrics_port
    server: MetricsServer | None = None
    directory: str | None = None
    if port is not None:
        directory = tempfile.mkdtemp(prefix="memos-metrics-", dir=os.environ.get(MULTIPROC_ENV))
        enable_multiprocess(directory)
        from celery.signals import worker_process_shutdown

        worker_process_shutdown.connect(_child_exited, weak=False)
        server = MetricsServer(config.metrics_host, port)
        logger.info("worker metrics on %s", server.url)
    app = create_app(config)
    logger.info("starting Celery worker on queues %s", ",".join(queues))
    try:
        app.worker_main(worker_argv(queues, pool=pool, concurrency=concurrency, hostname=hostname))
    finally:
        if server is not None:
            server.close()
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


def _child_exited(**_kwargs: Any) -> None:
    mark_process_dead(os.getpid())
