"""Shared set-up for graph-store tests: one store per dialect, ArcadeDB from the embedded stack.

Neo4j runs only where ``MEMOS_TEST_NEO4J_URI`` (plus ``_USER`` / ``_PASSWORD``) names a server.
"""

from __future__ import annotations

import math
import os
import random
import uuid

import pytest

from memos.configs.graph_db import GraphDBConfigFactory
from memos.graph_dbs import GraphStore

NEO4J_URI = os.environ.get("MEMOS_TEST_NEO4J_URI")
DIALECT_PARAMS = [
    pytest.param("arcadedb", id="arcadedb"),
    pytest.param(
        "neo4j",
        id="neo4j",
        marks=pytest.mark.skipif(not NEO4J_URI, reason="MEMOS_TEST_NEO4J_URI is not set"),
    ),
]
DIM = 384


def graph_config(dialect: str, request: pytest.FixtureRequest) -> GraphDBConfigFactory:
    """The config of the test database for ``dialect``."""
    if dialect == "arcadedb":
        state = request.getfixturevalue("embedded_stack")
        arcade = state.arcadedb
        return GraphDBConfigFactory(
            backend="arcadedb",
            config={
                "uri": arcade.bolt_url,
                "http_url": arcade.http_url,
                "user": arcade.user,
                "password": arcade.password,
                "db_name": arcade.database,
                "embedding_dimension": DIM,
            },
        )
    return GraphDBConfigFactory(
        backend="neo4j",
        config={
            "uri": NEO4J_URI,
            "user": os.environ.get("MEMOS_TEST_NEO4J_USER", "neo4j"),
            "password": os.environ.get("MEMOS_TEST_NEO4J_PASSWORD", "neo4j"),
            "db_name": os.environ.get("MEMOS_TEST_NEO4J_DATABASE", "neo4j"),
            "embedding_dimension": DIM,
        },
    )


def make_store(dialect: str, request: pytest.FixtureRequest) -> GraphStore:
    """A set-up store for ``dialect`` (the caller closes it)."""
    store = GraphStore(graph_config(dialect, request))
    store.setup()
    return store


def new_cube() -> str:
    """A cube id no other test uses."""
    return f"test-{uuid.uuid4().hex}"


def unit_vector(seed: int, dim: int = DIM) -> list[float]:
    """A deterministic random unit vector."""
    rng = random.Random(seed)
    raw = [rng.gauss(0.0, 1.0) for _ in range(dim)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


def near(vector: list[float], seed: int, noise: float) -> list[float]:
    """A unit vector close to ``vector`` (cosine falls as ``noise`` grows)."""
    other = unit_vector(seed, len(vector))
    mixed = [a + noise * b for a, b in zip(vector, other, strict=True)]
    norm = math.sqrt(sum(x * x for x in mixed))
    return [x / norm for x in mixed]
