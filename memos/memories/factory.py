"""Build a memory from a :class:`MemoryConfigFactory`.

To add a memory type, add one entry to ``MemoryFactory.backend_to_class`` (its config goes into
``memos.configs.memory.MemoryConfigFactory``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from memos.configs.memory import MemoryConfigFactory
from memos.errors import ConfigError
from memos.memories.activation.kv import KVCacheMemory
from memos.memories.activation.vllm import VLLMKVCacheMemory
from memos.memories.base import BaseMemory
from memos.memories.textual.general import GeneralTextMemory
from memos.memories.textual.tree import TreeTextMemory


class MemoryFactory:
    """Maps a config's ``backend`` to its memory class."""

    backend_to_class: ClassVar[dict[str, type[BaseMemory]]] = {
        "general_text": GeneralTextMemory,
        "tree_text": TreeTextMemory,
        "kv_cache": KVCacheMemory,
        "vllm_kv_cache": VLLMKVCacheMemory,
    }

    @classmethod
    def from_config(cls, config_factory: MemoryConfigFactory) -> BaseMemory:
        """Create the memory that ``config_factory.backend`` names."""
        memory_class = cls.backend_to_class.get(config_factory.backend)
        if memory_class is None:
            known = ", ".join(sorted(cls.backend_to_class))
            raise ConfigError(
                f"unknown memory backend {config_factory.backend!r}; known backends: {known}"
            )
        constructor: Any = memory_class
        memory: BaseMemory = constructor(config_factory.config)
        return memory
