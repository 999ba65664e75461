"""An in-process view of one cube's nodes for a reorganisation run, and its write helpers.

A run reads the cube once (paged, bounded per page) and keeps the node properties in a dict;
each phase plans on that view, writes its changes in batched transactions and folds what it
wrote back into the view, so later phases see the current state without re-reading the cube.

Every write re-reads the nodes it changes inside its transaction and re-checks the plan's
preconditions there (the memory is still activated, still valid), so a plan made on a stale
view never overwrites a concurrent change with old data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from memos.errors import InvalidMemoryInputError
from memos.graph_dbs import CubeGraph
from memos.memories.textual.item import TextualMemoryItem
from memos.memories.textual.tree_nodes import (
    TOPIC_TYPE,
    item_to_props,
    props_to_item,
    to_epoch_s,
)

logger = logging.getLogger(__name__)

LONG_TERM_TYPES: tuple[str, ...] = ("LongTermMemory", "UserMemory")

Props = dict[str, Any]


def node_time_s(props: Props) -> float:
    """When a memory became true: ``valid_at`` if set, else ``created_at`` (epoch seconds)."""
    valid = props.get("valid_at_ts")
    if isinstance(valid, int | float):
        return float(valid)
    created = props.get("created_at")
    if isinstance(created, str):
        try:
            return to_epoch_s(created, field="created_at") or 0.0
        except InvalidMemoryInputError:
            return 0.0  # a malformed timestamp sorts first rather than failing the run
    return 0.0


def is_topic(props: Props) -> bool:
    """Whether the node is a hierarchy summary (not a memory of the user's)."""
    return props.get("type") == TOPIC_TYPE


def is_live(props: Props) -> bool:
    """Activated and not ended (``invalid_at`` unset): what default search can return."""
    return props.get("status") == "activated" and props.get("invalid_at_ts") is None


class Deadline:
    """A monotonic deadline with a hook run between batches (e.g. extending a lock)."""

    def __init__(self, budget_s: float, on_tick: Callable[[], None] | None = None) -> None:
        self.budget_s = budget_s
        self._end = time.monotonic() + budget_s
        self._on_tick = on_tick

    def expired(self) -> bool:
        """True once the budget is spent; otherwise runs the tick hook and returns False."""
        if time.monotonic() >= self._end:
            return True
        if self._on_tick is not None:
            self._on_tick()
        return False

    def remaining_s(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self._end - time.monotonic())


@dataclass
class CubeSnapshot:
    """Properties of every node of a cube, by id, as of the read plus this run's writes."""

    graph: CubeGraph
    nodes: dict[str, Props] = field(default_factory=dict)

    @classmethod
    def read(cls, graph: CubeGraph) -> CubeSnapshot:
        """Read every node of ``graph``'s cube (in pages)."""
        snap = cls(graph)
        for page in graph.iter_node_pages():
            for props in page:
                snap.nodes[str(props["id"])] = props
        return snap

    def select(self, keep: Callable[[Props], bool]) -> list[Props]:
        """Nodes passing ``keep``, ordered by id (so every plan is deterministic)."""
        return [self.nodes[i] for i in sorted(self.nodes) if keep(self.nodes[i])]

    def refresh(self, rows: Iterable[Props]) -> None:
        """Fold written rows into the view."""
        for row in rows:
            self.nodes[str(row["id"])] = {**self.nodes.get(str(row["id"]), {}), **row}


def embedding_matrix(nodes: Sequence[Props], dim: int) -> npt.NDArray[np.float32]:
    """Row-normalised float32 embeddings of ``nodes`` (a missing one is a zero row)."""
    matrix = np.zeros((len(nodes), dim), dtype=np.float32)
    for row, props in enumerate(nodes):
        vector = props.get("embedding")
        if vector is not None and len(vector) == dim:
            matrix[row] = np.asarray(vector, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    normalised: npt.NDArray[np.float32] = (matrix / norms).astype(np.float32)
    return normalised


def props_for(item: TextualMemoryItem, previous: Props | None, user_id: str | None) -> Props:
    """The row to store for ``item``, keeping properties of ``previous`` this code doesn't know."""
    row = item_to_props(item)
    row["user_id"] = row.get("user_id") or (previous or {}).get("user_id") or user_id
    if previous is None:
        return row
    kept = {k: v for k, v in previous.items() if k != "cube_id"}
    return {**kept, **row}


Mutation = Callable[[TextualMemoryItem, Props], TextualMemoryItem | None]


def rewrite_nodes(tx: CubeGraph, mutations: dict[str, Mutation]) -> list[Props]:
    """Inside ``tx``: re-read these nodes, apply each mutation, write what changed.

    A mutation gets the node's current item and properties and returns the new item, or
    ``None`` when its precondition no longer holds (the node is then left alone). Returns the
    rows written.
    """
    if not mutations:
        return []
    rows: list[Props] = []
    for props in tx.get_nodes(list(mutations)):
        item = props_to_item(props)
        changed = mutations[str(props["id"])](item, props)
        if changed is not None:
            rows.append(props_for(changed, props, tx.user_id))
    if rows:
        tx.upsert_nodes(rows)
    return rows


def batched(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    """Consecutive slices of ``values`` of at most ``size`` items."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
