"""Starting the stack's servers: launch each detached, poll until it answers, retry or abort.

Both servers are launched first and then polled together, so the stack is up in about the time
of the slower one (ArcadeDB's JVM), not the sum.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from memos.embedded import arcadedb_server, procs, redis_server
from memos.embedded.layout import (
    ARCADEDB,
    ARCADEDB_STOP_GRACE_S,
    DATABASE,
    REDIS,
    REDIS_STOP_GRACE_S,
    StackLayout,
)
from memos.embedded.ports import pick_free_port, port_accepts
from memos.embedded.state import ArcadeDBEndpoint, RedisEndpoint
from memos.errors import EmbeddedStackError

logger = logging.getLogger(__name__)

MAX_LAUNCH_ATTEMPTS = 3
POLL_S = 0.1


class LaunchDiedError(Exception):
    """A launched server exited before it answered; the message is its log tail."""


def free_port(taken: set[int]) -> int:
    """A free loopback port that is not in ``taken``."""
    for _ in range(50):
        port = pick_free_port()
        if port not in taken:
            return port
    raise EmbeddedStackError("could not find a free TCP port on 127.0.0.1")


class RedisLaunch:
    """One redis-server being started."""

    name = REDIS

    def __init__(self, layout: StackLayout, port: int, *, auto_port: bool) -> None:
        self._layout = layout
        self.port = port
        self.auto_port = auto_port
        self.attempts = 0
        self.pid = 0
        self._t0 = 0.0

    def ports(self) -> set[int]:
        """The ports this launch uses."""
        return {self.port}

    def begin(self) -> None:
        """Launch the process and record its PID."""
        self.attempts += 1
        self._t0 = time.monotonic()
        self.pid = redis_server.launch(self._layout.redis_dir, self.port)
        self._layout.write_pidfile(REDIS, self.pid)

    def retry_with_new_port(self, taken: set[int]) -> None:
        """Launch again on a fresh port (the last one was probably taken meanwhile)."""
        self.port = free_port(taken)
        self.begin()

    def poll(self) -> RedisEndpoint | None:
        """The endpoint once PING answers; None while starting; LaunchDiedError if it died."""
        if not procs.pid_alive(self.pid):
            raise LaunchDiedError(self.log_tail())
        if not port_accepts(self.port) or redis_server.ping(self.port) is not None:
            return None
        return RedisEndpoint(
            pid=self.pid,
            socket_path=str(redis_server.socket_path(self._layout.redis_dir)),
            port=self.port,
            url=redis_server.redis_url(self.port),
            data_dir=str(self._layout.redis_dir),
            ready_s=round(time.monotonic() - self._t0, 3),
        )

    def log_tail(self) -> str:
        """The end of the server's log."""
        return redis_server.log_tail(self._layout.redis_dir)

    def abort(self) -> None:
        """Stop the launched process, if it is still ours."""
        if self.pid and redis_server.is_ours(self.pid, self._layout.redis_dir):
            procs.terminate(self.pid, grace_s=REDIS_STOP_GRACE_S, name=REDIS)


class ArcadeDBLaunch:
    """One ArcadeDB runner being started."""

    name = ARCADEDB

    def __init__(
        self, layout: StackLayout, bolt_port: int, http_port: int, *, auto_port: bool, heap: str
    ) -> None:
        self._layout = layout
        self.bolt_port = bolt_port
        self.http_port = http_port
        self.auto_port = auto_port
        self.heap = heap
        self.attempts = 0
        self.pid = 0
        self._t0 = 0.0
        self._password = ""

    def ports(self) -> set[int]:
        """The ports this launch uses."""
        return {self.bolt_port, self.http_port}

    def begin(self) -> None:
        """Launch the runner and record its PID."""
        self.attempts += 1
        self._password = self._layout.root_password()
        self._t0 = time.monotonic()
        self.pid = arcadedb_server.launch(
            workdir=self._layout.arcadedb_dir,
            root=self._layout.arcadedb_root,
            http_port=self.http_port,
            bolt_port=self.bolt_port,
            password_file=self._layout.password_file,
            database=DATABASE,
            heap=self.heap,
        )
        self._layout.write_pidfile(ARCADEDB, self.pid)

    def retry_with_new_port(self, taken: set[int]) -> None:
        """Launch again on fresh ports (the last ones were probably taken meanwhile)."""
        self.bolt_port = free_port(taken)
        self.http_port = free_port(taken | {self.bolt_port})
        self.begin()

    def poll(self) -> ArcadeDBEndpoint | None:
        """The endpoint once ``RETURN 1`` works over Bolt on the database; None while starting."""
        if not procs.pid_alive(self.pid):
            raise LaunchDiedError(self.log_tail())
        url = arcadedb_server.bolt_url(self.bolt_port)
        if not port_accepts(self.bolt_port):
            return None
        if arcadedb_server.bolt_ping(url, self._password, DATABASE) is not None:
            return None
        return ArcadeDBEndpoint(
            pid=self.pid,
            bolt_url=url,
            http_url=arcadedb_server.http_url(self.http_port),
            bolt_port=self.bolt_port,
            http_port=self.http_port,
            password=self._password,
            database=DATABASE,
            root_path=str(self._layout.arcadedb_root),
            ready_s=round(time.monotonic() - self._t0, 3),
        )

    def log_tail(self) -> str:
        """The end of the runner's output."""
        return arcadedb_server.log_tail(self._layout.arcadedb_dir)

    def abort(self) -> None:
        """Stop the launched runner, if it is still ours."""
        if self.pid and arcadedb_server.is_ours(self.pid, self._layout.arcadedb_root):
            procs.terminate(self.pid, grace_s=ARCADEDB_STOP_GRACE_S, name=ARCADEDB)


Launch = RedisLaunch | ArcadeDBLaunch


def run_launches(
    launches: Sequence[Launch], *, deadline: float, timeout_s: float, home: str
) -> dict[str, RedisEndpoint | ArcadeDBEndpoint]:
    """Begin every launch, then poll them together until each answers.

    A launch on automatically chosen ports that dies is retried on new ones (another program
    may have taken a port between choosing and binding). Raises :class:`EmbeddedStackError`
    with the log tails when a part dies for good or the deadline passes; the caller aborts
    the launches then.
    """
    for launch in launches:
        launch.begin()
    results: dict[str, RedisEndpoint | ArcadeDBEndpoint] = {}
    pending = list(launches)
    while pending:
        for launch in list(pending):
            try:
                endpoint = launch.poll()
            except LaunchDiedError as exc:
                if launch.auto_port and launch.attempts < MAX_LAUNCH_ATTEMPTS:
                    logger.warning("%s exited during start-up; retrying on new ports", launch.name)
                    taken: set[int] = set()
                    for other in launches:
                        taken |= other.ports()
                    launch.retry_with_new_port(taken)
                    continue
                raise EmbeddedStackError(
                    f"{launch.name} exited during start-up (logs under {home}):\n{exc}"
                ) from None
            if endpoint is not None:
                results[launch.name] = endpoint
                pending.remove(launch)
        if pending:
            if time.monotonic() >= deadline:
                names = ", ".join(launch.name for launch in pending)
                tails = "\n".join(f"--- {launch.name}:\n{launch.log_tail()}" for launch in pending)
                raise EmbeddedStackError(
                    f"{names} did not answer within {timeout_s:g} s; raise the timeout or "
                    f"check the logs under {home}\n{tails}"
                )
            time.sleep(POLL_S)
    return results
