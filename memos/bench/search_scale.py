"""Helpers of the search-latency suite for search at scale (issue 15).

* :func:`embed_cached`: cube texts embedded once per model and kept on disk (a 100k cube costs
  minutes of embedding otherwise), under ``$MEMOS_BENCH_CACHE`` (default
  ``~/.cache/memos/bench``) in ``embeddings-<model>.npz``, keyed by the SHA-1 of each text.
* :func:`profile_medians`: the median of each step over a run's per-search step times
  (``TreeTextMemory.last_search_steps``).
* :func:`resident_mb`: resident memory of this process, the worker and the ArcadeDB server.
* :func:`tenant_shape`: many small cubes in one store, one of them searched alone and among them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memos.bench.common import percentiles, progress

logger = logging.getLogger(__name__)

# Steps in the order a search runs them (and the profile table shows them).
STEPS = (
    "embed",
    "index_sync",
    "filter",
    "vector",
    "fulltext",
    "graph",
    "session",
    "signals",
    "fusion",
    "fetch",
    "mmr",
)


def cache_dir() -> Path:
    """Where the bench keeps what is costly to recompute."""
    return Path(os.environ.get("MEMOS_BENCH_CACHE", Path.home() / ".cache" / "memos" / "bench"))


def embed_cached(embedder: Any, texts: Sequence[str], on_batch: Callable[[int], None]) -> list[Any]:
    """Vectors of ``texts`` (as lists), from the on-disk cache where present."""
    name = re.sub(r"[^\w.-]+", "_", str(getattr(embedder, "model_name", "model")))
    path = cache_dir() / f"embeddings-{name}.npz"
    keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
    known: dict[str, np.ndarray] = {}
    if path.is_file():
        try:
            with np.load(path) as data:
                known = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
        except (OSError, ValueError, KeyError):
            logger.warning("embedding cache %s is unreadable; recomputing", path)
    missing = [i for i, k in enumerate(keys) if k not in known]
    on_batch(len(texts) - len(missing))
    for start in range(0, len(missing), 1024):
        chunk = missing[start : start + 1024]
        for i, vector in zip(chunk, embedder.embed([texts[i] for i in chunk]), strict=True):
            known[keys[i]] = np.asarray(vector, dtype=np.float32)
        on_batch(len(chunk))
    if missing:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.npz")
        np.savez(tmp, keys=np.array(list(known)), vectors=np.stack(list(known.values())))
        os.replace(tmp, path)
    return [known[k].tolist() for k in keys]


def profile_medians(samples: Sequence[dict[str, float]]) -> dict[str, float]:
    """Median ms of each step over ``samples`` (a step a search skipped counts as 0)."""
    if not samples:
        return {}
    seen = [s for s in STEPS if any(s in x for x in samples)]
    out = {s: round(statistics.median(x.get(s, 0.0) for x in samples), 2) for s in seen}
    out["steps_total"] = round(statistics.median(sum(x.values()) for x in samples), 2)
    return out


def _rss(pid: int, children: bool = True) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        total = int(proc.memory_info().rss)
        if children:
            for child in proc.children(recursive=True):
                total += int(child.memory_info().rss)
        return total
    except psutil.Error:
        return 0


def resident_mb(harness: Any) -> dict[str, float]:
    """Resident MB of this bench process, the Celery worker (with children) and ArcadeDB."""
    from memos.embedded.stack import EmbeddedStack

    state = EmbeddedStack(harness.home / "stack").read_state()
    out = {"bench_process": _rss(os.getpid(), children=False) / 2**20}
    if state is not None:
        out["arcadedb"] = _rss(state.arcadedb.pid) / 2**20
        for name, record in state.processes.items():
            if name.startswith("worker"):
                out["worker"] = _rss(record.pid) / 2**20
    return {k: round(v, 1) for k, v in out.items()}


def index_bytes(memory: Any) -> dict[str, Any]:
    """What the in-process index of ``memory``'s cube holds against its raw vectors."""
    from memos.memories.textual.cube_index_sync import synced_index

    sizes = synced_index(memory.graph).vector_bytes()
    raw = sizes["raw"] or 1
    return {
        "raw_vectors_mb": round(sizes["raw"] / 2**20, 1),
        "index_mb": round(sizes["held"] / 2**20, 1),
        "index_over_raw": round(sizes["held"] / raw, 2),
    }


def _search_p50(
    memory: Any, questions: Sequence[str], top_k: int
) -> tuple[dict[str, float], dict[str, float]]:
    timings: list[float] = []
    steps: list[dict[str, float]] = []
    for query in questions[:3]:
        memory.search(query, top_k)
    for query in questions[3:]:
        started = time.perf_counter()
        memory.search(query, top_k)
        timings.append((time.perf_counter() - started) * 1000)
        steps.append(dict(memory.last_search_steps))
    return percentiles(timings), profile_medians(steps)


def tenant_shape(
    harness: Any,
    items: list[dict[str, Any]],
    questions: Sequence[str],
    tenants: int,
    tenant_size: int,
    top_k: int,
) -> dict[str, Any]:
    """One cube of ``tenant_size`` searched alone, then among ``tenants - 1`` other such cubes.

    Both measurements run on the same cube of the same database (before and after the other
    tenants are written), with the in-process index and with the store's global indexes.
    """
    from memos.configs.memory import TreeTextMemoryConfig
    from memos.memories.textual.tree import TreeTextMemory

    def memory_of(cube_id: str, indexed: bool) -> Any:
        config = TreeTextMemoryConfig(cube_id=cube_id, user_id="bench", cube_index=indexed)
        return TreeTextMemory(config, embedder=harness.embedder, store=harness.store)

    def slice_of(t: int) -> list[dict[str, Any]]:
        start = (t * tenant_size) % max(1, len(items) - tenant_size)
        return items[start : start + tenant_size]

    target = "tenant0"
    memory_of(target, True).add(slice_of(0))
    result: dict[str, Any] = {"tenants": tenants, "tenant_size": tenant_size}
    for label in ("alone", "among"):
        if label == "among":
            started = time.perf_counter()
            with progress() as bar:
                task = bar.add_task(f"tenants: {tenants - 1} more cubes", total=tenants - 1)
                for t in range(1, tenants):
                    memory_of(f"tenant{t}", True).add(slice_of(t))
                    bar.advance(task)
            result["insert_s"] = round(time.perf_counter() - started, 1)
        for path, indexed in (("index", True), ("global", False)):
            p, steps = _search_p50(memory_of(target, indexed), questions, top_k)
            result[f"{label}_{path}"] = {**p, "profile": steps}
    for path in ("index", "global"):
        result[f"ratio_{path}_p50"] = round(
            result[f"among_{path}"]["p50_ms"] / result[f"alone_{path}"]["p50_ms"], 2
        )
    return result
