"""Memory configs: ``MemoryConfigFactory`` picks one by ``backend``.

To add a memory type, define its config class here and add one entry to
``MemoryConfigFactory.backend_to_class`` (and its class to ``memos.memories.factory``).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from memos.configs.base import BaseConfig, BaseConfigFactory
from memos.configs.embedder import EmbedderConfigFactory, SentenceTransformerEmbedderConfig
from memos.configs.graph_db import ArcadeDBGraphDBConfig, GraphDBConfigFactory
from memos.configs.llm import HFLLMConfig, LLMConfigFactory, VLLMLLMConfig
from memos.configs.vec_db import FaissVecDBConfig, VectorDBConfigFactory


def default_embedder() -> EmbedderConfigFactory:
    """The packaged all-MiniLM-L6-v2 through sentence-transformers."""
    return EmbedderConfigFactory(
        backend="sentence_transformer", config=SentenceTransformerEmbedderConfig()
    )


def default_vector_db() -> VectorDBConfigFactory:
    """A flat cosine faiss index of dimension 384 (the default embedder's)."""
    return VectorDBConfigFactory(backend="faiss", config=FaissVecDBConfig())


class BaseMemoryConfig(BaseConfig):
    """Fields every memory has."""

    cube_id: str | None = Field(default=None, description="the cube this memory belongs to")


class BaseTextMemoryConfig(BaseMemoryConfig):
    """Fields every textual memory has."""

    memory_filename: str = Field(default="textual_memory.json", min_length=1)


class GeneralTextMemoryConfig(BaseTextMemoryConfig):
    """GeneralTextMemory: items in a faiss index, embedded by ``embedder``.

    ``extractor_llm`` turns conversations into memories in :meth:`extract`; without it extraction
    is rule-based (one memory per message sentence).
    """

    extractor_llm: LLMConfigFactory | None = None
    vector_db: VectorDBConfigFactory = Field(default_factory=default_vector_db)
    embedder: EmbedderConfigFactory = Field(default_factory=default_embedder)


def default_kv_extractor() -> LLMConfigFactory:
    """The packaged SmolLM2 through transformers (the model the KV caches are built with)."""
    return LLMConfigFactory(backend="huggingface", config=HFLLMConfig())


class BaseActMemoryConfig(BaseMemoryConfig):
    """Fields every activation memory has; ``memory_filename`` is its JSON manifest."""

    memory_filename: str = Field(default="activation_memory.json", min_length=1)


class KVCacheMemoryConfig(BaseActMemoryConfig):
    """KVCacheMemory: transformers KV caches of memory prefixes (``extractor_llm`` must be HF)."""

    extractor_llm: LLMConfigFactory = Field(default_factory=default_kv_extractor)
    reserved_tokens: int = Field(
        default=256,
        ge=0,
        le=65536,
        description="positions reserved after each stored prefix, so a question (and its "
        "answer) is computed on top without copying the prefix; costs that many positions of "
        "memory per item, 0 turns it off",
    )

    @field_validator("extractor_llm")
    @classmethod
    def _huggingface_only(cls, value: LLMConfigFactory) -> LLMConfigFactory:
        if value.backend != "huggingface":
            raise ValueError("kv_cache memory needs a 'huggingface' extractor_llm")
        return value


class VLLMKVCacheMemoryConfig(BaseActMemoryConfig):
    """vLLM prefix caching: memory prefixes warmed on a vLLM server (``extractor_llm``: vllm)."""

    extractor_llm: LLMConfigFactory = Field(
        default_factory=lambda: LLMConfigFactory(backend="vllm", config=VLLMLLMConfig())
    )
    cache_salt: str | None = Field(
        default=None, min_length=1, description="per-tenant salt; defaults to the LLM's cache_salt"
    )
    block_size: int | None = Field(
        default=None,
        gt=0,
        description="the server's prefix-cache block size; None reads it from the server's "
        "vllm:cache_config_info metric (16, vLLM's default, when the server does not say)",
    )

    @field_validator("extractor_llm")
    @classmethod
    def _vllm_only(cls, value: LLMConfigFactory) -> LLMConfigFactory:
        if value.backend != "vllm":
            raise ValueError("vllm_kv_cache memory needs a 'vllm' extractor_llm")
        return value


def default_graph_db() -> GraphDBConfigFactory:
    """ArcadeDB of the embedded stack (``uri: embedded``), 384-d vectors."""
    return GraphDBConfigFactory(backend="arcadedb", config=ArcadeDBGraphDBConfig())


class TreeTextMemoryConfig(BaseTextMemoryConfig):
    """TreeTextMemory: memories as nodes of a graph store, scoped by ``cube_id`` (MemOS fields).

    ``extractor_llm`` / ``dispatcher_llm`` are kept for MemOS configs; without them extraction
    is rule-based. ``reorganize`` lets the daemon reorganise this memory in the background.
    """

    extractor_llm: LLMConfigFactory | None = None
    dispatcher_llm: LLMConfigFactory | None = None
    embedder: EmbedderConfigFactory = Field(default_factory=default_embedder)
    graph_db: GraphDBConfigFactory = Field(default_factory=default_graph_db)
    cube_id: str | None = Field(default="default", description="the cube whose nodes this sees")
    user_id: str | None = Field(default=None, description="owner stamped on new nodes")
    reorganize: bool = False
    cube_index: bool = Field(
        default=True,
        description="search the cube through an in-process index kept in step with the store "
        "(vector + BM25 over this cube only); false uses the store's global indexes",
    )
    entity_nodes: bool = Field(
        default=True,
        description="write each memory's entities (speaker, names it mentions) as Entity nodes "
        "with MENTIONS edges, in the same transaction as the memory",
    )


class MemoryConfigFactory(BaseConfigFactory):
    """``{"backend": "general_text", "config": {...}}``."""

    backend_to_class: ClassVar[dict[str, type[BaseConfig]]] = {
        "general_text": GeneralTextMemoryConfig,
        "tree_text": TreeTextMemoryConfig,
        "kv_cache": KVCacheMemoryConfig,
        "vllm_kv_cache": VLLMKVCacheMemoryConfig,
    }
