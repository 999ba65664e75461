"""Server-sent events for chat.

The worker generates the whole answer before replying (the bus carries one result per event),
so the stream cannot be token-by-token. It is labelled as what it is: a ``start`` event saying
``"mode": "chunked_complete_answer"``, the finished answer split into ``chunk`` events sent
back-to-back with no artificial delay, then ``done`` carrying the full answer. A failure becomes
an ``error`` event with the same ``{"error": {...}}`` body as other routes.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from memos.api.errors import classify, error_body
from memos.errors import MemOSError

STREAM_MODE = "chunked_complete_answer"
MEDIA_TYPE = "text/event-stream"


def format_event(event: str, data: Any) -> str:
    """One SSE frame: ``event:`` and a single JSON ``data:`` line."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def split_answer(answer: str, chunk_chars: int) -> list[str]:
    """Split ``answer`` into pieces of about ``chunk_chars``, at whitespace where possible.

    Joining the pieces gives back ``answer`` exactly.
    """
    pieces: list[str] = []
    current = ""
    for token in re.findall(r"\S+\s*|\s+", answer):
        if current and len(current) + len(token) > chunk_chars:
            pieces.append(current)
            current = ""
        current += token
    if current:
        pieces.append(current)
    return pieces


async def chat_events(
    produce: Callable[[], Awaitable[str]], chunk_chars: int
) -> AsyncIterator[str]:
    """The SSE frames of one chat: start, chunks of the finished answer, done (or error)."""
    yield format_event(
        "start",
        {
            "mode": STREAM_MODE,
            "note": "the answer is generated in full by a worker, then sent in chunks",
        },
    )
    try:
        answer = await produce()
    except MemOSError as exc:
        status, code = classify(exc)
        yield format_event("error", {**error_body(code, str(exc)), "status": status})
        return
    pieces = split_answer(answer, chunk_chars)
    for index, piece in enumerate(pieces):
        yield format_event("chunk", {"index": index, "text": piece})
    yield format_event("done", {"answer": answer, "chunks": len(pieces)})
