import time, statistics, torch, json, sys
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
raw = [m['content'] for s in sessions for m in s.messages]
emb = _base_embedder()
emb.embed(raw[:8])
def worker_like(stage_texts, batch=8):
    seen = set(); calls = 0
    for b in range(0, len(per_session), batch):
        stage = []
        for parts in per_session[b:b+batch]:
            new = [p for p in parts if p not in seen]; seen.update(new)
            stage.extend(new)
            if len(stage) >= stage_texts:
                emb.embed(stage); calls += 1; stage = []
        if stage: emb.embed(stage); calls += 1
    return calls
res = {}
for rep in range(3):
    for cfg in ("raw", 32, 128, 512):
        t0 = time.perf_counter(); c0 = time.process_time()
        if cfg == "raw": emb.embed(raw)
        else: worker_like(cfg)
        res.setdefault(cfg, []).append((len(raw)/(time.perf_counter()-t0), len(raw)/(time.process_time()-c0)))
        print(cfg, rep, [round(x) for x in res[cfg][-1]], flush=True)
for cfg, v in res.items():
    print(cfg, "wall turns/s", round(statistics.median(x[0] for x in v),1), "cpu turns/s", round(statistics.median(x[1] for x in v),1))
