"""A MOS with an explicit embedded home and no MEMOS_HOME never touches ~/.memos.

Run in a child process whose HOME is an empty directory and whose environment has no
MEMOS_HOME: the MOS, the daemon and worker it starts, and a tree cube object built in the
application (its graph config says only ``uri: embedded``) must all use the given home.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from memos.embedded.stack import EmbeddedStack
from tests.examples.conftest import stop_services

pytestmark = pytest.mark.services

SCRIPT = textwrap.dedent(
    """
    import sys

    from memos.configs.mem_cube import GeneralMemCubeConfig
    from memos.configs.mem_os import MOSConfig
    from memos.mem_cube.general import GeneralMemCube
    from memos.mem_os.main import MOS

    home, prefix, cube_id = sys.argv[1:4]
    config = MOSConfig.model_validate(
        {
            "user_id": "alice",
            "embedded": {"home": home},
            "scheduler": {"prefix": prefix, "block_ms": 200},
            "event_timeout_s": 240,
        }
    )
    cube = GeneralMemCube(
        GeneralMemCubeConfig.model_validate(
            {"cube_id": cube_id, "text_mem": {"backend": "tree_text", "config": {}}}
        )
    )
    with MOS(config) as mos:
        mos.register_mem_cube(cube)
        mos.add(memory_content="The lighthouse keeper paints in the evenings.")
        found = mos.search("What does the keeper do at night?", top_k=1)
        print(found["text_mem"][0]["memories"][0]["memory"])
    """
)


def test_explicit_home_without_memos_home_leaves_home_dir_alone(
    embedded_stack: object, memos_home: Path, tmp_path: Path
) -> None:
    fake_home = tmp_path / "user_home"
    fake_home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "MEMOS_HOME"}
    env["HOME"] = str(fake_home)
    prefix = f"dh{uuid.uuid4().hex[:8]}"
    cube_id = f"home_{uuid.uuid4().hex[:6]}"
    try:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(memos_home), prefix, cube_id],
            env=env,
            cwd=str(tmp_path),
            capture_output=True,
            text=True,
            timeout=400,
            check=False,
        )
    finally:
        stop_services(memos_home, prefix)
        stray = fake_home / ".memos" / "stack"
        if stray.exists():  # the bug this guards against: stop the second stack it started
            EmbeddedStack(stray).down()
    assert done.returncode == 0, done.stderr[-3000:]
    assert "lighthouse keeper paints" in done.stdout
    assert not (fake_home / ".memos").exists()
    assert sorted(p.name for p in fake_home.iterdir()) == []
