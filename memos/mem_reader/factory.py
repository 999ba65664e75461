"""Build a MemReader from its ``{"backend": ..., "config": {...}}`` config."""

from __future__ import annotations

from typing import ClassVar

from memos.configs.mem_reader import MemReaderConfigFactory, SimpleStructMemReaderConfig
from memos.errors import ConfigError
from memos.mem_reader.base import BaseMemReader
from memos.mem_reader.simple_struct import SimpleStructMemReader

__all__ = ["MemReaderFactory"]


class MemReaderFactory:
    """``MemReaderFactory.from_config(MemReaderConfigFactory)`` as in MemOS."""

    backend_to_class: ClassVar[dict[str, type[BaseMemReader]]] = {
        "simple_struct": SimpleStructMemReader,
    }

    @classmethod
    def from_config(cls, config_factory: MemReaderConfigFactory) -> BaseMemReader:
        """Return the reader named by ``config_factory.backend``."""
        backend = config_factory.backend
        if backend == "simple_struct" and isinstance(
            config_factory.config, SimpleStructMemReaderConfig
        ):
            return SimpleStructMemReader(config_factory.config)
        known = ", ".join(sorted(cls.backend_to_class))
        raise ConfigError(f"unknown MemReader backend {backend!r}; known backends: {known}")
