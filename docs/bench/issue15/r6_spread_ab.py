"""A/B of the embedder's batching on event-sized calls (ruff: scratch script, not a suite).

Embeds the bench's LoCoMo ingest texts (text mode: the vector texts; composite: the distinct
parts) in calls of 40 texts, like one add event, alternating the old batching (sorted, split by
count only) and length-bounded batching (memos.embedders.base.length_sorted_batches), then in
one call of all texts; prints texts/s medians of 3 rounds as JSON.
"""
# ruff: noqa
import json, statistics, sys, time
from pathlib import Path

import torch

torch.set_num_threads(1)
import memos.embedders.base as base
from memos.bench.common import LOCOMO
from memos.bench.ingest import memory_texts
from memos.bench.turns import load_sessions
from memos.configs.embedder import EmbedderConfigFactory
from memos.embedders.factory import EmbedderFactory

new = base.length_sorted_batches


def old(texts, size):
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    return [order[s : s + size] for s in range(0, len(order), size)]


sessions, _ = load_sessions(Path(LOCOMO), 600)
sets = {"text": memory_texts(sessions, {"embedding_mode": "text"}),
        "composite": memory_texts(sessions, {"embedding_mode": "composite"})}
emb = EmbedderFactory.from_config(
    EmbedderConfigFactory.model_validate({"backend": "sentence_transformer", "config": {}}))
emb.embed(["warm"])


def rate(texts, chunk):
    start = time.perf_counter()
    for i in range(0, len(texts), chunk):
        emb.embed(texts[i : i + chunk])
    return len(texts) / (time.perf_counter() - start)


out = {"load_at_start": open("/proc/loadavg").read().split()[:3]}
for name, texts in sets.items():
    for chunk in (40, len(texts)):
        res = {"old": [], "new": []}
        for _ in range(3):
            for label, fn in (("old", old), ("new", new)):
                base.length_sorted_batches = fn
                res[label].append(rate(texts, chunk))
        out[f"{name}, calls of {chunk}"] = {k: round(statistics.median(v), 1) for k, v in res.items()}
out["load_at_end"] = open("/proc/loadavg").read().split()[:3]
print(json.dumps(out, indent=1))
if len(sys.argv) > 1:
    Path(sys.argv[1]).write_text(json.dumps(out, indent=1))
