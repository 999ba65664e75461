"""Worker-side serialisation of a 10-hit search result: old path vs new, alternating."""

import json
import random
import statistics
import time

from memos.mem_scheduler.events import EventResult
from memos.mem_scheduler.idempotency import WorkerOutcome
from memos.memories.textual.item import TextualMemoryItem, TreeNodeTextualMemoryMetadata
from memos.workers.memory_handlers import _hit_dict as new_hit


def old_hit(item):
    data = item.to_dict()
    meta = data.get("metadata")
    if isinstance(meta, dict) and meta.get("embedding") is not None:
        meta["embedding"] = None
    return data


items = [
    TextualMemoryItem(
        memory="Caroline said on 8 May 2023: I went to a LGBTQ support group yesterday and it was so powerful. "
        * 2,
        metadata=TreeNodeTextualMemoryMetadata(
            memory_type="LongTermMemory",
            embedding=[random.random() for _ in range(384)],
            sources=[{"type": "chat", "role": "Caroline", "message_id": f"m{i}"}],
            entities=["Caroline", "Melanie"],
        ),
    )
    for i in range(10)
]


def wrap(h):
    return {
        "text_mem": [{"cube_id": "c", "memories": [h(i) for i in items]}],
        "act_mem": [],
        "para_mem": [],
    }


def old():
    v = wrap(old_hit)
    json.dumps(v)
    r = EventResult.success("e", v)
    a = r.model_dump_json()
    b = r.model_dump_json()
    n = WorkerOutcome(token="t", result=r).model_dump_json()
    WorkerOutcome.model_validate_json(n)  # the daemon's parse


def new():
    v = wrap(new_hit)
    r = EventResult.success("e", v)
    a = r.model_dump_json()
    o = WorkerOutcome(token="t", result=r)
    n = o.model_copy(update={"result": r.model_copy(update={"result": None})}).model_dump_json()
    WorkerOutcome.model_validate_json(n)


xs = {"old": [], "new": []}
for _ in range(1000):
    for k, f in (("old", old), ("new", new)):
        s = time.perf_counter()
        f()
        xs[k].append((time.perf_counter() - s) * 1000)
print(json.dumps({k: round(statistics.median(v), 3) for k, v in xs.items()}))
