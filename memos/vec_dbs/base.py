"""The vector-store interface and its item type."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from memos.configs.vec_db import BaseVecDBConfig


class VecDBItem(BaseModel):
    """One stored vector: a string ``id``, the ``vector``, a JSON ``payload`` and, in search
    results, its ``score`` (higher is more similar for every metric)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    vector: list[float] | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    score: float | None = None


def payload_matches(payload: Mapping[str, Any], filter: Mapping[str, Any]) -> bool:
    """Equality on every key of ``filter``; a dotted key (``metadata.user_id``) looks inside."""
    for key, expected in filter.items():
        node: Any = payload
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return False
            node = node[part]
        if node != expected:
            return False
    return True


class BaseVecDB(ABC):
    """A collection of vectors with payloads, addressed by string ids."""

    def __init__(self, config: BaseVecDBConfig) -> None:
        self.config = config

    @property
    def dimension(self) -> int:
        """Dimension every stored and queried vector must have."""
        return self.config.vector_dimension

    @abstractmethod
    def add(self, items: list[VecDBItem]) -> None:
        """Store new items; an id that already exists is an error (use :meth:`update`)."""

    @abstractmethod
    def search(
        self, vector: list[float], top_k: int, filter: Mapping[str, Any] | None = None
    ) -> list[VecDBItem]:
        """The ``top_k`` most similar items (best first) whose payload matches ``filter``."""

    @abstractmethod
    def get_by_id(self, id: str) -> VecDBItem | None:
        """The item with ``id`` (vector included), or None."""

    @abstractmethod
    def get_by_ids(self, ids: list[str]) -> list[VecDBItem]:
        """The items among ``ids`` that exist, in the order given."""

    @abstractmethod
    def get_all(self) -> list[VecDBItem]:
        """Every item, in insertion order."""

    @abstractmethod
    def update(
        self, id: str, vector: list[float] | None = None, payload: dict[str, Any] | None = None
    ) -> None:
        """Replace the vector and/or the payload of an existing item."""

    @abstractmethod
    def delete(self, ids: list[str]) -> None:
        """Remove the items; if any id is unknown nothing is removed."""

    @abstractmethod
    def delete_all(self) -> None:
        """Remove every item."""

    @abstractmethod
    def count(self) -> int:
        """Number of stored items."""

    @abstractmethod
    def save(self, directory: str | Path | None = None) -> Path:
        """Write the collection under ``directory`` (default: the configured path)."""

    @abstractmethod
    def load(self, directory: str | Path | None = None) -> None:
        """Replace the contents with what :meth:`save` wrote; all or nothing."""
