"""The one chat-message shape every entry point accepts: MOS, the events, REST, MCP, the reader.

``{"role": "user", "content": "...", "chat_time": "2023-05-08T13:56:00", "message_id": "m1"}``
plus an optional ``name`` (the speaker) and ``metadata``. The facade (:meth:`MOS.add`), the
``add`` event (:class:`memos.mem_scheduler.events.AddPayload`), the REST body
(:mod:`memos.api.schemas`), the MCP tools and the MemReader all validate against
:class:`ChatMessage`, so they cannot drift apart. A memory extracted from a message cites the
message's ``message_id`` and ``chat_time`` in its ``sources``.

Empty or whitespace-only turns are common in exported chats: :func:`drop_empty_turns` removes
them and counts them; only an input with nothing left to store is refused
(:class:`~memos.errors.InvalidMemoryInputError`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator

from memos.errors import InvalidMemoryInputError

logger = logging.getLogger(__name__)

__all__ = ["MAX_CONTENT_CHARS", "ChatMessage", "Role", "drop_empty_turns", "parse_messages"]

MAX_CONTENT_CHARS = 100_000
#: The usual roles; a speaker's name ("Caroline", as in exported group chats) is accepted too.
Role = Literal["system", "user", "assistant", "tool"]


class ChatMessage(BaseModel):
    """One chat turn. ``message_id`` and ``chat_time`` are the caller's; sources cite them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"\S",
        description="'user', 'assistant', 'system', 'tool', or a speaker's name",
    )
    content: str = Field(max_length=MAX_CONTENT_CHARS)
    chat_time: str | None = Field(
        default=None,
        max_length=128,
        description="when it was said: ISO-8601 or '1:56 pm on 8 May, 2023'",
    )
    message_id: str | None = Field(
        default=None, max_length=256, description="the caller's id of this message"
    )
    name: str | None = Field(default=None, max_length=256, description="the speaker's name")
    metadata: dict[str, JsonValue] | None = Field(
        default=None, description="anything else the caller wants kept with the message"
    )

    @field_validator("role", mode="after")
    @classmethod
    def _strip_role(cls, value: str) -> str:
        return value.strip()

    @field_validator("message_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        # Exported chats often number their messages: 17 and "17" are the same id.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value

    @property
    def is_empty(self) -> bool:
        """True when the content is empty or only whitespace (nothing to remember)."""
        return not self.content.strip()


def parse_messages(raw: Iterable[Any], where: str = "messages") -> list[ChatMessage]:
    """Validate ``raw`` (dicts or :class:`ChatMessage`) into messages.

    Raises:
        InvalidMemoryInputError: naming the message index and the field at fault.
    """
    if isinstance(raw, str | bytes | Mapping) or not isinstance(raw, Iterable):
        raise InvalidMemoryInputError(f"{where} must be a list of messages")
    out: list[ChatMessage] = []
    for index, item in enumerate(raw):
        if isinstance(item, ChatMessage):
            out.append(item)
            continue
        try:
            out.append(ChatMessage.model_validate(item))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}"
                for err in exc.errors()
            )
            raise InvalidMemoryInputError(f"{where} {index}: {problems}") from None
    return out


def drop_empty_turns(
    messages: Iterable[ChatMessage], where: str = "messages"
) -> tuple[list[ChatMessage], int]:
    """The messages with content, and how many empty or whitespace-only ones were dropped."""
    kept: list[ChatMessage] = []
    skipped = 0
    for message in messages:
        if message.is_empty:
            skipped += 1
        else:
            kept.append(message)
    if skipped:
        logger.info("%s: skipped %d empty message(s), kept %d", where, skipped, len(kept))
    return kept, skipped
