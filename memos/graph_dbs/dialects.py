"""The two graph-store dialects: they differ only in how indexes are created (and named).

* ``neo4j``: Cypher DDL (``CREATE VECTOR INDEX`` / ``CREATE FULLTEXT INDEX`` / constraints).
* ``arcadedb``: ArcadeDB rejects Neo4j's vector and full-text DDL, so the schema is created in
  ArcadeDB SQL through its HTTP API (``POST /api/v1/command/<db>``); its indexes are named
  ``Type[property]``.

Both then answer the same Cypher, including ``db.index.vector.queryNodes`` and
``db.index.fulltext.queryNodes``. One more difference was measured: ArcadeDB's
``vector.similarity.cosine`` returns the raw cosine while its vector index (like Neo4j's index and
Neo4j's function) scores ``(1 + cos) / 2``; :attr:`Dialect.cosine_score` keeps the exact-scan
fallback on the index's scale.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from memos.errors import GraphStoreError, GraphStoreUnavailableError
from memos.graph_dbs.queries import (
    CHANGE_LABEL,
    EDGE_TYPES,
    ENTITY_EDGE_TYPES,
    ENTITY_LABEL,
    MEMORY_LABEL,
)

logger = logging.getLogger(__name__)


class CypherRunner(Protocol):
    """Runs one auto-committed statement (what a dialect needs for Cypher DDL)."""

    def __call__(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Run ``query`` with ``params`` and return its records as dicts."""
        ...


@dataclass(frozen=True)
class Dialect:
    """Names and expressions that differ between the backends."""

    name: str
    vector_index: str
    fulltext_index: str
    # Cosine on the index's [0, 1] scale, over ``n.embedding`` and ``$vector``.
    cosine_score: str


NEO4J = Dialect(
    name="neo4j",
    vector_index="memory_embedding",
    fulltext_index="memory_fulltext",
    cosine_score="vector.similarity.cosine(n.embedding, $vector)",
)

ARCADEDB = Dialect(
    name="arcadedb",
    vector_index=f"{MEMORY_LABEL}[embedding]",
    fulltext_index=f"{MEMORY_LABEL}[memory]",
    cosine_score="(1.0 + vector.similarity.cosine(n.embedding, $vector)) / 2.0",
)

DIALECTS: dict[str, Dialect] = {"neo4j": NEO4J, "arcadedb": ARCADEDB}


def neo4j_schema_statements(dimension: int) -> list[str]:
    """Cypher DDL for Neo4j 5: constraint, lookup indexes, vector and full-text indexes."""
    # The dimension is an int validated by the config; Neo4j takes index options only as literals.
    dim = int(dimension)
    return [
        "CREATE CONSTRAINT memory_cube_node IF NOT EXISTS "
        "FOR (n:Memory) REQUIRE (n.cube_id, n.id) IS UNIQUE",
        "CREATE INDEX memory_cube IF NOT EXISTS FOR (n:Memory) ON (n.cube_id)",
        "CREATE INDEX memory_dedup IF NOT EXISTS FOR (n:Memory) ON (n.cube_id, n.dedup_key)",
        "CREATE INDEX memory_session IF NOT EXISTS FOR (n:Memory) ON (n.cube_id, n.session_id)",
        f"CREATE VECTOR INDEX {NEO4J.vector_index} IF NOT EXISTS FOR (n:Memory) ON n.embedding "
        f"OPTIONS {{indexConfig: {{`vector.dimensions`: {dim}, "
        "`vector.similarity_function`: 'cosine'}}",
        f"CREATE FULLTEXT INDEX {NEO4J.fulltext_index} IF NOT EXISTS "
        "FOR (n:Memory) ON EACH [n.memory]",
        "CREATE INDEX cube_change IF NOT EXISTS FOR (c:CubeChange) ON (c.cube_id, c.at)",
        "CREATE INDEX cube_change_slot IF NOT EXISTS FOR (c:CubeChange) ON (c.cube_id, c.slot)",
        "CREATE CONSTRAINT entity_cube_node IF NOT EXISTS "
        "FOR (e:Entity) REQUIRE (e.cube_id, e.id) IS UNIQUE",
        "CREATE INDEX entity_cube IF NOT EXISTS FOR (e:Entity) ON (e.cube_id)",
    ]


