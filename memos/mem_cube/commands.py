"""``memos import`` / ``memos export`` / ``memos inspect``: cube directories in and out of a MOS.

Each command builds a MOS from ``--config`` (a MOS config or a deployment file; default: the
embedded stack of ``--home`` / ``$MEMOS_HOME``), which starts the stack, the scheduler daemon and
a worker when they are not running (``memos down`` stops them). Long steps show a progress
display on stderr; results go to stdout. A failure prints the project's error message and exits
1; ``memos -v ...`` prints the traceback as well.
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import redis
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from memos.configs.mem_cube import GeneralMemCubeConfig, is_valid_cube_id
from memos.configs.mem_os import MOSConfig
from memos.errors import ConfigError, MemoryOperationError, MemOSError
from memos.mem_cube.summary import (
    CubeSummary,
    count_dir,
    counts_line,
    describe,
    mismatches,
    summarize,
)

logger = logging.getLogger(__name__)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="MOS config or deployment file (YAML/JSON); default: the embedded stack.",
        show_default=False,
    ),
]
HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Data home of the embedded stack (overrides the config's and $MEMOS_HOME).",
        show_default=False,
    ),
]
UserOption = Annotated[
    str | None,
    typer.Option("--user", "-u", help="Acting user; default: the config's user_id (root)."),
]

IMPORT_EXAMPLES = """\
Examples:

\b
  memos import examples/data/mem_cube_2
  memos import ./my_cube --cube-id alice_notes --user alice
  memos import ./my_cube --config config/production.yaml
"""
EXPORT_EXAMPLES = """\
Examples:

\b
  memos export mem_cube_2 ./backup/mem_cube_2
  memos export alice_notes /tmp/alice --user alice
"""
INSPECT_EXAMPLES = """\
Examples:

\b
  memos inspect mem_cube_tree
  memos inspect alice_notes --user alice --json | jq .graph.edges
"""


def _fail(ctx: typer.Context, exc: BaseException) -> NoReturn:
    """Print ``exc`` as the user should see it and exit 1 (the traceback only with ``-v``)."""
    command = ctx.info_name or "command"
    if ctx.find_root().params.get("verbose"):
        traceback.print_exception(exc)
    message = str(exc) or type(exc).__name__
    if isinstance(exc, redis.RedisError):
        message = f"the event bus did not answer ({message}); is it running? ('memos status')"
    typer.echo(f"memos {command} failed: {message}", err=True)
    raise typer.Exit(1)


def load_mos_config(config: Path | None, home: Path | None) -> MOSConfig:
    """The MOS config of the command line: ``--config`` (or the default) with ``--home`` applied.

    Raises:
        ConfigError: the file is invalid, or ``--home`` is given for a config without an
            embedded stack.
    """
    if config is None:
        mos_config = MOSConfig()
    else:
        from memos.api.settings import load_mos_config as load_file

        mos_config = load_file(config, env=os.environ)
    if home is None:
        return mos_config
    if mos_config.embedded is None:
        raise ConfigError(
            f"--home names an embedded data home, but {config} runs on an external bus "
            "(embedded: null); drop --home"
        )
    embedded = mos_config.embedded.model_copy(update={"home": str(home.expanduser().absolute())})
    return mos_config.model_copy(update={"embedded": embedded})


class StepProgress:
    """A spinner and bar over a command's named steps; each finished step is logged with its time.

    Progress goes to stderr so that stdout holds only the result.
    """

    def __init__(self, title: str, steps: list[str]) -> None:
        self.console = Console(stderr=True)
        self._steps = steps
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            # Off a terminal (a log, a pipe) a live display is noise: only the step lines remain.
            disable=not self.console.is_terminal,
        )
        self._task = self._progress.add_task(title, total=len(steps))
        self.timings_s: dict[str, float] = {}

    def __enter__(self) -> StepProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Show ``name`` as the running step; on success mark it done with its duration."""
        self._progress.update(self._task, description=name)
        started = time.perf_counter()
        yield
        elapsed = time.perf_counter() - started
        self.timings_s[name] = elapsed
        self._progress.advance(self._task)
        self.console.print(f"[green]done[/green] {name} ({elapsed:.1f} s)")


def _open_mos(config: MOSConfig) -> Any:
    # The facade pulls in redis, the scheduler and the cube configs: imported only when a
    # command runs, so `memos --help` stays fast.
    from memos.mem_os.main import MOS

    return MOS(config)


def _summary(mos: Any, cube_id: str, user: str) -> CubeSummary:
    record = mos.registry.get_cube(cube_id)
    everything = mos.get_all(cube_id, user_id=user)
    return summarize(
        cube_id,
        everything,
        owner_id=record.owner_id if record else None,
        text_backend=record.text_backend if record else None,
        act_backend=record.act_backend if record else None,
    )


def _validate_cube_dir(cube_dir: Path) -> GeneralMemCubeConfig:
    """The cube's config; raises ConfigError / DumpFormatError for a missing or corrupt dir."""
    if not cube_dir.exists():
        raise ConfigError(f"cube directory {cube_dir} does not exist")
    if not cube_dir.is_dir():
        raise ConfigError(f"{cube_dir} is not a directory; pass a cube directory")
    if not (cube_dir / "config.json").is_file():
        raise ConfigError(
            f"{cube_dir} has no config.json; a cube directory holds config.json and its "
            "memory files (as GeneralMemCube.dump or 'memos export' writes them)"
        )
    return GeneralMemCubeConfig.from_json_file(cube_dir / "config.json")


