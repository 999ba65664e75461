"""The MemReader interface: turn chat scenes or documents into textual memory items."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal, Protocol

from memos.memories.textual.item import TextualMemoryItem

__all__ = ["BaseMemReader", "ChatLLM", "ReadMode", "SceneType"]

SceneType = Literal["chat", "doc"]
ReadMode = Literal["fast", "fine"]


class ChatLLM(Protocol):
    """What the fine mode needs from a chat model (the shape ``LLMFactory`` objects have)."""

    def generate(self, messages: list[dict[str, str]]) -> str:
        """Return the assistant's reply to ``messages``."""
        ...


class BaseMemReader(ABC):
    """Reads scenes (conversations or documents) into memories, one inner list per window."""

    @abstractmethod
    def get_memory(
        self,
        scene_data: list[Any],
        type: SceneType = "chat",  # MemOS's keyword name, shadowing the builtin
        info: dict[str, Any] | None = None,
        mode: ReadMode | None = None,
    ) -> list[list[TextualMemoryItem]]:
        """Extract memories from ``scene_data`` (conversations or document paths)."""
