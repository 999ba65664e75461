"""Cypher graph store for tree memories: Neo4j and ArcadeDB (over Bolt) dialects."""

from __future__ import annotations

from memos.graph_dbs.queries import EDGE_TYPES, EXPANSION_EDGE_TYPES, MEMORY_LABEL
from memos.graph_dbs.store import (
    ANY_NODE,
    CubeGraph,
    GraphStore,
    NodeFilter,
    StoreTransaction,
    validate_cube_id,
)

__all__ = [
    "ANY_NODE",
    "EDGE_TYPES",
    "EXPANSION_EDGE_TYPES",
    "MEMORY_LABEL",
    "CubeGraph",
    "GraphStore",
    "NodeFilter",
    "StoreTransaction",
    "validate_cube_id",
]