def import_cube(
    ctx: typer.Context,
    cube_dir: Annotated[
        Path, typer.Argument(help="Cube directory (config.json + memory files); only read.")
    ],
    cube_id: Annotated[
        str | None,
        typer.Option(
            "--cube-id", help="Id to register under; default: config.json's cube_id or dir name."
        ),
    ] = None,
    user: UserOption = None,
    config: ConfigOption = None,
    home: HomeOption = None,
) -> None:
    """Import a cube directory into the managed stores (the directory is not modified).

    The user is created when missing. Tree memories go into the graph, general memories and
    KV caches under the data home; the counts are checked against the directory's files.
    """
    source = cube_dir.expanduser().absolute()
    try:
        with StepProgress("memos import", _IMPORT_STEPS) as progress:
            with progress.step("validate cube directory"):
                cube_config = _validate_cube_dir(source)
                expected = count_dir(source, cube_config)
                mos_config = load_mos_config(config, home)
                target_id = cube_id or (
                    cube_config.cube_id if is_valid_cube_id(cube_config.cube_id) else source.name
                )
            with progress.step("start or reach services"):
                mos = _open_mos(mos_config)
            with mos:
                acting = user or mos.user_id
                with progress.step("import memories"):
                    mos.create_user(acting)
                    if mos.registry.get_cube(target_id) is not None:
                        raise MemoryOperationError(
                            f"cube {target_id!r} is already registered; import under another "
                            "id with --cube-id, or inspect it with 'memos inspect'"
                        )
                    registered = mos.register_mem_cube(str(source), target_id, acting)
                with progress.step("verify counts"):
                    summary = _summary(mos, registered, acting)
                    differ = mismatches(expected, summary)
                    if differ:
                        mos.unregister_mem_cube(registered, acting)
                        raise MemoryOperationError(
                            f"the imported cube does not match {source} ({'; '.join(differ)}); "
                            "the import was undone"
                        )
    except (MemOSError, redis.RedisError, OSError) as exc:
        _fail(ctx, exc)
    typer.echo(f"imported {source} as cube {registered} for user {acting}")
    typer.echo(f"  {counts_line(summary)}")


_IMPORT_STEPS = [
    "validate cube directory",
    "start or reach services",
    "import memories",
    "verify counts",
]
_EXPORT_STEPS = ["check output directory", "start or reach services", "dump cube", "verify counts"]


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise MemoryOperationError(f"{out_dir} exists and is not a directory; choose a new one")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise MemoryOperationError(
            f"{out_dir} is not empty; export writes a new directory, so choose one that does "
            "not exist (or is empty)"
        )


def export_cube(
    ctx: typer.Context,
    cube_id: Annotated[str, typer.Argument(help="Id of a registered cube.")],
    out_dir: Annotated[
        Path, typer.Argument(help="New (or empty) directory to write; never overwritten.")
    ],
    user: UserOption = None,
    config: ConfigOption = None,
    home: HomeOption = None,
) -> None:
    """Dump a cube (config.json + memory files) into a new directory that 'memos import' reads.

    The dump is written by a worker: with workers on other machines, OUT_DIR is a path there.
    """
    target = out_dir.expanduser().absolute()
    try:
        with StepProgress("memos export", _EXPORT_STEPS) as progress:
            with progress.step("check output directory"):
                _check_out_dir(target)
                mos_config = load_mos_config(config, home)
            with progress.step("start or reach services"):
                mos = _open_mos(mos_config)
            with mos:
                acting = user or mos.user_id
                with progress.step("dump cube"):
                    mos.dump(target, user_id=acting, mem_cube_id=cube_id)
                with progress.step("verify counts"):
                    summary = _summary(mos, cube_id, acting)
                    written = GeneralMemCubeConfig.from_json_file(target / "config.json")
                    differ = mismatches(count_dir(target, written), summary)
                    if differ:
                        raise MemoryOperationError(
                            f"{target} does not match cube {cube_id!r}: {'; '.join(differ)}"
                        )
    except (MemOSError, redis.RedisError, OSError) as exc:
        _fail(ctx, exc)
    typer.echo(f"exported cube {cube_id} to {target}")
    typer.echo(f"  {counts_line(summary)}")


def inspect_cube(
    ctx: typer.Context,
    cube_id: Annotated[str, typer.Argument(help="Id of a registered cube.")],
    user: UserOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    config: ConfigOption = None,
    home: HomeOption = None,
) -> None:
    """Show a cube's tiers, status and validity, its graph (edges by type, topics) and KV items."""
    try:
        mos_config = load_mos_config(config, home)
        with _open_mos(mos_config) as mos:
            summary = _summary(mos, cube_id, user or mos.user_id)
    except (MemOSError, redis.RedisError, OSError) as exc:
        _fail(ctx, exc)
    if as_json:
        typer.echo(json.dumps(summary.model_dump(mode="json"), indent=2))
    else:
        typer.echo("\n".join(describe(summary)))
