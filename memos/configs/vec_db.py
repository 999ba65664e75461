"""Vector-store configs: ``VectorDBConfigFactory`` picks one by ``backend`` (only ``faiss``)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from memos.configs.base import BaseConfig, BaseConfigFactory

DistanceMetric = Literal["cosine", "dot", "euclidean"]
FaissIndexType = Literal["flat", "hnsw"]


class BaseVecDBConfig(BaseConfig):
    """Fields every vector store has."""

    collection_name: str = Field(default="memos_memories", min_length=1)
    vector_dimension: int = Field(default=384, gt=0)
    distance_metric: DistanceMetric = "cosine"


class FaissVecDBConfig(BaseVecDBConfig):
    """An in-process faiss index with JSON payloads, saved as files.

    ``flat`` is exact; ``hnsw`` is approximate and faster on large collections but rebuilds the
    index on every delete (faiss HNSW cannot remove vectors).
    """

    index_type: FaissIndexType = "flat"
    hnsw_m: int = Field(default=32, gt=1, description="HNSW graph degree")
    hnsw_ef_search: int = Field(default=64, gt=0, description="HNSW search breadth")
    hnsw_ef_construction: int = Field(default=64, gt=0, description="HNSW build breadth")
    num_threads: int = Field(
        default=1, gt=0, description="faiss OpenMP threads (1 avoids spinning on small machines)"
    )
    path: str | None = Field(
        default=None, description="default directory for save() / load() when none is given"
    )


class VectorDBConfigFactory(BaseConfigFactory):
    """``{"backend": "faiss", "config": {...}}``; any other backend is rejected with the list."""

    backend_to_class: ClassVar[dict[str, type[BaseConfig]]] = {
        "faiss": FaissVecDBConfig,
    }
