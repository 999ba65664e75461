"""Validate raw chat scenes into typed messages (the one place that judges input shape).

Each message is validated against the shape every entry point shares,
:class:`memos.messages.ChatMessage`, and its ``chat_time`` parsed: a :class:`TimedMessage`.
Empty or whitespace-only turns are skipped and counted (logged); a scene with nothing left to
store is refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from memos.errors import InvalidMemoryInputError
from memos.mem_reader.dates import parse_chat_time
from memos.memories.textual.item import SourceMessage
from memos.messages import ChatMessage, parse_messages

logger = logging.getLogger(__name__)

__all__ = ["TimedMessage", "validate_conversations"]


@dataclass(frozen=True, slots=True)
class TimedMessage:
    """One validated :class:`ChatMessage` with ``time``, its ``chat_time`` parsed (or None)."""

    role: str
    content: str
    chat_time: str | None
    message_id: str | None
    time: datetime | None
    name: str | None = None

    def source(self) -> SourceMessage:
        """The ``SourceMessage`` citing this message (its id and time, as the caller gave them)."""
        return SourceMessage(
            type="chat",
            role=self.role,
            chat_time=self.chat_time,
            message_id=self.message_id,
            content=self.content,
        )


def _timed(message: ChatMessage, where: str) -> TimedMessage:
    chat_time = message.chat_time
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
    return TimedMessage(
        role=message.role,
        content=message.content.strip(),
        chat_time=chat_time,
        message_id=message.message_id,
        time=time,
        name=message.name,
    )


def validate_conversations(scene_data: Any) -> list[list[TimedMessage]]:
    """Check ``scene_data`` is a non-empty list of message lists and type it.

    Empty or whitespace-only messages are skipped (their count is logged); a conversation made
    only of them becomes an empty list (so results still line up with the input).

    Raises:
        InvalidMemoryInputError: naming the conversation and message index at fault, or when
            no message at all has content.
    """
    if not isinstance(scene_data, list) or not scene_data:
        raise InvalidMemoryInputError(
            "chat scene_data must be a non-empty list of conversations (lists of messages)"
        )
    conversations: list[list[TimedMessage]] = []
    skipped = total = 0
    for ci, conversation in enumerate(scene_data):
        if not isinstance(conversation, list):
            raise InvalidMemoryInputError(
                f"conversation {ci} must be a list of messages, got {type(conversation).__name__}"
            )
        messages = parse_messages(conversation, where=f"conversation {ci} message")
        total += len(messages)
        kept: list[TimedMessage] = []
        for mi, message in enumerate(messages):
            if message.is_empty:
                skipped += 1
                continue
            kept.append(_timed(message, f"conversation {ci} message {mi}"))
        conversations.append(kept)
    if not any(conversations):
        raise InvalidMemoryInputError(
            f"nothing to store: all {total} message(s) are empty or whitespace-only"
            if total
            else "nothing to store: every conversation is empty"
        )
    if skipped:
        logger.info("skipped %d empty message(s) of %d", skipped, total)
    return conversations
