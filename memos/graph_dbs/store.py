"""The Cypher graph store: one implementation on the neo4j driver, Neo4j and ArcadeDB dialects.

Usage::

    store = GraphStore(graph_db_config_factory)   # no I/O
    store.setup()                                  # indexes and constraints, explicit
    graph = store.for_cube("cube-1", "alice")      # every call of graph is scoped to cube-1
    with graph.transaction() as tx:                # commit on clean exit, rollback on error
        tx.create_nodes([...])

There is no unscoped query API: :class:`CubeGraph` adds ``cube_id`` to every statement, and
vector / full-text index hits (the indexes are global) are filtered by cube after the index call.
The batch writes of :class:`StoreTransaction` (a worker's adds for many tenants, each kind of
statement once per batch) take cube views and put each view's ``cube_id`` into every row they
send, and their statements are scoped by it per row.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import neo4j

from memos.configs.graph_db import (
    EMBEDDED_URI,
    ArcadeDBGraphDBConfig,
    BaseGraphDBConfig,
    GraphDBConfigFactory,
)
from memos.errors import ConfigError, GraphStoreError, InvalidMemoryInputError
from memos.graph_dbs import queries as q
from memos.graph_dbs.dialects import (
    DIALECTS,
    ArcadeDBAdmin,
    Dialect,
    setup_arcadedb,
    setup_neo4j,
)
from memos.graph_dbs.drivers import (
    ConnectionTarget,
    acquire_driver,
    records,
    release_driver,
    translated,
    with_timeout,
)

logger = logging.getLogger(__name__)

_CUBE_ID_RE = re.compile(r"^[\w.:@\-]{1,128}$")
_DB_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,62}$")
# Rows per chunk when a whole cube is read or deleted (get_all, dump, delete_all).
PAGE_SIZE = 1000
# Longest a streamed read of a whole cube may run (server-side transaction timeout).
STREAM_TIMEOUT_S = 900.0
# Properties a caller can never set through a row: the store owns them.
_SCOPE_KEYS = ("cube_id",)
# Change-log entries older than this are pruned (a reader idle for longer rebuilds its index).
CHANGE_RETENTION_S = 3600.0
# How far ahead of this process's clock a writer's clock may be and its entries still be
# found by the next read of the change log (``changes_since``).
CHANGE_SLOT_AHEAD_S = 120.0


def change_slot(at: float) -> int:
    """The change-log slot of a time (``queries.CHANGE_SLOT_S`` seconds per slot)."""
    return int(at // q.CHANGE_SLOT_S)


def _change_entry(ids: Sequence[str], now: float, *, reset: bool = False) -> dict[str, Any]:
    """The properties of one change-log entry (``queries.LOG_CHANGE``), but its cube."""
    return {
        "key": uuid.uuid4().hex, "at": now, "slot": change_slot(now), "ids": list(ids),
        "reset": reset,
    }  # fmt: skip


def _edge_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Edge rows as the edge statements take them: ``{source, target, props}``."""
    return [
        {"source": r["source"], "target": r["target"], "props": dict(r.get("props") or {})}
        for r in rows
    ]


# Every this many logged writes of a process, the writer prunes old entries of its cube.
_PRUNE_EVERY = 64
_write_counter = itertools.count(1)
# Servers (bolt url, database, http url, dimension) whose schema this process has set up.
_setup_done: set[tuple[str, str, str, int]] = set()
_setup_lock = threading.Lock()


def validate_cube_id(cube_id: str) -> str:
    """Return ``cube_id`` if it is 1-128 word characters or ``. : @ -``; raise otherwise."""
    if not isinstance(cube_id, str) or not _CUBE_ID_RE.match(cube_id):
        raise InvalidMemoryInputError(
            f"invalid cube id {cube_id!r}: use 1-128 letters, digits or _ . : @ -"
        )
    return cube_id


@dataclass(frozen=True)
class NodeFilter:
    """Conditions every search / expansion result must meet (besides its cube).

    ``valid_at_ts`` (epoch seconds) keeps only memories valid at that instant (``valid_at``
    null or not after it, ``invalid_at`` null or after it); ``None`` skips the validity check.
    """

    statuses: tuple[str, ...] | None = ("activated",)
    memory_types: tuple[str, ...] | None = None
    #: Node ``type`` values (``fact``, ``event``, ``topic``, ...); ``None`` keeps every type.
    types: tuple[str, ...] | None = None
    session_id: str | None = None
    valid_at_ts: float | None = None

    def compile(self, cube_id: str) -> tuple[str, dict[str, Any]]:
        """The WHERE condition over ``n`` and its parameters; always scoped by cube."""
        parts = [q.WHERE_CUBE]
        params: dict[str, Any] = {"cube_id": cube_id}
        if self.statuses is not None:
            parts.append(q.WHERE_STATUS)
            params["statuses"] = list(self.statuses)
        if self.memory_types is not None:
            parts.append(q.WHERE_MEMORY_TYPE)
            params["memory_types"] = list(self.memory_types)
        if self.types is not None:
            parts.append(q.WHERE_TYPE)
            params["types"] = list(self.types)
        if self.session_id is not None:
            parts.append(q.WHERE_SESSION)
            params["session_id"] = self.session_id
        if self.valid_at_ts is not None:
            parts.append(q.WHERE_VALID)
            params["as_of_ts"] = float(self.valid_at_ts)
        return " AND ".join(f"({part})" for part in parts), params