def arcadedb_schema_statements(dimension: int) -> list[str]:
    """ArcadeDB SQL: the vertex and edge types, properties and every index."""
    dim = int(dimension)
    statements = [
        f"CREATE VERTEX TYPE {MEMORY_LABEL} IF NOT EXISTS",
        f"CREATE PROPERTY {MEMORY_LABEL}.id IF NOT EXISTS STRING",
        f"CREATE PROPERTY {MEMORY_LABEL}.cube_id IF NOT EXISTS STRING",
        f"CREATE PROPERTY {MEMORY_LABEL}.dedup_key IF NOT EXISTS STRING",
        f"CREATE PROPERTY {MEMORY_LABEL}.session_id IF NOT EXISTS STRING",
        f"CREATE PROPERTY {MEMORY_LABEL}.memory IF NOT EXISTS STRING",
        f"CREATE PROPERTY {MEMORY_LABEL}.embedding IF NOT EXISTS ARRAY_OF_FLOATS",
        # Ids are unique per cube, not globally: a dump loads into another cube unchanged.
        f"CREATE INDEX IF NOT EXISTS ON {MEMORY_LABEL} (cube_id, id) UNIQUE",
        f"CREATE INDEX IF NOT EXISTS ON {MEMORY_LABEL} (cube_id) NOTUNIQUE",
        f"CREATE INDEX IF NOT EXISTS ON {MEMORY_LABEL} (id) NOTUNIQUE",
        # Composite lookups (measured: a dedup lookup of 500 keys took 2.5 s in a 2k-node cube
        # with a single-property index, tens of ms with the composite one).
        f"CREATE INDEX IF NOT EXISTS ON {MEMORY_LABEL} (cube_id, dedup_key) NOTUNIQUE",
        f"CREATE INDEX IF NOT EXISTS ON {MEMORY_LABEL} (cube_id, session_id) NOTUNIQUE",
        f"CREATE INDEX IF NOT EXISTS ON {MEMORY_LABEL} (embedding) LSM_VECTOR "
        f'METADATA {{"dimensions": {dim}, "similarity": "COSINE"}}',
        f"CREATE INDEX IF NOT EXISTS ON {MEMORY_LABEL} (memory) FULL_TEXT",
        # The change log of the in-process cube indexes (queries.LOG_CHANGE).
        f"CREATE VERTEX TYPE {CHANGE_LABEL} IF NOT EXISTS",
        f"CREATE PROPERTY {CHANGE_LABEL}.cube_id IF NOT EXISTS STRING",
        f"CREATE PROPERTY {CHANGE_LABEL}.at IF NOT EXISTS DOUBLE",
        f"CREATE PROPERTY {CHANGE_LABEL}.slot IF NOT EXISTS LONG",
        f"CREATE INDEX IF NOT EXISTS ON {CHANGE_LABEL} (cube_id, at) NOTUNIQUE",
        # What a reader's lookup uses (queries.CHANGES_SINCE): equality on both.
        f"CREATE INDEX IF NOT EXISTS ON {CHANGE_LABEL} (cube_id, slot) NOTUNIQUE",
    ]
    statements += [
        # Entities a memory mentions (queries.MERGE_ENTITIES), unique per cube like memories.
        f"CREATE VERTEX TYPE {ENTITY_LABEL} IF NOT EXISTS",
        f"CREATE PROPERTY {ENTITY_LABEL}.id IF NOT EXISTS STRING",
        f"CREATE PROPERTY {ENTITY_LABEL}.cube_id IF NOT EXISTS STRING",
        f"CREATE INDEX IF NOT EXISTS ON {ENTITY_LABEL} (cube_id, id) UNIQUE",
        f"CREATE INDEX IF NOT EXISTS ON {ENTITY_LABEL} (cube_id) NOTUNIQUE",
    ]
    edges = sorted(EDGE_TYPES | ENTITY_EDGE_TYPES)
    statements.extend(f"CREATE EDGE TYPE {edge} IF NOT EXISTS" for edge in edges)
    return statements


_clients: dict[int, httpx.Client] = {}
_client_lock = threading.Lock()


def _http_client() -> httpx.Client:
    """One HTTP client per process (by pid: a forked worker never shares its parent's pool).

    ``httpx.post`` builds a client, and loads the system CA store into a new SSL context
    (~20 ms of CPU), on every call.
    """
    with _client_lock:
        client = _clients.get(os.getpid())
        if client is None:
            client = _clients[os.getpid()] = httpx.Client()
        return client


class ArcadeDBAdmin:
    """ArcadeDB's HTTP API, used only for database creation and SQL schema statements."""

    def __init__(
        self, http_url: str, user: str, password: str, database: str, timeout_s: float
    ) -> None:
        self._base = http_url.rstrip("/")
        self._auth = (user, password)
        self._database = database
        self._timeout_s = timeout_s

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = _http_client().post(
                f"{self._base}{path}", json=body, auth=self._auth, timeout=self._timeout_s
            )
        except httpx.HTTPError as exc:
            raise GraphStoreUnavailableError(
                f"ArcadeDB HTTP API at {self._base} is unreachable ({type(exc).__name__}); "
                "check graph_db.config.http_url and that the server runs"
            ) from exc
        if response.status_code >= 400:
            raise GraphStoreError(
                f"ArcadeDB refused {path} with HTTP {response.status_code}: {response.text[:300]}"
            )
        data: dict[str, Any] = response.json()
        return data

    def database_exists(self) -> bool:
        """Whether the configured database exists on the server."""
        try:
            response = _http_client().get(
                f"{self._base}/api/v1/exists/{self._database}",
                auth=self._auth,
                timeout=self._timeout_s,
            )
        except httpx.HTTPError as exc:
            raise GraphStoreUnavailableError(
                f"ArcadeDB HTTP API at {self._base} is unreachable ({type(exc).__name__})"
            ) from exc
        if response.status_code >= 400:
            raise GraphStoreError(
                f"ArcadeDB refused the database check with HTTP {response.status_code}"
            )
        return bool(response.json().get("result"))

    def create_database(self) -> None:
        """Create the configured database (the caller checked it is missing)."""
        self._post("/api/v1/server", {"command": f"create database {self._database}"})
        logger.info("created ArcadeDB database %s", self._database)

    def sql(self, command: str) -> None:
        """Run one SQL command against the configured database."""
        self._post(f"/api/v1/command/{self._database}", {"language": "sql", "command": command})


def setup_arcadedb(admin: ArcadeDBAdmin, dimension: int, *, auto_create: bool) -> None:
    """Create the database (if allowed and missing) and the schema; safe to repeat."""
    if not admin.database_exists():
        if not auto_create:
            raise GraphStoreError(
                "the ArcadeDB database does not exist and graph_db.config.auto_create is false"
            )
        admin.create_database()
    for statement in arcadedb_schema_statements(dimension):
        admin.sql(statement)


def setup_neo4j(run: CypherRunner, dimension: int) -> None:
    """Create Neo4j's constraint and indexes; safe to repeat."""
    for statement in neo4j_schema_statements(dimension):
        run(statement, {})
