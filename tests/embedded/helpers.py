"""Process checks shared by the embedded-stack tests."""

from __future__ import annotations

import os
from pathlib import Path

from memos.embedded.procs import ProcessStop, pid_alive
from memos.embedded.stack import EmbeddedStack
from memos.embedded.state import read_state

_LOOPBACK_HEX = {"0100007F", "0000000000000000FFFF00000100007F"}


def processes_using(home: Path) -> list[int]:
    """PIDs whose working directory or command line is inside ``home``."""
    home_str = str(home.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        try:
            cwd = os.readlink(entry / "cwd")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if (cwd.startswith(home_str) or home_str in cmdline) and pid_alive(pid):
            found.append(pid)
    return found


def listen_addresses(port: int) -> set[str]:
    """Hex local addresses of the TCP sockets listening on ``port`` (from /proc/net)."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] == "0A" and int(port_hex, 16) == port:
                addresses.add(address)
    return addresses


def only_loopback(addresses: set[str]) -> bool:
    """True when every address is 127.0.0.1 (IPv4, or IPv4-mapped IPv6)."""
    return bool(addresses) and addresses <= _LOOPBACK_HEX


def stop_stacks_under(root: Path) -> list[ProcessStop]:
    """Stop, by PID, every embedded stack whose state or pid files lie under ``root``.

    A stack counts when ``<dir>/state.json`` or ``<dir>/pids/*.pid`` exists; ``down`` checks
    each PID's identity, so nothing but the stack's own processes is signalled.
    """
    homes = {path.parent for path in root.glob("**/state.json") if read_state(path) is not None}
    homes |= {path.parent.parent for path in root.glob("**/pids/*.pid")}
    stops: list[ProcessStop] = []
    for home in sorted(homes):
        stops += EmbeddedStack(home).down()
    return stops
