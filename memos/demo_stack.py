"""The real job, for ``make demo``: MOS on the embedded stack, events through daemon and worker.

Sections (each a function of :class:`memos.demo_context.DemoContext`, listed in
``memos.demo.SECTIONS``):

1. the stack starts in a private data home: Redis, ArcadeDB, the scheduler daemon and a Celery
   worker, each shown with its PID;
2. two users add conversations through ``MOS``; each call shows how long the worker's handler
   ran and how long the rest (stream, daemon, Celery hop, reply) took;
3. search with cited sources, tenant isolation, and a chat;
4. a background reorganisation (``MOS.reorganize(wait=False)`` queues it at background priority)
   merges a statement repeated on five days into one memory and supersedes a moved-away address;
5. a KV cache is built on the worker and used for a chat; time to first token with the cached
   prefix and with the same prefix as text, measured on the cache the worker stored;
6. ``memos status``, then every process the demo started is stopped by PID.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from rich.console import Console
from rich.table import Table

from memos.configs.mem_cube import GeneralMemCubeConfig
from memos.configs.mem_os import MOSConfig
from memos.demo_context import DemoContext
from memos.embedded.stack import EmbeddedStack
from memos.mem_cube.general import GeneralMemCube
from memos.mem_os.main import MOS
from memos.mem_scheduler.constants import SchedulerKeys
from memos.mem_scheduler.events import Event, EventResult
from memos.mem_scheduler.transport import EventTransport
from memos.workers import memory_reorganize

CHAT_MODEL = "smollm2-135m-instruct"
EMBEDDER = {"backend": "sentence_transformer", "config": {"model_name_or_path": "all-MiniLM-L6-v2"}}
DAYS = ["2023-05-01", "2023-05-08", "2023-05-15", "2023-05-22", "2023-05-29"]
RAMEN = "My favourite food is ramen."
# Each day alice says what she likes to eat, and one piece of news (two conversations a day).
ALICE_SESSIONS = [
    [RAMEN],
    ["I live in Boston, near the harbour."],
    [RAMEN],
    ["I started pottery classes on Tuesdays."],
    [RAMEN],
    ["My sister Emma visited me this weekend."],
    [RAMEN],
    ["I moved to Denver for a new job."],
    [RAMEN],
    ["I adopted a beagle named Rex."],
]
BOB_SESSIONS = [
    ["I play bass guitar in a jazz trio on Fridays.", "I am allergic to peanuts."],
    ["I am learning Japanese before a trip to Kyoto."],
]
KV_NOTES = (
    "Alice's notes. Alice lives in Denver; she moved there from Boston in May 2023 for a new "
    "job. Her favourite food is ramen, and she says so almost every week. She adopted a beagle "
    "named Rex, who is two years old and loves long walks by the river. She takes pottery "
    "classes on Tuesdays at a studio downtown and is making a set of blue bowls. Her sister is "
    "called Emma; Emma visited her on the weekend of 15 May 2023 and they went hiking. Alice "
    "works as a nurse on night shifts and is training for a half marathon in October."
)


@dataclass
class CallTiming:
    """One facade call: its event type, the whole round trip, and the worker's share of it."""

    event_type: str
    total_s: float
    handler_s: float | None

    @property
    def bus_s(self) -> float | None:
        """Everything but the handler: stream, daemon, Celery hop and the reply."""
        return None if self.handler_s is None else max(0.0, self.total_s - self.handler_s)

    def describe(self) -> str:
        """``total 412 ms = worker 380 + bus 32`` (ms)."""
        if self.handler_s is None or self.bus_s is None:
            return f"total {self.total_s * 1e3:.0f} ms"
        return (
            f"total {self.total_s * 1e3:.0f} ms = worker {self.handler_s * 1e3:.0f} "
            f"+ bus {self.bus_s * 1e3:.0f}"
        )


@dataclass
class TimedTransport:
    """Wraps the MOS transport to remember how long each call took, and where."""

    inner: EventTransport
    calls: list[CallTiming] = field(default_factory=list)

    def publish(self, event: Event) -> str:
        """Publish without waiting (background work)."""
        return self.inner.publish(event)

    def await_result(self, event_id: str, reply_to: str | None, timeout_s: float) -> EventResult:
        """Wait for a result published earlier."""
        return self.inner.await_result(event_id, reply_to, timeout_s)

    def publish_and_wait(self, event: Event, timeout_s: float) -> EventResult:
        """Publish, wait, and record the timing."""
        started = time.perf_counter()
        result = self.inner.publish_and_wait(event, timeout_s)
        total = time.perf_counter() - started
        self.calls.append(CallTiming(event.type, total, result.handler_s))
        return result

    def close(self) -> None:
        """Close the wrapped transport."""
        self.inner.close()

    def last(self) -> CallTiming:
        """The timing of the latest call."""
        return self.calls[-1]


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", expand=False, show_lines=False)
    for name in columns:
        table.add_column(name, overflow="fold")
    return table


