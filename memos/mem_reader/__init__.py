"""MemReader: turns conversations and documents into textual memory items."""

from __future__ import annotations

from memos.mem_reader.base import BaseMemReader, ChatLLM
from memos.mem_reader.simple_struct import SimpleStructMemReader

__all__ = ["BaseMemReader", "ChatLLM", "SimpleStructMemReader"]
