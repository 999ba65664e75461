"""The embedded stack with real processes: redis-server and ArcadeDB over Bolt.

Each test that starts its own stack costs a few seconds (the JVM), so there are few of them;
the non-destructive checks share the session stack of tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import redis
from neo4j import GraphDatabase

from memos.embedded import procs
from memos.embedded.stack import EmbeddedStack, StackState, default_stack_home, ensure_stack
from memos.embedded.state import write_state
from tests.embedded.helpers import (
    listen_addresses,
    only_loopback,
    processes_using,
    stop_stacks_under,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def _bolt_value(state: StackState, query: str, **params: object) -> object:
    adb = state.arcadedb
    with (
        GraphDatabase.driver(adb.bolt_url, auth=(adb.user, adb.password)) as driver,
        driver.session(database=adb.database) as session,
    ):
        record = session.run(query, **params).single()
        assert record is not None
        return record[0]


def _memos(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memos", *args, "--home", str(home)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


# --- the session stack (tests/conftest.py) -------------------------------------------------


def test_session_stack_answers_bolt_and_streams(embedded_stack: StackState) -> None:
    assert _bolt_value(embedded_stack, "RETURN 1") == 1
    client = redis.Redis.from_url(embedded_stack.redis.url)
    try:
        stream = f"test:stream:{os.getpid()}"
        client.xgroup_create(stream, "g", id="0", mkstream=True)
        entry_id = client.xadd(stream, {"k": "v"})
        got = client.xreadgroup("g", "c1", {stream: ">"}, count=1, block=1000)
        assert got[0][1][0][0] == entry_id
        assert got[0][1][0][1] == {b"k": b"v"}
        assert client.xack(stream, "g", entry_id) == 1
        assert client.config_get("appendonly") == {"appendonly": "yes"}
    finally:
        client.close()
    # The unix socket reaches the same server.
    via_socket = redis.Redis(unix_socket_path=embedded_stack.redis.socket_path)
    try:
        assert via_socket.ping()
    finally:
        via_socket.close()


def test_up_again_returns_the_running_stack(embedded_stack: StackState, memos_home: Path) -> None:
    stack = EmbeddedStack(memos_home / "stack")
    again = stack.up()
    assert again.redis.pid == embedded_stack.redis.pid
    assert again.arcadedb.pid == embedded_stack.arcadedb.pid
    assert ensure_stack(memos_home / "stack").arcadedb.pid == embedded_stack.arcadedb.pid
    report = stack.status()
    assert report.healthy
    assert [c.name for c in report.components] == ["redis", "arcadedb"]
    assert all(procs.pid_alive(c.pid) for c in report.components if c.pid is not None)
    assert stat.S_IMODE(stack.state_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(stack.layout.password_file.stat().st_mode) == 0o600


def test_every_listener_is_loopback_only(embedded_stack: StackState) -> None:
    adb = embedded_stack.arcadedb
    for port in (embedded_stack.redis.port, adb.bolt_port, adb.http_port):
        assert only_loopback(listen_addresses(port)), port
    assert adb.bolt_url == f"bolt://127.0.0.1:{adb.bolt_port}"
    assert adb.http_url == f"http://127.0.0.1:{adb.http_port}"
    assert embedded_stack.redis.url == f"redis://127.0.0.1:{embedded_stack.redis.port}/0"


def test_http_sql_command_with_basic_auth(embedded_stack: StackState) -> None:
    adb = embedded_stack.arcadedb
    url = f"{adb.http_url}/api/v1/command/{adb.database}"
    type_name = f"HttpProbe{os.getpid()}"
    ok = httpx.post(
        url,
        auth=(adb.user, adb.password),
        json={"language": "sql", "command": f"CREATE VERTEX TYPE {type_name} IF NOT EXISTS"},
        timeout=30,
    )
    assert ok.status_code == 200, ok.text
    made = httpx.post(
        url,
        auth=(adb.user, adb.password),
        json={"language": "sql", "command": f"CREATE PROPERTY {type_name}.text STRING"},
        timeout=30,
    )
    assert made.status_code == 200, made.text
    # The type made over HTTP is visible over Bolt.
    assert (
        _bolt_value(embedded_stack, f"CREATE (n:{type_name} {{text: $t}}) RETURN n.text", t="x")
        == "x"
    )
    denied = httpx.post(
        url,
        auth=(adb.user, "wrong-password"),
        json={"language": "sql", "command": "SELECT 1"},
        timeout=30,
    )
    assert denied.status_code in (401, 403)


# --- stacks of their own ---------------------------------------------------------------------


def test_killed_arcadedb_is_detected_and_restarted(tmp_path: Path) -> None:
    stack = EmbeddedStack(tmp_path / "stack")
    first = stack.up()
    try:
        _bolt_value(first, "CREATE (n:Survivor {name: 'before-kill'}) RETURN n.name")
        os.kill(first.arcadedb.pid, signal.SIGKILL)
        assert procs.wait_for_exit(first.arcadedb.pid, 10)

        report = stack.status()
        assert not report.healthy
        assert not report.component("arcadedb").healthy
        assert "not running" in report.component("arcadedb").detail
        assert report.component("redis").healthy
        cli = _memos(tmp_path, "status")
        assert cli.returncode == 1, cli.stdout + cli.stderr
        assert "NOT healthy" in cli.stdout

        second = stack.up()
        assert second.arcadedb.pid != first.arcadedb.pid
        assert second.redis.pid == first.redis.pid
        assert second.arcadedb.password == first.arcadedb.password
        assert second.arcadedb.bolt_port == first.arcadedb.bolt_port
        assert stack.status().healthy
        assert _bolt_value(second, "MATCH (n:Survivor) RETURN count(n)") == 1

        # Losing the state file must not leak the processes: the pid files still name them.
        stack.state_path.unlink()
        assert not stack.status().healthy
    finally:
        stack.down()
    assert not procs.pid_alive(second.arcadedb.pid)
    assert not procs.pid_alive(second.redis.pid)
    assert processes_using(tmp_path) == []


def test_stale_state_file_is_repaired_without_touching_reused_pids(tmp_path: Path) -> None:
    home = tmp_path / "stack"
    stack = EmbeddedStack(home)
    bystander = subprocess.Popen(["sleep", "120"])
    finished = subprocess.Popen(["true"])
    finished.wait()
    try:
        stale = StackState.model_validate(
            {
                "home": str(home),
                "redis": {
                    "pid": bystander.pid,  # a PID now used by an unrelated program
                    "socket_path": str(home / "redis" / "redis.sock"),
                    "port": 1,
                    "url": "redis://127.0.0.1:1/0",
                    "data_dir": str(home / "redis"),
                },
                "arcadedb": {
                    "pid": finished.pid,  # a dead PID
                    "bolt_url": "bolt://127.0.0.1:2",
                    "http_url": "http://127.0.0.1:3",
                    "bolt_port": 2,
                    "http_port": 3,
                    "password": "stale",
                    "root_path": str(home / "arcadedb" / "server"),
                },
            }
        )
        write_state(stack.state_path, stale)
        report = stack.status()
        assert not report.component("redis").healthy
        assert "another program" in report.component("redis").detail
        assert not report.component("arcadedb").healthy

        state = stack.up()
        try:
            assert state.redis.pid != bystander.pid
            assert state.arcadedb.pid != finished.pid
            assert stack.status().healthy
            assert bystander.poll() is None
        finally:
            stack.down()
        assert not procs.pid_alive(state.redis.pid)
        assert not procs.pid_alive(state.arcadedb.pid)
        assert bystander.poll() is None, "down must not signal a PID that is not ours"
        assert not stack.state_path.exists()
        assert processes_using(tmp_path) == []
    finally:
        bystander.kill()
        bystander.wait()


def test_down_without_anything_running_is_harmless(tmp_path: Path) -> None:
    stack = EmbeddedStack(tmp_path / "never-started")
    stack.down()
    assert not stack.home.exists()
    report = stack.status()
    assert not report.healthy
    assert json.loads(report.model_dump_json())["healthy"] is False


@pytest.mark.parametrize("taken", ["redis_port", "bolt_port"])
def test_explicit_busy_port_is_refused_before_starting(tmp_path: Path, taken: str) -> None:
    import socket

    from memos.errors import EmbeddedStackError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        stack = EmbeddedStack(tmp_path / "stack", **{taken: port})
        with pytest.raises(EmbeddedStackError, match=f"port {port} on 127.0.0.1 is in use"):
            stack.up(timeout_s=30)
    assert processes_using(tmp_path) == []


def test_ensure_stack_starts_one_when_none_runs_then_returns_the_running_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "stack"
    assert EmbeddedStack(home).read_state() is None
    state: StackState | None = None
    try:
        state = ensure_stack(home)
        assert state.home == str(home)
        assert procs.pid_alive(state.redis.pid) and procs.pid_alive(state.arcadedb.pid)
        assert _bolt_value(state, "RETURN 1") == 1
        assert EmbeddedStack(home).status().healthy

        # Without an argument it uses $MEMOS_HOME/stack, and finds the stack running there.
        monkeypatch.setenv("MEMOS_HOME", str(tmp_path))
        again = ensure_stack()
        assert again.home == str(home)
        assert (again.redis.pid, again.arcadedb.pid) == (state.redis.pid, state.arcadedb.pid)
        assert again.arcadedb.password == state.arcadedb.password
    finally:
        # What the session-end hook of tests/conftest.py does: every stack under a dir, by PID.
        stops = stop_stacks_under(tmp_path)
    assert state is not None
    assert sorted((stop.name, stop.pid, stop.method) for stop in stops) == [
        ("arcadedb", state.arcadedb.pid, procs.StopMethod.SIGTERM),
        ("redis", state.redis.pid, procs.StopMethod.SIGTERM),
    ]
    assert not home.joinpath("state.json").exists()
    assert processes_using(tmp_path) == []


def test_the_test_session_never_uses_the_real_data_home(memos_home: Path) -> None:
    from memos.configs.loader import DEFAULT_HOME
    from memos.configs.loader import memos_home as resolve_home

    assert resolve_home() == memos_home
    assert default_stack_home() == memos_home / "stack"
    real = DEFAULT_HOME.expanduser().resolve()
    assert real != memos_home.resolve() and real not in memos_home.resolve().parents


def test_arcadedb_stops_on_sigterm_while_clients_stay_connected(tmp_path: Path) -> None:
    """Regression: open Bolt connections used to hold the runner until SIGKILL.

    After ``server.stop()`` each accepted Bolt connection kept a non-daemon Java thread reading
    from its client, and the JVM's exit waited for them; a session that never closed its driver
    made ``down`` wait out the grace period and SIGKILL ArcadeDB.
    """
    stack = EmbeddedStack(tmp_path / "stack")
    state = stack.up()
    adb = state.arcadedb
    driver = GraphDatabase.driver(adb.bolt_url, auth=(adb.user, adb.password))
    http = httpx.Client(auth=(adb.user, adb.password), timeout=30)
    try:
        sessions = [driver.session(database=adb.database) for _ in range(4)]
        for i in range(200):
            sessions[i % 4].run("CREATE (n:Busy {i: $i})", i=i).consume()
        for _ in range(5):
            made = http.post(
                f"{adb.http_url}/api/v1/command/{adb.database}",
                json={"language": "sql", "command": "SELECT count(*) AS n FROM Busy"},
            )
            assert made.status_code == 200, made.text
        # Several connections stay busy: open transactions, one with an uncommitted write.
        open_txs = [session.begin_transaction() for session in sessions[1:]]
        open_txs[0].run("CREATE (n:Uncommitted)").consume()
        sessions[0].run("CREATE (n:Kept {name: 'written before down'})").consume()

        stops = {stop.name: stop for stop in stack.down()}
        assert stops["arcadedb"].method is procs.StopMethod.SIGTERM, stops["arcadedb"].describe()
        assert stops["redis"].method is procs.StopMethod.SIGTERM, stops["redis"].describe()
        assert not procs.pid_alive(adb.pid)
        log = (stack.layout.arcadedb_dir / "runner.log").read_text(errors="replace")
        # The clients' connections were still open when the server stopped (the trigger).
        assert "exiting without waiting for" in log and "BOLT-" in log
    finally:
        http.close()
        driver.close()
        if stack.read_state() is not None:
            stack.down()

    again = stack.up()
    try:
        assert _bolt_value(again, "MATCH (n:Kept) RETURN n.name") == "written before down"
        assert _bolt_value(again, "MATCH (n:Busy) RETURN count(n)") == 200
        assert _bolt_value(again, "MATCH (n:Uncommitted) RETURN count(n)") == 0
    finally:
        stack.down()
    assert processes_using(tmp_path) == []
