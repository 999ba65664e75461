"""The interface of activation memories (MemOS's ``BaseActMemory``)."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from memos.memories.activation.item import ActivationMemoryItem
from memos.memories.base import BaseMemory


class BaseActMemory(BaseMemory):
    """Activation memory: precomputed model state for memory prefixes."""

    @abstractmethod
    def extract(self, text: Any) -> ActivationMemoryItem:
        """Build an item from text or chat messages (not stored until :meth:`add`)."""

    @abstractmethod
    def add(self, memories: list[Any]) -> None:
        """Store items."""

    @abstractmethod
    def get(self, memory_id: str) -> ActivationMemoryItem:
        """One item; raises ``MemoryNotFoundError`` for an unknown id."""

    @abstractmethod
    def get_by_ids(self, memory_ids: list[str]) -> list[Any]:
        """Items in the order asked; raises ``MemoryNotFoundError`` for an unknown id."""

    @abstractmethod
    def get_all(self) -> list[Any]:
        """Every stored item."""

    @abstractmethod
    def get_cache(self, cache_ids: list[str]) -> Any:
        """One activation for several items, in the order given."""

    @abstractmethod
    def delete(self, memory_ids: list[str]) -> None:
        """Remove items; all ids are checked before any is removed."""

    @abstractmethod
    def delete_all(self) -> None:
        """Remove every item."""
