"""What a cube holds, in counts: tiers, status, validity, graph shape and activation memory.

Pure functions over plain data: :func:`summarize` reads the JSON that ``MOS.get_all`` returns for
one cube, :func:`count_dir` reads a cube directory's dump files. ``memos import``, ``memos
export`` and ``memos inspect`` print these, and compare the two to verify an import or export.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from memos.configs.mem_cube import GeneralMemCubeConfig
from memos.errors import DumpFormatError
from memos.memories.textual.tree_nodes import TOPIC_TYPE

#: Memory tiers of tree memories (``metadata.memory_type``), in the order they are printed.
TIERS: tuple[str, ...] = ("WorkingMemory", "LongTermMemory", "UserMemory")
#: Statuses of tree memories (``metadata.status``).
STATUSES: tuple[str, ...] = ("activated", "archived", "deleted")
#: Edge types the tree memory and its reorganiser write; always listed, even when zero.
EDGE_TYPES: tuple[str, ...] = ("PARENT", "RELATE_TO", "MERGED_TO", "SUPERSEDES", "CONTEXT")
_PREVIEW_CHARS = 80
_TOP_TOPICS = 5


class TopicSummary(BaseModel):
    """One topic node of the hierarchy and how many memories it is the PARENT of."""

    id: str
    key: str | None = None
    status: str | None = None
    children: int = 0


class GraphSummary(BaseModel):
    """The shape of a tree memory's graph."""

    nodes: int = Field(description="every node, topics included")
    edges_total: int
    edges: dict[str, int] = Field(description="edge count by type")
    topics: int = Field(description="topic nodes (hierarchy summaries), any status")
    active_topics: int
    top_topics: list[TopicSummary] = Field(default_factory=list)


class KVItemSummary(BaseModel):
    """One activation-memory (KV cache) item."""

    id: str
    records: int
    preview: str


class ActivationSummary(BaseModel):
    """The cube's activation memory."""

    items: int
    memories: list[KVItemSummary] = Field(default_factory=list)


class CubeSummary(BaseModel):
    """Counts of one cube, as ``memos inspect --json`` prints them."""

    cube_id: str
    owner_id: str | None = None
    text_backend: str | None = None
    act_backend: str | None = None
    memories: int = Field(description="textual memories, topic nodes excluded")
    tiers: dict[str, int] = Field(
        default_factory=dict, description="tree memories by memory_type; empty for general_text"
    )
    status: dict[str, int] = Field(default_factory=dict)
    valid: int = Field(description="memories still true (invalid_at unset, not superseded)")
    superseded: int = Field(description="memories ended by a newer one (invalid_at / SUPERSEDES)")
    graph: GraphSummary | None = None
    activation: ActivationSummary


class DirCounts(BaseModel):
    """What a cube directory's dump files hold; ``None`` where a slot has no file."""

    text_items: int | None = None
    edges: int | None = None
    kv_items: int | None = None


def _metadata(node: dict[str, Any]) -> dict[str, Any]:
    meta = node.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _preview(text: object) -> str:
    value = " ".join(str(text or "").split())
    return value if len(value) <= _PREVIEW_CHARS else value[: _PREVIEW_CHARS - 3] + "..."


def _slot(everything: dict[str, Any], slot: str) -> Any:
    parts = everything.get(slot) or []
    return parts[0].get("memories") if parts else None


def summarize(
    cube_id: str,
    everything: dict[str, Any],
    *,
    owner_id: str | None = None,
    text_backend: str | None = None,
    act_backend: str | None = None,
) -> CubeSummary:
    """Summarise ``everything``, the ``MOS.get_all(cube_id)`` result of one cube."""
    text = _slot(everything, "text_mem")
    graph: GraphSummary | None = None
    if isinstance(text, dict):
        nodes: list[dict[str, Any]] = list(text.get("nodes") or [])
        edges: list[dict[str, Any]] = list(text.get("edges") or [])
        graph = _graph(nodes, edges)
    else:
        nodes = list(text or [])
        edges = []
    topic_ids = {n["id"] for n in nodes if _metadata(n).get("type") == TOPIC_TYPE}
    memories = [n for n in nodes if n["id"] not in topic_ids]
    superseded_ids = {e["target"] for e in edges if e.get("type") == "SUPERSEDES"}
    superseded = {
        n["id"]
        for n in memories
        if _metadata(n).get("invalid_at") is not None or n["id"] in superseded_ids
    }
    tiers: dict[str, int] = {}
    if graph is not None:
        counted = Counter(str(_metadata(n).get("memory_type")) for n in memories)
        tiers = {tier: counted.pop(tier, 0) for tier in TIERS} | dict(sorted(counted.items()))
    statuses = Counter(str(_metadata(n).get("status") or "activated") for n in memories)
    status = {s: statuses.pop(s, 0) for s in STATUSES} | dict(sorted(statuses.items()))
    kv = list(_slot(everything, "act_mem") or [])
    activation = ActivationSummary(
        items=len(kv),
        memories=[
            KVItemSummary(
                id=str(item.get("id")),
                records=len(item.get("records") or []),
                preview=_preview(item.get("memory")),
            )
            for item in kv
        ],
    )
    return CubeSummary(
        cube_id=cube_id,
        owner_id=owner_id,
        text_backend=text_backend,
        act_backend=act_backend,
        memories=len(memories),
        tiers=tiers,
        status=status,
        valid=len(memories) - len(superseded),
        superseded=len(superseded),
        graph=graph,
        activation=activation,
    )


