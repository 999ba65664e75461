"""Fine-mode extraction prompts and the pydantic model their replies must satisfy.

Each prompt function returns a *new* message list on every call; callers may append to it
(e.g. a correction turn on retry) without affecting later calls.
"""

from __future__ import annotations

import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = [
    "ChatExtractionContext",
    "DocExtractionContext",
    "ExtractedMemory",
    "ExtractionResponse",
    "chat_extraction_messages",
    "correction_message",
    "doc_extraction_messages",
    "parse_extraction_response",
]


class ExtractedMemory(BaseModel):
    """One memory as the LLM must return it."""

    model_config = ConfigDict(extra="ignore")

    key: str = Field(min_length=1, description="short title")
    memory_type: Literal["LongTermMemory", "UserMemory"] = "LongTermMemory"
    value: str = Field(min_length=1, description="self-contained statement")
    tags: list[str] = Field(default_factory=list)

    @field_validator("key", "value")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class ExtractionResponse(BaseModel):
    """``{"memory list": [...], "summary": "..."}``: the whole reply of one window."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    memory_list: list[ExtractedMemory] = Field(alias="memory list")
    summary: str = ""


class ChatExtractionContext(BaseModel):
    """What the chat prompt is rendered from: one window of a conversation."""

    transcript: list[str] = Field(description="lines '[time] role: content'")
    user_id: str | None = None


class DocExtractionContext(BaseModel):
    """What the document prompt is rendered from: one chunk of a document."""

    doc_name: str
    chunk: str


_RULES = """Rules:
- Each memory is one self-contained statement in the third person that names who it is about.
- Replace relative dates ("yesterday", "last week") with absolute dates using the timestamps.
- memory_type is "UserMemory" for facts the user states about themselves, else "LongTermMemory".
- key is a short title (at most 8 words); tags are 1-5 lowercase keywords.
- summary is 1-3 sentences describing the whole passage.
Reply with ONLY a JSON object, no prose and no code fence, of exactly this shape:
{"memory list": [{"key": "...", "memory_type": "LongTermMemory", "value": "...", "tags": ["..."]}],
 "summary": "..."}"""


def chat_extraction_messages(context: ChatExtractionContext) -> list[dict[str, str]]:
    """Messages asking the LLM to extract memories from one conversation window."""
    system = (
        "You extract durable memories (facts, events, preferences, plans) from conversations "
        "for a personal memory system.\n" + _RULES
    )
    user = "Conversation:\n" + "\n".join(context.transcript)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def doc_extraction_messages(context: DocExtractionContext) -> list[dict[str, str]]:
    """Messages asking the LLM to extract memories from one document chunk."""
    system = (
        "You extract the key facts of a document passage as durable memories for a "
        "knowledge base.\n" + _RULES
    )
    user = f"Document: {context.doc_name}\nPassage:\n{context.chunk}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def correction_message(error: str) -> dict[str, str]:
    """The user turn appended after a malformed reply (the error text, never the payload)."""
    return {
        "role": "user",
        "content": (
            f"Your previous reply could not be used: {error}. Reply again with ONLY the JSON "
            'object {"memory list": [...], "summary": "..."}.'
        ),
    }


_THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE_RE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def parse_extraction_response(reply: str) -> ExtractionResponse:
    """Parse and validate an LLM reply, tolerating a think block or a code fence around it.

    Raises:
        ValueError: the reply holds no JSON object or it does not match the schema; the
            message is short and safe to feed back to the model.
    """
    text = _THINK_RE.sub("", reply).strip()
    fenced = _FENCE_RE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object found in the reply")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg} at position {exc.pos})") from exc
    try:
        return ExtractionResponse.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        raise ValueError(f"JSON does not match the schema ({problems})") from exc
