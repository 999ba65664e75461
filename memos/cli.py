"""The ``memos`` command line: a thin Typer app that other parts register their commands on.

Add a command group from its own module, e.g.
``app.add_typer(scheduler_app, name="scheduler")``, and keep the logic in that module.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from memos.api import commands as api_commands
from memos.embedded import commands as embedded_commands
from memos.mcp import commands as mcp_commands
from memos.mem_scheduler import cli as scheduler_commands

# "\b" keeps click from re-wrapping the example block.
EXAMPLES = """\
Examples:

\b
  memos up                     start Redis + ArcadeDB under $MEMOS_HOME (default ~/.memos)
  memos up --home /srv/memos   use another data home
  memos -v status --json       health as JSON; exit status 0 healthy, 1 not
  memos down                   stop every process by its PID
  python -m memos up           the same without the installed script
"""

app = typer.Typer(
    name="memos",
    help="MemOS daemon: a memory operating system for LLM agents.",
    epilog=EXAMPLES,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log progress to stderr.")
    ] = False,
) -> None:
    """MemOS daemon: a memory operating system for LLM agents."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


app.command("up", epilog="Example: memos up --home /tmp/memos")(embedded_commands.up)
app.command("down", epilog="Example: memos down --home /tmp/memos")(embedded_commands.down)
app.command("status", epilog="Example: memos status --json || memos up")(embedded_commands.status)
app.add_typer(scheduler_commands.scheduler_app, name="scheduler")
app.add_typer(scheduler_commands.dlq_app, name="dlq")
app.command("worker", epilog="Example: memos worker -c scheduler.yaml --pool solo")(
    scheduler_commands.worker
)
app.command("api", epilog="Example: memos api --config config/embedded.yaml --port 8000")(
    api_commands.api
)
app.add_typer(api_commands.api_key_app, name="api-key")
app.command("mcp", epilog="Example: MEMOS_MCP_USER=alice memos mcp --transport stdio")(
    mcp_commands.mcp
)


def main() -> None:
    """Entry point of the ``memos`` script and of ``python -m memos``."""
    app()
