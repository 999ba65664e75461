"""Turning chat messages into GeneralTextMemory items: rule-based, or with a chat model.

The rule-based path makes one memory per sentence of every user or assistant message, naming the
speaker ("User: I live in Lisbon."). The LLM path asks the model for a JSON list of facts.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pydantic import ValidationError

from memos.errors import ExtractionError, InvalidMemoryInputError
from memos.memories.textual.item import TextualMemoryItem, TextualMemoryMetadata

logger = logging.getLogger(__name__)

SPEAKERS = {"user": "User", "assistant": "Assistant"}
# Split after . ! ? (and their CJK forms) followed by whitespace or end of text.
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)

EXTRACTION_SYSTEM_PROMPT = (
    "You extract long-term memories from a conversation. Return only JSON: an object "
    '{"memories": [{"memory": str, "type": "fact" | "event" | "opinion" | "procedure", '
    '"tags": [str], "entities": [str], "confidence": number 0-100}]}. Each memory is one '
    "self-contained statement in the third person that names who it is about (for example "
    '"The user lives in Lisbon."). Skip greetings and small talk. If nothing is worth '
    'remembering, return {"memories": []}.'
)


class ChatModel(Protocol):
    """What extraction needs from a chat model (``memos.llms`` objects satisfy it)."""

    def generate(self, messages: list[dict[str, Any]]) -> str:
        """Answer a list of chat messages with text."""
        ...


def validate_messages(messages: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Check the ``[{"role", "content"}, ...]`` shape; raise InvalidMemoryInputError if not."""
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
        raise InvalidMemoryInputError(
            f"messages must be a list of {{'role', 'content'}} dicts, got {type(messages).__name__}"
        )
    for position, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise InvalidMemoryInputError(f"message {position} must be a dict")
        if not isinstance(message.get("role"), str):
            raise InvalidMemoryInputError(f"message {position} has no string 'role'")
        if not isinstance(message.get("content"), str):
            raise InvalidMemoryInputError(f"message {position} has no string 'content'")
    return list(messages)


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, stripped, empty ones dropped."""
    return [part.strip() for part in _SENTENCE_END.split(text.strip()) if part.strip()]


def rule_based_extract(messages: Sequence[Mapping[str, Any]]) -> list[TextualMemoryItem]:
    """One memory per sentence of each user/assistant message; other roles are skipped."""
    items: list[TextualMemoryItem] = []
    for message in validate_messages(messages):
        speaker = SPEAKERS.get(str(message["role"]).lower())
        if speaker is None:
            continue
        chat_time = message.get("chat_time")
        for sentence in split_sentences(str(message["content"])):
            metadata = TextualMemoryMetadata(
                type="fact",
                source="conversation",
                memory_time=chat_time if isinstance(chat_time, str) else None,
            )
            items.append(TextualMemoryItem(memory=f"{speaker}: {sentence}", metadata=metadata))
    return items


def build_extraction_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A fresh prompt (system instructions + the conversation as a transcript)."""
    transcript = "\n".join(
        f"{message['role']}: {message['content']}" for message in validate_messages(messages)
    )
    return [
        {"role": "system", "content": EXTRACTION_SYSTEM_PROMPT},
        {"role": "user", "content": f"Conversation:\n{transcript}\n\nJSON:"},
    ]


def parse_extraction(text: str) -> list[TextualMemoryItem]:
    """Items from the model's JSON; ExtractionError if the answer is not the expected JSON.

    Accepts ``{"memories": [...]}``, MemOS's ``{"memory list": [...]}`` or a bare list; each
    element needs a non-blank ``memory`` (or ``value``) string. Malformed elements are skipped.
    """
    cleaned = _FENCE.sub("", text.strip())
    start = min((i for i in (cleaned.find("{"), cleaned.find("[")) if i >= 0), default=-1)
    if start < 0:
        raise ExtractionError("the extraction model did not answer with JSON")
    try:
        data, _ = json.JSONDecoder().raw_decode(cleaned[start:])
    except json.JSONDecodeError as exc:
        raise ExtractionError(f"the extraction model's JSON is malformed: {exc}") from exc
    rows = data
    if isinstance(data, dict):
        rows = data.get("memories", data.get("memory list"))
    if not isinstance(rows, list):
        raise ExtractionError("the extraction model's JSON has no 'memories' list")
    items: list[TextualMemoryItem] = []
    skipped = 0
    for row in rows:
        try:
            items.append(_item_from_row(row))
        except (ValidationError, TypeError, ValueError, InvalidMemoryInputError):
            skipped += 1
    if skipped:
        logger.warning("skipped %d malformed memories in the extraction answer", skipped)
    return items


def _item_from_row(row: Any) -> TextualMemoryItem:
    if not isinstance(row, dict):
        raise TypeError("memory row must be an object")
    text = row.get("memory", row.get("value"))
    if not isinstance(text, str) or not text.strip():
        raise ValueError("memory row has no text")
    nested = row.get("metadata")
    raw_meta: dict[str, Any] = nested if isinstance(nested, dict) else row
    fields = {
        key: raw_meta[key]
        for key in ("type", "tags", "entities", "confidence", "memory_time", "visibility")
        if raw_meta.get(key) is not None
    }
    metadata = TextualMemoryMetadata(source="conversation", **fields)
    return TextualMemoryItem(memory=text.strip(), metadata=metadata)


def llm_extract(model: ChatModel, messages: Sequence[Mapping[str, Any]]) -> list[TextualMemoryItem]:
    """Ask ``model`` for the memories in ``messages`` and parse its JSON answer."""
    answer = model.generate(build_extraction_messages(messages))
    if not isinstance(answer, str):
        raise ExtractionError("the extraction model returned no text")
    return parse_extraction(answer)
