"""Validate raw chat scenes into typed messages (the one place that judges input shape)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from memos.errors import InvalidMemoryInputError
from memos.mem_reader.dates import parse_chat_time
from memos.memories.textual.item import SourceMessage

__all__ = ["ChatMessage", "validate_conversations"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One validated chat message; ``time`` is ``chat_time`` parsed (``None`` if absent)."""

    role: str
    content: str
    chat_time: str | None
    message_id: str | None
    time: datetime | None

    def source(self) -> SourceMessage:
        """The ``SourceMessage`` citing this message."""
        return SourceMessage(
            type="chat",
            role=self.role,
            chat_time=self.chat_time,
            message_id=self.message_id,
            content=self.content,
        )


def _optional_str(msg: dict[str, Any], key: str, where: str) -> str | None:
    value = msg.get(key)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and key == "message_id":
        return str(value)
    if not isinstance(value, str):
        raise InvalidMemoryInputError(
            f"{where}: {key!r} must be a string, got {type(value).__name__}"
        )
    return value


def _validate_message(raw: Any, where: str) -> ChatMessage:
    if not isinstance(raw, dict):
        raise InvalidMemoryInputError(
            f"{where} must be a dict with 'role' and 'content', got {type(raw).__name__}"
        )
    role = raw.get("role")
    if not isinstance(role, str) or not role.strip():
        raise InvalidMemoryInputError(f"{where} needs a non-empty string 'role'")
    content = raw.get("content")
    if not isinstance(content, str):
        raise InvalidMemoryInputError(
            f"{where} needs a string 'content', got {type(content).__name__}"
        )
    if not content.strip():
        raise InvalidMemoryInputError(f"{where} has empty 'content'")
    chat_time = _optional_str(raw, "chat_time", where)
    time: datetime | None = None
    # A present but unreadable timestamp is an error rather than silently ignored: relative
    # dates ("yesterday") would otherwise be stored unresolved and valid_at left empty.
    if chat_time is not None and chat_time.strip():
        time = parse_chat_time(chat_time)
        if time is None:
            raise InvalidMemoryInputError(
                f"{where} has chat_time {chat_time!r} in no supported format; use ISO-8601 "
                "(2023-05-08T13:56:00) or '1:56 pm on 8 May, 2023'"
            )
    elif chat_time is not None:
        chat_time = None
    return ChatMessage(
        role=role.strip(),
        content=content.strip(),
        chat_time=chat_time,
        message_id=_optional_str(raw, "message_id", where),
        time=time,
    )


def validate_conversations(scene_data: Any) -> list[list[ChatMessage]]:
    """Check ``scene_data`` is a non-empty list of non-empty message lists and type it.

    Raises:
        InvalidMemoryInputError: naming the conversation and message index at fault.
    """
    if not isinstance(scene_data, list) or not scene_data:
        raise InvalidMemoryInputError(
            "chat scene_data must be a non-empty list of conversations (lists of messages)"
        )
    conversations: list[list[ChatMessage]] = []
    for ci, conversation in enumerate(scene_data):
        if not isinstance(conversation, list):
            raise InvalidMemoryInputError(
                f"conversation {ci} must be a list of messages, got {type(conversation).__name__}"
            )
        if not conversation:
            raise InvalidMemoryInputError(f"conversation {ci} is empty")
        conversations.append(
            [
                _validate_message(m, f"conversation {ci} message {mi}")
                for mi, m in enumerate(conversation)
            ]
        )
    return conversations
