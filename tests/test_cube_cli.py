"""``memos import`` / ``export`` / ``inspect`` as a user runs them, and ``--help`` everywhere.

The cube commands run as separate processes (``python -m memos ...``) on a data home private to
this module: the first import starts the embedded stack, the scheduler daemon and a worker there
(through the MOS's embedded settings); the module's teardown stops all of them by PID.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from memos.cli import app
from memos.embedded.stack import EmbeddedStack
from tests.mem_os.helpers import snapshot

REPO_ROOT = Path(__file__).resolve().parents[1]
GENERAL_CUBE = REPO_ROOT / "examples" / "data" / "mem_cube_2"
TREE_CUBE = REPO_ROOT / "examples" / "data" / "mem_cube_tree"


class CubeCli:
    """Runs ``python -m memos`` against this module's data home and bus prefix."""

    def __init__(self, home: Path, config: Path) -> None:
        self.home = home
        self.config = config
        self.env = {**os.environ, "MEMOS_HOME": str(home)}

    def run(self, *args: str, config: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one command; ``--config`` names this module's MOS config unless ``config=False``."""
        argv = [sys.executable, "-m", "memos", *args]
        if config and "--config" not in args:
            argv += ["--config", str(self.config)]
        return subprocess.run(
            argv,
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def invoke(self, *args: str) -> Result:
        """Run one command in this process (no interpreter start-up), with this MOS config."""
        argv = [*args, "--config", str(self.config)] if "--config" not in args else list(args)
        return CliRunner().invoke(app, argv, env={"MEMOS_HOME": str(self.home)})

    def inspect(self, cube_id: str, *extra: str) -> dict[str, Any]:
        """``memos inspect --json`` of a cube, parsed."""
        done = self.invoke("inspect", cube_id, "--json", *extra)
        assert done.exit_code == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        return result


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CubeCli]:
    """A private data home and bus prefix; everything started in it is stopped by PID."""
    root = tmp_path_factory.mktemp("cube_cli")
    home = root / "home"
    home.mkdir()
    config = root / "mos.yaml"
    prefix = f"cc{uuid.uuid4().hex[:8]}"
    config.write_text(
        f"scheduler:\n  prefix: {prefix}\n  block_ms: 200\nevent_timeout_s: 240\n",
        encoding="utf-8",
    )
    try:
        yield CubeCli(home, config)
    finally:
        # The stack state records the daemon and worker the MOS started: down stops them too.
        EmbeddedStack(home / "stack").down()


@pytest.fixture(scope="module")
def imported(cli: CubeCli) -> dict[str, Any]:
    """Both sample cubes imported (general by root, tree by a new user alice)."""
    before = {path: snapshot(path) for path in (GENERAL_CUBE, TREE_CUBE)}
    general = cli.run("import", str(GENERAL_CUBE), "--home", str(cli.home))
    tree = cli.run("import", str(TREE_CUBE), "--user", "alice")
    after = {path: snapshot(path) for path in (GENERAL_CUBE, TREE_CUBE)}
    return {"general": general, "tree": tree, "before": before, "after": after}


@pytest.mark.services
def test_import_leaves_source_unchanged_and_prints_counts(imported: dict[str, Any]) -> None:
    general, tree = imported["general"], imported["tree"]
    assert general.returncode == 0, general.stderr
    assert tree.returncode == 0, tree.stderr
    assert imported["after"] == imported["before"]
    assert "as cube mem_cube_2 for user root" in general.stdout
    assert "5 textual memories" in general.stdout
    assert "as cube mem_cube_tree for user alice" in tree.stdout
    assert "6 textual memories (LongTermMemory 4, UserMemory 2)" in tree.stdout
    assert "14 edges (CONTEXT 14)" in tree.stdout
    # The progress display names every step on stderr; stdout holds only the result.
    for step in ("validate cube directory", "start or reach services", "verify counts"):
        assert step in tree.stderr
    assert "Traceback" not in general.stderr + tree.stderr


@pytest.mark.services
def test_inspect_shows_tiers_graph_and_activation(cli: CubeCli, imported: dict[str, Any]) -> None:
    tree = cli.inspect("mem_cube_tree", "--user", "alice")
    assert tree["owner_id"] == "alice"
    assert tree["text_backend"] == "tree_text"
    assert tree["memories"] == 6
    assert tree["tiers"] == {"WorkingMemory": 0, "LongTermMemory": 4, "UserMemory": 2}
    assert tree["status"]["activated"] == 6
    assert (tree["valid"], tree["superseded"]) == (6, 0)
    assert tree["graph"]["nodes"] == 6
    assert tree["graph"]["edges"] == {
        "PARENT": 0,
        "RELATE_TO": 0,
        "MERGED_TO": 0,
        "SUPERSEDES": 0,
        "CONTEXT": 14,
    }
    assert tree["activation"]["items"] == 0

    general = cli.inspect("mem_cube_2")
    assert general["text_backend"] == "general_text"
    assert general["memories"] == 5
    assert general["graph"] is None

    text = cli.invoke("inspect", "mem_cube_tree", "--user", "alice")
    assert text.exit_code == 0, text.stderr
    assert "LongTermMemory 4, UserMemory 2" in text.stdout
    assert "CONTEXT 14" in text.stdout
    assert "activation (KV)   0 items" in text.stdout


@pytest.mark.services
@pytest.mark.parametrize(("cube_id", "user"), [("mem_cube_2", "root"), ("mem_cube_tree", "alice")])
def test_export_then_import_again_gives_same_counts(
    cli: CubeCli, imported: dict[str, Any], tmp_path: Path, cube_id: str, user: str
) -> None:
    out_dir = tmp_path / "exported"
    exported = cli.run("export", cube_id, str(out_dir), "--user", user)
    assert exported.returncode == 0, exported.stderr
    assert f"exported cube {cube_id} to {out_dir}" in exported.stdout
    assert (out_dir / "config.json").is_file()

    again_id = f"{cube_id}_again"
    again = cli.run("import", str(out_dir), "--cube-id", again_id, "--user", user)
    assert again.returncode == 0, again.stderr

    original, copy = cli.inspect(cube_id, "--user", user), cli.inspect(again_id, "--user", user)
    for key in ("cube_id", "owner_id"):
        original.pop(key)
        copy.pop(key)
    assert copy == original


@pytest.mark.services
def test_export_refuses_a_non_empty_directory(
    cli: CubeCli, imported: dict[str, Any], tmp_path: Path
) -> None:
    out_dir = tmp_path / "busy"
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("mine", encoding="utf-8")
    done = cli.invoke("export", "mem_cube_2", str(out_dir))
    assert done.exit_code == 1
    assert "is not empty" in done.stderr
    assert sorted(p.name for p in out_dir.iterdir()) == ["keep.txt"]
    assert "Traceback" not in done.stderr


@pytest.mark.services
def test_import_refuses_a_taken_id_and_unknown_cubes_fail(
    cli: CubeCli, imported: dict[str, Any]
) -> None:
    again = cli.invoke("import", str(GENERAL_CUBE))
    assert again.exit_code == 1
    assert "already registered" in again.stderr and "--cube-id" in again.stderr

    missing = cli.invoke("inspect", "no_such_cube")
    assert missing.exit_code == 1
    assert "memos inspect failed:" in missing.stderr
    assert "Traceback" not in missing.stderr

    # alice's cube is not root's: the facade's access check answers, not a traceback.
    denied = cli.invoke("inspect", "mem_cube_tree")
    assert denied.exit_code == 1
    assert "no access" in denied.stderr


@pytest.mark.services
def test_corrupt_memories_are_rejected_and_nothing_stays_registered(
    cli: CubeCli, imported: dict[str, Any], tmp_path: Path
) -> None:
    cube = tmp_path / "bad_items"
    shutil.copytree(GENERAL_CUBE, cube)
    memories = json.loads((cube / "textual_memory.json").read_text(encoding="utf-8"))
    memories["memories"][0] = {"not": "a memory"}
    (cube / "textual_memory.json").write_text(json.dumps(memories), encoding="utf-8")

    done = cli.run("import", str(cube), "--cube-id", "bad_items")
    assert done.returncode == 1, done.stdout
    assert "memos import failed:" in done.stderr
    assert "memory 0 in" in done.stderr and "is malformed" in done.stderr
    assert "Traceback" not in done.stderr
    # The worker refused the dump; the facade undid the registration.
    assert cli.invoke("inspect", "bad_items").exit_code == 1


def _expect_failure(done: Result, message: str) -> None:
    assert done.exit_code == 1, done.stdout
    assert "memos import failed:" in done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_import_errors_exit_non_zero_with_the_message(tmp_path: Path) -> None:
    # Each of these fails before any service is reached: no stack is started for them.
    cli = CubeCli(tmp_path / "home", tmp_path / "mos.yaml")
    (tmp_path / "mos.yaml").write_text("embedded:\n  home: null\n", encoding="utf-8")

    _expect_failure(cli.invoke("import", str(tmp_path / "nowhere")), "does not exist")
    empty = tmp_path / "empty"
    empty.mkdir()
    _expect_failure(cli.invoke("import", str(empty)), "has no config.json")

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    _expect_failure(cli.invoke("import", str(broken)), "config.json")

    corrupt = tmp_path / "corrupt"
    shutil.copytree(GENERAL_CUBE, corrupt)
    (corrupt / "textual_memory.json").write_text("\0garbage", encoding="utf-8")
    _expect_failure(cli.invoke("import", str(corrupt)), "not a readable JSON memory file")

    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("user_idd: alice\n", encoding="utf-8")
    _expect_failure(
        cli.invoke("import", str(GENERAL_CUBE), "--config", str(bad_config)), "user_idd"
    )
    production = tmp_path / "external.yaml"
    production.write_text(
        "embedded: null\nscheduler:\n  redis_url: redis://127.0.0.1:1/0\n", encoding="utf-8"
    )
    _expect_failure(
        cli.invoke("import", str(GENERAL_CUBE), "--config", str(production), "--home", "/tmp/x"),
        "drop --home",
    )
    assert not (tmp_path / "home").exists()

    verbose = subprocess.run(
        [sys.executable, "-m", "memos", "-v", "import", str(empty)],
        cwd=REPO_ROOT,
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verbose.returncode == 1
    assert "Traceback" in verbose.stderr and "ConfigError" in verbose.stderr


def _command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _command_paths(sub, (*path, name))


def test_every_command_help_has_an_example() -> None:
    root = typer.main.get_command(app)
    paths = list(_command_paths(root))
    names = {path[0] for path in paths if path}
    expected = {"up", "down", "status", "scheduler", "dlq", "worker", "api", "api-key", "mcp"}
    expected |= {"bench", "import", "export", "inspect"}
    assert expected <= names
    assert len(paths) > len(expected)  # the groups' subcommands are walked too
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        shown = " ".join(path) or "memos"
        assert result.exit_code == 0, (shown, result.output)
        assert "Example" in result.output, f"'{shown} --help' has no example"


@pytest.mark.services
def test_import_keeps_the_cited_message_ids_and_times(
    cli: CubeCli, imported: dict[str, Any], tmp_path: Path
) -> None:
    cube = tmp_path / "cited"
    shutil.copytree(TREE_CUBE, cube)
    path = cube / "textual_memory.json"
    dump = json.loads(path.read_text(encoding="utf-8"))
    source = dump["nodes"][0]["metadata"]["sources"][0]
    source.update({"message_id": "imp-1", "chat_time": "2025-05-03T10:00:00"})
    path.write_text(json.dumps(dump), encoding="utf-8")

    done = cli.run("import", str(cube), "--cube-id", "cited", "--user", "alice")
    assert done.returncode == 0, done.stderr
    out_dir = tmp_path / "cited_out"
    exported = cli.run("export", "cited", str(out_dir), "--user", "alice")
    assert exported.returncode == 0, exported.stderr
    back = json.loads((out_dir / "textual_memory.json").read_text(encoding="utf-8"))
    node = next(n for n in back["nodes"] if n["id"] == dump["nodes"][0]["id"])
    cited = {(s["message_id"], s["chat_time"]) for s in node["metadata"]["sources"]}
    assert cited == {("imp-1", "2025-05-03T10:00:00")}
