"""The daemon's read-ahead buffer: priorities first, then tenants round-robin, cubes in order.

Selection, each time a slot frees up:

1. Only the head (oldest entry) of each cube is eligible, and only when the cube has nothing in
   flight and its ordering gate is open, so a cube's events run one at a time, in stream order.
2. Among eligible heads, the lowest priority class wins (query < add/answer < reorganize and
   kv_refresh), so interactive work overtakes background work of other cubes.
3. Within that class, the least recently served tenant (``user_id``) wins, so a tenant with a
   burst of 1,000 adds takes turns with a tenant that sent one event instead of queueing it last.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from memos.mem_scheduler.constants import PRIORITY_BACKGROUND, PRIORITY_BY_TYPE
from memos.mem_scheduler.events import Event
from memos.mem_scheduler.ordering import parse_entry_id


@dataclass(order=False)
class StreamEntry:
    """A parsed entry of the event stream, held by this replica until acked."""

    entry_id: str
    event: Event
    raw: str
    seq: int | None
    sort_key: tuple[int, int] = field(init=False)
    #: When this replica read it (epoch seconds): the first stamp of the hop profile.
    read_at: float = field(default_factory=time.time, compare=False)

    def __post_init__(self) -> None:
        self.sort_key = parse_entry_id(self.entry_id)

    @property
    def cube(self) -> str:
        """The cube the event applies to (the ordering domain)."""
        return str(self.event.cube_id)

    @property
    def tenant(self) -> str:
        """The tenant the event belongs to (the fairness domain)."""
        return str(self.event.user_id)

    @property
    def priority(self) -> int:
        """Priority class; lower runs first."""
        return PRIORITY_BY_TYPE.get(self.event.type, PRIORITY_BACKGROUND)


class FairQueue:
    """Per-cube FIFO lists with priority and tenant round-robin selection (see module doc)."""

    def __init__(self) -> None:
        self._cubes: dict[str, list[StreamEntry]] = {}
        self._ids: set[str] = set()
        self._turn = 0
        self._last_served: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._ids

    def __iter__(self) -> Iterator[StreamEntry]:
        for entries in self._cubes.values():
            yield from entries

    def push(self, entry: StreamEntry) -> bool:
        """Add an entry in stream order within its cube; False if it is already held."""
        if entry.entry_id in self._ids:
            return False
        entries = self._cubes.setdefault(entry.cube, [])
        keys = [e.sort_key for e in entries]
        entries.insert(bisect.bisect(keys, entry.sort_key), entry)
        self._ids.add(entry.entry_id)
        return True

    def heads(self) -> list[StreamEntry]:
        """The oldest entry of every cube."""
        return [entries[0] for entries in self._cubes.values() if entries]

    def pop_ready(
        self, is_ready: Callable[[StreamEntry], bool], busy_cubes: set[str]
    ) -> StreamEntry | None:
        """Remove and return the next entry to run, or None if no cube head may run now."""
        best: StreamEntry | None = None
        best_rank: tuple[int, int, tuple[int, int]] | None = None
        for cube, entries in self._cubes.items():
            if not entries or cube in busy_cubes:
                continue
            head = entries[0]
            if not is_ready(head):
                continue
            rank = (head.priority, self._last_served.get(head.tenant, -1), head.sort_key)
            if best_rank is None or rank < best_rank:
                best, best_rank = head, rank
        if best is None:
            return None
        entries = self._cubes[best.cube]
        entries.pop(0)
        if not entries:
            del self._cubes[best.cube]
        self._ids.discard(best.entry_id)
        self._last_served[best.tenant] = self._turn
        self._turn += 1
        return best

    def drain(self) -> list[StreamEntry]:
        """Remove and return everything (used to hand entries back at shutdown)."""
        out = [e for entries in self._cubes.values() for e in entries]
        self._cubes.clear()
        self._ids.clear()
        return out
