import os, time, tempfile, statistics, math, random
from pathlib import Path
from memos.embedded.stack import EmbeddedStack
from memos.configs.graph_db import GraphDBConfigFactory
from memos.graph_dbs import GraphStore
home = Path(tempfile.mkdtemp())
stack = EmbeddedStack(home=home / "stack"); st = stack.up()
a = st.arcadedb
cfg = GraphDBConfigFactory(backend="arcadedb", config={"uri": a.bolt_url, "http_url": a.http_url, "user": a.user, "password": a.password, "db_name": a.database, "embedding_dimension": 384})
store = GraphStore(cfg); store.setup()
try:
    for c in range(20):
        view = store.for_cube(f"c{c}", "u")
        view.create_nodes([{"id": f"c{c}n{i}", "memory": f"text {i}", "dedup_key": f"k{c}-{i}"} for i in range(1000)])
    drv = store.driver()
    def t(q, params, n=30):
        ts = []
        with drv.session(database=store.database) as s:
            for _ in range(n):
                t0 = time.perf_counter(); list(s.run(q, params)); ts.append((time.perf_counter() - t0) * 1000)
        return round(statistics.median(ts), 3)
    ids = [f"c3n{i}" for i in range(0, 1000, 100)]
    print("single $cube_id, 10 ids:", t("UNWIND $ids AS w MATCH (n:Memory {cube_id: $cube_id, id: w}) RETURN n.id", {"cube_id": "c3", "ids": ids}))
    rows = [{"cube_id": f"c{c}", "id": f"c{c}n{i}"} for c in range(10) for i in (5, 50)]
    print("row.cube_id, 20 rows:", t("UNWIND $rows AS row MATCH (n:Memory {cube_id: row.cube_id, id: row.id}) RETURN n.id", {"rows": rows}))
    keys = [{"cube_id": f"c{c}", "key": f"k{c}-{i}"} for c in range(10) for i in (5, 50)]
    print("row dedup, 20 rows:", t("UNWIND $rows AS row MATCH (n:Memory {cube_id: row.cube_id, dedup_key: row.key}) RETURN n.id", {"rows": keys}))
    print("single dedup, 2 keys:", t("UNWIND $keys AS w MATCH (n:Memory {cube_id: $cube_id, dedup_key: w}) RETURN n.id", {"cube_id": "c3", "keys": ["k3-5", "k3-50"]}))
    print("row.cube_id, 2 rows:", t("UNWIND $rows AS row MATCH (n:Memory {cube_id: row.cube_id, id: row.id}) RETURN n.id", {"rows": rows[:2]}))
    print("rows found:", len(list(drv.session(database=store.database).run("UNWIND $rows AS row MATCH (n:Memory {cube_id: row.cube_id, id: row.id}) RETURN n.id", {"rows": rows}))))
finally:
    store.close(); stack.down()