ANY_NODE = NodeFilter(statuses=None)


class _Executor(Protocol):
    def read(self, query: str, params: dict[str, Any], action: str) -> list[dict[str, Any]]: ...

    def write(self, query: str, params: dict[str, Any], action: str) -> list[dict[str, Any]]: ...

    def stream(
        self, query: str, params: dict[str, Any], action: str, chunk: int
    ) -> Iterator[list[dict[str, Any]]]: ...


def _chunks(result: neo4j.Result, chunk: int, action: str) -> Iterator[list[dict[str, Any]]]:
    """The rows of ``result`` as plain dicts, ``chunk`` at a time, errors translated."""
    while True:
        with translated(action):
            rows = records(result.fetch(chunk))
        if not rows:
            return
        yield rows


class _SessionExecutor:
    """Each call is its own managed transaction (retried by the driver on transient errors)."""

    def __init__(self, store: GraphStore) -> None:
        self._store = store

    def _run(
        self, query: str, params: dict[str, Any], action: str, *, write: bool
    ) -> list[dict[str, Any]]:
        def work(tx: neo4j.ManagedTransaction) -> list[dict[str, Any]]:
            return records(tx.run(query, params))

        driver = self._store.driver()
        with (
            translated(action),
            _forget_when_unreachable(self._store),
            driver.session(database=self._store.database) as session,
        ):
            runner = session.execute_write if write else session.execute_read
            result: list[dict[str, Any]] = runner(with_timeout(work, self._store.timeout_s))
            return result

    def read(self, query: str, params: dict[str, Any], action: str) -> list[dict[str, Any]]:
        return self._run(query, params, action, write=False)

    def write(self, query: str, params: dict[str, Any], action: str) -> list[dict[str, Any]]:
        return self._run(query, params, action, write=True)

    def stream(
        self, query: str, params: dict[str, Any], action: str, chunk: int
    ) -> Iterator[list[dict[str, Any]]]:
        """One read transaction whose rows arrive ``chunk`` at a time (bounded memory).

        Not retried (rows already handed out cannot be taken back); it may outlast
        ``query_timeout_s`` (a whole cube), up to :data:`STREAM_TIMEOUT_S`.
        """
        driver = self._store.driver()
        timeout = max(self._store.timeout_s, STREAM_TIMEOUT_S)
        with (
            translated(action),
            _forget_when_unreachable(self._store),
            driver.session(database=self._store.database, fetch_size=chunk) as session,
            session.begin_transaction(timeout=timeout) as tx,
        ):
            yield from _chunks(tx.run(query, params), chunk, action)


@contextmanager
def _forget_when_unreachable(store: GraphStore) -> Iterator[None]:
    """On an unreachable server, make ``store`` reconnect (and re-resolve) on its next call."""
    try:
        yield
    except neo4j.exceptions.ServiceUnavailable:
        store.forget_connection()
        raise


class _TxExecutor:
    """Runs every call inside one explicit transaction."""

    def __init__(self, tx: neo4j.Transaction) -> None:
        self._tx = tx

    def read(self, query: str, params: dict[str, Any], action: str) -> list[dict[str, Any]]:
        with translated(action):
            return records(self._tx.run(query, params))

    def write(self, query: str, params: dict[str, Any], action: str) -> list[dict[str, Any]]:
        return self.read(query, params, action)

    def stream(
        self, query: str, params: dict[str, Any], action: str, chunk: int
    ) -> Iterator[list[dict[str, Any]]]:
        with translated(action):
            result = self._tx.run(query, params)
        yield from _chunks(result, chunk, action)


