import os, time, statistics
os.environ["OMP_NUM_THREADS"] = "1"
from pathlib import Path
import numpy as np, torch
torch.set_num_threads(1)
from sentence_transformers.util import batch_to_device
from memos.bench.turns import load_questions
from memos.configs.embedder import EmbedderConfigFactory
from memos.embedders.factory import EmbedderFactory
emb = EmbedderFactory.from_config(EmbedderConfigFactory(backend="sentence_transformer", config={"batch_size": 128}))
qs = load_questions(Path("/work/shared/data/locomo/locomo10.json"), 105)
emb.embed(["warm"])
m = emb.model
dev = m.device
def fast(texts):
    with torch.inference_mode():
        f = batch_to_device(m.preprocess(texts), dev)
        out = m(f)["sentence_embedding"]
        return torch.nn.functional.normalize(out, p=2, dim=1).numpy()
def slow(texts):
    return m.encode(texts, batch_size=128, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
a = slow(qs); b = fast(qs)
print("batch max abs diff", float(np.abs(a - b).max()))
d = max(float(np.abs(slow([q]) - fast([q])).max()) for q in qs)
print("single max abs diff", d)
for rep in range(3):
    for name, fn in (("encode", slow), ("fast", fast)):
        ts = []
        for q in qs:
            t = time.perf_counter(); fn([q]); ts.append((time.perf_counter() - t) * 1000)
        print(rep, name, round(statistics.median(ts), 3))
