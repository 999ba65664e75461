"""A private MOS for the daemon suites: embedded stack + scheduler daemon + Celery worker.

Everything runs under a temporary data home with a unique bus prefix, so a benchmark never
touches ``~/.memos`` or another engineer's servers; :meth:`MOSHarness.close` stops every
process it started by PID (``EmbeddedStack.down`` stops the recorded daemon and worker first)
and removes the home. The same ArcadeDB is reachable in process through :meth:`tree_memory`,
which is how the suites compare the daemon path with direct ``TreeTextMemory`` calls on the very
same cube.

``$MEMOS_BENCH_WORKER_THREADS`` sets the workers' torch threads (``embedded.worker_torch_threads``,
default 1) for a run that compares thread counts.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

logger = logging.getLogger(__name__)


class MOSHarness:
    """Context manager owning a MOS on a private embedded stack, plus an in-process store."""

    def __init__(
        self,
        *,
        event_timeout_s: float = 600.0,
        workers: int | None = None,
        batch_max_events: int | None = None,
        reader_options: dict[str, Any] | None = None,
        scheduler_options: dict[str, Any] | None = None,
    ) -> None:
        self.workers = workers
        # SchedulerConfig fields for this stack (e.g. bench tenants --add-share).
        self.scheduler_options = dict(scheduler_options or {})
        # Fields of the fast reader's config (bench --reader), sent with every add.
        self.reader_options = dict(reader_options or {})
        self.batch_max_events = batch_max_events
        self.home = Path(tempfile.mkdtemp(prefix="memos-bench-"))
        self.prefix = f"bench{uuid.uuid4().hex[:8]}"
        self.event_timeout_s = event_timeout_s
        self.mos: Any = None
        self._store: Any = None
        self._embedder: Any = None
        self._template: Path | None = None

    def __enter__(self) -> MOSHarness:
        from memos.configs.mem_os import MOSConfig
        from memos.mem_os.main import MOS

        embedded: dict[str, Any] = {"home": str(self.home), "startup_timeout_s": 300}
        threads = os.environ.get("MEMOS_BENCH_WORKER_THREADS", "").strip()
        if threads:
            embedded["worker_torch_threads"] = int(threads)
        if self.workers is not None:
            # One process: the solo pool; more: a prefork pool of that many processes.
            embedded["worker_pool"] = "solo" if self.workers == 1 else "prefork"
            embedded["worker_concurrency"] = self.workers
        config = MOSConfig.model_validate(
            {
                "user_id": "bench",
                "embedded": embedded,
                "scheduler": {
                    "prefix": self.prefix,
                    "block_ms": 100,
                    **(
                        {}
                        if self.batch_max_events is None
                        else {"batch_max_events": self.batch_max_events}
                    ),
                    **self.scheduler_options,
                },
                "event_timeout_s": self.event_timeout_s,
                **(
                    {
                        "mem_reader": {
                            "backend": "simple_struct",
                            "config": self.reader_options,
                        }
                    }
                    if self.reader_options
                    else {}
                ),
                # Background reorganisation would add unrelated work to the timings.
                "reorganize": {"enabled": False},
            }
        )
        try:
            self.mos = MOS(config)
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
        """Close the MOS and the store, stop the stack and its services by PID, remove the home."""
        from memos.embedded.stack import EmbeddedStack

        try:
            if self.mos is not None:
                self.mos.close()
            if self._store is not None:
                self._store.close()
        finally:
            self.mos = self._store = None
            try:
                EmbeddedStack(self.home / "stack").down()
            finally:
                shutil.rmtree(self.home, ignore_errors=True)

    # -- in process -------------------------------------------------------------------------
    @property
    def embedder(self) -> Any:
        """The packaged MiniLM, loaded once in this process."""
        if self._embedder is None:
            from memos.configs.embedder import EmbedderConfigFactory
            from memos.embedders.factory import EmbedderFactory

            self._embedder = EmbedderFactory.from_config(
                EmbedderConfigFactory(backend="sentence_transformer", config={"batch_size": 128})
            )
        return self._embedder

    def _graph_db(self) -> Any:
        from memos.configs.memory import TreeTextMemoryConfig

        return TreeTextMemoryConfig().graph_db

    @property
    def store(self) -> Any:
        """A graph store on this harness's ArcadeDB (the one the worker writes)."""
        if self._store is None:
            from memos.mem_os.services import embedded_graph_store

            self._store = embedded_graph_store(self.home, self._graph_db())
            self._store.setup()
        return self._store

    def tree_memory(self, cube_id: str, user_id: str = "bench") -> Any:
        """A ``TreeTextMemory`` in this process on the cube ``cube_id`` of the worker's store."""
        from memos.configs.memory import TreeTextMemoryConfig
        from memos.memories.textual.tree import TreeTextMemory

        config = TreeTextMemoryConfig(cube_id=cube_id, user_id=user_id)
        return TreeTextMemory(config, embedder=self.embedder, store=self.store)

    # -- through the facade -----------------------------------------------------------------
    def new_tree_cube(self, cube_id: str, user_id: str = "bench") -> str:
        """Create ``user_id`` if needed and register an empty tree cube ``cube_id`` for it."""
        self.mos.create_user(user_id)
        if self._template is None:
            from memos.configs.mem_cube import GeneralMemCubeConfig
            from memos.mem_cube.general import GeneralMemCube

            config = GeneralMemCubeConfig.model_validate(
                {"user_id": user_id, "cube_id": cube_id, "text_mem": {"backend": "tree_text"}}
            )
            registered = self.mos.register_mem_cube(
                GeneralMemCube(config), mem_cube_id=cube_id, user_id=user_id
            )
            # Later cubes import this (empty) dump instead of building a cube object each.
            self._template = self.home / "template-cube"
            self.mos.dump(self._template, user_id=user_id, mem_cube_id=cube_id)
            return str(registered)
        return str(
            self.mos.register_mem_cube(str(self._template), mem_cube_id=cube_id, user_id=user_id)
        )
