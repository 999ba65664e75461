"""The worker's handler module: the memory handlers plus the preparers that batch adds and queries.

Named in the scheduler config's ``handler_modules`` (``memos.mem_os.services.HANDLER_MODULE``).
It sits above :mod:`memos.workers.memory_handlers` and :mod:`memos.workers.add_batch` /
:mod:`memos.workers.query_batch`, which build on those handlers, so none imports another back.
"""

from __future__ import annotations

from memos.workers import memory_handlers
from memos.workers.add_batch import prepare_adds
from memos.workers.batching import register_preparer
from memos.workers.query_batch import prepare_queries


def register(*, replace: bool = False) -> None:
    """Register the memory handlers and the batch preparers of ``add`` and ``query`` events."""
    memory_handlers.register(replace=replace)
    register_preparer("add", prepare_adds)  # type: ignore[arg-type]
    register_preparer("query", prepare_queries)  # type: ignore[arg-type]
