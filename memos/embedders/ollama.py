"""Embeddings from an Ollama server (``POST /api/embed``)."""

from __future__ import annotations

import httpx

from memos.configs.embedder import OllamaEmbedderConfig
from memos.embedders._http import post_json
from memos.embedders.base import BaseEmbedder
from memos.errors import EmbedderError


class OllamaEmbedder(BaseEmbedder):
    """Sends ``{"model", "input": [...]}`` to ``{api_base}/api/embed``; reads ``embeddings``."""

    config: OllamaEmbedderConfig

    def __init__(self, config: OllamaEmbedderConfig) -> None:
        super().__init__(config)
        self.url = config.api_base.rstrip("/") + "/api/embed"
        self._client = httpx.Client(timeout=config.timeout_s)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        model = self.config.model_name_or_path
        data = post_json(
            self._client, self.url, {"model": model, "input": texts}, model=model, what="Ollama"
        )
        embeddings = data.get("embeddings") if isinstance(data, dict) else None
        if not isinstance(embeddings, list) or not all(isinstance(vec, list) for vec in embeddings):
            raise EmbedderError(
                f"Ollama at {self.url} returned no 'embeddings' list for model {model!r}"
            )
        return [[float(x) for x in vec] for vec in embeddings]
