"""The child process that hosts the embedded ArcadeDB server (JVM via jpype) until SIGTERM.

Run as ``python -m memos.embedded.arcadedb_runner --root DIR --http-port P --bolt-port Q
--password-file FILE``: it starts the JVM and the server with the Bolt plugin on 127.0.0.1,
creates the database if missing, then blocks until SIGTERM or SIGINT and stops the server
cleanly (exit status 0). :mod:`memos.embedded.arcadedb_server` launches it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

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
        return 1
    try:
        if not stop.is_set():
            # Get-or-create: the server opens an existing database and creates a missing one.
            server.create_database(args.database)
            logger.info("ArcadeDB ready; database %s open", args.database)
            while not stop.wait(0.5):
                pass
    finally:
        server.stop()
        logger.info("ArcadeDB stopped")
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through subprocess in the tests
    raise SystemExit(main())
