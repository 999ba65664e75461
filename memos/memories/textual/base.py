"""The interface of textual memories (GeneralTextMemory, TreeTextMemory, ...)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from memos.memories.base import BaseMemory
from memos.memories.textual.item import TextualMemoryItem

# What ``add`` accepts for one memory: an item, ``{"memory": ..., "metadata": {...}}`` or text.
MemoryInput = TextualMemoryItem | Mapping[str, Any] | str


class BaseTextMemory(BaseMemory):
    """Textual memories: items of text with metadata, searchable by meaning."""

    @abstractmethod
    def extract(self, messages: Sequence[Mapping[str, Any]]) -> list[TextualMemoryItem]:
        """Turn chat messages (``{"role", "content"}``) into memory items (not yet added)."""

    @abstractmethod
    def add(self, memories: Sequence[MemoryInput]) -> list[str]:
        """Store memories and return their ids, in order."""

    @abstractmethod
    def search(
        self, query: str, top_k: int, filter: Mapping[str, Any] | None = None
    ) -> list[TextualMemoryItem]:
        """The ``top_k`` memories most related to ``query``, best first."""

    @abstractmethod
    def get(self, memory_id: str) -> TextualMemoryItem:
        """The memory with ``memory_id``; MemoryNotFoundError if there is none."""

    @abstractmethod
    def get_by_ids(self, memory_ids: Sequence[str]) -> list[TextualMemoryItem]:
        """The memories with these ids, in order; MemoryNotFoundError for an unknown id."""

    @abstractmethod
    def get_all(self) -> list[TextualMemoryItem]:
        """Every memory."""

    @abstractmethod
    def update(self, memory_id: str, new_memory: MemoryInput) -> None:
        """Replace the text and/or metadata of a memory."""

    @abstractmethod
    def delete(self, memory_ids: Sequence[str]) -> None:
        """Delete memories; an unknown id raises MemoryNotFoundError and deletes nothing."""

    @abstractmethod
    def delete_all(self) -> None:
        """Delete every memory."""

    @abstractmethod
    def drop(self) -> None:
        """Delete every memory and any files the memory persisted on its own."""
