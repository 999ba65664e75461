"""Daemon search latency by what precedes it, rotated per query so load drift hits all alike:
'interleaved' (a direct search just before), 'gap' (an idle 25 ms sleep just before), 'back'
(another daemon search just before). Hops per mode from the trace."""

import json
import statistics
import sys
import time
from pathlib import Path

from memos.bench.common import LOCOMO
from memos.bench.daemon_hops import HOPS
from memos.bench.harness import MOSHarness
from memos.bench.search_latency import BATCH, cube_items, worker_threads
from memos.bench.search_scale import embed_cached
from memos.bench.turns import load_questions

N = int(sys.argv[1]) if len(sys.argv) > 1 else 60
out_path = sys.argv[2] if len(sys.argv) > 2 else None
qs = load_questions(Path(LOCOMO), N + 5)
items = cube_items(Path(LOCOMO), 1000)
modes = ("interleaved", "gap", "back")
samples = {m: {"total": [], **{h: [] for h, _, _ in HOPS}} for m in modes}
direct = []


def daemon(mos, q):
    called = time.time()
    ev = mos._search_event(q, None, ["c1k"], 10) if hasattr(mos, "_search_event") else None
    if ev is None:
        from memos.mem_scheduler.events import make_event

        user = mos._user(None)
        cubes = mos._search_scope(user, ["c1k"])
        ev = make_event(
            "query",
            user_id=user,
            cube_id="c1k",
            payload={
                "query": q,
                "top_k": 10,
                "install_cube_ids": cubes,
                "options": mos._query_options(),
            },
        )
    pub = time.time()
    r = mos.transport.publish_and_wait(ev, 60)
    seen = time.time()
    st = {**(r.trace or {}), "called": called, "published": pub, "seen": seen}
    return st


with MOSHarness() as h:
    h.embedder.embed(["warm"])
    vecs = embed_cached(h.embedder, [i["memory"] for i in items], lambda n: None)
    for it, v in zip(items, vecs):
        it["metadata"]["embedding"] = v
    h.new_tree_cube("c1k")
    mem = h.tree_memory("c1k")
    for s in range(0, len(items), BATCH):
        mem.add(items[s : s + BATCH])
    mos = h.mos
    with worker_threads():
        for q in qs[:5]:
            mem.search(q, 10)
            daemon(mos, q)
        for rep in range(2):
            for i, q in enumerate(qs[5:]):
                for k in range(3):
                    mode = modes[(i + k) % 3]
                    if mode == "interleaved":
                        s = time.perf_counter()
                        mem.search(q, 10)
                        direct.append((time.perf_counter() - s) * 1000)
                    elif mode == "gap":
                        time.sleep(0.025)
                    else:
                        daemon(mos, q)
                    st = daemon(mos, q)
                    samples[mode]["total"].append((st["seen"] - st["called"]) * 1000)
                    for name, a, b in HOPS:
                        if st.get(a) and st.get(b):
                            samples[mode][name].append((st[b] - st[a]) * 1000)
                    for key, v in st.items():
                        if key.startswith("ms:"):
                            samples[mode].setdefault(key, []).append(v)
med = lambda v: round(statistics.median(v), 2) if v else None
res = {
    "direct_p50": med(direct),
    "modes": {m: {k: med(v) for k, v in d.items()} for m, d in samples.items()},
}
print(json.dumps(res, indent=1))
if out_path:
    Path(out_path).write_text(json.dumps(res, indent=1))
