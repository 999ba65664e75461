"""Shared helpers of the reorganisation tests: items, cube reads, invariants."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from memos.memories.textual.item import TextualMemoryItem, TreeNodeTextualMemoryMetadata
from memos.memories.textual.tree import TreeTextMemory
from memos.memories.textual.tree_nodes import normalise_text


def item(
    text: str, message_id: str | None = None, role: str = "user", **meta: Any
) -> TextualMemoryItem:
    """A tree item citing one chat message (when ``message_id`` is given)."""
    sources = (
        [{"type": "chat", "role": role, "message_id": message_id, "content": text}]
        if message_id
        else []
    )
    return TextualMemoryItem(
        memory=text, metadata=TreeNodeTextualMemoryMetadata(sources=sources, **meta)
    )


def cube(memory: TreeTextMemory) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Every node (by id) and edge of the memory's cube."""
    everything = memory.get_all()
    return {n["id"]: n for n in everything["nodes"]}, everything["edges"]


def edges_of(edges: Iterable[dict[str, Any]], rel: str) -> list[tuple[str, str]]:
    """``(source, target)`` of the edges of one type."""
    return sorted((e["source"], e["target"]) for e in edges if e["type"] == rel)


def is_topic(node: dict[str, Any]) -> bool:
    """A hierarchy summary node."""
    return node["metadata"].get("type") == "topic"


def assert_consistent(memory: TreeTextMemory, input_ids: Iterable[str]) -> None:
    """No memory lost, lineage complete, no dangling edge, no live duplicate.

    Every input memory is still there, activated or archived; an archived input has exactly one
    MERGED_TO edge, to an activated merged node whose sources include the original's; nodes
    beyond the input are exactly the merge targets and topics; no two live memories of a tier
    share their normalised text.
    """
    nodes, edges = cube(memory)
    inputs = list(input_ids)
    for node_id in inputs:
        assert node_id in nodes, f"memory {node_id} was lost"
    for node in nodes.values():
        assert node["metadata"]["status"] in ("activated", "archived")
    for edge in edges:
        assert edge["source"] in nodes and edge["target"] in nodes
    merged_to: dict[str, list[str]] = defaultdict(list)
    for source, target in edges_of(edges, "MERGED_TO"):
        merged_to[source].append(target)
    for node_id in inputs:
        meta = nodes[node_id]["metadata"]
        if meta["status"] == "archived" and node_id in merged_to:
            assert len(merged_to[node_id]) == 1, f"{node_id} merged twice"
            target = nodes[merged_to[node_id][0]]
            assert target["metadata"]["status"] == "activated"
            ids = {s.get("message_id") for s in target["metadata"]["sources"]}
            assert {s.get("message_id") for s in meta["sources"]} <= ids
    targets = {t for ts in merged_to.values() for t in ts}
    topics = {i for i, n in nodes.items() if is_topic(n)}
    assert set(nodes) == set(inputs) | targets | topics
    live = Counter(
        (n["metadata"]["memory_type"], normalise_text(n["memory"]))
        for n in nodes.values()
        if n["metadata"]["status"] == "activated"
        and not n["metadata"].get("invalid_at")
        and not is_topic(n)
    )
    assert all(count == 1 for count in live.values()), live.most_common(3)
