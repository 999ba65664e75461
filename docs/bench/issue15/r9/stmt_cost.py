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
if True:
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
    for start in range(0, len(events), batch):
        with store.transaction() as shared:
            for conv, items in events[start:start+batch]:
                cube = f"{tag}-{conv}"
                m = mems.get(cube) or mems.setdefault(cube, TreeTextMemory(TreeTextMemoryConfig(cube_id=cube, user_id="u", graph_db=cfg), embedder=E(), store=store))
                m.add(items, tx=shared.for_cube(cube, "u"))
    n = sum(len(i) for _, i in events)
    w = time.perf_counter()-t0; c = time.process_time()-c0; ad = cpu(a.pid)-a0
    print(f"{tag}: wall {w*1000/n:.2f} ms/mem, client cpu {c*1000/n:.2f}, arcadedb cpu {ad*1000/n:.2f}", flush=True)
    return w, c, ad
import subprocess, urllib.request, base64
def sql(cmd):
    req = urllib.request.Request(f"{a.http_url}/api/v1/command/{a.database}", data=json.dumps({"language": "sql", "command": cmd}).encode(), headers={"Content-Type": "application/json", "Authorization": "Basic " + base64.b64encode(f"{a.user}:{a.password}".encode()).decode()})
import collections
from memos.graph_dbs import store as store_mod
acc = collections.defaultdict(list)
orig = store_mod._TxExecutor.read
def timed_read(self, query, params, action):
    t = time.perf_counter()
    try: return orig(self, query, params, action)
    finally: acc[action].append((time.perf_counter() - t) * 1000)
store_mod._TxExecutor.read = timed_read
try:
    run("warm", batch=int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    acc.clear()
    w, c, ad = run("t1", batch=int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    n_adds = len(events)
    for k, v in sorted(acc.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {k:28s} {len(v)/n_adds:5.2f}/add  median {statistics.median(v):6.3f} ms  total/add {sum(v)/n_adds:6.3f} ms")
finally:
    store.close(); stack.down()
