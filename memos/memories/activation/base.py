"""The interface of activation memories (MemOS's ``BaseActMemory``) and their item store.

Every activation memory keeps its items the same way: a dict by id (``kv_cache_memories``, the
attribute MemOS exposes) behind one re-entrant lock. The store's bookkeeping (look-up with a
``MemoryNotFoundError``, checked deletes, replace-on-load) lives here once; subclasses decide
what an item holds, how it is checked on ``add`` and how it is copied on the way out.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar, Generic, TypeVar

from memos.errors import MemoryNotFoundError
from memos.memories.activation.item import ActivationMemoryItem
from memos.memories.base import BaseMemory

ItemT = TypeVar("ItemT", bound=ActivationMemoryItem)


class BaseActMemory(BaseMemory, Generic[ItemT]):
    """Activation memory: precomputed model state for memory prefixes."""

    #: Names the memory in ``MemoryNotFoundError`` messages.
    store_name: ClassVar[str] = "activation memory"

    kv_cache_memories: dict[str, ItemT]
    _lock: threading.RLock

    def _init_store(self) -> None:
        """Create the empty item store (call from ``__init__``)."""
        self.kv_cache_memories = {}
        self._lock = threading.RLock()

    # -- the item store ------------------------------------------------------------------------
    def _stored(self, memory_id: str) -> ItemT:
        """The stored item itself (not a copy); ``MemoryNotFoundError`` for an unknown id."""
        with self._lock:
            item = self.kv_cache_memories.get(memory_id)
        if item is None:
            raise MemoryNotFoundError(memory_id, where=self.store_name)
        return item

    def _stored_many(self, memory_ids: Iterable[str]) -> list[ItemT]:
        """Stored items in the order asked, all looked up under one lock."""
        with self._lock:
            return [self._stored(memory_id) for memory_id in memory_ids]

    def _stored_all(self) -> list[ItemT]:
        """Every stored item, in insertion order."""
        with self._lock:
            return list(self.kv_cache_memories.values())

    def _put(self, items: Iterable[ItemT]) -> None:
        """Store already checked items; an existing id is replaced."""
        with self._lock:
            for item in items:
                self.kv_cache_memories[item.id] = item

    def _replace_all(self, items: Iterable[ItemT]) -> None:
        """Swap the whole contents at once (a load: readers never see a mix)."""
        replacement = {item.id: item for item in items}
        with self._lock:
            self.kv_cache_memories = replacement

    def delete(self, memory_ids: list[str]) -> None:
        """Remove items; every id is checked before any is removed."""
        with self._lock:
            for memory_id in memory_ids:
                self._stored(memory_id)
            for memory_id in memory_ids:
                self.kv_cache_memories.pop(memory_id, None)

    def delete_all(self) -> None:
        """Remove every item."""
        with self._lock:
            self.kv_cache_memories.clear()

    def __len__(self) -> int:
        return len(self.kv_cache_memories)

    # -- what each memory defines --------------------------------------------------------------
    @abstractmethod
    def extract(self, text: Any) -> ItemT:
        """Build an item from text or chat messages (not stored until :meth:`add`)."""

    @abstractmethod
    def add(self, memories: list[ItemT]) -> None:
        """Store items (all checked before any is stored)."""

    @abstractmethod
    def get(self, memory_id: str) -> ItemT:
        """A copy of one item; raises ``MemoryNotFoundError`` for an unknown id."""

    @abstractmethod
    def get_by_ids(self, memory_ids: list[str]) -> list[ItemT]:
        """Copies of the items in the order asked; ``MemoryNotFoundError`` for an unknown id."""

    @abstractmethod
    def get_all(self) -> list[ItemT]:
        """Copies of every stored item."""

    @abstractmethod
    def get_cache(self, cache_ids: list[str]) -> Any:
        """One activation for several items, in the order given."""
