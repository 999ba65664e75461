"""Textual memory items: plain pydantic data, no database calls.

``TextualMemoryItem{id, memory, metadata}`` as in MemOS. ``TextualMemoryMetadata`` serves
GeneralTextMemory; ``TreeNodeTextualMemoryMetadata`` adds the tree fields (tier, sources,
embedding, bi-temporal validity); ``relativity`` carries a search score on returned items.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from memos.errors import InvalidMemoryInputError

MemoryType = Literal["WorkingMemory", "LongTermMemory", "UserMemory"]
MemoryStatus = Literal["activated", "archived", "deleted"]
MEMORY_TYPES: tuple[MemoryType, ...] = ("WorkingMemory", "LongTermMemory", "UserMemory")


def utc_now_iso() -> str:
    """Current time as an ISO-8601 string in UTC (the format every timestamp here uses)."""
    return datetime.now(UTC).isoformat()


def new_memory_id() -> str:
    """A fresh memory id (UUID4 string, as MemOS uses)."""
    return str(uuid.uuid4())


def validate_memory_text(text: Any) -> str:
    """Return ``text`` if it is a non-blank string, else raise :class:`InvalidMemoryInputError`."""
    if not isinstance(text, str):
        raise InvalidMemoryInputError(f"memory text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise InvalidMemoryInputError("memory text must not be empty or whitespace only")
    return text


class EmbeddingPart(BaseModel):
    """One part of a composite vector: a text and the weight of its unit vector in the sum
    (see :mod:`memos.memories.textual.composite`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1)
    weight: float = Field(gt=0.0)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a part's text must not be blank (it is embedded)")
        return value


class SourceMessage(BaseModel):
    """Where a memory came from: one chat message or document chunk."""

    model_config = ConfigDict(extra="allow")

    type: Literal["chat", "doc", "system"] = "chat"
    role: str | None = None
    chat_time: str | None = None
    message_id: str | None = None
    content: str | None = None
    doc_path: str | None = None


class TextualMemoryMetadata(BaseModel):
    """Metadata of a plain (GeneralTextMemory) item; unknown keys are kept, as MemOS does."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    user_id: str | None = None
    session_id: str | None = None
    status: MemoryStatus = "activated"
    type: str | None = None
    memory_time: str | None = None
    source: str | None = None
    confidence: float | None = None
    entities: list[str] | None = None
    tags: list[str] | None = None
    visibility: str | None = None
    updated_at: str = Field(default_factory=utc_now_iso)
    relativity: float | None = None

    @field_validator("confidence")
    @classmethod
    def _confidence_range(cls, value: float | None) -> float | None:
        if value is not None and not 0.0 <= value <= 100.0:
            raise ValueError("confidence must lie in [0, 100]")
        return value


class TreeNodeTextualMemoryMetadata(TextualMemoryMetadata):
    """Metadata of a tree (graph) memory node."""

    memory_type: MemoryType = "LongTermMemory"
    key: str | None = None
    sources: list[SourceMessage] = Field(default_factory=list)
    background: str = ""
    embedding: list[float] | None = None
    # The text the vector is computed from when it is not ``memory`` (the fast reader quotes
    # less context there); None: ``memory``. Used when embedding, never stored.
    embedding_text: str | None = None
    # Or the weighted parts it is combined from (the fast reader's ``composite`` mode): the
    # vector is normalize(sum w * normalize(v(text))). Used when embedding, never stored.
    embedding_parts: list[EmbeddingPart] | None = None
    usage: list[str] = Field(default_factory=list)
    created_at: str = Field(default_factory=utc_now_iso)
    valid_at: str | None = None
    invalid_at: str | None = None


class TextualMemoryItem(BaseModel):
    """One textual memory: ``id``, ``memory`` text and ``metadata``."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    id: str = Field(default_factory=new_memory_id)
    memory: str
    # Plain metadata first: a dict with only general keys stays general; one carrying tree keys
    # (memory_type, sources, ...) sets more fields of the tree model and so validates as tree.
    metadata: TextualMemoryMetadata | TreeNodeTextualMemoryMetadata = Field(
        default_factory=TextualMemoryMetadata
    )

    @field_validator("id")
    @classmethod
    def _id_is_uuid(cls, value: str) -> str:
        try:
            uuid.UUID(value)
        except (ValueError, AttributeError, TypeError) as exc:
            raise ValueError(f"memory id must be a UUID string, got {value!r}") from exc
        return value

    @field_validator("memory")
    @classmethod
    def _memory_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("memory text must not be empty or whitespace only")
        return value

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict (what crosses the wire)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextualMemoryItem:
        """Inverse of :meth:`to_dict`; tree metadata is recognised by its ``memory_type``."""
        meta = data.get("metadata") or {}
        if isinstance(meta, dict) and "memory_type" in meta:
            meta = TreeNodeTextualMemoryMetadata.model_validate(meta)
        return cls.model_validate({**data, "metadata": meta})
