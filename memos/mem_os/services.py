"""Bring up what a MOS on the embedded default needs: the stack, the daemon and a worker.

The stack (Redis + ArcadeDB) is started by :mod:`memos.embedded.stack`. The scheduler daemon and
one Celery worker are started by a supervisor process (:mod:`memos.embedded.supervisor`) that
this module starts detached; it restarts them when they die. Every process is recorded in the
stack state, so ``memos status`` lists them and ``memos down`` stops them by PID. A file lock
keeps two MOS processes from starting two supervisors at once.

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
from memos.embedded.supervision import (
    SERVICES_DIR,
    SUPERVISOR_PREFIX,
    ServiceSpec,
    SupervisorSpec,
    read_reports,
    spec_path,
    write_model,
)
from memos.embedders.sentence_transformer import TORCH_THREADS_ENV
from memos.errors import ConfigError, EmbeddedStackError
from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.health import check_health

if TYPE_CHECKING:
    from memos.graph_dbs import GraphStore

logger = logging.getLogger(__name__)

HANDLER_MODULE = "memos.workers.memory_worker"
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
    """Start the daemon and a worker for ``config.prefix`` unless they already run.

    With ``settings.supervise`` (the default) they run under a supervisor process
    (:mod:`memos.embedded.supervisor`) that restarts them when they die; otherwise they are
    started here, once, and a dead one stays dead until the next MOS starts it.
    """
    directory = stack.home / SERVICES_DIR
    if "batch_max_outstanding" not in config.model_fields_set:
        # One batch of adds per worker process: each applies a batch while the next forms.
        config = config.model_copy(update={"batch_max_outstanding": settings.worker_concurrency})
    with _services_lock(directory):
        state = stack.read_state() or state
        config_file = directory / f"scheduler-{config.prefix}.json"
        config_file.write_text(
            json.dumps(_daemon_config(config).model_dump(mode="json")), encoding="utf-8"
        )
        env = {
            **os.environ,
            **_CHILD_ENV,
            "MEMOS_HOME": str(home),
            TORCH_THREADS_ENV: str(settings.worker_torch_threads),
        }
        services = _service_specs(config, config_file, settings, directory, home)
        if settings.supervise:
            _ensure_supervisor(stack, state, config.prefix, services, settings, directory, env)
        else:
            for spec in services:
                if not _alive(state, spec.name):
                    _start_unsupervised(stack, spec, env)
    _wait_for_daemon(config, settings.startup_timeout_s, directory)


def _daemon_config(config: SchedulerConfig) -> SchedulerConfig:
    """The config the daemon runs with: a fixed consumer name unless one was chosen.

    A restarted daemon then has the name of the one that died, so it resumes that one's pending
    entries at once instead of waiting ``claim_idle_s`` for XAUTOCLAIM.
    """
    if config.consumer_name is not None:
        return config
    return config.model_copy(update={"consumer_name": f"embedded-{config.prefix}"})


def _service_specs(
    config: SchedulerConfig,
    config_file: Path,
    settings: EmbeddedSettings,
    directory: Path,
    home: Path,
) -> list[ServiceSpec]:
    """The daemon and the worker of ``config.prefix``, as the supervisor starts them."""
    daemon = f"scheduler-{config.prefix}"
    worker = f"worker-{config.prefix}"
    commands = {
        daemon: [
            sys.executable,
            "-m",
            "memos.mem_scheduler",
            "run",
            "--config",
            str(config_file),
        ],
        worker: [
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
    return [
        ServiceSpec(
            name=name,
            argv=argv,
            cwd=str(home),
            log=str(directory / f"{name}.log"),
            cmdline_contains=(argv[2], str(config_file)),
            celery_config=str(config_file) if name == worker else None,
        )
        for name, argv in commands.items()
    ]


def _ensure_supervisor(
    stack: EmbeddedStack,
    state: StackState,
    prefix: str,
    services: list[ServiceSpec],
    settings: EmbeddedSettings,
    directory: Path,
    env: dict[str, str],
) -> None:
    """Start the supervisor of ``prefix`` unless one runs whose parts are all still supervised.

    A supervisor that gave up on a crash-looping part is replaced: a new MOS is the "restart the
    application" its error message asks for.
    """
    name = f"{SUPERVISOR_PREFIX}{prefix}"
    if _alive(state, name):
        if not _gave_up(stack, prefix):
            return
        record = state.processes[name]
        logger.warning("replacing supervisor %s (pid %d): it gave up on a part", name, record.pid)
        procs.terminate(record.pid, grace_s=record.stop_grace_s, name=name)
    spec = SupervisorSpec(
        prefix=prefix,
        stack_home=str(stack.home),
        services=services,
        policy=settings.restart,
        metrics_port=settings.supervisor_metrics_port,
    )
    path = spec_path(stack.home, prefix)
    write_model(path, spec)
    argv = [sys.executable, "-m", "memos.embedded.supervisor", str(path)]
    with (directory / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            cwd=str(stack.home),
        )
    grace = max(s.stop_grace_s for s in services) + 15.0
    stack.record_process(
        name,
        ProcessRecord(pid=proc.pid, cmdline_contains=(argv[2], str(path)), stop_grace_s=grace),
    )
    logger.info("started %s (pid %d)", name, proc.pid)


def _gave_up(stack: EmbeddedStack, prefix: str) -> bool:
    for report in read_reports(stack.home):
        if report.prefix == prefix:
            return any(part.state == "gave up" for part in report.parts.values())
    return False


def _start_unsupervised(stack: EmbeddedStack, spec: ServiceSpec, env: dict[str, str]) -> None:
    with Path(spec.log).open("ab") as log:
        proc = subprocess.Popen(
            spec.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            cwd=spec.cwd,
        )
    stack.record_process(
        spec.name, ProcessRecord(pid=proc.pid, cmdline_contains=spec.cmdline_contains)
    )
    logger.info("started %s (pid %d)", spec.name, proc.pid)


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