class GraphStore:
    """Connection, dialect and schema of one graph database; hands out cube-scoped views."""

    def __init__(
        self,
        config: GraphDBConfigFactory | BaseGraphDBConfig,
        *,
        dialect: str | None = None,
        vector_overfetch: int = 5,
    ) -> None:
        if isinstance(config, GraphDBConfigFactory):
            backend = config.backend
            inner = config.config
            if not isinstance(inner, BaseGraphDBConfig):
                raise ConfigError("graph_db.config must be a graph database config")
            self.config: BaseGraphDBConfig = inner
        else:
            backend = dialect or ("arcadedb" if isinstance(config, ArcadeDBGraphDBConfig) else "")
            self.config = config
        if backend not in DIALECTS:
            raise ConfigError(f"unknown graph dialect {backend!r}; known: neo4j, arcadedb")
        if not _DB_NAME_RE.match(self.config.db_name):
            raise ConfigError(
                f"graph_db.config.db_name {self.config.db_name!r} is not a plain name"
            )
        self.dialect: Dialect = DIALECTS[backend]
        self.vector_overfetch = max(1, vector_overfetch)
        self._target: ConnectionTarget | None = None
        self._http_url: str | None = None
        self._driver: neo4j.Driver | None = None

    # -- connection -------------------------------------------------------------------------

    @property
    def database(self) -> str:
        """Name of the database every session uses."""
        return self._resolve().database

    @property
    def timeout_s(self) -> float:
        """Server-side timeout of each transaction."""
        return self.config.query_timeout_s

    def _resolve(self) -> ConnectionTarget:
        """Connection details; for ``uri: embedded`` they come from the running embedded stack."""
        if self._target is not None:
            return self._target
        cfg = self.config
        if cfg.uri == EMBEDDED_URI:
            from memos.embedded.stack import ensure_stack

            # graph_db.config.home picks the stack; without it ensure_stack uses $MEMOS_HOME.
            state = ensure_stack(Path(cfg.home).expanduser() / "stack" if cfg.home else None)
            arcade = state.arcadedb
            bolt_url, user, password = arcade.bolt_url, arcade.user, arcade.password
            database = arcade.database
            self._http_url = arcade.http_url
        else:
            bolt_url, user = cfg.uri, cfg.user
            if cfg.password is None:
                raise ConfigError("graph_db.config.password is required unless uri is 'embedded'")
            password = cfg.password
            database = cfg.db_name
            if isinstance(cfg, ArcadeDBGraphDBConfig):
                self._http_url = cfg.http_url
        self._target = ConnectionTarget(
            bolt_url=bolt_url,
            user=user,
            password=password,
            database=database,
            max_pool_size=cfg.max_connection_pool_size,
        )
        return self._target

    def driver(self) -> neo4j.Driver:
        """The process-wide driver for this store's target (created on first use)."""
        if self._driver is None:
            self._driver = acquire_driver(self._resolve())
        return self._driver

    def forget_connection(self) -> None:
        """Drop the driver and, for ``uri: embedded``, the resolved address.

        Called when the server is unreachable: a repaired embedded stack may listen on another
        port, so the next call re-reads the stack's state instead of retrying a dead address.
        """
        if self._target is not None:
            server = (self._target.bolt_url, self._target.database)
            with _setup_lock:
                _setup_done.difference_update({k for k in _setup_done if k[:2] == server})
        self.close()
        if self.config.uri == EMBEDDED_URI:
            self._target = None

    def close(self) -> None:
        """Release this store's reference to the shared driver."""
        if self._driver is not None and self._target is not None:
            release_driver(self._target)
        self._driver = None

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def verify(self) -> None:
        """Check that the database answers (raises :class:`GraphStoreError` if not)."""
        # A plain auto-commit run: the managed retries would keep a dead server waiting.
        with (
            translated("checking connectivity"),
            self.driver().session(database=self.database) as session,
        ):
            session.run("RETURN 1 AS ok").consume()

    # -- schema -----------------------------------------------------------------------------

    def setup(self) -> None:
        """Create the database (ArcadeDB, if allowed), constraints and indexes; idempotent.

        Done once per process and server: every cube's memory calls this when it is first
        used, and ArcadeDB's schema takes about 25 HTTP statements (measured on the worker at
        100 new tenants: 0.7 s of CPU per cube before this). A server found unreachable
        (:meth:`forget_connection`) is set up again on its next use.
        """
        target = self._resolve()
        dim = self.config.embedding_dimension
        done_key = (target.bolt_url, target.database, self._http_url or "", dim)
        with _setup_lock:
            if done_key in _setup_done:
                return
        self._setup(target, dim)
        with _setup_lock:
            _setup_done.add(done_key)

    def _setup(self, target: ConnectionTarget, dim: int) -> None:
        if self.dialect.name == "arcadedb":
            if not self._http_url:
                raise ConfigError(
                    "graph_db.config.http_url is required for ArcadeDB: its vector and "
                    "full-text indexes are created through the HTTP API"
                )
            admin = ArcadeDBAdmin(
                self._http_url, target.user, target.password, target.database, self.timeout_s
            )
            setup_arcadedb(admin, dim, auto_create=self.config.auto_create)
        else:
            executor = _SessionExecutor(self)
            setup_neo4j(lambda query, params: executor.write(query, params, "setup"), dim)
        logger.info("graph schema ready (%s, dimension %d)", self.dialect.name, dim)

    # -- scoped views ---------------------------------------------------------------------

    def for_cube(self, cube_id: str, user_id: str | None = None) -> CubeGraph:
        """A view of this store that can only see and change ``cube_id``'s nodes."""
        return CubeGraph(self, validate_cube_id(cube_id), user_id, _SessionExecutor(self))

    @contextmanager
    def transaction(self) -> Iterator[StoreTransaction]:
        """One transaction for writes to several cubes: commit on clean exit, rollback on error.

        A worker applying a batch of adds for many tenants writes them all in one transaction
        (one begin and one commit instead of one pair per add); each cube is still reached only
        through its own scoped view (:meth:`StoreTransaction.for_cube`).
        """
        with _open_transaction(self, "several cubes") as tx:
            yield StoreTransaction(self, tx)


