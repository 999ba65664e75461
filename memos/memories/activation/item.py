"""Activation memory items: a KV cache (HF) or a warmed prompt prefix (vLLM), plus metadata.

Items are plain pydantic data. ``KVCacheItem.memory`` holds the transformers ``DynamicCache``,
as in MemOS; the type is checked at validation time so importing this module stays cheap.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from memos.memories.textual.item import new_memory_id, utc_now_iso


def token_ids_sha256(token_ids: Sequence[int]) -> str:
    """sha256 of token ids written as comma-separated decimals (a stable, portable encoding)."""
    return hashlib.sha256(",".join(str(int(t)) for t in token_ids).encode("ascii")).hexdigest()


class KVCacheMetadata(BaseModel):
    """Where a KV cache came from; unknown keys are kept (MemOS copies textual metadata here)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    model_id: str
    model_fingerprint: str
    tokenizer_fingerprint: str
    token_count: int = Field(ge=0)
    prefix_sha256: str
    created_at: str = Field(default_factory=utc_now_iso)
    text: str = Field(description="the prefix exactly as rendered with the chat template")
    messages: list[dict[str, str]] = Field(description="the prefix messages that were rendered")


class ActivationMemoryItem(BaseModel):
    """Base of activation memory items: an id, the activation payload, metadata, source texts."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: str = Field(default_factory=new_memory_id)
    memory: Any
    records: list[str] = Field(
        default_factory=list, description="the text memories this item was built from"
    )


class KVCacheItem(ActivationMemoryItem):
    """A transformers ``DynamicCache`` of a memory prefix and the token ids it encodes."""

    memory: Any = Field(description="transformers DynamicCache of the prefix")
    metadata: KVCacheMetadata
    token_ids: list[int]

    @field_validator("memory")
    @classmethod
    def _is_dynamic_cache(cls, value: Any) -> Any:
        from transformers import DynamicCache

        if not isinstance(value, DynamicCache):
            raise ValueError(
                f"memory must be a transformers DynamicCache, not {type(value).__name__}"
            )
        return value

    def summary(self) -> dict[str, Any]:
        """A JSON-safe description (no tensors) for results that cross the wire."""
        return {
            "id": self.id,
            "memory": self.metadata.text,
            "records": list(self.records),
            "metadata": self.metadata.model_dump(mode="json"),
        }


class VLLMPrefixMetadata(BaseModel):
    """Where a vLLM prefix came from and how well the server cached it when it was warmed."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    model_id: str
    messages: list[dict[str, str]]
    cache_salt: str | None = None
    token_count: int | None = Field(default=None, description="server-side token count")
    prefix_sha256: str | None = None
    cacheable_tokens: int | None = Field(
        default=None, description="token_count rounded down to whole cache blocks"
    )
    warmed_cached_tokens: int | None = None
    created_at: str = Field(default_factory=utc_now_iso)


class VLLMKVCacheItem(ActivationMemoryItem):
    """A memory prefix kept warm in a vLLM server's prefix cache; ``memory`` is its text."""

    memory: str
    metadata: VLLMPrefixMetadata
    token_ids: list[int] = Field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """A JSON-safe description for results that cross the wire."""
        return {
            "id": self.id,
            "memory": self.memory,
            "records": list(self.records),
            "metadata": self.metadata.model_dump(mode="json"),
        }
