"""``make demo`` end to end: ``python -m memos.demo`` as a user runs it, on an 80-column terminal.

The demo starts its own embedded stack (Redis, ArcadeDB, daemon, worker) in a fresh data home,
so this test shares nothing with the session's stack; it checks the exit status, that every part
of the tour printed what it is there to show, that no line is wider than 80 columns, and that
every process the demo started is gone afterwards.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SECTIONS = [
    "0. GeneralTextMemory",
    "1. The embedded stack",
    "2. Two users add conversations through MOS",
    "3. Search with cited sources",
    "4. Background reorganisation",
    "5. A KV cache built on the worker",
    "6. memos status, then stop everything by PID",
]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "COLUMNS": "80",
        "TMPDIR": str(tmp_path_factory.mktemp("demo-tmp")),
    }
    return subprocess.run(
        [sys.executable, "-m", "memos.demo"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return "Z"


def test_the_demo_shows_the_real_job_and_exits_0(
    demo_run: subprocess.CompletedProcess[str],
) -> None:
    out = demo_run.stdout
    assert demo_run.returncode == 0, out[-3000:] + demo_run.stderr[-3000:]
    for title in SECTIONS:
        assert title in out
    # The stack's processes, each with its PID.
    for part in ("redis", "arcadedb", "scheduler-memos", "worker-memos"):
        assert re.search(rf"│ {part}\s+│ \d+\s+│ ok", out), part
    # Each MOS call reports the worker's share and the bus's share of its time.
    assert re.search(r"total \d+ ms = worker \d+ \+ bus \d+", out)
    assert "0 of alice's" in out  # tenant isolation
    # Five repeats consolidate into one memory citing each day; the old address is superseded.
    assert "before: 5 ramen memories in the top 5; after: 1, citing 5 turns" in out
    assert "1 fact(s) superseded" in out
    flat = " ".join(out.split())
    assert (
        "merged memory: The user said on 1 May 2023, 8 May 2023, 15 May 2023, 22 May 2023 and "
        "29 May 2023: My favourite food is ramen." in flat
    )
    assert (
        len(re.findall(r"^  cites: 2023-05-\d\dT19:30:00 My favourite food is ramen", out, re.M))
        == 5
    )
    assert "from the stored KV cache" in out and "faster first token" in out
    assert "$ memos status" in out and ": healthy" in out
    assert "demo finished in" in out


def test_the_demo_reads_on_80_columns(demo_run: subprocess.CompletedProcess[str]) -> None:
    wide = [line for line in demo_run.stdout.splitlines() if len(line) > 80]
    assert wide == []


def test_the_demo_stops_every_process_it_started(
    demo_run: subprocess.CompletedProcess[str],
) -> None:
    stopped = [int(pid) for pid in re.findall(r"^stopped \S+ pid (\d+)", demo_run.stdout, re.M)]
    # The supervisor, the daemon and the worker it stopped, Redis and ArcadeDB.
    assert len(stopped) == 5
    assert [pid for pid in stopped if _alive(pid)] == []
