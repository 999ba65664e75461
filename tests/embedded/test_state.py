"""The state file: JSON round trip, mode 0600, tolerance of newer or corrupt files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from memos.embedded.redis_server import render_config
from memos.embedded.state import (
    ArcadeDBEndpoint,
    ProcessRecord,
    RedisEndpoint,
    StackState,
    read_state,
    write_state,
)
from memos.errors import EmbeddedStackError


def _state(home: Path) -> StackState:
    return StackState(
        home=str(home),
        redis=RedisEndpoint(
            pid=11,
            socket_path=str(home / "redis/redis.sock"),
            port=6399,
            url="redis://127.0.0.1:6399/0",
            data_dir=str(home / "redis"),
        ),
        arcadedb=ArcadeDBEndpoint(
            pid=12,
            bolt_url="bolt://127.0.0.1:7699",
            http_url="http://127.0.0.1:2499",
            bolt_port=7699,
            http_port=2499,
            password="s3cret-pw",
            root_path=str(home / "arcadedb/server"),
        ),
        processes={"worker-1": ProcessRecord(pid=13, cmdline_contains=("celery", "worker-1"))},
    )


def test_round_trip_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state = _state(tmp_path)
    write_state(path, state)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = read_state(path)
    assert loaded == state
    assert loaded.arcadedb.user == "root" and loaded.arcadedb.database == "memdb"
    assert loaded.redis.host == "127.0.0.1"
    assert "s3cret-pw" not in repr(loaded)


def test_rewrite_keeps_mode_even_if_file_was_widened(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_state(path, _state(tmp_path))
    path.chmod(0o644)
    write_state(path, _state(tmp_path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_missing_and_corrupt_files_read_as_none(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert read_state(path) is None
    path.write_text("{not json")
    assert read_state(path) is None
    path.write_text(json.dumps({"home": "x"}))
    assert read_state(path) is None


def test_fields_from_a_newer_version_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    data = json.loads(_state(tmp_path).model_dump_json())
    data["future_field"] = 1
    data["redis"]["future_field"] = 2
    path.write_text(json.dumps(data))
    loaded = read_state(path)
    assert loaded is not None and loaded.redis.pid == 11


def test_redis_config_is_durable_and_local(tmp_path: Path) -> None:
    text = render_config(tmp_path, 6400)
    lines = set(text.splitlines())
    assert {"appendonly yes", "bind 127.0.0.1", "port 6400", "daemonize no"} <= lines
    assert f'unixsocket "{tmp_path / "redis.sock"}"' in lines


def test_overlong_socket_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedStackError, match="shorter directory"):
        render_config(tmp_path / ("x" * 120), 6400)
