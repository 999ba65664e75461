"""FairQueue selection: priorities, tenant round-robin, per-cube order."""

from __future__ import annotations

from memos.mem_scheduler.events import make_event
from memos.mem_scheduler.fairness import FairQueue, StreamEntry


def entry(n: int, etype: str, user: str, cube: str) -> StreamEntry:
    payload = {"query": "q"} if etype == "query" else {"memory_content": "x"}
    if etype in ("reorganize", "kv_refresh"):
        payload = {}
    event = make_event(etype, user_id=user, cube_id=cube, payload=payload)
    return StreamEntry(entry_id=f"{1000 + n}-0", event=event, raw="", seq=None)


def drain(queue: FairQueue, busy: set[str] | None = None) -> list[StreamEntry]:
    out = []
    while (item := queue.pop_ready(lambda e: True, busy or set())) is not None:
        out.append(item)
    return out


def test_priority_then_round_robin_then_cube_order() -> None:
    q = FairQueue()
    for i in range(5):
        q.push(entry(i, "add", "a", f"a{i % 2}"))
    q.push(entry(10, "add", "b", "b0"))
    q.push(entry(11, "reorganize", "b", "b1"))
    q.push(entry(12, "query", "c", "c0"))
    order = [(e.event.type, e.tenant) for e in drain(q)]
    assert order[0] == ("query", "c")
    assert order[1:3] == [("add", "a"), ("add", "b")]
    assert order[-1] == ("reorganize", "b")


def test_busy_cube_is_skipped_and_order_kept_within_cube() -> None:
    q = FairQueue()
    q.push(entry(2, "add", "a", "x"))
    q.push(entry(1, "add", "a", "x"))  # reclaimed late: still goes first
    q.push(entry(3, "add", "a", "y"))
    assert q.pop_ready(lambda e: True, {"x"}).event.cube_id == "y"
    got = drain(q)
    assert [e.entry_id for e in got] == ["1001-0", "1002-0"]
    assert not q.push(got[0]) or len(q) == 1


def test_gate_blocks_a_cube_head() -> None:
    q = FairQueue()
    q.push(entry(1, "add", "a", "x"))
    assert q.pop_ready(lambda e: False, set()) is None
    assert len(q) == 1 and "1001-0" in q
