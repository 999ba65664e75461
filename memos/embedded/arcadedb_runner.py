"""The child process that hosts the embedded ArcadeDB server (JVM via jpype) until SIGTERM.

Run as ``python -m memos.embedded.arcadedb_runner --root DIR --http-port P --bolt-port Q
--password-file FILE``: it starts the JVM and the server with the Bolt plugin on 127.0.0.1,
creates the database if missing, then blocks until SIGTERM or SIGINT and stops the server
cleanly (exit status 0). :mod:`memos.embedded.arcadedb_server` launches it.

Why the process can exit promptly after ``server.stop()``: stopping ArcadeDB closes every
database (everything committed is on disk) and its HTTP server, but the Bolt plugin only closes
its listening socket; each accepted connection keeps a non-daemon ``BOLT-<client>`` thread
blocked reading from its client. JPype's exit hook calls ``DestroyJavaVM``, which waits for every
non-daemon thread, so a client that keeps its driver open (a long test session, a MOS) held the
process until the parent gave up and sent SIGKILL. Once the server is stopped nothing in the JVM
needs an orderly teardown, so the runner tells JPype not to destroy the JVM and the process
exits at once; the kernel closes the clients' sockets.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from memos.embedded.arcadedb_server import BOLT_PLUGIN, DEFAULT_HEAP, RUNNER_MODULE
from memos.embedded.ports import LOOPBACK

logger = logging.getLogger(__name__)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"python -m {RUNNER_MODULE}",
        description="Run the embedded ArcadeDB server with Bolt until SIGTERM.",
    )
    parser.add_argument("--root", required=True, type=Path, help="server root directory")
    parser.add_argument("--http-port", required=True, type=int)
    parser.add_argument("--bolt-port", required=True, type=int)
    parser.add_argument("--password-file", required=True, type=Path, help="0600 file")
    parser.add_argument("--database", default="memdb")
    parser.add_argument("--heap", default=DEFAULT_HEAP, help="JVM max heap, e.g. 2g")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Start the server, block until SIGTERM/SIGINT, stop it; the exit status."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = _parse_args(argv)
    stop = threading.Event()

    def _request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("received signal %d; stopping ArcadeDB", signum)
        stop.set()

    # Installed before the JVM starts, so a SIGTERM during the slow start-up is not lost.
    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)

    password = args.password_file.read_text(encoding="utf-8").strip()
    if not password:
        logger.error("password file %s is empty", args.password_file)
        return 2

    import arcadedb_embedded
    from arcadedb_embedded.jvm import start_jvm

    # -Xrs keeps the JVM from installing its own SIGTERM/SIGINT handlers (which would end the
    # process through shutdown hooks, skipping server.stop() and our bookkeeping).
    start_jvm(heap_size=args.heap, jvm_args=["-Xrs"])
    server = arcadedb_embedded.create_server(
        str(args.root),
        root_password=password,
        config={
            "http_port": args.http_port,
            # The bindings apply `host` to every listener, Bolt included (checked in the tests).
            "host": LOOPBACK,
            "server_plugins": BOLT_PLUGIN,
            "bolt_port": args.bolt_port,
        },
    )
    try:
        server.start()
    except arcadedb_embedded.ArcadeDBError:
        logger.exception("ArcadeDB failed to start")
        # A failed start leaves its cleanup to us; a Bolt client may already be connected.
        _stop_server(server)
        return 1
    try:
        if not stop.is_set():
            # Get-or-create: the server opens an existing database and creates a missing one.
            server.create_database(args.database)
            logger.info("ArcadeDB ready; database %s open", args.database)
            # A Python wait (not a Java call) on the main thread, so the signal handler runs
            # as soon as SIGTERM arrives.
            while not stop.wait(0.5):
                pass
    finally:
        status = _stop_server(server)
    return status


def _stop_server(server: Any) -> int:
    """Stop ``server`` and make sure no Java thread can hold the process afterwards.

    Returns the exit status: 0 when the server stopped cleanly, 1 when stopping failed (the
    databases then recover from their write-ahead logs on the next start).
    """
    import arcadedb_embedded
    import jpype.config

    try:
        server.stop()
    except arcadedb_embedded.ArcadeDBError:
        logger.exception("ArcadeDB failed to stop cleanly")
        status = 1
    else:
        status = 0
    lingering = lingering_java_threads()
    if lingering:
        logger.info(
            "ArcadeDB stopped; exiting without waiting for %d Java thread(s) still open: %s",
            len(lingering),
            ", ".join(lingering[:5]),
        )
    else:
        logger.info("ArcadeDB stopped")
    # See the module docstring: DestroyJavaVM would wait for client connection threads forever.
    jpype.config.destroy_jvm = False
    return status


def lingering_java_threads() -> list[str]:
    """Names of the live non-daemon Java threads other than the caller's (sorted).

    Any such thread would make ``DestroyJavaVM`` wait at exit; after ``server.stop()`` they
    are the Bolt connections of clients that have not closed their driver.
    """
    import jpype

    if not jpype.isJVMStarted():
        return []
    thread_class = jpype.JClass("java.lang.Thread")
    current = thread_class.currentThread()
    names = [
        str(thread.getName())
        for thread in thread_class.getAllStackTraces().keySet()
        if thread.isAlive() and not thread.isDaemon() and not thread.equals(current)
    ]
    return sorted(names)


if __name__ == "__main__":  # pragma: no cover - exercised through subprocess in the tests
    raise SystemExit(main())
