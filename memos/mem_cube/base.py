"""The interface of a MemCube: a bundle of textual, activation and parametric memory."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any


class BaseMemCube(ABC):
    """A cube holds up to three memories and persists them to one directory."""

    text_mem: Any
    act_mem: Any
    para_mem: Any

    @abstractmethod
    def load(self, dir: str | Path, memory_types: list[str] | None = None) -> None:
        """Replace the memories' contents with those dumped in ``dir``."""

    @abstractmethod
    def dump(self, dir: str | Path, memory_types: list[str] | None = None) -> None:
        """Write the config and every memory into ``dir`` (which must be new or empty)."""
