"""Fixtures of the graph-store tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from memos.graph_dbs import GraphStore
from tests.graph_dbs.helpers import DIALECT_PARAMS, make_store


@pytest.fixture(scope="session", params=DIALECT_PARAMS)
def graph_store(request: pytest.FixtureRequest) -> Iterator[GraphStore]:
    """A set-up store per dialect, shared by the run (each test uses its own cube ids)."""
    store = make_store(request.param, request)
    try:
        yield store
    finally:
        store.close()
