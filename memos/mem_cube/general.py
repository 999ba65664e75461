"""GeneralMemCube: MemOS's cube of textual, activation and parametric memory.

A cube directory has MemOS's layout: ``config.json`` (the :class:`GeneralMemCubeConfig`) plus
each memory's own files (``textual_memory.json`` and ``faiss/`` for GeneralTextMemory, the tree
dump for TreeTextMemory, ``activation_memory.json`` and safetensors files for KVCacheMemory).
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

from memos.configs.mem_cube import CubeMemoryConfigFactory, GeneralMemCubeConfig
from memos.errors import ConfigError, DumpFormatError, MemoryOperationError
from memos.mem_cube.base import BaseMemCube

logger = logging.getLogger(__name__)

MEMORY_TYPES = ("text_mem", "act_mem", "para_mem")

#: Memory classes by backend, imported on first use (torch only where a backend needs it).
_MEMORY_CLASSES: dict[str, str] = {
    "general_text": "memos.memories.textual.general:GeneralTextMemory",
    "tree_text": "memos.memories.textual.tree:TreeTextMemory",
    "kv_cache": "memos.memories.activation.kv:KVCacheMemory",
    "vllm_kv_cache": "memos.memories.activation.vllm:VLLMKVCacheMemory",
}


def build_memory(factory: CubeMemoryConfigFactory) -> Any:
    """The memory a slot's config names, or None for an ``uninitialized`` slot."""
    if not factory.is_set:
        return None
    target = _MEMORY_CLASSES.get(factory.backend)
    if target is None:
        known = ", ".join(sorted(_MEMORY_CLASSES))
        raise ConfigError(f"memory backend {factory.backend!r} cannot live in a cube; use {known}")
    module_name, _, class_name = target.partition(":")
    memory_class = getattr(importlib.import_module(module_name), class_name)
    return memory_class(factory.config)


def memory_file(factory: CubeMemoryConfigFactory) -> str | None:
    """The file (inside a cube directory) that holds a slot's memories, if it has one."""
    if not factory.is_set:
        return None
    name = factory.config.get("memory_filename")
    return str(name) if name else None


def _is_empty_activation(memory: Any) -> bool:
    # An empty KV memory has nothing to write; skipping it avoids loading the model only to
    # fingerprint a manifest of zero items. load() treats the missing manifest as empty.
    return hasattr(memory, "get_cache") and hasattr(memory, "__len__") and len(memory) == 0


class GeneralMemCube(BaseMemCube):
    """Textual, activation and parametric memory built from one :class:`GeneralMemCubeConfig`.

    An unset slot (``{"backend": "uninitialized"}``) is ``None``. Building memories does no I/O;
    models and stores are reached on first use.
    """

    def __init__(self, config: GeneralMemCubeConfig) -> None:
        self.config = config
        self._memories: dict[str, Any] = {
            name: build_memory(getattr(config, name)) for name in MEMORY_TYPES
        }

    def __repr__(self) -> str:
        slots = ", ".join(f"{n}={getattr(self.config, n).backend}" for n in MEMORY_TYPES)
        return f"GeneralMemCube(cube_id={self.config.cube_id!r}, {slots})"

    @property
    def text_mem(self) -> Any:
        """The textual memory (GeneralTextMemory or TreeTextMemory), or None."""
        return self._memories["text_mem"]

    @text_mem.setter
    def text_mem(self, value: Any) -> None:
        self._memories["text_mem"] = value

    @property
    def act_mem(self) -> Any:
        """The activation memory (KVCacheMemory), or None."""
        return self._memories["act_mem"]

    @act_mem.setter
    def act_mem(self, value: Any) -> None:
        self._memories["act_mem"] = value

    @property
    def para_mem(self) -> Any:
        """The parametric memory, or None (no parametric backend is implemented)."""
        return self._memories["para_mem"]

    @para_mem.setter
    def para_mem(self, value: Any) -> None:
        self._memories["para_mem"] = value

    def _selected(self, memory_types: list[str] | None) -> list[str]:
        names = list(MEMORY_TYPES) if memory_types is None else list(memory_types)
        unknown = [n for n in names if n not in MEMORY_TYPES]
        if unknown:
            raise MemoryOperationError(
                f"unknown memory types {unknown}; choose from {', '.join(MEMORY_TYPES)}"
            )
        return [n for n in names if self._memories[n] is not None]

    def load(self, dir: str | Path, memory_types: list[str] | None = None) -> None:
        """Load each memory from ``dir``; a memory whose file is absent is left as it is.

        Raises:
            DumpFormatError: ``dir`` is not a directory, or a memory file is corrupt.
        """
        source = Path(dir)
        if not source.is_dir():
            raise DumpFormatError(f"cube directory {source} does not exist")
        for name in self._selected(memory_types):
            filename = memory_file(getattr(self.config, name))
            if filename is not None and not (source / filename).exists():
                logger.info(
                    "cube %s: no %s in %s, %s left empty",
                    self.config.cube_id,
                    filename,
                    source,
                    name,
                )
                continue
            self._memories[name].load(source)
        logger.info("loaded cube %s from %s", self.config.cube_id, source)

    def dump(self, dir: str | Path, memory_types: list[str] | None = None) -> None:
        """Write ``config.json`` and each memory's files into ``dir``.

        Raises:
            MemoryOperationError: ``dir`` exists and is not empty (nothing is overwritten).
        """
        target = Path(dir)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise MemoryOperationError(
                f"cannot dump cube {self.config.cube_id!r} into {target}: it exists and is not "
                "empty; choose a new directory or empty it first"
            )
        target.mkdir(parents=True, exist_ok=True)
        self.config.to_json_file(target / self.config.config_filename)
        for name in self._selected(memory_types):
            memory = self._memories[name]
            if name == "act_mem" and _is_empty_activation(memory):
                continue
            memory.dump(target)
        logger.info("dumped cube %s to %s", self.config.cube_id, target)

    @classmethod
    def init_from_dir(cls, dir: str | Path) -> GeneralMemCube:
        """Build a cube from ``dir/config.json`` and load its memories from ``dir``.

        Raises:
            ConfigError: the config file is missing or invalid.
        """
        source = Path(dir)
        config = GeneralMemCubeConfig.from_json_file(source / "config.json")
        cube = cls(config)
        cube.load(source)
        return cube
