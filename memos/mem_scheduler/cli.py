"""Command groups for ``memos scheduler``, ``memos dlq`` and ``memos worker``.

``memos/cli.py`` mounts these Typer apps; ``python -m memos.mem_scheduler`` runs the scheduler
group on its own (``run`` and ``--check``, the Docker HEALTHCHECK entry point).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from memos.mem_scheduler.config import SchedulerConfig, load_any_config
from memos.mem_scheduler.constants import ALL_QUEUES
from memos.observability.logging import configure_logging

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="deployment file or scheduler config (YAML/JSON)"),
]

scheduler_app = typer.Typer(help="The MemScheduler daemon.", no_args_is_help=False)
dlq_app = typer.Typer(help="Inspect and act on the dead-letter stream.", no_args_is_help=True)


def _load(config: Path) -> SchedulerConfig:
    return load_any_config(config, env=os.environ)[0]


def _logging(config: SchedulerConfig, service: str) -> None:
    configure_logging(level=config.log_level, fmt=config.log_format, service=service)


@scheduler_app.callback(invoke_without_command=True)
def scheduler(
    ctx: typer.Context,
    check: Annotated[bool, typer.Option("--check", help="exit 0 if a replica is alive")] = False,
    config: Annotated[Path | None, typer.Option("--config", "-c")] = None,
) -> None:
    """Run a replica (``run``) or probe health (``--check``)."""
    if check:
        from memos.mem_scheduler.health import check_health

        if config is None:
            raise typer.BadParameter("--check needs --config")
        ok = check_health(_load(config))
        typer.echo("ok" if ok else "no live scheduler heartbeat")
        raise typer.Exit(0 if ok else 1)
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


@scheduler_app.command("run", epilog="Example: memos scheduler run -c config/embedded.yaml")
def run(config: ConfigOption) -> None:
    """Run one daemon replica until SIGTERM."""
    from memos.mem_scheduler.daemon import run_scheduler

    loaded = _load(config)
    _logging(loaded, "scheduler")
    run_scheduler(loaded)


@dlq_app.command("list", epilog="Example: memos dlq list -c config/embedded.yaml --count 20")
def dlq_list(config: ConfigOption, count: int = 100) -> None:
    """Print dead letters as JSON lines."""
    from memos.mem_scheduler.dlq import DeadLetterQueue

    queue = DeadLetterQueue(_load(config))
    try:
        for letter in queue.list(count):
            typer.echo(json.dumps(letter.model_dump(exclude={"event"})))
    finally:
        queue.close()


@dlq_app.command("retry", epilog="Example: memos dlq retry -c config/embedded.yaml 1718000000000-0")
def dlq_retry(config: ConfigOption, dlq_id: str) -> None:
    """Re-publish a dead letter's event and remove it."""
    from memos.mem_scheduler.dlq import DeadLetterQueue

    queue = DeadLetterQueue(_load(config))
    try:
        typer.echo(queue.retry(dlq_id))
    finally:
        queue.close()


@dlq_app.command("drop", epilog="Example: memos dlq drop -c config/embedded.yaml 1718000000000-0")
def dlq_drop(config: ConfigOption, dlq_id: str) -> None:
    """Delete a dead letter."""
    from memos.mem_scheduler.dlq import DeadLetterQueue

    queue = DeadLetterQueue(_load(config))
    try:
        if not queue.drop(dlq_id):
            typer.echo(f"no dead letter {dlq_id}", err=True)
            raise typer.Exit(1)
    finally:
        queue.close()


def worker(
    config: ConfigOption,
    queues: Annotated[str | None, typer.Option(help="comma-separated; default: config")] = None,
    pool: Annotated[str | None, typer.Option(help="prefork, solo or threads")] = None,
    concurrency: int | None = None,
    metrics_port: int | None = None,
) -> None:
    """Start a Celery worker consuming ``queues`` (first listed, first served).

    Unset options come from the deployment file's ``workers`` section.
    """
    from memos.workers.app import run_worker

    loaded, deployment = load_any_config(config, env=os.environ)
    _logging(loaded, "worker")
    pool_cfg = deployment.workers if deployment is not None else None
    if queues:
        names = [q for q in queues.split(",") if q]
    else:
        names = list(pool_cfg.queues if pool_cfg else ALL_QUEUES)
    run_worker(
        loaded,
        names,
        pool=pool or (pool_cfg.pool if pool_cfg else "prefork"),
        concurrency=concurrency or (pool_cfg.concurrency if pool_cfg else None),
        metrics_port=metrics_port,
    )
