"""Fixtures of the reorganisation tests: the real embedded stack, the packaged embedder."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from memos.configs.embedder import EmbedderConfigFactory
from memos.configs.memory import TreeTextMemoryConfig
from memos.embedders.base import BaseEmbedder
from memos.embedders.factory import EmbedderFactory
from memos.graph_dbs import GraphStore
from memos.memories.textual.tree import TreeTextMemory
from tests.graph_dbs.helpers import graph_config


@pytest.fixture(scope="session")
def organize_embedder() -> BaseEmbedder:
    """The packaged all-MiniLM-L6-v2, loaded once."""
    return EmbedderFactory.from_config(
        EmbedderConfigFactory(backend="sentence_transformer", config={})
    )


@pytest.fixture(scope="session")
def organize_store(request: pytest.FixtureRequest) -> Iterator[tuple[GraphStore, Any]]:
    """A set-up ArcadeDB store of the embedded stack, and its config."""
    config = graph_config("arcadedb", request)
    store = GraphStore(config)
    store.setup()
    try:
        yield store, config
    finally:
        store.close()


@pytest.fixture
def make_memory(
    organize_store: tuple[GraphStore, Any], organize_embedder: BaseEmbedder
) -> Iterator[Any]:
    """Factory of TreeTextMemory instances; each call without a cube id gets a new cube."""
    store, graph_db = organize_store
    made: list[TreeTextMemory] = []

    def factory(cube_id: str | None = None) -> TreeTextMemory:
        config = TreeTextMemoryConfig(
            cube_id=cube_id or f"org-{uuid.uuid4().hex}", user_id="alice", graph_db=graph_db
        )
        memory = TreeTextMemory(config, embedder=organize_embedder, store=store)
        made.append(memory)
        return memory

    yield factory
    for memory in made:
        memory.delete_all()


@pytest.fixture
def redis_client(embedded_stack: Any) -> Iterator[redis.Redis]:
    """A client of the embedded Redis."""
    client = redis.Redis.from_url(embedded_stack.redis.url)
    try:
        yield client
    finally:
        client.close()
