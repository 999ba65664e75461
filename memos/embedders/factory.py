"""Build an embedder from an :class:`EmbedderConfigFactory`."""

from __future__ import annotations

from typing import Any, ClassVar

from memos.configs.embedder import EmbedderConfigFactory
from memos.embedders.base import BaseEmbedder
from memos.embedders.ollama import OllamaEmbedder
from memos.embedders.sentence_transformer import SenTranEmbedder
from memos.embedders.universal_api import UniversalAPIEmbedder
from memos.errors import ConfigError


class EmbedderFactory:
    """Maps a config's ``backend`` to its embedder class."""

    backend_to_class: ClassVar[dict[str, type[BaseEmbedder]]] = {
        "sentence_transformer": SenTranEmbedder,
        "ollama": OllamaEmbedder,
        "universal_api": UniversalAPIEmbedder,
    }

    @classmethod
    def from_config(cls, config_factory: EmbedderConfigFactory) -> BaseEmbedder:
        """Create the embedder that ``config_factory.backend`` names."""
        embedder_class = cls.backend_to_class.get(config_factory.backend)
        if embedder_class is None:
            known = ", ".join(sorted(cls.backend_to_class))
            raise ConfigError(
                f"unknown embedder backend {config_factory.backend!r}; known backends: {known}"
            )
        constructor: Any = embedder_class
        embedder: BaseEmbedder = constructor(config_factory.config)
        return embedder
