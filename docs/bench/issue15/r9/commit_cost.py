"""Graph write cost per memory: wall, client CPU, ArcadeDB CPU; with/without store indexes."""
import os, sys, time, json, tempfile, random, math, statistics
from pathlib import Path
from memos.bench.common import LOCOMO
os.environ.setdefault("OMP_NUM_THREADS", "1")
from memos.embedded.stack import EmbeddedStack
from memos.configs.graph_db import GraphDBConfigFactory
from memos.configs.memory import TreeTextMemoryConfig
from memos.graph_dbs import GraphStore
from memos.memories.textual.tree import TreeTextMemory
from memos.memories.textual.tree_nodes import as_tree_metadata
from memos.mem_scheduler.events import make_event
from memos.workers.memory_handlers import _tree_items
from memos.bench.turns import load_sessions

def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

sessions, _ = load_sessions(LOCOMO, 2000)
rng = random.Random(1)
def vec():
    v = [rng.gauss(0, 1) for _ in range(384)]; n = math.sqrt(sum(x*x for x in v)); return [x/n for x in v]
events = []
for s in sessions:
    ev = make_event("add", user_id="u", cube_id="c", session_id=s.session_id, payload={"messages": s.messages})
    items = _tree_items(ev)
    items = [i.model_copy(update={"metadata": as_tree_metadata(i.metadata).model_copy(update={"embedding": vec(), "embedding_parts": None})}) for i in items]
    events.append((s.session_id.rsplit("-s",1)[0], items))
import sys as _s
if False:
    pass
    events = [(f"{conv}x{k}", items[k:k+2]) for conv, items in events for k in range(0, len(items), 2)][:1000]
print("memories", sum(len(i) for _, i in events), "adds", len(events))
home = Path(tempfile.mkdtemp())
stack = EmbeddedStack(home=home / "stack"); st = stack.up()
a = st.arcadedb
cfg = GraphDBConfigFactory(backend="arcadedb", config={"uri": a.bolt_url, "http_url": a.http_url, "user": a.user, "password": a.password, "db_name": a.database, "embedding_dimension": 384})
store = GraphStore(cfg); store.setup()
class E:  # never called: items carry embeddings
    dimension = 384
    def embed(self, t): raise AssertionError
def run(tag, batch=8):
    mems = {}
    t0 = time.perf_counter(); c0 = time.process_time(); a0 = cpu(a.pid)
from memos.memories.textual.tree import add_together
from memos.workers.add_batch import stages, _Member
mems = {}
def mem(cube):
    m = mems.get(cube)
    if m is None:
        m = mems[cube] = TreeTextMemory(TreeTextMemoryConfig(cube_id=cube, user_id="u", graph_db=cfg), embedder=E(), store=store)
    return m
def run3(tag, batch=8):
    w_write = w_commit = 0.0; per_stage = []
    for start in range(0, len(events), batch):
        chunk = [(mem(f"{tag}-{conv}"), items) for conv, items in events[start:start+batch]]
        members = [_Member(None, m, items) for m, items in chunk]
        st = stages(members)
        cm = store.transaction(); shared = cm.__enter__()
        for stage in st:
            t = time.perf_counter(); add_together(shared, [(m.text_mem, m.items) for m in stage]); d = time.perf_counter() - t
            w_write += d; per_stage.append((sum(len(m.items) for m in stage), d * 1000))
        t = time.perf_counter(); cm.__exit__(None, None, None); w_commit += time.perf_counter() - t
    n = sum(len(i) for _, i in events)
    last = [d for _, d in per_stage]
    print(f"{tag}: write {w_write*1000/n:.2f} ms/mem, commit {w_commit*1000/n:.2f} ms/mem; stage writes median {statistics.median(last):.1f} ms for {statistics.median([k for k,_ in per_stage])} memories; batches {len(range(0, len(events), batch))}, commit per batch {w_commit*1000/len(range(0, len(events), batch)):.1f} ms", flush=True)
try:
    run3("w"); run3("x"); run3("y")
finally:
    store.close(); stack.down()
