"""MemOS daemon: a memory operating system for LLM agents.

The public API follows MemOS (``memos.mem_os.main.MOS``, ``GeneralMemCube``, ``TreeTextMemory``,
``KVCacheMemory``, ...); the internals are an event-driven daemon (see ``docs/architecture.md``).
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
