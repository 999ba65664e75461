"""In-process: time the index-side search steps (filter, vector, fulltext, signals) at 1k / 100k."""
import os, sys, time, statistics, cProfile, pstats
os.environ.setdefault("OMP_NUM_THREADS", "1")
from pathlib import Path
import numpy as np
from threadpoolctl import threadpool_limits
from memos.bench.search_latency import cube_items

from memos.memories.textual.cube_index import CubeIndex
from memos.memories.textual.query_signals import signal_rankings
from memos.memories.textual.tree_search import DEFAULT_SIGNALS
from memos.graph_dbs.store import NodeFilter
from memos.memories.textual.retrieval import fulltext_query
from memos.bench.search_scale import cache_dir
import hashlib

data = Path("/work/shared/data/locomo/locomo10.json")
N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
items = cube_items(data, N)
with np.load(cache_dir() / "embeddings-all-MiniLM-L6-v2.npz") as d:
    known = dict(zip(d["keys"].tolist(), d["vectors"]))
rows = []
for i, it in enumerate(items):
    k = hashlib.sha1(it["memory"].encode()).hexdigest()
    rows.append({"id": f"n{i}", "embedding": known[k], "memory": it["memory"], "status": "activated",
                 "memory_type": "LongTermMemory", "type": "fact", "session_id": None,
                 "created_at": "2026-01-01T00:00:00", "entities": it["metadata"]["entities"],
                 "memory_time": None})
idx = CubeIndex(384)
t = time.perf_counter(); idx.upsert(rows); print("build", time.perf_counter() - t)
from memos.bench.turns import load_questions as lq
qs = lq(data, 105)

from datetime import datetime, UTC
nf = NodeFilter(statuses=("activated",), memory_types=("WorkingMemory", "LongTermMemory", "UserMemory"),
                valid_at_ts=datetime.now(UTC).timestamp())
rng = np.random.default_rng(0)
vecs = [rows[int(j)]["embedding"] for j in rng.integers(0, len(rows), len(qs))]
steps = {k: [] for k in ("filter", "vector", "fulltext", "signals")}
def one(q, v):
    t0 = time.perf_counter(); keep = idx.mask(nf); t1 = time.perf_counter()
    vq = idx.vector_query(v); vids = [i for i, _ in vq.search(keep, 50)]; t2 = time.perf_counter()
    luc = fulltext_query(q); ts = idx.text_scores(luc) if luc else None
    tids = [i for i, _ in idx.text_top(ts, 50, keep)] if ts is not None else []; t3 = time.perf_counter()
    signal_rankings(idx, q, vq, ts, 50, keep, DEFAULT_SIGNALS); t4 = time.perf_counter()
    for k, a, b in (("filter", t0, t1), ("vector", t1, t2), ("fulltext", t2, t3), ("signals", t3, t4)):
        steps[k].append((b - a) * 1000)
import collections, functools
from memos.memories.textual import cube_index as ci, query_signals as qsig
acc = collections.defaultdict(float); cnt = collections.Counter()
def wrap(owner, name, label):
    f = getattr(owner, name)
    @functools.wraps(f)
    def g(*a, **k):
        t = time.perf_counter()
        try: return f(*a, **k)
        finally: acc[label] += time.perf_counter() - t; cnt[label] += 1
    setattr(owner, name, g)
for name in ("speaker_mask", "entity_mask", "text_scores", "text_top", "_hnsw_candidates", "mask", "co_mentioned", "timed_mask", "_top", "speakers"):
    wrap(ci.CubeIndex, name, name)
wrap(ci.VectorQuery, "search", "VQ.search")
wrap(qsig, "decompose", "decompose")
with threadpool_limits(1):
    for q, v in zip(qs[:5], vecs[:5]): one(q, v)
    acc.clear(); cnt.clear()
    for k in steps: steps[k].clear()
    pr = cProfile.Profile(); pr.enable()
    for q, v in zip(qs[5:], vecs[5:]): one(q, v)
    pr.disable()
print(N, {k: round(statistics.median(v), 2) for k, v in steps.items()})
for k in sorted(acc, key=acc.get, reverse=True): print(f"  {k:18s} {acc[k]*1000/100:7.3f} ms/query  {cnt[k]/100:5.2f} calls/query")
if len(sys.argv) > 2:
    pstats.Stats(pr).sort_stats("cumulative").print_stats(35)