def _cube_config(cube_id: str, user_id: str, *, kv: bool) -> GeneralMemCubeConfig:
    act: dict[str, Any] = {"backend": "uninitialized", "config": {}}
    if kv:
        llm = {"model_name_or_path": CHAT_MODEL, "max_tokens": 48, "add_generation_prompt": True}
        act = {
            "backend": "kv_cache",
            "config": {"extractor_llm": {"backend": "huggingface", "config": llm}},
        }
    return GeneralMemCubeConfig.model_validate(
        {
            "user_id": user_id,
            "cube_id": cube_id,
            "text_mem": {
                "backend": "tree_text",
                "config": {
                    "embedder": EMBEDDER,
                    "graph_db": {"backend": "arcadedb", "config": {"uri": "embedded"}},
                    "reorganize": False,
                },
            },
            "act_mem": act,
        }
    )


def _mos_config(home: Path) -> MOSConfig:
    return MOSConfig.model_validate(
        {
            "user_id": "alice",
            "chat_model": {
                "backend": "huggingface",
                "config": {"model_name_or_path": CHAT_MODEL, "temperature": 0.0, "max_tokens": 48},
            },
            "top_k": 5,
            "enable_activation_memory": True,
            "reorganize": {"enabled": False, "config": {"hierarchy": False}},
            "embedded": {"home": str(home)},
        }
    )


@contextmanager
def _working(ctx: DemoContext, message: str) -> Iterator[None]:
    """A spinner while something slow (a first model load) runs; a plain line when not a TTY."""
    with ctx.console.status(message, spinner="dots"):
        yield


def _mos(ctx: DemoContext) -> MOS:
    mos = ctx.objects["mos"]
    assert isinstance(mos, MOS)
    return mos


def _timer(ctx: DemoContext) -> TimedTransport:
    timer = ctx.objects["timer"]
    assert isinstance(timer, TimedTransport)
    return timer


def start_stack(ctx: DemoContext) -> None:
    """Start the embedded stack through MOS and show each process with its PID."""
    home = ctx.workdir / "home"
    ctx.objects["home"] = home
    started = time.perf_counter()
    with _working(ctx, "starting Redis, ArcadeDB, the scheduler daemon and a Celery worker..."):
        mos = MOS(_mos_config(home))
    ctx.objects["mos"] = mos
    timer = TimedTransport(mos.transport)
    mos.transport = timer
    ctx.objects["timer"] = timer
    status = EmbeddedStack(home / "stack").status()
    ctx.console.print(f"data home: {home}", markup=False, highlight=False)
    table = _table("the processes, each started by PID", "part", "PID", "state")
    for comp in status.components:
        table.add_row(comp.name, str(comp.pid or "-"), "ok" if comp.healthy else comp.detail)
    ctx.console.print(table)
    ctx.console.print(f"stack, daemon and worker up in {time.perf_counter() - started:.1f} s")
    if not status.healthy:
        raise RuntimeError("the embedded stack is not healthy")


def add_conversations(ctx: DemoContext) -> None:
    """Two users, each with a cube; conversations on five days go in through ``MOS.add``."""
    mos, timer = _mos(ctx), _timer(ctx)
    mos.create_user("bob")  # alice is the MOS's own user (config user_id)
    cubes: dict[str, str] = {}
    with _working(ctx, "registering the cubes (the worker loads MiniLM and SmolLM2)..."):
        for user, kv in (("alice", True), ("bob", False)):
            # A cube directory holding only its config: the application loads no model.
            source = ctx.workdir / "cubes" / user
            source.mkdir(parents=True)
            _cube_config(f"{user}_cube", user, kv=kv).to_json_file(source / "config.json")
            cubes[user] = mos.register_mem_cube(source, user_id=user)
            ctx.console.print(f"registered {cubes[user]} for {user}: {timer.last().describe()}")
    ctx.objects["cubes"] = cubes
    table = _table("MOS.add, one event per session", "user", "day", "stored", "timing (ms)")
    alice_days = [day for day in DAYS for _ in range(2)]
    plan = [("alice", day, s) for day, s in zip(alice_days, ALICE_SESSIONS, strict=True)]
    plan += [("bob", day, s) for day, s in zip(DAYS[1:], BOB_SESSIONS, strict=False)]
    with _working(ctx, "adding (the worker loads the embedder on the first add)..."):
        for user, day, texts in plan:
            messages = [
                {"role": "user", "content": text, "chat_time": f"{day}T19:{30 + i:02d}:00"}
                for i, text in enumerate(texts)
            ]
            ids = mos.add(
                messages=messages,
                mem_cube_id=cubes[user],
                user_id=user,
                session_id=f"{user}-{day}",
            )
            table.add_row(user, day, f"{len(ids)} memories", timer.last().describe())
    ctx.console.print(table)


