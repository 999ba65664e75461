"""MOS.add takes the one message shape (ids, times) and cites it; empty turns are skipped.

On the real path: embedded Redis + ArcadeDB, the supervised daemon and worker, a tree cube.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memos.configs.mem_os import MOSConfig
from memos.errors import InvalidMemoryInputError
from memos.mem_cube.general import GeneralMemCube
from memos.mem_os.main import MOS
from tests.examples.conftest import stop_services
from tests.mem_os.helpers import tree_cube_config

pytestmark = pytest.mark.services

WHEN = "2023-05-08T13:56:00"


@pytest.fixture(scope="module")
def mos_and_cube(
    embedded_stack: object, memos_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[MOS, str]]:
    prefix = f"msg{uuid.uuid4().hex[:8]}"
    config = MOSConfig.model_validate(
        {
            "user_id": "alice",
            "embedded": {"home": str(memos_home)},
            "scheduler": {"prefix": prefix, "block_ms": 200},
            "event_timeout_s": 240,
            "reorganize": {"enabled": False},
        }
    )
    facade = MOS(config)
    try:
        cube_id = f"msg_{uuid.uuid4().hex[:6]}"
        source = tmp_path_factory.mktemp("msgcube") / cube_id
        GeneralMemCube(tree_cube_config(cube_id)).dump(source)
        facade.register_mem_cube(str(source), mem_cube_id=cube_id)
        yield facade, cube_id
    finally:
        facade.close()
        stop_services(memos_home, prefix)


def _sources(found: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        source
        for part in found["text_mem"]
        for memory in part["memories"]
        for source in memory["metadata"].get("sources") or []
    ]


def test_message_ids_and_times_are_accepted_and_cited(mos_and_cube: tuple[MOS, str]) -> None:
    mos, cube_id = mos_and_cube
    ids = mos.add(
        messages=[
            {
                "role": "user",
                "content": "My brother Tomas moved to Lisbon to teach sailing.",
                "message_id": "m1",
                "chat_time": WHEN,
                "name": "Ana",
            },
            {"role": "assistant", "content": "Lisbon has great wind for it.", "message_id": 2},
        ],
        mem_cube_id=cube_id,
    )
    assert ids
    found = mos.search("Where did Tomas move?", install_cube_ids=[cube_id], top_k=5)
    cited = {(s.get("message_id"), s.get("chat_time")) for s in _sources(found)}
    assert ("m1", WHEN) in cited


def test_one_empty_turn_is_skipped_and_the_rest_stored(
    mos_and_cube: tuple[MOS, str], caplog: pytest.LogCaptureFixture
) -> None:
    mos, cube_id = mos_and_cube
    with caplog.at_level("INFO", logger="memos.messages"):
        ids = mos.add(
            messages=[
                {"role": "user", "content": "", "message_id": "e1"},
                {
                    "role": "user",
                    "content": "Our dog Pepa hates thunderstorms.",
                    "message_id": "e2",
                },
                {"role": "assistant", "content": "  \n", "message_id": "e3"},
            ],
            mem_cube_id=cube_id,
        )
    assert ids
    assert "skipped 2 empty message(s), kept 1" in caplog.text
    found = mos.search("What does Pepa hate?", install_cube_ids=[cube_id], top_k=5)
    cited = {s.get("message_id") for s in _sources(found)}
    assert "e2" in cited and not cited & {"e1", "e3"}


def test_only_empty_turns_are_refused_with_a_clear_error(mos_and_cube: tuple[MOS, str]) -> None:
    mos, cube_id = mos_and_cube
    with pytest.raises(InvalidMemoryInputError, match=r"nothing to store: all 2 message\(s\)"):
        mos.add(
            messages=[{"role": "user", "content": ""}, {"role": "user", "content": " "}],
            mem_cube_id=cube_id,
        )
    with pytest.raises(InvalidMemoryInputError, match="messages 0: colour: Extra inputs"):
        mos.add(messages=[{"role": "user", "content": "x", "colour": "red"}], mem_cube_id=cube_id)
