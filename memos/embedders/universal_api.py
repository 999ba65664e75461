"""Embeddings from any OpenAI-compatible ``/embeddings`` endpoint (OpenAI, vLLM, TEI, ...)."""

from __future__ import annotations

from typing import Any

import httpx

from memos.configs.embedder import UniversalAPIEmbedderConfig
from memos.embedders._http import post_json
from memos.embedders.base import BaseEmbedder
from memos.errors import EmbedderError


class UniversalAPIEmbedder(BaseEmbedder):
    """POSTs ``{"model", "input": [...]}``; reads ``data[i].embedding`` ordered by ``index``."""

    config: UniversalAPIEmbedderConfig

    def __init__(self, config: UniversalAPIEmbedderConfig) -> None:
        super().__init__(config)
        self.url = config.base_url.rstrip("/") + "/embeddings"
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._client = httpx.Client(timeout=config.timeout_s, headers=headers)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        model = self.config.model_name_or_path
        data = post_json(
            self._client,
            self.url,
            {"model": model, "input": texts},
            model=model,
            what=f"{self.config.provider} embeddings API",
        )
        rows = data.get("data") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise EmbedderError(f"{self.url} returned no 'data' list for model {model!r}")
        try:
            # The spec allows any order; ``index`` says which input each row belongs to.
            ordered = sorted(rows, key=_row_index)
            return [[float(x) for x in row["embedding"]] for row in ordered]
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbedderError(
                f"{self.url} returned malformed embeddings for model {model!r}: {exc}"
            ) from exc


def _row_index(row: Any) -> int:
    return int(row["index"])
