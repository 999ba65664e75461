"""Build a vector store from a :class:`VectorDBConfigFactory`."""

from __future__ import annotations

from typing import Any, ClassVar

from memos.configs.vec_db import VectorDBConfigFactory
from memos.errors import ConfigError
from memos.vec_dbs.base import BaseVecDB
from memos.vec_dbs.faiss import FaissVecDB


class VecDBFactory:
    """Maps a config's ``backend`` to its vector-store class."""

    backend_to_class: ClassVar[dict[str, type[BaseVecDB]]] = {"faiss": FaissVecDB}

    @classmethod
    def from_config(cls, config_factory: VectorDBConfigFactory) -> BaseVecDB:
        """Create the vector store that ``config_factory.backend`` names."""
        store_class = cls.backend_to_class.get(config_factory.backend)
        if store_class is None:
            known = ", ".join(sorted(cls.backend_to_class))
            raise ConfigError(
                f"unknown vector store backend {config_factory.backend!r}; known backends: {known}"
            )
        constructor: Any = store_class
        store: BaseVecDB = constructor(config_factory.config)
        return store
