"""A short tour of the embedded default, run by ``make demo`` (``python -m memos.demo``).

The demo is a list of sections; each is a function taking the shared
:class:`~memos.demo_context.DemoContext` and printing what it did. A short in-process tour of
GeneralTextMemory comes first; the real job (:mod:`memos.demo_stack`) follows. Everything runs
offline on the packaged models and exits 0 on success.
"""

from __future__ import annotations

import os

# Before torch / faiss are imported: few threads on small machines, and never reach a model hub.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")  # conversion and weight-loading bars
# The demo's stack lives in a fresh data home; converted models are shared with the default one
# (inherited by the daemon and worker it starts), so SmolLM2's GGUF is converted once per machine.
os.environ.setdefault(
    "MEMOS_MODEL_CACHE",
    os.path.join(os.path.expanduser(os.environ.get("MEMOS_HOME") or "~/.memos"), "models"),
)

import sys
import tempfile
import time
from pathlib import Path

from rich.table import Table

from memos import demo_stack
from memos.configs.memory import GeneralTextMemoryConfig
from memos.demo_context import DemoContext, Section
from memos.errors import MemOSError
from memos.memories.textual.base import MemoryInput
from memos.memories.textual.general import GeneralTextMemory
from memos.memories.textual.item import TextualMemoryItem

FACTS = [
    ("alice", "Alice adopted a golden retriever puppy named Biscuit."),
    ("alice", "Alice works night shifts as a nurse at the city hospital."),
    ("alice", "Alice is training for the Lisbon half marathon in October."),
    ("bob", "Bob plays bass guitar in a jazz trio on Fridays."),
    ("bob", "Bob is allergic to peanuts and avoids Thai takeaway."),
    ("bob", "Bob is learning Japanese before a trip to Kyoto."),
]
QUERIES = ["Who has a dog?", "What should I not cook for Bob?", "Who is going abroad?"]


def results_table(title: str, query: str, hits: list[TextualMemoryItem]) -> Table:
    """A table of search hits: rank, score, user, memory text."""
    table = Table(title=f"{title}: {query!r}", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("user")
    table.add_column("memory")
    for rank, hit in enumerate(hits, start=1):
        score = hit.metadata.relativity
        table.add_row(
            str(rank),
            f"{score:.3f}" if score is not None else "-",
            hit.metadata.user_id or "",
            hit.memory,
        )
    return table


def general_text_memory(ctx: DemoContext) -> None:
    """GeneralTextMemory on the packaged MiniLM + faiss: add, search, dump, load, search again."""
    console = ctx.console
    started = time.perf_counter()
    memory = GeneralTextMemory(GeneralTextMemoryConfig())
    facts: list[MemoryInput] = [
        {"memory": text, "metadata": {"user_id": user}} for user, text in FACTS
    ]
    facts.extend(
        memory.extract(
            [
                {"role": "user", "content": "I just moved to Porto. The rent is lower here."},
                {"role": "assistant", "content": "Congratulations on the move!"},
            ]
        )
    )
    ids = memory.add(facts)
    console.print(
        f"added {len(ids)} memories (model load + embedding: {time.perf_counter() - started:.1f} s)"
    )
    before = {}
    for query in QUERIES:
        hits = memory.search(query, top_k=3)
        before[query] = [(h.id, h.metadata.relativity) for h in hits]
        if query == QUERIES[0]:  # a short first part: one table, the rest are checked below
            console.print(results_table("search", query, hits))
    bob_only = memory.search("music hobbies", top_k=2, filter={"user_id": "bob"})
    console.print(results_table("search, filter user_id=bob", "music hobbies", bob_only))

    dump_dir = ctx.workdir / "general_text"
    memory.dump(dump_dir)
    files = sorted(str(p.relative_to(dump_dir)) for p in dump_dir.rglob("*") if p.is_file())
    console.print(f"dumped: {', '.join(files)}")

    reloaded = GeneralTextMemory(GeneralTextMemoryConfig())
    reloaded.load(dump_dir)
    for query in QUERIES:
        hits = reloaded.search(query, top_k=3)
        if [(h.id, h.metadata.relativity) for h in hits] != before[query]:
            raise RuntimeError(f"search after load differs for {query!r}")
    console.print(
        f"[green]reloaded {reloaded.count()} memories; "
        f"all {len(QUERIES)} searches identical[/green]"
    )
    ctx.objects["general_text_memory"] = reloaded


def _stack_sections() -> list[tuple[str, Section]]:
    return [
        ("1. The embedded stack: Redis, ArcadeDB, daemon, worker", demo_stack.start_stack),
        ("2. Two users add conversations through MOS", demo_stack.add_conversations),
        ("3. Search with cited sources, isolation, chat", demo_stack.search_and_chat),
        ("4. Background reorganisation: merge and supersede", demo_stack.reorganize),
        ("5. A KV cache built on the worker, used for a chat", demo_stack.kv_cache),
        ("6. memos status, then stop everything by PID", demo_stack.status_and_stop),
    ]


SECTIONS: list[tuple[str, Section]] = [
    ("0. GeneralTextMemory (MiniLM + faiss, in process)", general_text_memory),
    *_stack_sections(),
]


def main() -> int:
    """Run every section in order; 0 if all succeeded, 1 otherwise."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call] # weight-loading bars add noise to the demo output
    console = demo_stack.console_for_80_columns()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="memos-demo-") as tmp:
        ctx = DemoContext(console=console, workdir=Path(tmp))
        try:
            for title, section in SECTIONS:
                console.rule(f"[bold]{title}")
                started = time.perf_counter()
                section(ctx)
                console.print(f"[dim]{title}: {time.perf_counter() - started:.1f} s[/dim]")
        except (MemOSError, RuntimeError) as exc:
            console.print(f"[red]section failed: {exc}[/red]")
            return 1
        finally:
            demo_stack.stop_quietly(ctx)  # whatever is still running (after a failure), by PID
    console.print(f"[bold green]demo finished in {time.perf_counter() - began:.0f} s[/bold green]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
