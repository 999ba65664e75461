"""Command groups for ``memos scheduler``, ``memos dlq`` and ``memos worker``.

``memos/cli.py`` mounts these Typer apps; ``python -m memos.mem_scheduler`` runs the scheduler
group on its own (``run`` and ``--check``, the Docker HEALTHCHECK entry point).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from memos.configs.loader import load_config
from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.constants import ALL_QUEUES

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="scheduler config (YAML/JSON)")]

scheduler_app = typer.Typer(help="The MemScheduler daemon.", no_args_is_help=False)
dlq_app = typer.Typer(help="Inspect and act on the dead-letter stream.", no_args_is_help=True)


def _load(config: Path) -> SchedulerConfig:
    return load_config(config, SchedulerConfig, env=os.environ)


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


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


@scheduler_app.command("run")
def run(config: ConfigOption) -> None:
    """Run one daemon replica until SIGTERM."""
    from memos.mem_scheduler.daemon import run_scheduler

    _logging()
    run_scheduler(_load(config))


@dlq_app.command("list")
def dlq_list(config: ConfigOption, count: int = 100) -> None:
    """Print dead letters as JSON lines."""
    from memos.mem_scheduler.dlq import DeadLetterQueue

    queue = DeadLetterQueue(_load(config))
    try:
        for letter in queue.list(count):
            typer.echo(json.dumps(letter.model_dump(exclude={"event"})))
    finally:
        queue.close()


@dlq_app.command("retry")
def dlq_retry(config: ConfigOption, dlq_id: str) -> None:
    """Re-publish a dead letter's event and remove it."""
    from memos.mem_scheduler.dlq import DeadLetterQueue

    queue = DeadLetterQueue(_load(config))
    try:
        typer.echo(queue.retry(dlq_id))
    finally:
        queue.close()


@dlq_app.command("drop")
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
    queues: str = ",".join(ALL_QUEUES),
    pool: str = "prefork",
    concurrency: int | None = None,
) -> None:
    """Start a Celery worker consuming ``queues`` (first listed, first served)."""
    from memos.workers.app import run_worker

    _logging()
    run_worker(
        _load(config), [q for q in queues.split(",") if q], pool=pool, concurrency=concurrency
    )
