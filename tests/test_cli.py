"""`memos up && memos status && memos down` as a user runs them: separate processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import redis
from neo4j import GraphDatabase

from memos.embedded import procs
from memos.embedded.state import StackState, read_state
from tests.embedded.helpers import processes_using

REPO_ROOT = Path(__file__).resolve().parents[1]


def _memos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memos", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _bolt(state: StackState, query: str) -> object:
    adb = state.arcadedb
    with (
        GraphDatabase.driver(adb.bolt_url, auth=(adb.user, adb.password)) as driver,
        driver.session(database=adb.database) as session,
    ):
        record = session.run(query).single()
        assert record is not None
        return record[0]


def test_help_shows_commands_and_examples() -> None:
    result = _memos("--help")
    assert result.returncode == 0, result.stderr
    for word in ("up", "down", "status", "Examples:", "status --json"):
        assert word in result.stdout


def test_up_status_down_leaves_no_process_and_keeps_data(tmp_path: Path) -> None:
    home = str(tmp_path)
    state_file = tmp_path / "stack" / "state.json"
    try:
        up = _memos("up", "--home", home)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "embedded stack up" in up.stdout
        state = read_state(state_file)
        assert state is not None
        assert state.arcadedb.password not in up.stdout

        # The services outlive the `memos up` process that started them.
        assert procs.pid_alive(state.redis.pid) and procs.pid_alive(state.arcadedb.pid)
        status = _memos("status", "--home", home)
        assert status.returncode == 0, status.stdout + status.stderr
        as_json = _memos("status", "--json", "--home", home)
        assert as_json.returncode == 0
        report = json.loads(as_json.stdout)
        assert report["healthy"] is True
        assert {c["name"]: c["pid"] for c in report["components"]} == {
            "redis": state.redis.pid,
            "arcadedb": state.arcadedb.pid,
        }

        client = redis.Redis.from_url(state.redis.url)
        entry = client.xadd("events", {"n": "1"})
        client.close()
        _bolt(state, "CREATE (n:CliProbe {v: 1}) RETURN n.v")

        down = _memos("down", "--home", home)
        assert down.returncode == 0, down.stdout + down.stderr
        # Both servers shut down cleanly on SIGTERM (no SIGKILL), and `down` says so.
        assert f"redis pid {state.redis.pid} stopped by SIGTERM" in down.stdout
        assert f"arcadedb pid {state.arcadedb.pid} stopped by SIGTERM" in down.stdout
        assert not procs.pid_alive(state.redis.pid)
        assert not procs.pid_alive(state.arcadedb.pid)
        assert not state_file.exists()
        assert processes_using(tmp_path) == []
        after = _memos("status", "--home", home)
        assert after.returncode == 1

        # A second `up` on the same home: same root password, stream and graph data kept.
        again = _memos("up", "--home", home)
        assert again.returncode == 0, again.stdout + again.stderr
        restarted = read_state(state_file)
        assert restarted is not None
        assert restarted.arcadedb.password == state.arcadedb.password
        assert _bolt(restarted, "MATCH (n:CliProbe) RETURN count(n)") == 1
        client = redis.Redis.from_url(restarted.redis.url)
        assert [e[0] for e in client.xrange("events")] == [entry]
        client.close()
    finally:
        final = _memos("down", "--home", home)
    assert final.returncode == 0, final.stdout + final.stderr
    assert processes_using(tmp_path) == []
