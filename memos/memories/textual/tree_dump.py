"""The dump file of a TreeTextMemory: a versioned JSON document, validated before any write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from memos.errors import DumpFormatError
from memos.graph_dbs.queries import EDGE_TYPES

DUMP_FORMAT = "memos.tree_text_memory"
DUMP_VERSION = 1


class DumpEdge(BaseModel):
    """One edge of a dump."""

    model_config = ConfigDict(extra="forbid")

    source: str
    target: str
    type: str
    properties: dict[str, Any] = Field(default_factory=dict)


class DumpFile(BaseModel):
    """The whole dump document."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["memos.tree_text_memory"]
    format_version: Literal[1]
    cube_id: str
    embedding_dimension: int
    embedder: str | None = None
    nodes: list[dict[str, Any]]
    edges: list[DumpEdge]


def read_dump(path: Path, expected_dimension: int) -> DumpFile:
    """Read and fully validate a dump file.

    Raises:
        DumpFormatError: the file is missing, not JSON, of another format or version, of
            another embedding dimension, or internally inconsistent (naming what is wrong).
    """
    if not path.is_file():
        raise DumpFormatError(f"no tree memory dump at {path}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DumpFormatError(f"tree memory dump {path} is not readable JSON: {exc}") from exc
    try:
        dump = DumpFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<root>"
        raise DumpFormatError(
            f"tree memory dump {path} is not a version {DUMP_VERSION} dump: {where}: {first['msg']}"
        ) from exc
    if dump.embedding_dimension != expected_dimension:
        raise DumpFormatError(
            f"tree memory dump {path} holds {dump.embedding_dimension}-d embeddings; this "
            f"memory uses {expected_dimension}-d"
        )
    ids: set[str] = set()
    for index, node in enumerate(dump.nodes):
        node_id = node.get("id")
        if not isinstance(node_id, str) or not isinstance(node.get("memory"), str):
            raise DumpFormatError(f"tree memory dump {path}: node {index} lacks id or memory")
        if node_id in ids:
            raise DumpFormatError(f"tree memory dump {path}: node id {node_id} appears twice")
        ids.add(node_id)
    for index, edge in enumerate(dump.edges):
        if edge.type not in EDGE_TYPES:
            raise DumpFormatError(f"tree memory dump {path}: edge {index} has type {edge.type!r}")
        if edge.source not in ids or edge.target not in ids:
            raise DumpFormatError(
                f"tree memory dump {path}: edge {index} points to a node not in the dump"
            )
    return dump
