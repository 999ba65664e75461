"""``SimpleStructMemReader``: chat scenes and documents into tree memory items.

``mode="fast"`` (the default) is rule-based and needs no model: one memory per substantive
message, speaker named, relative dates resolved against ``chat_time``. ``mode="fine"`` asks
the configured LLM for structured JSON per window and validates it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from memos.configs.mem_reader import BaseChunkerConfig, SimpleStructMemReaderConfig
from memos.errors import ConfigError, InvalidMemoryInputError
from memos.mem_reader.base import BaseMemReader, ChatLLM, ReadMode, SceneType
from memos.mem_reader.chunking import chunk_text, read_document
from memos.mem_reader.fast import (
    CompositeWeights,
    FastChatOptions,
    fast_chat_memories,
    fast_doc_memories,
)
from memos.mem_reader.fine import fine_chat_memories, fine_doc_memories
from memos.mem_reader.messages import validate_conversations
from memos.memories.textual.item import TextualMemoryItem

__all__ = ["SimpleStructMemReader"]

logger = logging.getLogger(__name__)


class SimpleStructMemReader(BaseMemReader):
    """The MemOS simple structured reader with a rule-based fast mode and an LLM fine mode.

    Args:
        config: the reader config.
        llm: an object with ``generate(messages) -> str`` used by fine mode; when omitted it
            is built from ``config.llm`` with ``LLMFactory`` on first fine-mode use.
    """

    def __init__(self, config: SimpleStructMemReaderConfig, llm: ChatLLM | None = None) -> None:
        self.config = config
        self._llm = llm

    @property
    def llm(self) -> ChatLLM:
        """The fine-mode chat model (built lazily: fast mode never loads one)."""
        if self._llm is None:
            if self.config.llm is None:
                raise ConfigError(
                    "fine mode needs an 'llm' in the MemReader config; add one or use mode='fast'"
                )
            from memos.llms.factory import LLMFactory

            self._llm = LLMFactory.from_config(self.config.llm)
        return self._llm

    def get_memory(
        self,
        scene_data: list[Any],
        type: SceneType = "chat",  # MemOS's keyword name, shadowing the builtin
        info: dict[str, Any] | None = None,
        mode: ReadMode | None = None,
    ) -> list[list[TextualMemoryItem]]:
        """Extract memories; one inner list per conversation (fast) or window (fine) or file.

        Args:
            scene_data: for ``"chat"``, a list of conversations, each a list of
                ``{"role", "content"[, "chat_time", "message_id"]}`` dicts; for ``"doc"``, a
                list of txt / md / pdf paths.
            type: ``"chat"`` or ``"doc"``.
            info: ``{"user_id": ..., "session_id": ...}`` copied into every memory.
            mode: ``"fast"`` or ``"fine"``; defaults to ``config.mode``.

        Raises:
            InvalidMemoryInputError: malformed scene data (names the conversation/message).
            ExtractionError: fine mode could not get valid output for a window.
        """
        run_mode = mode or self.config.mode
        if run_mode not in ("fast", "fine"):
            raise InvalidMemoryInputError(f"mode must be 'fast' or 'fine', got {run_mode!r}")
        if info is not None and not isinstance(info, dict):
            raise InvalidMemoryInputError(f"info must be a dict, got {type_name(info)}")
        user_id = _info_str(info, "user_id")
        session_id = _info_str(info, "session_id")
        if type == "chat":
            return self._read_chat(scene_data, run_mode, user_id, session_id)
        if type == "doc":
            return self._read_docs(scene_data, run_mode, user_id, session_id)
        raise InvalidMemoryInputError(f"type must be 'chat' or 'doc', got {type!r}")

    def _read_chat(
        self, scene_data: Any, mode: str, user_id: str | None, session_id: str | None
    ) -> list[list[TextualMemoryItem]]:
        conversations = validate_conversations(scene_data)
        if mode == "fast":
            options = FastChatOptions(
                context_turns=self.config.context_turns,
                context_turns_after=self.config.context_turns_after,
                embed_context_turns=self.config.embed_context_turns,
                embed_quote_chars=self.config.embed_quote_chars,
                embedding_mode=self.config.embedding_mode,
                composite_weights=CompositeWeights(
                    turn=self.config.composite_turn_weight,
                    header=self.config.composite_header_weight,
                    context=self.config.composite_context_weight,
                    context_ref_words=self.config.composite_context_ref_words,
                ),
                backchannel_max_words=self.config.backchannel_max_words,
                user_id=user_id,
                session_id=session_id,
            )
            result = [fast_chat_memories(conv, options) if conv else [] for conv in conversations]
        else:
            result = []
            for ci, conv in enumerate(conversations):
                if not conv:
                    continue  # only empty turns
                result.extend(
                    fine_chat_memories(
                        self.llm,
                        conv,
                        conversation_index=ci,
                        window_size=self.config.window_size,
                        max_retries=self.config.max_retries,
                        user_id=user_id,
                        session_id=session_id,
                    )
                )
        logger.info(
            "read %d conversations into %d memories (mode=%s)",
            len(conversations),
            sum(len(r) for r in result),
            mode,
        )
        return result

    def _read_docs(
        self, scene_data: Any, mode: str, user_id: str | None, session_id: str | None
    ) -> list[list[TextualMemoryItem]]:
        if not isinstance(scene_data, list) or not scene_data:
            raise InvalidMemoryInputError("doc scene_data must be a non-empty list of file paths")
        result: list[list[TextualMemoryItem]] = []
        for i, raw in enumerate(scene_data):
            if not isinstance(raw, str | Path):
                raise InvalidMemoryInputError(
                    f"doc scene_data item {i} must be a file path, got {type_name(raw)}"
                )
            path = str(raw)
            text = read_document(path)
            chunker = self.config.chunker.config
            if not isinstance(chunker, BaseChunkerConfig):
                raise ConfigError(
                    f"chunker backend {self.config.chunker.backend!r} has no chunk settings"
                )
            chunks = chunk_text(text, chunker)
            if not chunks:
                raise InvalidMemoryInputError(f"document {path} contains no text")
            if mode == "fast":
                items = fast_doc_memories(path, chunks, user_id=user_id, session_id=session_id)
            else:
                items = fine_doc_memories(
                    self.llm,
                    path,
                    chunks,
                    max_retries=self.config.max_retries,
                    user_id=user_id,
                    session_id=session_id,
                )
            result.append(items)
        return result


def type_name(value: object) -> str:
    """The type name used in error messages."""
    return type(value).__name__


def _info_str(info: dict[str, Any] | None, key: str) -> str | None:
    if not info or info.get(key) is None:
        return None
    value = info[key]
    if not isinstance(value, str):
        raise InvalidMemoryInputError(f"info[{key!r}] must be a string, got {type_name(value)}")
    return value
