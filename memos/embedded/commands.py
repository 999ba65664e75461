"""The ``memos up`` / ``memos down`` / ``memos status`` commands (registered by memos.cli)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from memos.configs.loader import memos_home
from memos.embedded.stack import STACK_DIR_NAME, EmbeddedStack
from memos.embedded.state import StackState, StackStatus
from memos.errors import EmbeddedStackError

logger = logging.getLogger(__name__)

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Data home (overrides $MEMOS_HOME; default ~/.memos). The stack lives in HOME/stack.",
        show_default=False,
    ),
]
TimeoutOption = Annotated[
    float,
    typer.Option("--timeout", min=1.0, help="Seconds to wait for every part to answer."),
]


def resolve_home(home: Path | None) -> Path:
    """The data home: ``--home`` when given, else ``$MEMOS_HOME``, else ``~/.memos``."""
    return home.expanduser() if home is not None else memos_home()


def stack_for(home: Path | None) -> EmbeddedStack:
    """The embedded stack of the data home chosen on the command line."""
    return EmbeddedStack(resolve_home(home) / STACK_DIR_NAME)


def up(home: HomeOption = None, timeout_s: TimeoutOption = 120.0) -> None:
    """Start the embedded Redis and ArcadeDB (or repair whichever part is down).

    Starting twice is harmless: a healthy stack is left as it is.
    """
    stack = stack_for(home)
    try:
        state = stack.up(timeout_s=timeout_s)
    except EmbeddedStackError as exc:
        typer.echo(f"memos up failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(_describe_state(state, stack))


def down(home: HomeOption = None) -> None:
    """Stop every process of the embedded stack by its PID, and say how each one stopped."""
    stack = stack_for(home)
    try:
        stops = stack.down()
    except EmbeddedStackError as exc:
        typer.echo(f"memos down failed: {exc}", err=True)
        raise typer.Exit(1) from None
    for stop in stops:
        typer.echo(f"  {stop.describe()}")
    typer.echo(f"embedded stack in {stack.home} stopped")


def status(
    home: HomeOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
    prefix: Annotated[str, typer.Option(help="Scheduler key prefix to summarise.")] = "memos",
) -> None:
    """Report each part as healthy or not; exit status 0 when all are healthy, else 1."""
    stack = stack_for(home)
    report = stack.status()
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        typer.echo(_describe_status(report))
        typer.echo("\n".join(_scheduler_lines(stack, prefix)))
    raise typer.Exit(0 if report.healthy else 1)


def _scheduler_lines(stack: EmbeddedStack, prefix: str) -> list[str]:
    """The scheduler's counts (the same as its metrics) when the stack's Redis answers."""
    import redis

    from memos.mem_scheduler.config import SchedulerConfig
    from memos.observability.status import describe_snapshot, scheduler_snapshot

    state = stack.read_state()
    if state is None:
        return ["  scheduler: unknown (the stack is not running)"]
    try:
        config = SchedulerConfig(redis_url=state.redis.url, prefix=prefix)
        return describe_snapshot(scheduler_snapshot(config), prefix)
    except (redis.RedisError, OSError) as exc:
        return [f"  scheduler: unknown (Redis did not answer: {type(exc).__name__})"]


def _describe_state(state: StackState, stack: EmbeddedStack) -> str:
    redis, adb = state.redis, state.arcadedb
    return "\n".join(
        [
            f"embedded stack up in {stack.home}",
            f"  redis     pid {redis.pid:<8} {redis.url}  (socket {redis.socket_path})",
            f"  arcadedb  pid {adb.pid:<8} {adb.bolt_url}  http {adb.http_url}  "
            f"database {adb.database}, user {adb.user}",
            f"  credentials: {stack.state_path} (mode 0600)",
        ]
    )


def _describe_status(report: StackStatus) -> str:
    lines = [f"embedded stack in {report.home}: {'healthy' if report.healthy else 'NOT healthy'}"]
    for comp in report.components:
        mark = "ok " if comp.healthy else "BAD"
        pid = str(comp.pid) if comp.pid is not None else "-"
        rss = f" rss {comp.rss_bytes / 2**20:.0f} MiB" if comp.rss_bytes else ""
        lines.append(f"  [{mark}] {comp.name:<9} pid {pid:<8} {comp.detail}{rss}")
        if comp.restarts or comp.last_exit or comp.supervision == "gave up":
            last = f"; last exit: {comp.last_exit}" if comp.last_exit else ""
            lines.append(
                f"        restarts {comp.restarts} ({comp.supervision or 'unsupervised'}){last}"
            )
    return "\n".join(lines)
