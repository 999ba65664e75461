"""LLM ("fine") extraction: one prompt per window, validated JSON, bounded retries.

A window whose replies stay malformed after ``max_retries`` extra calls raises
:class:`~memos.errors.ExtractionError` naming the window: nothing is dropped silently and the
raw reply is never stored as a memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from memos.errors import ExtractionError, LLMError
from memos.mem_reader.base import ChatLLM
from memos.mem_reader.chunking import Chunk
from memos.mem_reader.dates import format_date
from memos.mem_reader.messages import TimedMessage
from memos.mem_reader.prompts import (
    ChatExtractionContext,
    DocExtractionContext,
    ExtractionResponse,
    chat_extraction_messages,
    correction_message,
    doc_extraction_messages,
    parse_extraction_response,
)
from memos.memories.textual.item import (
    SourceMessage,
    TextualMemoryItem,
    TreeNodeTextualMemoryMetadata,
)

__all__ = ["extract_window", "fine_chat_memories", "fine_doc_memories"]

logger = logging.getLogger(__name__)

FINE_CONFIDENCE = 80.0


def extract_window(
    llm: ChatLLM,
    build_messages: Callable[[], list[dict[str, str]]],
    *,
    window: str,
    max_retries: int,
) -> ExtractionResponse:
    """Ask ``llm`` for one window's memories, retrying malformed replies.

    Raises:
        ExtractionError: the model failed, or every reply (1 + ``max_retries``) was malformed.
    """
    messages = build_messages()
    last_error = ""
    for attempt in range(max_retries + 1):
        try:
            reply = llm.generate(messages)
        except LLMError as exc:
            raise ExtractionError(f"{window}: the LLM call failed: {exc}") from exc
        try:
            return parse_extraction_response(reply)
        except ValueError as exc:
            last_error = str(exc)
            logger.warning(
                "malformed extraction reply for %s (attempt %d of %d): %s",
                window,
                attempt + 1,
                max_retries + 1,
                last_error,
            )
            messages = [
                *build_messages(),
                {"role": "assistant", "content": reply},
                correction_message(last_error),
            ]
    raise ExtractionError(
        f"{window}: the LLM returned malformed output {max_retries + 1} times "
        f"(last problem: {last_error}); nothing from this window was stored"
    )


def _items(
    response: ExtractionResponse,
    sources: list[SourceMessage],
    meta_extra: dict[str, Any],
) -> list[TextualMemoryItem]:
    items = []
    for memory in response.memory_list:
        meta = TreeNodeTextualMemoryMetadata.model_validate(
            {
                "memory_type": memory.memory_type,
                "key": memory.key,
                "tags": [t.strip().lower() for t in memory.tags if t.strip()],
                "sources": sources,
                "background": response.summary,
                "confidence": FINE_CONFIDENCE,
                "type": "fact",
                **meta_extra,
            }
        )
        items.append(TextualMemoryItem(memory=memory.value, metadata=meta))
    return items


def fine_chat_memories(
    llm: ChatLLM,
    conversation: list[TimedMessage],
    *,
    conversation_index: int,
    window_size: int,
    max_retries: int,
    user_id: str | None,
    session_id: str | None,
) -> list[list[TextualMemoryItem]]:
    """Extract one conversation window by window; one inner list per window."""
    out: list[list[TextualMemoryItem]] = []
    for start in range(0, len(conversation), window_size):
        window = conversation[start : start + window_size]
        name = f"conversation {conversation_index} messages {start}-{start + len(window) - 1}"
        transcript = [
            (f"[{format_date(m.time)}] " if m.time is not None else "") + f"{m.role}: {m.content}"
            for m in window
        ]
        context = ChatExtractionContext(transcript=transcript, user_id=user_id)
        response = extract_window(
            llm, partial(chat_extraction_messages, context), window=name, max_retries=max_retries
        )
        times = [m.time for m in window if m.time is not None]
        extra: dict[str, Any] = {
            "user_id": user_id,
            "session_id": session_id,
            "source": "conversation",
            "valid_at": times[-1].isoformat() if times else None,
        }
        out.append(_items(response, [m.source() for m in window], extra))
    return out


def fine_doc_memories(
    llm: ChatLLM,
    doc_path: str,
    chunks: list[Chunk],
    *,
    max_retries: int,
    user_id: str | None,
    session_id: str | None,
) -> list[TextualMemoryItem]:
    """Extract a document chunk by chunk; each memory cites its chunk."""
    items: list[TextualMemoryItem] = []
    for chunk in chunks:
        context = DocExtractionContext(doc_name=doc_path, chunk=chunk.text)
        response = extract_window(
            llm,
            partial(doc_extraction_messages, context),
            window=f"document {doc_path} chunk {chunk.index}",
            max_retries=max_retries,
        )
        source = SourceMessage(type="doc", doc_path=doc_path, content=chunk.text)
        extra = {"user_id": user_id, "session_id": session_id, "source": "file"}
        items.extend(_items(response, [source], extra))
    return items
