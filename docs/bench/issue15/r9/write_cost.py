"""Graph write cost of the worker's add path, on an embedded ArcadeDB (issue 15, round 8).

    python docs/bench/issue15/r9/write_cost.py statements   # per-statement time, 2-memory adds
    python docs/bench/issue15/r9/write_cost.py together     # one add at a time vs add_together
    python docs/bench/issue15/r9/write_cost.py commit       # a batch's stage writes vs its commit

The adds are the fast reader's memories of the bench's LoCoMo sessions with random unit vectors
(no embedding is timed): whole sessions for ``commit``, pairs of memories (a tenant's chat
exchange, 1,000 adds) for the others. One stack per run; per memory: wall, client CPU and
ArcadeDB CPU.
"""

import collections
import math
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from memos.bench.common import LOCOMO
from memos.bench.turns import load_sessions
from memos.configs.graph_db import GraphDBConfigFactory
from memos.configs.memory import TreeTextMemoryConfig
from memos.embedded.stack import EmbeddedStack
from memos.graph_dbs import GraphStore
from memos.graph_dbs import store as store_module
from memos.mem_scheduler.events import make_event
from memos.memories.textual.tree import TreeTextMemory, add_together
from memos.memories.textual.tree_nodes import as_tree_metadata
from memos.workers.add_batch import _Member, stages
from memos.workers.memory_handlers import _tree_items


def cpu(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def session_adds() -> list[tuple[str, list]]:
    """(conversation, the session's memories with random unit vectors), in bench order."""
    sessions, _ = load_sessions(LOCOMO, 2000)
    rng = random.Random(1)

    def vec() -> list[float]:
        v = [rng.gauss(0, 1) for _ in range(384)]
        n = math.sqrt(sum(x * x for x in v))
        return [x / n for x in v]

    adds = []
    for s in sessions:
        event = make_event("add", user_id="u", cube_id="c", session_id=s.session_id,
                           payload={"messages": s.messages})
        items = [i.model_copy(update={"metadata": as_tree_metadata(i.metadata).model_copy(
                     update={"embedding": vec(), "embedding_parts": None})})
                 for i in _tree_items(event)]
        adds.append((s.session_id.rsplit("-s", 1)[0], items))
    return adds


class NoEmbedder:  # never called: the items carry their vectors
    dimension = 384

    def embed(self, texts):
        raise AssertionError


class Bench:
    def __init__(self, adds: list) -> None:
        self.adds = adds
        self.memories = sum(len(i) for _, i in adds)
        self.stack = EmbeddedStack(home=Path(tempfile.mkdtemp()) / "stack")
        self.db = self.stack.up().arcadedb
        db = self.db
        self.cfg = GraphDBConfigFactory(backend="arcadedb", config={
            "uri": db.bolt_url, "http_url": db.http_url, "user": db.user,
            "password": db.password, "db_name": db.database, "embedding_dimension": 384})
        self.store = GraphStore(self.cfg)
        self.store.setup()
        self._mems: dict[str, TreeTextMemory] = {}

    def memory(self, cube: str) -> TreeTextMemory:
        if cube not in self._mems:
            config = TreeTextMemoryConfig(cube_id=cube, user_id="u", graph_db=self.cfg)
            self._mems[cube] = TreeTextMemory(config, embedder=NoEmbedder(), store=self.store)
        return self._mems[cube]

    def timed(self, label: str, body) -> None:
        t0, c0, a0 = time.perf_counter(), time.process_time(), cpu(self.db.pid)
        body()
        n = self.memories
        print(f"{label:24s} wall {(time.perf_counter() - t0) * 1000 / n:.2f} ms/mem, client cpu "
              f"{(time.process_time() - c0) * 1000 / n:.2f}, arcadedb cpu "
              f"{(cpu(self.db.pid) - a0) * 1000 / n:.2f}", flush=True)

    def write(self, tag: str, together: bool, batch: int) -> None:
        """Every add, ``batch`` per shared transaction, one by one or with add_together."""
        for start in range(0, len(self.adds), batch):
            chunk = [(self.memory(f"{tag}-{conv}"), items)
                     for conv, items in self.adds[start : start + batch]]
            with self.store.transaction() as shared:
                if together:
                    add_together(shared, chunk)
                else:
                    for memory, items in chunk:
                        memory.add(items, tx=shared.for_cube(memory.cube_id, "u"))

    def close(self) -> None:
        self.store.close()
        self.stack.down()


def statements(bench: Bench) -> None:
    """Each add in its own transaction (the tenants' shape before batching): time per statement."""
    spent: dict[str, list[float]] = collections.defaultdict(list)
    read = store_module._TxExecutor.read

    def timed_read(self, query, params, action):
        t = time.perf_counter()
        try:
            return read(self, query, params, action)
        finally:
            spent[action].append((time.perf_counter() - t) * 1000)

    store_module._TxExecutor.read = timed_read
    bench.timed("warm", lambda: bench.write("warm", False, 1))
    spent.clear()
    bench.timed("one add per transaction", lambda: bench.write("t1", False, 1))
    adds = len(bench.adds)
    for action, ms in sorted(spent.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {action:28s} {len(ms) / adds:5.2f}/add  median {statistics.median(ms):6.3f} ms"
              f"  total/add {sum(ms) / adds:6.3f} ms")


def together(bench: Bench) -> None:
    """Stages of 16 adds in shared transactions: one add at a time vs add_together, alternated."""
    bench.timed("warm, one by one", lambda: bench.write("w1", False, 16))
    bench.timed("warm, together", lambda: bench.write("w2", True, 16))
    for r in range(2):
        bench.timed(f"one by one {r}", lambda: bench.write(f"o{r}", False, 16))
        bench.timed(f"together {r}", lambda: bench.write(f"t{r}", True, 16))


def commit(bench: Bench, batch: int = 8) -> None:
    """Batches of 8 sessions as the worker writes them: stage writes (add_together) vs commit."""
    for tag in ("w", "x", "y"):
        write_s = commit_s = 0.0
        per_stage: list[tuple[int, float]] = []
        batches = range(0, len(bench.adds), batch)
        for start in batches:
            members = [_Member(None, bench.memory(f"{tag}-{conv}"), items)
                       for conv, items in bench.adds[start : start + batch]]
            context = bench.store.transaction()
            shared = context.__enter__()
            for stage in stages(members):
                t = time.perf_counter()
                add_together(shared, [(m.text_mem, m.items) for m in stage])
                spent = time.perf_counter() - t
                write_s += spent
                per_stage.append((sum(len(m.items) for m in stage), spent * 1000))
            t = time.perf_counter()
            context.__exit__(None, None, None)
            commit_s += time.perf_counter() - t
        n = bench.memories
        print(f"{tag}: write {write_s * 1000 / n:.2f} ms/mem, commit {commit_s * 1000 / n:.2f} "
              f"ms/mem; stage writes median {statistics.median(d for _, d in per_stage):.1f} ms "
              f"for {statistics.median(k for k, _ in per_stage)} memories; commit per batch "
              f"{commit_s * 1000 / len(batches):.1f} ms", flush=True)


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "together"
    adds = session_adds()
    if mode != "commit":  # a tenant's chat exchange: adds of two memories
        adds = [(f"{conv}x{k}", items[k : k + 2])
                for conv, items in adds for k in range(0, len(items), 2)][:1000]
    bench = Bench(adds)
    print(mode, "memories", bench.memories, "adds", len(adds))
    try:
        {"statements": statements, "together": together, "commit": commit}[mode](bench)
    finally:
        bench.close()
