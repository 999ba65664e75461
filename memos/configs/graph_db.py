"""Graph-store configs: one Cypher store on the neo4j driver, two dialects."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from memos.configs.base import BaseConfig, BaseConfigFactory

# ``uri: embedded`` means: the ArcadeDB of the running ``memos up`` stack (started if needed).
EMBEDDED_URI = "embedded"


class BaseGraphDBConfig(BaseConfig):
    """Connection and schema settings shared by both dialects."""

    uri: str = EMBEDDED_URI
    user: str = "root"
    password: str | None = Field(
        default=None, description="taken from the stack state when embedded"
    )
    db_name: str = "memdb"
    auto_create: bool = True
    embedding_dimension: int = Field(default=384, gt=0)
    max_connection_pool_size: int = Field(default=20, gt=0)
    query_timeout_s: float = Field(default=60.0, gt=0)
    home: str | None = Field(
        default=None,
        description="data home whose embedded stack ``uri: embedded`` names (the stack lives in "
        "HOME/stack); default $MEMOS_HOME or ~/.memos",
    )

    @model_validator(mode="after")
    def _home_only_when_embedded(self) -> BaseGraphDBConfig:
        # A home beside a real URI would be silently ignored: refuse it so the mistake shows.
        if self.home is not None and self.uri != EMBEDDED_URI:
            raise ValueError("graph_db.config.home applies only with uri: embedded")
        return self


class Neo4jGraphDBConfig(BaseGraphDBConfig):
    """Neo4j 5 (Community or Enterprise)."""

    uri: str = "bolt://localhost:7687"
    user: str = "neo4j"


class ArcadeDBGraphDBConfig(BaseGraphDBConfig):
    """ArcadeDB over its Bolt plugin (the embedded default); ``http_url`` creates indexes in SQL."""

    http_url: str | None = Field(
        default=None, description="taken from the stack state when embedded"
    )


class GraphDBConfigFactory(BaseConfigFactory):
    """``{"backend": "neo4j" | "arcadedb", "config": {...}}``."""

    backend_to_class: ClassVar[dict[str, type[BaseConfig]]] = {
        "neo4j": Neo4jGraphDBConfig,
        "arcadedb": ArcadeDBGraphDBConfig,
    }
