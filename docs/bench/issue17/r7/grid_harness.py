"""Scratch: build each conversation's cube once, then rank every question under many configs."""
import dataclasses, itertools, json, sys, time, uuid
import numpy as np
from memos.bench import locomo_recall as lr
from memos.bench.locomo_data import load_locomo
from memos.bench.private_store import PrivateGraphStore
from memos.memories.textual.tree_search import DEFAULT_SEARCH

split = sys.argv[1]
configs_src = sys.argv[2]  # python file defining CONFIGS: list[(name, dict)]
out_path = sys.argv[3]
reader_opts = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
long_turns = "--long-turns" in sys.argv
ns = {}
exec(open(configs_src).read(), ns)
CONFIGS = ns["CONFIGS"]

chosen = lr.select_split(load_locomo(lr.DEFAULT_DATA), split)
convs = [c for _, c in chosen]
if long_turns:
    from memos.bench.locomo_long_turns import long_turn_view
    convs = long_turn_view(convs)
emb = lr._base_embedder()
results = {name: [] for name, _ in CONFIGS}
timing = {name: [] for name, _ in CONFIGS}
with PrivateGraphStore() as priv:
    from memos.configs.memory import TreeTextMemoryConfig
    from memos.memories.textual.tree import TreeTextMemory
    for conv in convs:
        sessions = lr._reader_sessions(conv, reader_opts)
        cfg = TreeTextMemoryConfig(cube_id=f"g-{conv.sample_id}-{uuid.uuid4().hex[:6]}",
                                   user_id=conv.sample_id, graph_db=priv.graph_db, cube_index=True)
        mem = TreeTextMemory(cfg, embedder=emb, store=priv.store)
        for items in sessions:
            if items:
                mem.add(items)
        texts = [q.text for q in conv.questions]
        qv = emb.embed(texts)
        for name, upd in CONFIGS:
            mem.search_config = dataclasses.replace(DEFAULT_SEARCH, **upd)
            import memos.memories.textual.tree_search as _ts
            _ts.FEEDBACK_REPLACE = name.startswith("REPLACE")
            import memos.memories.textual.cube_index as _ci
            _ci.BM25_K1, _ci.BM25_B = ns.get("BM25", {}).get(name, (1.2, 0.75))
            t0 = time.perf_counter()
            for q, v in zip(conv.questions, qv):
                hits = mem.search(q.text, top_k=25, query_vector=v, mode="fine" if name.startswith("FINE") else "fast")
                ranked = [[s.message_id for s in getattr(h.metadata, "sources", []) if s.message_id] for h in hits]
                results[name].append((q, ranked))
            timing[name].append(time.perf_counter() - t0)
        mem.delete_all()
        print("done", conv.sample_id, flush=True)
summ = {}
for name, _ in CONFIGS:
    s = lr._summarise(results[name]); s["search_s"] = round(sum(timing[name]), 2)
    summ[name] = s
    c = s["by_category"]
    print(f"{name:40s} R5 {s['R@5']:.4f} R10 {s['R@10']:.4f} R20 {s['R@20']:.4f} | mh {c['1']['R@10']:.3f} tmp {c['2']['R@10']:.3f} od {c['3']['R@10']:.3f} sh {c['4']['R@10']:.3f}", flush=True)
json.dump({"split": split, "reader": reader_opts, "long_turns": long_turns, "configs": dict(CONFIGS), "results": summ}, open(out_path, "w"), indent=1)
