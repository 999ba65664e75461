"""The interface every memory type shares: persistence to and from a directory."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from memos.configs.memory import BaseMemoryConfig


class BaseMemory(ABC):
    """A memory (textual, activation, parametric) that can be dumped and loaded."""

    @abstractmethod
    def __init__(self, config: BaseMemoryConfig) -> None:
        """Build the memory from its config; constructors do no heavy I/O."""

    @abstractmethod
    def load(self, dir: str | Path) -> None:
        """Replace the contents with those dumped in ``dir``; all or nothing."""

    @abstractmethod
    def dump(self, dir: str | Path) -> None:
        """Write the contents under ``dir`` (created if needed)."""
