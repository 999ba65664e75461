"""Generate the example cube directories (run from the repository root).

    python examples/data/make_cubes.py

- ``examples/data/mem_cube_2``: a general_text cube (config.json, textual_memory.json, faiss/);
- ``examples/data/mem_cube_tree``: a tree_text cube (config.json, textual_memory.json).

The tree cube is built on a throw-away embedded stack in a temporary data home, which is
stopped again at the end; existing cube directories are replaced.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(BASE_DIR))

from memos.configs.mem_cube import GeneralMemCubeConfig  # noqa: E402
from memos.configs.mem_reader import SimpleStructMemReaderConfig  # noqa: E402
from memos.mem_cube.general import GeneralMemCube  # noqa: E402
from memos.mem_reader.simple_struct import SimpleStructMemReader  # noqa: E402

DATA = BASE_DIR / "examples" / "data"
FACTS = [
    "I like playing football on weekends.",
    "My favorite football game was the 2022 World Cup final.",
    "I work as a data engineer in Berlin.",
    "My sister Anna lives in Lyon and teaches music.",
    "I am allergic to peanuts.",
]
_TURNS = [
    ("user", "I just adopted a golden retriever puppy named Max."),
    ("assistant", "Congratulations! Max is a lovely name."),
    ("user", "We live near Central Park in New York, so we walk there daily."),
    ("assistant", "Central Park is perfect for daily walks."),
    ("user", "Max loves peanut butter biscuits, but I am allergic to nuts."),
    ("assistant", "Good to know about your allergy."),
]
CONVERSATION = [{"role": r, "chat_time": "3 May 2025", "content": c} for r, c in _TURNS]


def _replace(target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)


def make_general_cube() -> Path:
    """The general_text cube: facts embedded into a faiss index."""
    target = DATA / "mem_cube_2"
    _replace(target)
    config = GeneralMemCubeConfig.model_validate(
        {
            "user_id": "root",
            "cube_id": "mem_cube_2",
            "text_mem": {"backend": "general_text", "config": {"cube_id": "mem_cube_2"}},
            "act_mem": {"backend": "uninitialized", "config": {}},
            "para_mem": {"backend": "uninitialized", "config": {}},
        }
    )
    cube = GeneralMemCube(config)
    cube.text_mem.add(FACTS)
    cube.dump(target)
    return target


def make_tree_cube() -> Path:
    """The tree_text cube: memories read from a conversation, dumped from the graph."""
    from memos.embedded.stack import EmbeddedStack

    target = DATA / "mem_cube_tree"
    _replace(target)
    home = Path(tempfile.mkdtemp(prefix="memos-make-cubes-"))
    os.environ["MEMOS_HOME"] = str(home)
    stack = EmbeddedStack(home / "stack")
    stack.up()
    try:
        config = GeneralMemCubeConfig.model_validate(
            {
                "user_id": "root",
                "cube_id": "mem_cube_tree",
                "text_mem": {
                    "backend": "tree_text",
                    "config": {"cube_id": "make_cubes_tmp", "user_id": "root"},
                },
            }
        )
        cube = GeneralMemCube(config)
        reader = SimpleStructMemReader(SimpleStructMemReaderConfig())
        windows = reader.get_memory(
            [CONVERSATION], type="chat", info={"user_id": "root", "session_id": "s1"}
        )
        for window in windows:
            cube.text_mem.add(window)
        cube.dump(target)
        cube.text_mem.drop()
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)
    return target


if __name__ == "__main__":
    print("general cube:", make_general_cube())
    print("tree cube:", make_tree_cube())
