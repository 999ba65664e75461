"""Fixtures shared by the textual-memory tests (defined with the tree-memory tests)."""

from tests.memories.textual.test_tree import embedder, make_memory, tree_store

__all__ = ["embedder", "make_memory", "tree_store"]
