"""Bring up what a MOS on the embedded default needs: the stack, the daemon and a worker.

The stack (Redis + ArcadeDB) is started by :mod:`memos.embedded.stack`. The scheduler daemon and
one Celery worker are started here as detached processes and recorded in the stack state, so
``memos status`` lists them and ``memos down`` stops them by PID. A file lock keeps two MOS
processes from starting two daemons at once.

Every process started here gets ``MEMOS_HOME`` set to the data home, so the daemon, the worker
and the graph stores they open (``uri: embedded``) all use the stack of that one home, whatever
the application's environment says. In the application itself, :func:`embedded_graph_store`
reaches the same stack without reading ``MEMOS_HOME``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from memos.configs.graph_db import EMBEDDED_URI, BaseGraphDBConfig, GraphDBConfigFactory
from memos.configs.loader import memos_home
from memos.configs.mem_os import EmbeddedSettings
from memos.embedded import procs
from memos.embedded.stack import EmbeddedStack
from memos.embedded.state import ProcessRecord, StackState
from memos.errors import ConfigError, EmbeddedStackError
from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.health import check_health

if TYPE_CHECKING:
    from memos.graph_dbs import GraphStore

logger = logging.getLogger(__name__)

HANDLER_MODULE = "memos.workers.memory_handlers"
SERVICES_DIR = "services"
_CHILD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OMP_WAIT_POLICY": "PASSIVE",
    "MKL_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}


def data_home(settings: EmbeddedSettings) -> Path:
    """The data home: ``settings.home`` or ``$MEMOS_HOME`` (``~/.memos``)."""
    return Path(settings.home).expanduser().absolute() if settings.home else memos_home()


def with_handlers(config: SchedulerConfig) -> SchedulerConfig:
    """``config`` with the memory handlers in its ``handler_modules``."""
    if HANDLER_MODULE in config.handler_modules:
        return config
    return config.model_copy(update={"handler_modules": (*config.handler_modules, HANDLER_MODULE)})


def ensure_embedded(
    settings: EmbeddedSettings, scheduler: SchedulerConfig | None
) -> tuple[SchedulerConfig, Path]:
    """Start the stack (and services) when needed; the bus config and the data home."""
    home = data_home(settings)
    stack = EmbeddedStack(home / "stack")
    state = stack.up(timeout_s=settings.startup_timeout_s)
    base = scheduler or SchedulerConfig()
    config = with_handlers(base.model_copy(update={"redis_url": state.redis.url}))
    if settings.start_services:
        ensure_services(stack, state, config, settings, home)
    return config, home


@contextmanager
def _services_lock(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _alive(state: StackState, name: str) -> bool:
    record = state.processes.get(name)
    return record is not None and procs.process_matches(
        record.pid, cmdline_contains=record.cmdline_contains
    )


def ensure_services(
    stack: EmbeddedStack,
    state: StackState,
    config: SchedulerConfig,
    settings: EmbeddedSettings,
    home: Path,
) -> None:
    """Start the daemon and a worker for ``config.prefix`` unless they already run."""
    directory = stack.home / SERVICES_DIR
    if "batch_max_outstanding" not in config.model_fields_set:
        # One batch of adds per worker process: each applies a batch while the next forms.
        config = config.model_copy(update={"batch_max_outstanding": settings.worker_concurrency})
    with _services_lock(directory):
        state = stack.read_state() or state
        config_file = directory / f"scheduler-{config.prefix}.json"
        config_file.write_text(json.dumps(config.model_dump(mode="json")), encoding="utf-8")
        env = {**os.environ, **_CHILD_ENV, "MEMOS_HOME": str(home)}
        commands = {
            f"scheduler-{config.prefix}": [
                sys.executable,
                "-m",
                "memos.mem_scheduler",
                "run",
                "--config",
                str(config_file),
            ],
            f"worker-{config.prefix}": [
                sys.executable,
                "-m",
                "memos.workers",
                "--config",
                str(config_file),
                f"--pool={settings.worker_pool}",
                f"--concurrency={settings.worker_concurrency}",
                f"--hostname=memos-{config.prefix}-{os.getpid()}@%h",
            ],
        }
        for name, argv in commands.items():
            if _alive(state, name):
                continue
            log = (directory / f"{name}.log").open("ab")
            proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                cwd=str(home),
            )
            log.close()
            stack.record_process(
                name,
                ProcessRecord(pid=proc.pid, cmdline_contains=(argv[2], str(config_file))),
            )
            logger.info("started %s (pid %d)", name, proc.pid)
    _wait_for_daemon(config, settings.startup_timeout_s, directory)


def _wait_for_daemon(config: SchedulerConfig, timeout_s: float, directory: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check_health(config):
            return
        time.sleep(0.2)
    raise EmbeddedStackError(
        f"the scheduler daemon did not report healthy within {timeout_s:g} s; see "
        f"{directory}/scheduler-{config.prefix}.log"
    )


def embedded_graph_store(home: Path, graph_db: GraphDBConfigFactory) -> GraphStore:
    """A store on the ArcadeDB of ``home``'s running stack, for a ``uri: embedded`` config.

    The connection comes from the stack state of ``home`` (not from ``$MEMOS_HOME``), and only
    this store sees it: the config itself keeps ``uri: embedded``, so a cube dumped through the
    store still writes no address or password into its ``config.json``.

    Raises:
        ConfigError: ``graph_db`` does not name the embedded stack;
        EmbeddedStackError: no stack has been started in ``home``.
    """
    from memos.graph_dbs import GraphStore

    config = graph_db.config
    if not isinstance(config, BaseGraphDBConfig) or config.uri != EMBEDDED_URI:
        raise ConfigError("embedded_graph_store needs a graph_db config with uri: embedded")
    state = EmbeddedStack(home / "stack").read_state()
    if state is None:
        raise EmbeddedStackError(f"no embedded stack runs in {home}; start it with 'memos up'")
    arcade = state.arcadedb
    updates: dict[str, object] = {
        "uri": arcade.bolt_url,
        "user": arcade.user,
        "password": arcade.password,
        "db_name": arcade.database,
        "home": None,
    }
    if "http_url" in type(config).model_fields:
        updates["http_url"] = arcade.http_url
    return GraphStore(config.model_copy(update=updates), dialect=graph_db.backend)