def _hits(mos: MOS, query: str, user: str, cube_id: str, top_k: int = 5) -> list[dict[str, Any]]:
    found = mos.search(query, user_id=user, install_cube_ids=[cube_id], top_k=top_k)
    return list(found["text_mem"][0]["memories"]) if found["text_mem"] else []


def _days(hit: dict[str, Any]) -> str:
    sources = hit["metadata"].get("sources") or []
    days = sorted({str(s.get("chat_time") or "")[:10] for s in sources} - {""})
    return ", ".join(d[5:] for d in days) or "-"


def _ramen(hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The hits that are alice's ramen statement (not an assistant's reply quoting it)."""
    said = [h for h in hits if str(h["memory"]).startswith("The user said")]
    return [h for h in said if str(h["memory"]).endswith(RAMEN)]


def _hits_table(title: str, hits: list[dict[str, Any]]) -> Table:
    table = _table(title, "#", "memory", "cited (MM-DD)")
    for rank, hit in enumerate(hits, start=1):
        table.add_row(str(rank), str(hit["memory"]), _days(hit))
    return table


def search_and_chat(ctx: DemoContext) -> None:
    """Search with cited sources; another tenant sees nothing of it; a chat from memory."""
    mos, timer = _mos(ctx), _timer(ctx)
    cubes: dict[str, str] = ctx.objects["cubes"]  # type: ignore[assignment]
    query = "What is my favourite food?"
    hits = _hits(mos, query, "alice", cubes["alice"])
    ctx.console.print(_hits_table(f"alice searches {query!r}", hits))
    ctx.console.print(f"search: {timer.last().describe()}")
    ctx.objects["ramen_before"] = sum(
        str(h["memory"]).startswith("The user said") and "ramen" in str(h["memory"]) for h in hits
    )
    bob = mos.search(query, user_id="bob")
    seen = [m["memory"] for group in bob["text_mem"] for m in group["memories"]]
    leaked = [m for m in seen if "ramen" in str(m)]
    ctx.console.print(
        f"bob searches the same: {len(seen)} memories of his own cube, "
        f"{len(leaked)} of alice's ({timer.last().describe()})"
    )
    if leaked:
        raise RuntimeError("bob's search returned alice's memories")
    with _working(ctx, "chatting (the worker loads SmolLM2 on the first chat)..."):
        answer = mos.chat("Which city do I live in?", user_id="alice")
    ctx.console.print(f"alice: Which city do I live in?\nassistant: {answer.strip()}")
    ctx.console.print(f"chat: {timer.last().describe()}")


def _wait_for_report(ctx: DemoContext, cube_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
    state = EmbeddedStack(Path(str(ctx.objects["home"])) / "stack").read_state()
    assert state is not None
    key = memory_reorganize.report_key(SchedulerKeys(), cube_id)
    deadline = time.monotonic() + timeout_s
    with redis.Redis.from_url(state.redis.url) as conn:
        while time.monotonic() < deadline:
            raw = conn.get(key)
            if raw is not None:
                report: dict[str, Any] = json.loads(raw)
                return report
            time.sleep(0.2)
    raise RuntimeError(f"the background reorganisation of {cube_id} did not finish")


def reorganize(ctx: DemoContext) -> None:
    """A background run merges the repeated statement and supersedes the old address."""
    mos = _mos(ctx)
    cube_id: str = ctx.objects["cubes"]["alice"]  # type: ignore[index]
    where = "Where does the user live?"
    before = _hits(mos, where, "alice", cube_id, top_k=3)
    started = time.perf_counter()
    queued = mos.reorganize(mem_cube_id=cube_id, user_id="alice", wait=False)
    ctx.console.print(f"queued reorganize event {queued['event_id'][:8]}... at background priority")
    report = _wait_for_report(ctx, cube_id)
    dedup, conflicts = report["dedup"], report.get("conflicts", {})
    ctx.console.print(
        f"done in {time.perf_counter() - started:.1f} s: {dedup['groups_merged']} group(s) merged "
        f"({dedup['originals_archived']} originals archived), "
        f"{conflicts.get('superseded', 0)} fact(s) superseded"
    )
    food = _hits(mos, "What is my favourite food?", "alice", cube_id)
    ctx.console.print(_hits_table("after: 'What is my favourite food?'", food))
    ramen = _ramen(food)
    if len(ramen) != 1:
        raise RuntimeError("the repeated statement was not consolidated into one memory")
    sources = ramen[0]["metadata"]["sources"]
    ctx.console.print(
        f"before: {ctx.objects.get('ramen_before', '?')} ramen memories in the top 5; "
        f"after: 1, citing {len(sources)} turns"
    )
    ctx.console.print(f"merged memory: {ramen[0]['memory']}", highlight=False)
    for source in sources:
        ctx.console.print(f"  cites: {source.get('chat_time')} {source.get('content')}")
    after = _hits(mos, where, "alice", cube_id, top_k=3)
    ctx.console.print(_hits_table(f"before: {where!r}", before))
    ctx.console.print(_hits_table(f"after (Boston superseded): {where!r}", after))


def kv_cache(ctx: DemoContext) -> None:
    """Build a KV cache on the worker, chat with it, and time the first token."""
    mos, timer = _mos(ctx), _timer(ctx)
    cube_id: str = ctx.objects["cubes"]["alice"]  # type: ignore[index]
    handle = mos.mem_cubes[cube_id].act_mem
    assert handle is not None
    with _working(ctx, "building the KV cache of alice's notes on the worker..."):
        summaries = handle.add([handle.extract(KV_NOTES)])
    ctx.console.print(
        f"KV item {str(summaries[0]['id'])[:8]}... built and stored ({timer.last().describe()})"
    )
    question = "What is my sister called?"
    answer = mos.chat(question, user_id="alice")
    ctx.console.print(f"alice: {question}\nassistant (KV prefix): {answer.strip()}")
    ctx.console.print(f"chat with the KV cache: {timer.last().describe()}")
    dump = ctx.workdir / "alice_dump"
    mos.dump(dump, user_id="alice", mem_cube_id=cube_id)
    with _working(ctx, "loading the stored cache and SmolLM2 to time the first token..."):
        ttft = _measure_ttft(dump, question)
    table = _table("time to first token (median of 5)", "prefix", "ms")
    table.add_row(f"as text in the prompt ({ttft.prefix_tokens} tokens)", f"{ttft.injected_ms:.0f}")
    table.add_row("from the stored KV cache", f"{ttft.cached_ms:.0f}")
    ctx.console.print(table)
    ctx.console.print(
        f"{ttft.ratio:.1f}x faster first token; same first token: {ttft.same_first_token}"
    )


def _measure_ttft(dump: Path, question: str) -> Any:
    from memos.memories.activation.chat import measure_kv_ttft

    # Only the activation memory: the dumped tree is not loaded anywhere.
    config = json.loads((dump / "config.json").read_text(encoding="utf-8"))
    config["text_mem"] = {"backend": "uninitialized", "config": {}}
    cube = GeneralMemCube(GeneralMemCubeConfig.model_validate(config))
    cube.load(dump, ["act_mem"])
    act = cube.act_mem
    item = act.get_stored_view(next(iter(act.kv_cache_memories)))
    return measure_kv_ttft(act.llm, item, [{"role": "user", "content": question}], repeats=5)


def status_and_stop(ctx: DemoContext) -> None:
    """``memos status`` (the real CLI), then stop every process the demo started, by PID."""
    home = Path(str(ctx.objects["home"]))
    mos = ctx.objects.pop("mos", None)
    if isinstance(mos, MOS):
        mos.close()
    done = subprocess.run(
        [sys.executable, "-m", "memos", "status", "--home", str(home)],
        capture_output=True,
        text=True,
        check=False,
    )
    ctx.console.print("$ memos status", style="bold")
    ctx.console.print(done.stdout.rstrip(), markup=False, highlight=False)
    stops = EmbeddedStack(home / "stack").down()
    for stop in stops:
        ctx.console.print(f"stopped {stop.describe()}", markup=False, highlight=False)
    if done.returncode != 0:
        raise RuntimeError(f"memos status exited {done.returncode}: {done.stderr.strip()}")


def stop_quietly(ctx: DemoContext) -> None:
    """After a failed section: stop whatever the demo started (by PID) before exiting."""
    home = ctx.objects.get("home")
    if home is None:
        return
    mos = ctx.objects.pop("mos", None)
    if isinstance(mos, MOS):
        mos.close()
    EmbeddedStack(Path(str(home)) / "stack").down()


def console_for_80_columns() -> Console:
    """A console no wider than 80 columns, so every table reads on a standard terminal."""
    console = Console()
    return Console(width=min(console.width, 80))
