import time, statistics, torch
torch.set_num_threads(1)
from pathlib import Path
from memos.bench.common import LOCOMO
from memos.bench.turns import load_sessions
from memos.bench.locomo_recall import _base_embedder
from memos.mem_scheduler.events import make_event
from memos.workers.memory_handlers import _tree_items
from memos.memories.textual.tree_nodes import as_tree_metadata
sessions,_ = load_sessions(LOCOMO, 2000)
per_session = []
for s in sessions:
    ev = make_event("add", user_id="u", cube_id="c", session_id=s.session_id, payload={"messages": s.messages})
    parts = []
    for it in _tree_items(ev):
        parts.extend(p.text for p in as_tree_metadata(it.metadata).embedding_parts)
    per_session.append(list(dict.fromkeys(parts)))
raw_per = [[m['content'] for m in s.messages] for s in sessions]
raw = [t for r in raw_per for t in r]
emb = _base_embedder(); emb.embed(raw[:8])
def batched(lists, batch=8, dedup=True):
    seen = set()
    for b in range(0, len(lists), batch):
        texts = []
        for l in lists[b:b+batch]:
            new = [p for p in l if p not in seen] if dedup else l
            seen.update(new); texts.extend(new)
        emb.embed(texts)
allparts = list(dict.fromkeys(p for l in per_session for p in l))
print("raw", len(raw), "parts", len(allparts), "chars", sum(map(len, raw)), sum(map(len, allparts)))
cfgs = {"raw-one-call": lambda: emb.embed(raw), "parts-one-call": lambda: emb.embed(allparts),
        "raw-per-8": lambda: batched(raw_per, dedup=False), "parts-per-8": lambda: batched(per_session)}
res = {}
for rep in range(3):
    for name, fn in cfgs.items():
        c0 = time.process_time(); fn(); res.setdefault(name, []).append(len(raw)/(time.process_time()-c0))
for name, v in res.items(): print(name, round(statistics.median(v),1), [round(x) for x in v])
import memos.embedders.base as B
res = {}
for rep in range(3):
    for spread in (1.25, 1.5, 2.0, 3.0, 100.0):
        B.MAX_LENGTH_SPREAD = spread
        c0 = time.process_time(); batched(per_session); res.setdefault(spread, []).append(len(raw)/(time.process_time()-c0))
    B.MAX_LENGTH_SPREAD = 1.5
    c0 = time.process_time(); emb.embed(raw); res.setdefault("raw-one", []).append(len(raw)/(time.process_time()-c0))
for name, v in res.items(): print("spread", name, round(statistics.median(v),1), [round(x) for x in v])
# per-forward overhead
short = ["hello there friend"] * 64
for n in (1, 8, 64):
    c0 = time.process_time()
    for _ in range(20): emb.embed(short[:n])
    print("forward of", n, "short texts:", round((time.process_time()-c0)/20*1000, 2), "ms")
