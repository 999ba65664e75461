"""The embedded ArcadeDB server (with its Bolt plugin), seen from the parent process.

The server runs in a dedicated child process, :mod:`memos.embedded.arcadedb_runner`. This module
starts such a runner detached (:func:`launch`), tells it from a reused PID (:func:`is_ours`) and
checks that it answers over Bolt (:func:`bolt_ping`); it never imports ``arcadedb_embedded`` or
starts a JVM itself.

The password travels in a 0600 file, not on the command line, which every local user can read
in ``/proc``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from memos.embedded import procs
from memos.embedded.ports import LOOPBACK

logger = logging.getLogger(__name__)

RUNNER_MODULE = "memos.embedded.arcadedb_runner"
BOLT_PLUGIN = "Bolt:com.arcadedb.bolt.BoltProtocolPlugin"
RUNNER_LOG_NAME = "runner.log"
DEFAULT_HEAP = "2g"
ROOT_USER = "root"


def bolt_url(port: int) -> str:
    """The Bolt URL of a server listening on loopback ``port``."""
    return f"bolt://{LOOPBACK}:{port}"


def http_url(port: int) -> str:
    """The HTTP API base URL of a server listening on loopback ``port``."""
    return f"http://{LOOPBACK}:{port}"


def runner_argv(
    *,
    root: Path,
    http_port: int,
    bolt_port: int,
    password_file: Path,
    database: str,
    heap: str,
) -> list[str]:
    """The command line of a runner process."""
    return [
        sys.executable,
        "-m",
        RUNNER_MODULE,
        "--root",
        str(root),
        "--http-port",
        str(http_port),
        "--bolt-port",
        str(bolt_port),
        "--password-file",
        str(password_file),
        "--database",
        database,
        "--heap",
        heap,
    ]


def identity(root: Path) -> tuple[str, ...]:
    """What ``/proc/<pid>/cmdline`` of our runner for ``root`` always contains."""
    return (RUNNER_MODULE, str(root))


def launch(
    *,
    workdir: Path,
    root: Path,
    http_port: int,
    bolt_port: int,
    password_file: Path,
    database: str,
    heap: str = DEFAULT_HEAP,
) -> int:
    """Start a runner detached (own session, stdio to ``workdir/runner.log``); return its PID.

    ``workdir`` becomes the runner's working directory because ArcadeDB writes its application
    log to ``./log`` and cannot be told otherwise.
    """
    workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = dict(os.environ)
    # The runner must import this package even when it is not installed (a source checkout):
    # put the directory holding `memos/` first on its path.
    package_parent = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(
        [package_parent, *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)]
    )
    env.setdefault("ARCADEDB_JVM_ERROR_FILE", str(workdir / "log" / "hs_err_pid%p.log"))
    argv = runner_argv(
        root=root,
        http_port=http_port,
        bolt_port=bolt_port,
        password_file=password_file,
        database=database,
        heap=heap,
    )
    with (workdir / RUNNER_LOG_NAME).open("wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    logger.info(
        "launched ArcadeDB runner pid=%d bolt_port=%d http_port=%d", proc.pid, bolt_port, http_port
    )
    return proc.pid


def is_ours(pid: int, root: Path) -> bool:
    """True when ``pid`` is our runner for ``root`` (not a PID reused by another program)."""
    return procs.process_matches(pid, cmdline_contains=identity(root))


def bolt_ping(url: str, password: str, database: str, *, timeout_s: float = 5.0) -> str | None:
    """Run ``RETURN 1`` over Bolt with the neo4j driver; None when it works, else why not."""
    from neo4j import GraphDatabase
    from neo4j.exceptions import DriverError, Neo4jError

    try:
        with (
            GraphDatabase.driver(
                url,
                auth=(ROOT_USER, password),
                connection_timeout=timeout_s,
                connection_acquisition_timeout=timeout_s,
                max_transaction_retry_time=0,
            ) as driver,
            driver.session(database=database) as session,
        ):
            record = session.run("RETURN 1 AS ok").single()
    except (DriverError, Neo4jError, OSError) as exc:
        return f"RETURN 1 over Bolt failed: {type(exc).__name__}: {exc}"
    if record is None or record["ok"] != 1:
        return "RETURN 1 over Bolt returned no row"
    return None


def log_tail(workdir: Path, *, lines: int = 15) -> str:
    """The last lines of the runner's output, for error messages."""
    try:
        text = (workdir / RUNNER_LOG_NAME).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log output)"
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:]) if kept else "(no log output)"
