"""The ``memos`` command line: a thin Typer app that other parts register their commands on.

Add a command group from its own module, e.g.
``app.add_typer(scheduler_app, name="scheduler")``, and keep the logic in that module.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Annotated

import typer

from memos.api import commands as api_commands
from memos.embedded import commands as embedded_commands
from memos.mcp import commands as mcp_commands
from memos.mem_cube import commands as cube_commands
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
  memos bench all --quick      every benchmark suite, small (see BENCHMARKS.md)
  memos import ./my_cube       import a cube directory; memos inspect my_cube shows it
"""

BENCH_EXAMPLE = "Example: memos bench search-latency --quick --json out.json --out plots/"

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
app.add_typer(
    scheduler_commands.scheduler_app,
    name="scheduler",
    epilog="Example: memos scheduler --check -c config/embedded.yaml",
)
app.add_typer(
    scheduler_commands.dlq_app,
    name="dlq",
    epilog="Example: memos dlq list -c config/embedded.yaml",
)
app.command("worker", epilog="Example: memos worker -c scheduler.yaml --pool solo")(
    scheduler_commands.worker
)
app.command("api", epilog="Example: memos api --config config/embedded.yaml --port 8000")(
    api_commands.api
)
app.add_typer(
    api_commands.api_key_app,
    name="api-key",
    epilog="Example: memos api-key create --user alice --scopes read,write",
)
app.command("mcp", epilog="Example: MEMOS_MCP_USER=alice memos mcp --transport stdio")(
    mcp_commands.mcp
)
app.command("import", epilog=cube_commands.IMPORT_EXAMPLES)(cube_commands.import_cube)
app.command("export", epilog=cube_commands.EXPORT_EXAMPLES)(cube_commands.export_cube)
app.command("inspect", epilog=cube_commands.INSPECT_EXAMPLES)(cube_commands.inspect_cube)


@app.command(
    "bench",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
    epilog=BENCH_EXAMPLE,
)
def bench(ctx: typer.Context) -> None:
    """Run a benchmark suite: memos bench <suite> [--quick] [--json PATH] [--out DIR]."""
    # The suites live in the bench package (python -m memos.bench), which owns the options; it is
    # imported by name so the memos package does not depend on it at import or type-check time.
    import importlib

    bench_main = importlib.import_module("memos.bench.__main__").main
    if ctx.args[:1] in (["--help"], ["-h"]):
        # argparse prints the suites and exits; the examples follow it, as for other commands.
        with contextlib.suppress(SystemExit):
            bench_main(["--help"])
        typer.echo(f"\n{BENCH_EXAMPLE}")
        raise typer.Exit(0)
    raise typer.Exit(int(bench_main(list(ctx.args))))


def main() -> None:
    """Entry point of the ``memos`` script and of ``python -m memos``."""
    app()
