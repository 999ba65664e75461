"""Read-only views of a tree cube for the web inspector: counts, pages, neighbourhoods, why.

Plain functions over a :class:`~memos.memories.textual.tree.TreeTextMemory`; a worker runs them
for ``manage`` events (``inspect_*`` operations) and returns their JSON.

* Counts and pages come from the cube's in-process index (:mod:`cube_index_sync`), caught up with
  the store first: a page is a numpy mask plus one sort of the matching positions' creation
  times, then one read of the page's nodes, so its cost does not grow with the page's offset
  and the store never sorts the cube (keyset pages over Bolt did: see ``iter_index_pages``).
* A neighbourhood is a breadth-first walk of a few hops over every edge type, capped in nodes.
* :func:`explain_hits` turns the ranked lists fusion used (``legs``) into each result's rank per
  leg and its share of the fused score: why a memory came back.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from memos.errors import InvalidMemoryInputError, MemoryNotFoundError
from memos.graph_dbs import NodeFilter
from memos.graph_dbs.queries import EDGE_TYPES
from memos.memories.textual.tree_nodes import props_to_item
from memos.memories.textual.tree_search import RecallLeg

if TYPE_CHECKING:
    from memos.memories.textual.tree import TreeTextMemory

#: Memory tiers (``memory_type``) and statuses, in display order (as ``memos inspect``).
TIERS: tuple[str, ...] = ("WorkingMemory", "LongTermMemory", "UserMemory")
STATUSES: tuple[str, ...] = ("activated", "archived", "deleted")
#: ``validity`` filter of a page: valid now, or ended (``invalid_at`` passed: superseded).
VALIDITIES: tuple[str, ...] = ("valid", "ended")
MAX_PAGE = 200
MAX_TYPE_CHARS = 64
MAX_HOPS = 3
MAX_GRAPH_NODES = 300
_ALL_EDGES = tuple(sorted(EDGE_TYPES))


def _index(memory: TreeTextMemory) -> Any:
    from memos.memories.textual.cube_index_sync import synced_index

    memory.ensure_ready()
    return synced_index(memory.graph)


def tier_counts(memory: TreeTextMemory) -> dict[str, Any]:
    """Nodes by tier and by status, and how many are valid now (topic nodes included)."""
    index = _index(memory)
    tiers = {t: int(index.mask(NodeFilter(statuses=None, memory_types=(t,))).sum()) for t in TIERS}
    status = {s: int(index.mask(NodeFilter(statuses=(s,))).sum()) for s in STATUSES}
    valid = int(index.mask(NodeFilter(statuses=None, valid_at_ts=time.time())).sum())
    return {"total": len(index), "tiers": tiers, "status": status, "valid_now": valid}


def _check_choice(name: str, value: str | None, allowed: Sequence[str]) -> None:
    if value is not None and value not in allowed:
        raise InvalidMemoryInputError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _plain(props: dict[str, Any]) -> dict[str, Any]:
    """A node as the inspector shows it: ``to_dict()`` without the embedding."""
    item: dict[str, Any] = props_to_item(props, with_embedding=False).to_dict()
    item["metadata"].pop("embedding", None)
    return item


def _lineage(memory: TreeTextMemory, ids: list[str]) -> dict[str, dict[str, list[str]]]:
    """Per id: superseded_by, supersedes, merged_into, merged_from (from the edges)."""
    out: dict[str, dict[str, list[str]]] = {
        i: {"superseded_by": [], "supersedes": [], "merged_into": [], "merged_from": []}
        for i in ids
    }
    if not ids:
        return out
    for edge in memory.graph.edges_of(ids, ("SUPERSEDES", "MERGED_TO")):
        source, target, kind = edge["source"], edge["target"], edge["type"]
        if kind == "SUPERSEDES":
            if target in out:
                out[target]["superseded_by"].append(source)
            if source in out:
                out[source]["supersedes"].append(target)
        elif kind == "MERGED_TO":
            if source in out:
                out[source]["merged_into"].append(target)
            if target in out:
                out[target]["merged_from"].append(source)
    return out


def memory_page(
    memory: TreeTextMemory,
    *,
    tier: str | None = None,
    status: str | None = None,
    node_type: str | None = None,
    validity: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> dict[str, Any]:
    """One page of the cube's memories, newest first, with their lineage; and the total.

    Filters: ``tier`` (:data:`TIERS`), ``status`` (:data:`STATUSES`), ``node_type`` (the
    node's ``type``: ``fact``, ``topic``, ...; the page's ``types`` lists those of the cube with
    their counts) and ``validity`` (:data:`VALIDITIES`: valid now, or ended by a later fact).
    """
    _check_choice("tier", tier, TIERS)
    _check_choice("status", status, STATUSES)
    _check_choice("validity", validity, VALIDITIES)
    if node_type is not None and not (
        isinstance(node_type, str) and 0 < len(node_type) <= MAX_TYPE_CHARS
    ):
        raise InvalidMemoryInputError(f"node_type must have 1-{MAX_TYPE_CHARS} characters")
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise InvalidMemoryInputError(f"offset must be >= 0 and limit 1-{MAX_PAGE}")
    index = _index(memory)
    keep = index.mask(
        NodeFilter(
            statuses=(status,) if status else None,
            memory_types=(tier,) if tier else None,
            types=(node_type,) if node_type else None,
        )
    )
    if validity is not None:
        valid_now = index.mask(NodeFilter(statuses=None, valid_at_ts=time.time()))
        keep &= valid_now if validity == "valid" else ~valid_now
    total = int(keep.sum())
    ids = index.recent(keep, limit, offset=offset)
    nodes = memory.graph.get_nodes(ids)
    lineage = _lineage(memory, [n["id"] for n in nodes])
    items = [{**_plain(n), "lineage": lineage[n["id"]]} for n in nodes]
    types = index.type_counts(index.mask(NodeFilter(statuses=None)))
    return {"total": total, "offset": offset, "limit": limit, "items": items, "types": types}


def memory_detail(memory: TreeTextMemory, memory_id: str) -> dict[str, Any]:
    """One memory with its lineage; raises :class:`MemoryNotFoundError`."""
    memory.ensure_ready()
    props = memory.graph.get_node(memory_id)
    if props is None:
        raise MemoryNotFoundError(memory_id, where=f"cube {memory.cube_id}")
    return {**_plain(props), "lineage": _lineage(memory, [memory_id])[memory_id]}


def neighbourhood(
    memory: TreeTextMemory, memory_id: str, *, hops: int = 2, max_nodes: int = 200
) -> dict[str, Any]:
    """The nodes within ``hops`` of a memory over every edge type (at most ``max_nodes``).

    Returns ``{"center", "nodes": [{id, memory, memory_type, status, type, hop}],
    "edges": [{source, target, type}], "truncated"}``.
    """
    if not 1 <= hops <= MAX_HOPS or not 1 <= max_nodes <= MAX_GRAPH_NODES:
        raise InvalidMemoryInputError(f"hops must be 1-{MAX_HOPS}, max_nodes 1-{MAX_GRAPH_NODES}")
    memory.ensure_ready()
    graph = memory.graph
    if graph.get_node(memory_id) is None:
        raise MemoryNotFoundError(memory_id, where=f"cube {memory.cube_id}")
    hop_of = {memory_id: 0}
    frontier = [memory_id]
    truncated = False
    for hop in range(1, hops + 1):
        if not frontier:
            break
        rows = graph.neighbors(frontier, _ALL_EDGES, limit=max_nodes * 4)
        found = sorted({r["id"] for r in rows} - hop_of.keys())
        room = max_nodes - len(hop_of)
        truncated = truncated or len(found) > room
        frontier = found[:room]
        hop_of.update((i, hop) for i in frontier)
    ids = list(hop_of)
    nodes = [
        {
            "id": p["id"],
            "memory": p.get("memory") or "",
            "memory_type": p.get("memory_type"),
            "status": p.get("status"),
            "type": p.get("type"),
            "hop": hop_of[p["id"]],
        }
        for p in graph.get_nodes(ids)
    ]
    edges = [
        {"source": e["source"], "target": e["target"], "type": e["type"]}
        for e in graph.edges_of(ids)
        if e["source"] in hop_of and e["target"] in hop_of
    ]
    return {"center": memory_id, "nodes": nodes, "edges": edges, "truncated": truncated}


def explain_hits(
    hits: Sequence[tuple[str, float]], legs: Sequence[RecallLeg], rrf_k: int
) -> list[dict[str, Any]]:
    """Each hit's rank (1-based) in every leg that recalled it and that leg's RRF share.

    ``hits`` are ``(id, fused score)`` in result order; a leg that did not recall a hit is left
    out of its ``legs``. The shares add up to the fused score of reciprocal rank fusion.
    """
    positions = []
    for name, weight, ranking in legs:
        ranks: dict[str, int] = {}
        for rank, node_id in enumerate(ranking, start=1):
            ranks.setdefault(node_id, rank)
        positions.append((name, weight, ranks))
    out = []
    for node_id, score in hits:
        found = [
            {"leg": name, "rank": ranks[node_id], "share": weight / (rrf_k + ranks[node_id])}
            for name, weight, ranks in positions
            if node_id in ranks and weight > 0
        ]
        out.append({"id": node_id, "score": score, "legs": found})
    return out


def explain_search(
    memory: TreeTextMemory, query: str, *, top_k: int = 10, mode: str = "fast"
) -> dict[str, Any]:
    """Search like ``memory.search``: ``{"rrf_k", "results"}``, each with its per-leg ranks."""
    legs: list[RecallLeg] = []
    found = memory.search(query, top_k, mode=mode, legs=legs)  # type: ignore[arg-type]
    hits = [(item.id, float(item.metadata.relativity or 0.0)) for item in found]
    reasons = explain_hits(hits, legs, memory.search_config.rrf_k)
    results = [
        {
            **reason,
            "memory": item.memory,
            "memory_type": getattr(item.metadata, "memory_type", None),
        }
        for reason, item in zip(reasons, found, strict=True)
    ]
    return {"rrf_k": memory.search_config.rrf_k, "mode": mode, "results": results}
