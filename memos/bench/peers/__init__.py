"""Other memory systems measured side by side with ours, as extra rows of the bench suites.

A peer runs only when asked for (``--peers mem0`` on ``locomo-recall``, ``search-latency`` and
``ingest``), never because its package happens to be installed: the shared environment may hold
it while CI and ``bench all`` must measure exactly what they did before. Asking for a peer that is
not installed fails at once with the install command (:class:`memos.errors.PeerUnavailableError`).
"""

from __future__ import annotations

import argparse

PEERS = ("mem0",)


def add_peers_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--peers`` option of a suite that can add peer rows."""
    parser.add_argument(
        "--peers",
        default="",
        help=f"comma-separated peers measured in the same run ({', '.join(PEERS)}); "
        "needs the optional extra: make install-peers",
    )


def requested(args: argparse.Namespace) -> list[str]:
    """The peers named by ``--peers`` (empty when the suite has no such option)."""
    names = [p.strip() for p in str(getattr(args, "peers", "") or "").split(",") if p.strip()]
    unknown = sorted(set(names) - set(PEERS))
    if unknown:
        raise SystemExit(f"unknown peers {unknown}; choose from {', '.join(PEERS)}")
    return names
