"""``summarize`` / ``count_dir`` / ``mismatches`` on hand-built get_all results and dumps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from memos.configs.mem_cube import GeneralMemCubeConfig
from memos.errors import DumpFormatError
from memos.mem_cube.summary import DirCounts, count_dir, describe, mismatches, summarize


def _node(node_id: str, **meta: Any) -> dict[str, Any]:
    return {"id": node_id, "memory": f"memory {node_id}", "metadata": meta}


def _edge(source: str, target: str, kind: str) -> dict[str, Any]:
    return {"source": source, "target": target, "type": kind, "properties": {}}


def test_tree_summary_counts_tiers_validity_topics_and_kv() -> None:
    nodes = [
        _node("a", memory_type="WorkingMemory", status="activated"),
        _node("b", memory_type="LongTermMemory", status="activated"),
        _node("c", memory_type="LongTermMemory", status="archived"),
        _node("d", memory_type="UserMemory", status="activated", invalid_at="2025-01-01"),
        _node("e", memory_type="UserMemory", status="activated"),
        _node("t1", memory_type="LongTermMemory", status="activated", type="topic", key="pets"),
        _node("t2", memory_type="LongTermMemory", status="archived", type="topic", key="old"),
    ]
    edges = [
        _edge("t1", "b", "PARENT"),
        _edge("t1", "e", "PARENT"),
        _edge("b", "e", "RELATE_TO"),
        _edge("c", "b", "MERGED_TO"),
        _edge("a", "e", "SUPERSEDES"),
        _edge("a", "b", "CONTEXT"),
        _edge("a", "c", "FOLLOWS"),
    ]
    kv = [{"id": "k1", "memory": "cached  prefix", "records": ["r1", "r2"], "metadata": {}}]
    everything = {
        "text_mem": [{"cube_id": "c1", "memories": {"nodes": nodes, "edges": edges}}],
        "act_mem": [{"cube_id": "c1", "memories": kv}],
        "para_mem": [],
    }
    summary = summarize("c1", everything, owner_id="alice", text_backend="tree_text")
    assert summary.memories == 5
    assert summary.tiers == {"WorkingMemory": 1, "LongTermMemory": 2, "UserMemory": 2}
    assert summary.status == {"activated": 4, "archived": 1, "deleted": 0}
    # d has invalid_at; e is the target of a SUPERSEDES edge.
    assert (summary.valid, summary.superseded) == (3, 2)
    graph = summary.graph
    assert graph is not None
    assert (graph.nodes, graph.edges_total) == (7, 7)
    assert graph.edges == {
        "PARENT": 2,
        "RELATE_TO": 1,
        "MERGED_TO": 1,
        "SUPERSEDES": 1,
        "CONTEXT": 1,
        "FOLLOWS": 1,
    }
    assert (graph.topics, graph.active_topics) == (2, 1)
    assert [(t.key, t.children) for t in graph.top_topics] == [("pets", 2), ("old", 0)]
    assert summary.activation.items == 1
    assert summary.activation.memories[0].records == 2
    assert summary.activation.memories[0].preview == "cached prefix"
    text = "\n".join(describe(summary))
    assert "valid 3, superseded 2" in text and "PARENT 2" in text and "pets" in text


def test_general_summary_has_no_graph_or_tiers() -> None:
    items = [_node(str(i), status="activated") for i in range(3)]
    everything = {"text_mem": [{"cube_id": "g", "memories": items}], "act_mem": []}
    summary = summarize("g", everything)
    assert (summary.memories, summary.graph, summary.tiers) == (3, None, {})
    assert summary.activation.items == 0


def _config(backend: str) -> GeneralMemCubeConfig:
    return GeneralMemCubeConfig.model_validate(
        {"cube_id": "x", "text_mem": {"backend": backend, "config": {}}}
    )


def test_count_dir_reads_both_layouts_and_rejects_others(tmp_path: Path) -> None:
    path = tmp_path / "textual_memory.json"
    path.write_text(json.dumps({"nodes": [{}, {}], "edges": [{}]}), encoding="utf-8")
    assert count_dir(tmp_path, _config("tree_text")) == DirCounts(text_items=2, edges=1)
    path.write_text(json.dumps({"memories": [{}, {}, {}]}), encoding="utf-8")
    assert count_dir(tmp_path, _config("general_text")) == DirCounts(text_items=3)
    path.write_text(json.dumps({"something": 1}), encoding="utf-8")
    with pytest.raises(DumpFormatError, match="neither 'nodes'"):
        count_dir(tmp_path, _config("general_text"))
    path.write_text("{", encoding="utf-8")
    with pytest.raises(DumpFormatError, match="not a readable JSON"):
        count_dir(tmp_path, _config("general_text"))
    path.unlink()
    assert count_dir(tmp_path, _config("general_text")) == DirCounts()


def test_mismatches_name_each_differing_count() -> None:
    everything = {"text_mem": [{"cube_id": "g", "memories": [_node("a")]}], "act_mem": []}
    summary = summarize("g", everything)
    assert mismatches(DirCounts(text_items=1), summary) == []
    assert mismatches(DirCounts(text_items=2, kv_items=1), summary) == [
        "textual memories: directory 2, cube 1",
        "KV items: directory 1, cube 0",
    ]
