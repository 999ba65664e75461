"""Where the embedded stack keeps its files under a home, and the small files it owns there.

Layout of a home::

    <home>/state.json          StackState, mode 0600 (holds the ArcadeDB root password)
    <home>/.lock               serialises up/down across processes
    <home>/pids/<part>.pid     written the moment a part is launched, so nothing leaks even
                               when the launcher dies before state.json is written
    <home>/redis/              redis.conf, redis.sock, appendonly.aof, dump.rdb, redis.log
    <home>/arcadedb/           root_password (0600), runner.log, log/, server/{config,databases}
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from memos.embedded.state import STATE_FILE_NAME, write_private_text

logger = logging.getLogger(__name__)

REDIS = "redis"
ARCADEDB = "arcadedb"
DATABASE = "memdb"
REDIS_STOP_GRACE_S = 15.0
ARCADEDB_STOP_GRACE_S = 30.0


@dataclass(frozen=True)
class StackLayout:
    """The paths of one stack home (no I/O until a method is called)."""

    home: Path

    @property
    def state_path(self) -> Path:
        """The state file, ``<home>/state.json``."""
        return self.home / STATE_FILE_NAME

    @property
    def lock_path(self) -> Path:
        """The lock file serialising ``up``/``down``."""
        return self.home / ".lock"

    @property
    def redis_dir(self) -> Path:
        """Redis's working and data directory."""
        return self.home / REDIS

    @property
    def arcadedb_dir(self) -> Path:
        """The ArcadeDB runner's working directory (logs, password file)."""
        return self.home / ARCADEDB

    @property
    def arcadedb_root(self) -> Path:
        """The ArcadeDB server root: ``config/`` and ``databases/``."""
        return self.arcadedb_dir / "server"

    @property
    def password_file(self) -> Path:
        """The 0600 file with the ArcadeDB root password (it outlives ``down``)."""
        return self.arcadedb_dir / "root_password"

    def pidfile(self, name: str) -> Path:
        """The pid file of part ``name``."""
        return self.home / "pids" / f"{name}.pid"

    def prepare(self) -> None:
        """Create the directories, private to the owner."""
        for path in (self.home, self.redis_dir, self.arcadedb_dir, self.home / "pids"):
            path.mkdir(parents=True, exist_ok=True, mode=0o700)

    def write_pidfile(self, name: str, pid: int) -> None:
        """Record a just-launched part's PID before anything else can fail."""
        write_private_text(self.pidfile(name), f"{pid}\n")

    def read_pidfile(self, name: str) -> int | None:
        """The PID recorded for part ``name``, if any."""
        try:
            return int(self.pidfile(name).read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return None

    def remove_pidfiles(self) -> None:
        """Forget the launched PIDs (after they were stopped)."""
        for name in (REDIS, ARCADEDB):
            with contextlib.suppress(FileNotFoundError):
                self.pidfile(name).unlink()

    def root_password(self) -> str:
        """The ArcadeDB root password, generated once per home and kept in a 0600 file.

        ArcadeDB stores the root user in ``config/server-users.jsonl`` the first time it starts
        and ignores a different password afterwards, so the password must outlive ``down``. If
        the password file was lost, the stored user is removed so ArcadeDB creates root again
        with the new password (the databases are untouched).
        """
        with contextlib.suppress(FileNotFoundError):
            existing = self.password_file.read_text(encoding="utf-8").strip()
            if existing:
                return existing
        password = secrets.token_urlsafe(24)
        users = self.arcadedb_root / "config" / "server-users.jsonl"
        if users.exists():
            logger.warning(
                "ArcadeDB root password file %s is missing; resetting the root user",
                self.password_file,
            )
            users.unlink()
        write_private_text(self.password_file, password + "\n")
        return password