@contextmanager
def _open_transaction(store: GraphStore, what: str) -> Iterator[neo4j.Transaction]:
    """An explicit transaction on ``store``: commit on clean exit, rollback on error."""
    driver = store.driver()
    with translated("opening a transaction"):
        session = driver.session(database=store.database)
    try:
        with translated("beginning a transaction"), _forget_when_unreachable(store):
            tx = session.begin_transaction(timeout=store.timeout_s)
        try:
            yield tx
        except BaseException:
            try:
                tx.rollback()
            except Exception:
                # The original error matters more; a failed rollback is aborted server-side.
                logger.warning("rollback failed for %s", what, exc_info=True)
            raise
        with translated("committing a transaction"):
            tx.commit()
    finally:
        session.close()


@dataclass
class CubeWrite:
    """One cube's part of :meth:`StoreTransaction.write_many`: rows as :class:`CubeGraph`'s
    ``create_nodes``, ``merge_edges("CONTEXT", ...)`` and ``write_entities`` take them."""

    cube: CubeGraph
    nodes: list[dict[str, Any]]
    context: list[dict[str, Any]]
    entities: list[dict[str, Any]]
    mentions: list[dict[str, Any]]
    aliases: list[dict[str, Any]]


class StoreTransaction:
    """One open transaction of a store, handing out cube-scoped views that share it.

    Its ``*_many`` methods do for several views at once what each view's own method does,
    in one statement per kind: every row carries its view's ``cube_id`` and reaches only that
    cube (``queries.*_MANY``).
    """

    def __init__(self, store: GraphStore, tx: neo4j.Transaction) -> None:
        self.store = store
        self._tx = tx
        self._exec = _TxExecutor(tx)

    def for_cube(self, cube_id: str, user_id: str | None = None) -> CubeGraph:
        """A view of ``cube_id`` whose calls run in this transaction."""
        return CubeGraph(self.store, validate_cube_id(cube_id), user_id, _TxExecutor(self._tx))

    def _own(self, cube: CubeGraph) -> str:
        """``cube``'s id, after checking that the view runs in this transaction."""
        executor = cube._exec
        if not isinstance(executor, _TxExecutor) or executor._tx is not self._tx:
            raise GraphStoreError(f"the view of cube {cube.cube_id!r} is not of this transaction")
        return cube.cube_id

    def _rows_run(
        self, query: str, rows: list[dict[str, Any]], action: str, chunk: int = 500
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for start in range(0, len(rows), chunk):
            out.extend(self._exec.write(query, {"rows": rows[start : start + chunk]}, action))
        return out

    def find_by_dedup_keys_many(
        self, requests: Sequence[tuple[CubeGraph, Sequence[str]]]
    ) -> list[dict[str, str]]:
        """``CubeGraph.find_by_dedup_keys`` for each ``(view, keys)``, in one statement."""
        wanted: dict[str, dict[str, None]] = {}
        for cube, keys in requests:
            wanted.setdefault(self._own(cube), {}).update(dict.fromkeys(keys))
        rows = [{"cube_id": c, "key": key} for c, keys in wanted.items() for key in keys]
        found: dict[str, dict[str, str]] = {}
        for row in self._rows_run(q.FIND_BY_DEDUP_KEYS_MANY, rows, "deduplicating"):
            found.setdefault(row["cube_id"], {}).setdefault(row["dedup_key"], row["id"])
        return [dict(found.get(cube.cube_id, {})) for cube, _ in requests]

    def existing_ids_many(
        self, requests: Sequence[tuple[CubeGraph, Sequence[str]]]
    ) -> list[set[str]]:
        """``CubeGraph.existing_ids`` for each ``(view, ids)``, in one statement."""
        rows = [{"cube_id": self._own(c), "id": i} for c, ids in requests for i in ids]
        found: dict[str, set[str]] = {}
        for row in self._rows_run(q.EXISTING_IDS_MANY, rows, "checking ids"):
            found.setdefault(row["cube_id"], set()).add(row["id"])
        return [found.get(cube.cube_id, set()) & set(ids) for cube, ids in requests]

    def write_many(self, writes: Sequence[CubeWrite]) -> int:
        """Create the nodes, ``CONTEXT`` edges and entities of every write, each kind in one
        statement for all cubes (nodes in chunks of 500), and log one change per cube; the
        number of nodes created. Call it in the order the writes were planned: edges and
        mentions match the nodes created before them in this transaction."""
        nodes: list[dict[str, Any]] = []
        changed: dict[str, tuple[CubeGraph, list[str]]] = {}
        context: list[dict[str, Any]] = []
        entities: list[dict[str, Any]] = []
        mentions: list[dict[str, Any]] = []
        aliases: list[dict[str, Any]] = []
        for write in writes:
            cube_id = self._own(write.cube)
            clean = CubeGraph._clean_rows(write.nodes)
            user = write.cube.user_id
            nodes.extend(
                {"cube_id": cube_id, "props": r, "user_id": r.get("user_id") or user} for r in clean
            )
            if clean:
                changed.setdefault(cube_id, (write.cube, []))[1].extend(r["id"] for r in clean)
            context.extend({**e, "cube_id": cube_id} for e in _edge_rows(write.context))
            for target, extra in ((entities, write.entities), (mentions, write.mentions),
                                  (aliases, write.aliases)):  # fmt: skip
                target.extend({**row, "cube_id": cube_id} for row in extra)
        created = sum(
            int(r["created"])
            for r in self._rows_run(q.CREATE_NODES_MANY, nodes, "creating memory nodes")
        )
        if changed:
            now = time.time()
            self._rows_run(
                q.LOG_CHANGES_MANY,
                [{**_change_entry(ids, now), "cube_id": c} for c, (_, ids) in changed.items()],
                "logging a change",
            )
            for cube, _ in changed.values():
                cube._maybe_prune_changes(now)
        edges = q.MERGE_EDGES_MANY.format(rel_type=q.safe_identifier("CONTEXT", q.EDGE_TYPES))
        self._rows_run(edges, context, "linking nodes")
        self._rows_run(q.MERGE_ENTITIES_MANY, entities, "merging entities")
        self._rows_run(q.MERGE_MENTIONS_MANY, mentions, "linking mentions")
        self._rows_run(q.MERGE_ALIASES_MANY, aliases, "linking aliases")
        return created


class CubeGraph:
    """Every method is scoped to one cube; nothing here can reach another cube's nodes."""

    def __init__(
        self, store: GraphStore, cube_id: str, user_id: str | None, executor: _Executor
    ) -> None:
        self.store = store
        self.cube_id = cube_id
        self.user_id = user_id
        self._exec = executor
        self._in_tx = isinstance(executor, _TxExecutor)

    def _params(self, **params: Any) -> dict[str, Any]:
        return {"cube_id": self.cube_id, **params}

    # -- transactions -----------------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        """Whether this view's calls run inside an explicit transaction."""
        return self._in_tx

    @contextmanager
    def transaction(self) -> Iterator[CubeGraph]:
        """A view whose calls share one transaction: commit on clean exit, rollback on error."""
        if self._in_tx:
            raise GraphStoreError("transactions do not nest; use the view you already have")
        with _open_transaction(self.store, f"cube {self.cube_id}") as tx:
            yield CubeGraph(self.store, self.cube_id, self.user_id, _TxExecutor(tx))

    # -- nodes ------------------------------------------------------------------------------

    @staticmethod
    def _clean_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        clean: list[dict[str, Any]] = []
        for row in rows:
            if not isinstance(row.get("id"), str) or not row["id"]:
                raise InvalidMemoryInputError("every node row needs a non-empty string id")
            clean.append({k: v for k, v in row.items() if k not in _SCOPE_KEYS})
        return clean

    def create_nodes(self, rows: Sequence[dict[str, Any]], batch_size: int = 500) -> int:
        """Create nodes from property rows (batched ``UNWIND``); returns how many were created."""
        clean = self._clean_rows(rows)
        if not clean:
            return 0
        if not self._in_tx:
            with self.transaction() as tx:
                return tx.create_nodes(rows, batch_size)
        created = 0
        for start in range(0, len(clean), batch_size):
            out = self._exec.write(
                q.CREATE_NODES,
                self._params(rows=clean[start : start + batch_size], user_id=self.user_id),
                "creating memory nodes",
            )
            created += int(out[0]["created"]) if out else 0
        self._log_change([r["id"] for r in clean])
        return created

    def upsert_nodes(self, rows: Sequence[dict[str, Any]], batch_size: int = 500) -> int:
        """Create or fully replace nodes by id (used by load); returns rows written."""
        clean = self._clean_rows(rows)
        if not clean:
            return 0
        if not self._in_tx:
            with self.transaction() as tx:
                return tx.upsert_nodes(rows, batch_size)
        written = 0
        for start in range(0, len(clean), batch_size):
            out = self._exec.write(
                q.UPSERT_NODES,
                self._params(rows=clean[start : start + batch_size], user_id=self.user_id),
                "writing memory nodes",
            )
            written += int(out[0]["written"]) if out else 0
        self._log_change([r["id"] for r in clean])
        return written

    def get_nodes(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Properties of the nodes with these ids in this cube, in the order of ``ids``."""
        if not ids:
            return []
        rows = self._exec.read(q.GET_NODES, self._params(ids=list(ids)), "reading memory nodes")
        by_id = {row["props"]["id"]: row["props"] for row in rows}
        return [by_id[i] for i in dict.fromkeys(ids) if i in by_id]

    def get_node(self, node_id: str) -> dict[str, Any] | None:
        """Properties of one node of this cube, or ``None``."""
        found = self.get_nodes([node_id])
        return found[0] if found else None

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` exist in this cube."""
        if not ids:
            return set()
        rows = self._exec.read(q.EXISTING_IDS, self._params(ids=list(ids)), "checking ids")
        return {row["id"] for row in rows}

    def find_by_dedup_keys(self, keys: Sequence[str]) -> dict[str, str]:
        """Map each of ``keys`` that exists in this cube to the id of a node carrying it."""
        if not keys:
            return {}
        rows = self._exec.read(
            q.FIND_BY_DEDUP_KEYS, self._params(keys=list(dict.fromkeys(keys))), "deduplicating"
        )
        found: dict[str, str] = {}
        for row in rows:
            found.setdefault(row["dedup_key"], row["id"])
        return found

    def iter_node_pages(self, page_size: int = PAGE_SIZE) -> Iterator[list[dict[str, Any]]]:
        """All nodes of the cube ordered by id, ``page_size`` at a time (bounded memory).

        One streamed read (see :meth:`iter_index_pages` for why not keyset pages).
        """
        for rows in self._exec.stream(
            q.ALL_NODES, self._params(), "listing memory nodes", page_size
        ):
            yield [row["props"] for row in rows]

    def count(self, node_filter: NodeFilter = ANY_NODE) -> int:
        """Number of nodes in the cube matching ``node_filter``."""
        where, params = node_filter.compile(self.cube_id)
        rows = self._exec.read(q.COUNT_NODES.format(where=where), params, "counting nodes")
        return int(rows[0]["count"]) if rows else 0

    def update_node(self, node_id: str, props: dict[str, Any]) -> bool:
        """Merge ``props`` into a node (``None`` removes a property); ``False`` if not found."""
        if not self._in_tx:
            with self.transaction() as tx:
                return tx.update_node(node_id, props)
        changes = {k: v for k, v in props.items() if k not in (*_SCOPE_KEYS, "id")}
        rows = self._exec.write(
            q.UPDATE_NODE, self._params(id=node_id, props=changes), "updating a memory node"
        )
        if rows:
            self._log_change([node_id])
        return bool(rows)

    def delete_nodes(self, ids: Sequence[str]) -> int:
        """Delete these nodes of the cube and their edges; ids elsewhere are ignored."""
        if not ids:
            return 0
        if not self._in_tx:
            with self.transaction() as tx:
                return tx.delete_nodes(ids)
        unique = list(dict.fromkeys(ids))
        rows = self._exec.write(q.DELETE_NODES, self._params(ids=unique), "deleting memory nodes")
        self._log_change(unique)
        return int(rows[0]["deleted"]) if rows else 0

    def delete_all(self, slice_size: int = PAGE_SIZE) -> int:
        """Delete every node of the cube (in slices) and return how many memories.

        The cube's entity nodes go too (after its memories: an entity is only what mentions it).
        """
        total = 0
        while True:
            if self._in_tx:
                deleted = self._delete_slice(slice_size)
            else:  # each slice commits with its own reset entry in the change log
                with self.transaction() as tx:
                    deleted = tx._delete_slice(slice_size)
            total += deleted
            if deleted < slice_size:
                break
        while True:
            rows = self._exec.write(
                q.DELETE_ENTITY_SLICE, self._params(limit=slice_size), "deleting a cube's entities"
            )
            if not rows or int(rows[0]["deleted"]) < slice_size:
                return total

    def _delete_slice(self, slice_size: int) -> int:
        rows = self._exec.write(
            q.DELETE_CUBE_SLICE, self._params(limit=slice_size), "deleting a cube's nodes"
        )
        self._log_change([], reset=True)
        return int(rows[0]["deleted"]) if rows else 0

    # -- change log -------------------------------------------------------------------------

    def _log_change(self, ids: Sequence[str], *, reset: bool = False) -> None:
        """Record, in the current transaction, that these nodes changed (or all, ``reset``)."""
        now = time.time()
        self._exec.write(
            q.LOG_CHANGE,
            self._params(**_change_entry(ids, now, reset=reset)),
            "logging a change",
        )
        self._maybe_prune_changes(now)

    def _maybe_prune_changes(self, now: float) -> None:
        """Every :data:`_PRUNE_EVERY` logged writes of this process, delete up to a page of
        this cube's change-log entries older than the retention."""
        if next(_write_counter) % _PRUNE_EVERY != 0:
            return
        self._exec.write(
            q.PRUNE_CHANGES,
            self._params(before=now - CHANGE_RETENTION_S, limit=PAGE_SIZE),
            "pruning the change log",
        )

    def changes_since(self, since: float, seen: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Change-log entries of the cube logged after ``since`` (writer clock), minus ``seen``.

        Rows are ``{key, at, ids, reset}``. Entries are found by their time slot, from
        ``since``'s to the slot of a writer clock up to :data:`CHANGE_SLOT_AHEAD_S` ahead of ours;
        an entry stamped further ahead is found by a later call (its slot comes into range
        before ``since`` passes it).
        """
        first = change_slot(float(since))
        last = max(first, change_slot(time.time() + CHANGE_SLOT_AHEAD_S))
        return self._exec.read(
            q.CHANGES_SINCE,
            self._params(since=float(since), seen=list(seen), slots=list(range(first, last + 1))),
            "reading the change log",
        )

    def index_rows(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """What an in-process index needs of these nodes (missing ids are left out)."""
        if not ids:
            return []
        return self._exec.read(q.INDEX_ROWS, self._params(ids=list(ids)), "reading index rows")

    def iter_index_pages(self, page_size: int = PAGE_SIZE) -> Iterator[list[dict[str, Any]]]:
        """Every node's index row, ``page_size`` rows at a time, from one streamed read.

        Not keyset pages (``id > $after ORDER BY id LIMIT``): each of those made the server sort
        the cube's nodes again, so reading a cube cost O(n^2 / page) (100k nodes: 162 s in
        pages of 2,000 against 8.7 s streamed, same run).
        """
        yield from self._exec.stream(
            q.INDEX_ROWS_ALL, self._params(), "reading index rows", page_size
        )

    # -- entities ---------------------------------------------------------------------------

    def write_entities(
        self,
        entities: Sequence[dict[str, Any]],
        mentions: Sequence[dict[str, Any]],
        aliases: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Merge entity nodes ``{id, name, kind}``, ``MENTIONS`` edges ``{memory, entity, role}``
        and ``ALIAS_OF`` edges ``{alias, entity}`` (idempotent: a replay changes nothing).

        Call it in the transaction that creates the memories, after them.
        """
        if not entities:
            return
        if not self._in_tx:
            with self.transaction() as tx:
                tx.write_entities(entities, mentions, aliases)
            return
        self._exec.write(q.MERGE_ENTITIES, self._params(rows=list(entities)), "merging entities")
        if mentions:
            self._exec.write(
                q.MERGE_MENTIONS, self._params(rows=list(mentions)), "linking mentions"
            )
        if aliases:
            self._exec.write(q.MERGE_ALIASES, self._params(rows=list(aliases)), "linking aliases")

    def entities(self) -> list[dict[str, Any]]:
        """The cube's entities, ``{id, name, kind, aliases}``, by id."""
        return self._exec.read(q.CUBE_ENTITIES, self._params(), "listing entities")

    def entity_memories(self, entity_ids: Sequence[str]) -> list[dict[str, Any]]:
        """``{entity, id, role}``: the memories that mention these entities (aliases resolved)."""
        if not entity_ids:
            return []
        return self._exec.read(
            q.ENTITY_MEMORIES, self._params(ids=list(entity_ids)), "reading mentions"
        )

    # -- edges ------------------------------------------------------------------------------

    def merge_edges(
        self, rel_type: str, rows: Sequence[dict[str, Any]], batch_size: int = 500
    ) -> int:
        """Create edges ``{source, target, props?}`` of ``rel_type`` unless they exist.

        Both ends must be nodes of this cube; rows naming other ids are skipped.
        """
        rel = q.safe_identifier(rel_type, q.EDGE_TYPES)
        clean = _edge_rows(rows)
        statement = q.MERGE_EDGES.format(rel_type=rel)
        merged = 0
        for start in range(0, len(clean), batch_size):
            out = self._exec.write(
                statement, self._params(rows=clean[start : start + batch_size]), "linking nodes"
            )
            merged += int(out[0]["merged"]) if out else 0
        return merged

    def delete_edges(self, rel_type: str, rows: Sequence[dict[str, Any]]) -> int:
        """Delete edges ``{source, target}`` of ``rel_type`` between nodes of this cube."""
        rel = q.safe_identifier(rel_type, q.EDGE_TYPES)
        clean = [{"source": r["source"], "target": r["target"]} for r in rows]
        if not clean:
            return 0
        out = self._exec.write(
            q.DELETE_EDGES.format(rel_type=rel), self._params(rows=clean), "unlinking nodes"
        )
        return int(out[0]["deleted"]) if out else 0

    def edges_from(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Outgoing edges of these nodes, ``{source, target, type, props}``."""
        if not ids:
            return []
        return self._exec.read(q.EDGES_FROM, self._params(ids=list(ids)), "listing edges")

    def edges_of(
        self, ids: Sequence[str], rel_types: Sequence[str] = tuple(sorted(q.EDGE_TYPES))
    ) -> list[dict[str, Any]]:
        """Edges of ``rel_types`` into or out of these nodes, ``{source, target, type}``, once each.

        Found through the (cube_id, id) index from each seed, so the cost follows ``ids`` and
        their edges, not the cube's size.
        """
        if not ids:
            return []
        types = [q.safe_identifier(t, q.EDGE_TYPES) for t in rel_types]
        params = self._params(ids=list(dict.fromkeys(ids)), rel_types=types)
        found: dict[tuple[str, str, str], dict[str, Any]] = {}
        for query in (q.EDGES_OUT_OF, q.EDGES_INTO):
            for row in self._exec.read(query, params, "listing edges"):
                found.setdefault((row["source"], row["target"], row["type"]), row)
        return list(found.values())

    def neighbors(
        self,
        ids: Sequence[str],
        rel_types: Sequence[str] = q.EXPANSION_EDGE_TYPES,
        node_filter: NodeFilter = ANY_NODE,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Nodes linked to ``ids`` (either direction) that pass ``node_filter``.

        Returns ``{seed, id, type}`` rows; seeds themselves are not excluded.
        """
        if not ids:
            return []
        types = [q.safe_identifier(t, q.EDGE_TYPES) for t in rel_types]
        where, params = node_filter.compile(self.cube_id)
        params.update(ids=list(ids), rel_types=types, limit=limit)
        return self._exec.read(q.NEIGHBORS.format(where=where), params, "expanding neighbours")

    # -- search -----------------------------------------------------------------------------

    def vector_search(
        self, vector: Sequence[float], k: int, node_filter: NodeFilter = ANY_NODE
    ) -> list[tuple[str, float]]:
        """Top ``k`` nodes of this cube by cosine (index scale, higher is closer).

        The global index is over-fetched and filtered by cube; when that leaves fewer than
        ``k`` while the index had more to give, an exact scan inside the cube answers instead.
        """
        if k <= 0:
            return []
        where, params = node_filter.compile(self.cube_id)
        fetch_k = max(k * self.store.vector_overfetch, k + 20)
        params.update(index=self.store.dialect.vector_index, fetch_k=fetch_k, vector=list(vector))
        rows = self._exec.read(
            q.VECTOR_QUERY.format(where=where), params, "querying the vector index"
        )
        raw = int(rows[0]["raw"]) if rows else 0
        hits = [(str(h[0]), float(h[1])) for h in (rows[0]["hits"] if rows else [])]
        if len(hits) >= k or raw < fetch_k:
            return sorted(hits, key=lambda h: -h[1])[:k]
        logger.debug("vector over-fetch gave %d of %d for a cube; exact scan", len(hits), k)
        params.update(k=k)
        exact = self._exec.read(
            q.VECTOR_EXACT.format(where=where, similarity=self.store.dialect.cosine_score),
            params,
            "scanning vectors",
        )
        return [(str(r["id"]), float(r["score"])) for r in exact]

    def fulltext_search(
        self, lucene_query: str, k: int, node_filter: NodeFilter = ANY_NODE
    ) -> list[tuple[str, float]]:
        """Top ``k`` nodes of this cube for a Lucene query (the caller makes it safe)."""
        if k <= 0 or not lucene_query.strip():
            return []
        where, params = node_filter.compile(self.cube_id)
        fetch_k = max(k * self.store.vector_overfetch, k + 50)
        params.update(index=self.store.dialect.fulltext_index, query=lucene_query, fetch_k=fetch_k)
        rows = self._exec.read(
            q.FULLTEXT_QUERY.format(where=where), params, "querying the full-text index"
        )
        raw = int(rows[0]["raw"]) if rows else 0
        hits = [(str(h[0]), float(h[1])) for h in (rows[0]["hits"] if rows else [])]
        if len(hits) >= k or raw < fetch_k:
            return sorted(hits, key=lambda h: -h[1])[:k]
        params.update(k=k)
        rows = self._exec.read(
            q.FULLTEXT_UNBOUNDED.format(where=where), params, "querying the full-text index"
        )
        return [(str(r["id"]), float(r["score"])) for r in rows]

    def recent_in_session(self, node_filter: NodeFilter, limit: int) -> list[str]:
        """Ids of the most recent nodes matching ``node_filter`` (give it a session id)."""
        if node_filter.session_id is None:
            raise GraphStoreError("recent_in_session needs a filter with a session_id")
        where, params = node_filter.compile(self.cube_id)
        params.update(limit=limit)
        rows = self._exec.read(q.SESSION_RECENT.format(where=where), params, "session context")
        return [str(r["id"]) for r in rows]
