"""Helpers for the reliability tests: a private embedded stack, daemons and workers by PID.

The fault tests restart Redis and ArcadeDB, so they never use the session's shared stack: each
module gets its own data home (under the session home, so the session's clean-up stops it by PID
as a backstop). Every daemon and worker is started here and stopped by its PID.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from memos.configs.mem_os import MOSConfig
from memos.embedded.stack import EmbeddedStack
from memos.embedded.state import StackState
from memos.mem_os.main import MOS
from memos.mem_os.services import with_handlers
from memos.mem_scheduler.config import SchedulerConfig

REPO = Path(__file__).resolve().parents[2]
_CHILD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OMP_WAIT_POLICY": "PASSIVE",
    "MKL_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}


class Child:
    """A daemon or worker subprocess with its output in a log file, stopped by PID."""

    def __init__(self, name: str, args: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.args = args
        self.log = log
        self.env = env
        self.popen = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            return subprocess.Popen(
                self.args,
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    @property
    def pid(self) -> int:
        """The PID of the current incarnation."""
        return self.popen.pid

    def output(self) -> str:
        """Everything the process (all its incarnations) wrote."""
        return self.log.read_text(errors="replace")

    def wait_for_text(self, text: str, timeout_s: float = 120.0, *, after: int = 0) -> None:
        """Wait until ``text`` appears in the log past byte ``after``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.output()[after:]:
                return
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited early:\n{self.output()[-3000:]}")
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not seen from {self.name}:\n{self.output()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL this incarnation (a crash) and reap it."""
        if self.popen.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(10)

    def restart(self) -> None:
        """Start a new incarnation with the same command line."""
        assert self.popen.poll() is not None, "restart only a stopped process"
        self.popen = self._spawn()

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM by PID, SIGKILL after ``timeout_s``."""
        if self.popen.poll() is not None:
            return
        os.kill(self.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.popen.wait(10)


@dataclass
class Services:
    """Starts daemons and workers for one scheduler config; stops all of them by PID."""

    home: Path
    config: SchedulerConfig
    logs: Path
    children: list[Child] = field(default_factory=list)

    def _config_file(self, name: str, config: SchedulerConfig) -> Path:
        path = self.logs / f"{name}.json"
        path.write_text(json.dumps(config.model_dump(mode="json")), encoding="utf-8")
        return path

    def _env(self) -> dict[str, str]:
        env = {**os.environ, **_CHILD_ENV, "MEMOS_HOME": str(self.home)}
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "tests" / "mem_scheduler")])
        return env

    def daemon(self, name: str, *, wait: bool = True) -> Child:
        """Start a daemon replica (consumer ``name``)."""
        config = self.config.model_copy(update={"consumer_name": name})
        cfg = self._config_file(name, config)
        args = [sys.executable, "-m", "memos.mem_scheduler", "run", "--config", str(cfg)]
        child = Child(name, args, self.logs / f"{name}.log", self._env())
        self.children.append(child)
        if wait:
            child.wait_for_text("reading")
        return child

    def worker(self, name: str, *, wait: bool = True) -> Child:
        """Start a Celery worker (solo pool) consuming every queue."""
        cfg = self._config_file(name, self.config)
        args = [
            sys.executable,
            "-m",
            "memos.workers",
            "--config",
            str(cfg),
            "--pool=solo",
            f"--hostname={name}-{uuid.uuid4().hex[:6]}@%h",
        ]
        child = Child(name, args, self.logs / f"{name}.log", self._env())
        self.children.append(child)
        if wait:
            child.wait_for_text("ready.")
        return child

    def stop_all(self) -> None:
        """Stop every child, workers and daemons, by PID."""
        for child in self.children:
            child.stop()


@dataclass
class PrivateStack:
    """A stack of one data home the tests may break; ``state`` is refreshed on ``up``."""

    home: Path
    stack: EmbeddedStack
    state: StackState

    def up(self) -> StackState:
        """Start (repair) whatever part is down, as ``memos up`` does."""
        self.state = self.stack.up()
        return self.state

    def redis_client(self) -> redis.Redis:
        """A client on the stack's Redis."""
        return redis.Redis.from_url(self.state.redis.url)


@pytest.fixture(scope="module")
def private_stack(memos_home: Path) -> Iterator[PrivateStack]:
    """An embedded Redis + ArcadeDB only this module uses, stopped by PID at the end."""
    home = memos_home / f"rel{uuid.uuid4().hex[:6]}"
    home.mkdir()
    stack = EmbeddedStack(home / "stack")
    state = stack.up()
    try:
        yield PrivateStack(home=home, stack=stack, state=state)
    finally:
        stack.down()


def scheduler_config(stack: PrivateStack, prefix: str, **overrides: Any) -> SchedulerConfig:
    """A scheduler config on the private stack with the memory handlers and short timings."""
    base: dict[str, Any] = {
        "redis_url": stack.state.redis.url,
        "prefix": prefix,
        "execution": "celery",
        "block_ms": 200,
        "claim_idle_s": 3.0,
        "heartbeat_interval_s": 0.5,
        # Retries must bridge a restart of Redis or ArcadeDB (several seconds on a loaded
        # 2-core machine): 0.5 + 1 + 2 + 4 + 8 s of backoff before the sixth, last attempt.
        "backoff_base_s": 0.5,
        "backoff_max_s": 8.0,
        "max_attempts": 6,
        "task_timeout_s": 15.0,
        "shutdown_grace_s": 5.0,
        "log_format": "console",
    }
    base.update(overrides)
    config = SchedulerConfig.model_validate(base)
    # An explicit handler list (the counting test handlers) replaces the memory handlers.
    return config if "handler_modules" in overrides else with_handlers(config)


@pytest.fixture
def make_services(private_stack: PrivateStack, tmp_path: Path) -> Iterator[Callable[..., Services]]:
    """Build a :class:`Services` for a fresh prefix; every child is stopped at the end."""
    made: list[Services] = []

    def build(**overrides: Any) -> Services:
        prefix = f"r{uuid.uuid4().hex[:8]}"
        config = scheduler_config(private_stack, prefix, **overrides)
        services = Services(home=private_stack.home, config=config, logs=tmp_path)
        made.append(services)
        return services

    yield build
    for services in made:
        services.stop_all()


def mos_for(stack: PrivateStack, services: Services, **overrides: Any) -> MOS:
    """A MOS on the private stack that starts no services of its own (the test runs them)."""
    config: dict[str, Any] = {
        "user_id": "root",
        "embedded": {"home": str(stack.home), "start_services": False},
        "scheduler": services.config.model_dump(mode="json"),
        "event_timeout_s": 60,
        "reorganize": {"enabled": False},
    }
    config.update(overrides)
    return MOS(MOSConfig.model_validate(config))
