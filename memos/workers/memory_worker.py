"""The worker's handler module: the memory handlers plus the preparer that batches adds.

Named in the scheduler config's ``handler_modules`` (``memos.mem_os.services.HANDLER_MODULE``).
It sits above :mod:`memos.workers.memory_handlers` and :mod:`memos.workers.add_batch`, which
builds on those handlers, so neither of the two imports the other back.
"""

from __future__ import annotations

from memos.workers import memory_handlers
from memos.workers.add_batch import prepare_adds
from memos.workers.batching import register_preparer


def register(*, replace: bool = False) -> None:
    """Register the memory handlers and the batch preparer of ``add`` events."""
    memory_handlers.register(replace=replace)
    register_preparer("add", prepare_adds)  # type: ignore[arg-type]
