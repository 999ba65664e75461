"""Mapping between tree memory items and graph node properties.

A node holds the item's id and text, its ``TreeNodeTextualMemoryMetadata`` fields as flat
properties (``sources`` and unknown metadata keys as JSON strings, since graph properties cannot
be nested maps), and bookkeeping the store adds: ``cube_id``, ``content_hash`` (hash of the
normalised text), ``dedup_key`` (content hash plus the source message ids: what makes ``add``
idempotent) and ``valid_at_ts`` / ``invalid_at_ts`` (epoch seconds, so validity compares as
numbers whatever ISO spelling the caller used).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from pydantic import ValidationError

from memos.errors import InvalidMemoryInputError
from memos.memories.textual.item import (
    TextualMemoryItem,
    TreeNodeTextualMemoryMetadata,
    validate_memory_text,
)

# Metadata fields stored as node properties of the same name (scalars and lists of strings).
COLUMN_FIELDS: tuple[str, ...] = (
    "user_id",
    "session_id",
    "status",
    "type",
    "memory_time",
    "source",
    "confidence",
    "entities",
    "tags",
    "visibility",
    "updated_at",
    "memory_type",
    "key",
    "background",
    "embedding",
    "usage",
    "created_at",
    "valid_at",
    "invalid_at",
)
# Properties that are bookkeeping, never metadata.
INTERNAL_PROPS: frozenset[str] = frozenset(
    {"cube_id", "content_hash", "dedup_key", "valid_at_ts", "invalid_at_ts", "extra"}
)
# Metadata keys never persisted: a search score belongs to one result, not to the memory, and
# the text a vector was computed from matters only when it is computed.
TRANSIENT_FIELDS: frozenset[str] = frozenset({"relativity", "embedding_text", "embedding_parts"})
#: ``metadata.type`` of the summary nodes reorganisation's hierarchy phase writes.
TOPIC_TYPE = "topic"

_SPACE_RE = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Text as compared for duplicates: NFKC, case-folded, whitespace collapsed."""
    return _SPACE_RE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def content_hash(text: str) -> str:
    """SHA-256 of :func:`normalise_text`."""
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()


def dedup_key(text_hash: str, message_ids: Iterable[str]) -> str:
    """Identity of an extracted memory: its text hash plus the messages it came from."""
    ids = sorted({m for m in message_ids if m})
    payload = "\n".join([text_hash, *ids])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def to_epoch_s(value: str | datetime | date | None, *, field: str) -> float | None:
    """Epoch seconds of an ISO-8601 string / datetime (naive means UTC); ``None`` stays None.

    Raises:
        InvalidMemoryInputError: naming ``field`` when the value is not a date or time.
    """
    if value is None:
        return None
    moment: datetime
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise InvalidMemoryInputError(
                f"{field} must be an ISO-8601 date or time, got {value!r}"
            ) from exc
    else:
        raise InvalidMemoryInputError(f"{field} must be an ISO-8601 string or datetime")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def embedding_source(item: TextualMemoryItem) -> str:
    """The text ``item``'s vector is computed from: its ``embedding_text``, else its memory."""
    return as_tree_metadata(item.metadata).embedding_text or item.memory


def as_tree_metadata(metadata: Any) -> TreeNodeTextualMemoryMetadata:
    """Coerce general or dict metadata to tree metadata (raises InvalidMemoryInputError)."""
    if isinstance(metadata, TreeNodeTextualMemoryMetadata):
        return metadata
    if hasattr(metadata, "model_dump"):
        metadata = metadata.model_dump()
    if metadata is None:
        metadata = {}
    try:
        return TreeNodeTextualMemoryMetadata.model_validate(metadata)
    except ValidationError as exc:
        raise InvalidMemoryInputError(f"invalid tree memory metadata: {exc}") from exc


def coerce_item(value: TextualMemoryItem | Mapping[str, Any] | str) -> TextualMemoryItem:
    """An item with tree metadata from an item, ``{"memory", "metadata", "id"?}`` or text."""
    if isinstance(value, str):
        return TextualMemoryItem(
            memory=validate_memory_text(value), metadata=TreeNodeTextualMemoryMetadata()
        )
    if isinstance(value, TextualMemoryItem):
        item = value
    elif isinstance(value, Mapping):
        data = dict(value)
        validate_memory_text(data.get("memory"))
        try:
            item = TextualMemoryItem.model_validate(
                {**data, "metadata": as_tree_metadata(data.get("metadata"))}
            )
        except ValidationError as exc:
            raise InvalidMemoryInputError(f"invalid memory item: {exc}") from exc
    else:
        raise InvalidMemoryInputError(
            f"a memory must be a TextualMemoryItem, a dict or a string, got {type(value).__name__}"
        )
    validate_memory_text(item.memory)
    if isinstance(item.metadata, TreeNodeTextualMemoryMetadata):
        return item
    return item.model_copy(update={"metadata": as_tree_metadata(item.metadata)})


def source_message_ids(meta: TreeNodeTextualMemoryMetadata) -> list[str]:
    """The message ids of an item's sources (those that have one)."""
    return [s.message_id for s in meta.sources if s.message_id]


def item_to_props(item: TextualMemoryItem) -> dict[str, Any]:
    """Node properties for ``item`` (whose metadata is tree metadata)."""
    meta = as_tree_metadata(item.metadata)
    dumped = meta.model_dump(mode="json")
    props: dict[str, Any] = {"id": item.id, "memory": item.memory}
    for name in COLUMN_FIELDS:
        props[name] = dumped.get(name)
    props["sources"] = json.dumps(dumped.get("sources") or [], ensure_ascii=False)
    extra = {
        k: v
        for k, v in dumped.items()
        if k not in COLUMN_FIELDS and k not in TRANSIENT_FIELDS and k != "sources"
    }
    props["extra"] = json.dumps(extra, ensure_ascii=False, sort_keys=True) if extra else None
    text_hash = content_hash(item.memory)
    props["content_hash"] = text_hash
    props["dedup_key"] = dedup_key(text_hash, source_message_ids(meta))
    props["valid_at_ts"] = to_epoch_s(meta.valid_at, field="valid_at")
    props["invalid_at_ts"] = to_epoch_s(meta.invalid_at, field="invalid_at")
    return props


def props_to_item(props: Mapping[str, Any], *, with_embedding: bool = True) -> TextualMemoryItem:
    """The item a node's properties describe."""
    meta: dict[str, Any] = {}
    extra_text = props.get("extra")
    if isinstance(extra_text, str) and extra_text:
        meta.update(json.loads(extra_text))
    for name in COLUMN_FIELDS:
        value = props.get(name)
        if value is not None:
            meta[name] = list(value) if isinstance(value, list | tuple) else value
    sources_text = props.get("sources")
    meta["sources"] = json.loads(sources_text) if isinstance(sources_text, str) else []
    if not with_embedding:
        meta["embedding"] = None
    return TextualMemoryItem(
        id=str(props["id"]),
        memory=str(props["memory"]),
        metadata=TreeNodeTextualMemoryMetadata.model_validate(meta),
    )