def _graph(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> GraphSummary:
    by_type = Counter(str(e.get("type")) for e in edges)
    counts = {t: by_type.pop(t, 0) for t in EDGE_TYPES} | dict(sorted(by_type.items()))
    children = Counter(e["source"] for e in edges if e.get("type") == "PARENT")
    topics = [
        TopicSummary(
            id=n["id"],
            key=_metadata(n).get("key"),
            status=_metadata(n).get("status"),
            children=children.get(n["id"], 0),
        )
        for n in nodes
        if _metadata(n).get("type") == TOPIC_TYPE
    ]
    topics.sort(key=lambda t: (t.status != "activated", -t.children, t.id))
    return GraphSummary(
        nodes=len(nodes),
        edges_total=len(edges),
        edges=counts,
        topics=len(topics),
        active_topics=sum(t.status == "activated" for t in topics),
        top_topics=topics[:_TOP_TOPICS],
    )


def describe(summary: CubeSummary) -> list[str]:
    """``summary`` as the lines ``memos inspect`` prints."""
    lines = [
        f"cube {summary.cube_id}"
        + (f" (owner {summary.owner_id})" if summary.owner_id else "")
        + f": text {summary.text_backend or '-'}, activation {summary.act_backend or '-'}",
        f"  textual memories  {summary.memories}",
    ]
    if summary.tiers:
        lines.append("  tiers             " + _pairs(summary.tiers))
    lines.append("  status            " + _pairs(summary.status))
    lines.append(f"  validity          valid {summary.valid}, superseded {summary.superseded}")
    graph = summary.graph
    if graph is not None:
        lines.append(f"  graph             {graph.nodes} nodes, {graph.edges_total} edges")
        lines.append("  edges by type     " + _pairs(graph.edges))
        lines.append(f"  topics            {graph.topics} ({graph.active_topics} activated)")
        lines += [
            f"    - {_preview(t.key or t.id)} [{t.status}] {t.children} children"
            for t in graph.top_topics
        ]
    lines.append(f"  activation (KV)   {summary.activation.items} items")
    lines += [
        f"    - {m.id}: {m.records} records, {m.preview!r}" for m in summary.activation.memories
    ]
    return lines


def counts_line(summary: CubeSummary) -> str:
    """One line of counts for ``memos import`` / ``memos export``."""
    parts = [f"{summary.memories} textual memories"]
    if summary.tiers:
        parts[0] += " (" + _pairs({k: v for k, v in summary.tiers.items() if v}) + ")"
    if summary.graph is not None:
        nonzero = {k: v for k, v in summary.graph.edges.items() if v}
        parts.append(
            f"{summary.graph.edges_total} edges" + (f" ({_pairs(nonzero)})" if nonzero else "")
        )
        parts.append(f"{summary.graph.topics} topics")
    parts.append(f"{summary.activation.items} KV items")
    return ", ".join(parts)


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in counts.items()) or "-"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DumpFormatError(f"{path} is not a readable JSON memory file: {exc}") from exc


def _memory_file(directory: Path, config: GeneralMemCubeConfig, slot: str) -> Path | None:
    factory = getattr(config, slot)
    if not factory.is_set:
        return None
    name = getattr(factory.config, "memory_filename", None)
    if not name:
        return None
    path = directory / str(name)
    return path if path.exists() else None


def count_dir(directory: Path, config: GeneralMemCubeConfig) -> DirCounts:
    """Count what ``directory``'s dump files hold (the files are only read).

    Raises:
        DumpFormatError: a memory file is not JSON or not in a known dump layout.
    """
    counts = DirCounts()
    text_file = _memory_file(directory, config, "text_mem")
    if text_file is not None:
        data = _read_json(text_file)
        if isinstance(data, dict) and isinstance(data.get("nodes"), list):
            counts.text_items = len(data["nodes"])
            counts.edges = len(data.get("edges") or [])
        elif isinstance(data, dict) and isinstance(data.get("memories"), list):
            counts.text_items = len(data["memories"])
        elif isinstance(data, list):  # MemOS's own general_text layout: a bare list of items
            counts.text_items = len(data)
        else:
            raise DumpFormatError(
                f"{text_file} holds neither 'nodes' (tree_text) nor 'memories' (general_text)"
            )
    act_file = _memory_file(directory, config, "act_mem")
    if act_file is not None:
        data = _read_json(act_file)
        if not isinstance(data, dict) or not isinstance(data.get("items"), list):
            raise DumpFormatError(f"{act_file} has no 'items' list of KV caches")
        counts.kv_items = len(data["items"])
    return counts


def mismatches(expected: DirCounts, summary: CubeSummary) -> list[str]:
    """How the managed cube's counts differ from a directory's; empty when they agree."""
    graph = summary.graph
    stored_text = graph.nodes if graph is not None else summary.memories
    found: list[str] = []
    if expected.text_items is not None and expected.text_items != stored_text:
        found.append(f"textual memories: directory {expected.text_items}, cube {stored_text}")
    if expected.edges is not None:
        stored_edges = graph.edges_total if graph is not None else 0
        if expected.edges != stored_edges:
            found.append(f"edges: directory {expected.edges}, cube {stored_edges}")
    if expected.kv_items is not None and expected.kv_items != summary.activation.items:
        found.append(f"KV items: directory {expected.kv_items}, cube {summary.activation.items}")
    return found
