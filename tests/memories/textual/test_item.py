"""TextualMemoryItem and its metadata models."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from memos.errors import InvalidMemoryInputError
from memos.memories.textual.item import (
    TextualMemoryItem,
    TextualMemoryMetadata,
    TreeNodeTextualMemoryMetadata,
    validate_memory_text,
)


def test_defaults_give_a_uuid_and_general_metadata() -> None:
    item = TextualMemoryItem(memory="hello")
    uuid.UUID(item.id)
    assert type(item.metadata) is TextualMemoryMetadata
    assert item.metadata.status == "activated" and item.metadata.updated_at


def test_dict_round_trip_keeps_general_and_tree_metadata() -> None:
    general = TextualMemoryItem(memory="a", metadata={"user_id": "u", "custom": 1})
    back = TextualMemoryItem.from_dict(general.to_dict())
    assert back == general and type(back.metadata) is TextualMemoryMetadata
    assert back.to_dict()["metadata"]["custom"] == 1  # unknown keys are kept

    tree = TextualMemoryItem(
        memory="b",
        metadata=TreeNodeTextualMemoryMetadata(
            memory_type="UserMemory", sources=[{"role": "user", "content": "b"}], key="k"
        ),
    )
    back_tree = TextualMemoryItem.from_dict(tree.to_dict())
    assert type(back_tree.metadata) is TreeNodeTextualMemoryMetadata
    assert back_tree == tree


@pytest.mark.parametrize(
    "kwargs",
    [
        {"memory": ""},
        {"memory": "  \n"},
        {"memory": "x", "id": "not-a-uuid"},
        {"memory": "x", "metadata": {"confidence": 101}},
        {"memory": "x", "metadata": {"status": "gone"}},
        {"memory": "x", "unknown": 1},
    ],
)
def test_invalid_items_are_rejected(kwargs) -> None:
    with pytest.raises(ValidationError):
        TextualMemoryItem(**kwargs)


def test_validate_memory_text() -> None:
    assert validate_memory_text("ok") == "ok"
    with pytest.raises(InvalidMemoryInputError, match="must be a string, got int"):
        validate_memory_text(3)
    with pytest.raises(InvalidMemoryInputError, match="empty"):
        validate_memory_text(" ")


def test_assignment_is_validated() -> None:
    item = TextualMemoryItem(memory="x")
    with pytest.raises(ValidationError):
        item.memory = ""
    item.metadata.relativity = 0.5
    assert item.metadata.relativity == 0.5
