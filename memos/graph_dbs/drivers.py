"""One neo4j driver per process and connection target, and neo4j error translation.

A driver owns a connection pool; creating one per store or per request would open new sockets
each time. Drivers are shared through a reference-counted registry keyed by process id (a forked
Celery worker must not reuse its parent's sockets), URI, user and database.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import neo4j
from neo4j import exceptions as neo4j_exc

from memos.errors import GraphStoreConflictError, GraphStoreError, GraphStoreUnavailableError

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class ConnectionTarget:
    """Where and as whom to connect (the password is kept only as part of the driver key)."""

    bolt_url: str
    user: str
    password: str
    database: str
    max_pool_size: int


@dataclass
class _Entry:
    driver: neo4j.Driver
    refs: int


CONNECTION_TIMEOUT_S = 5.0
MAX_RETRY_TIME_S = 10.0

_LOCK = threading.Lock()
_DRIVERS: dict[tuple[int, str, str, str, str], _Entry] = {}


def _key(target: ConnectionTarget) -> tuple[int, str, str, str, str]:
    secret = hashlib.sha256(target.password.encode("utf-8")).hexdigest()
    return (os.getpid(), target.bolt_url, target.user, target.database, secret)


def acquire_driver(target: ConnectionTarget) -> neo4j.Driver:
    """Return the process's driver for ``target``, creating it on first use."""
    key = _key(target)
    with _LOCK:
        entry = _DRIVERS.get(key)
        if entry is None:
            try:
                driver = neo4j.GraphDatabase.driver(
                    target.bolt_url,
                    auth=(target.user, target.password),
                    max_connection_pool_size=target.max_pool_size,
                    # Fail in seconds, not minutes, when the server is down.
                    connection_timeout=CONNECTION_TIMEOUT_S,
                    max_transaction_retry_time=MAX_RETRY_TIME_S,
                    # Check a pooled connection before reuse: after a graph-server restart the
                    # pool holds dead sockets, and handing one out fails the next query.
                    liveness_check_timeout=0,
                )
            except (neo4j_exc.Neo4jError, neo4j_exc.DriverError, ValueError) as exc:
                raise GraphStoreError(
                    f"cannot create a graph driver for {target.bolt_url}: {exc}"
                ) from exc
            entry = _Entry(driver=driver, refs=0)
            _DRIVERS[key] = entry
            logger.debug("opened graph driver for %s", target.bolt_url)
        entry.refs += 1
        return entry.driver


def release_driver(target: ConnectionTarget) -> None:
    """Drop one reference; the last one closes the driver and its pool."""
    key = _key(target)
    with _LOCK:
        entry = _DRIVERS.get(key)
        if entry is None:
            return
        entry.refs -= 1
        if entry.refs > 0:
            return
        del _DRIVERS[key]
    entry.driver.close()
    logger.debug("closed graph driver for %s", target.bolt_url)


def translate(exc: Exception, action: str) -> GraphStoreError:
    """Turn a neo4j driver exception into a :class:`GraphStoreError` a user can act on."""
    if isinstance(exc, neo4j_exc.AuthError):
        return GraphStoreError(
            f"graph database refused the credentials while {action}; "
            "check graph_db.config.user and password"
        )
    if isinstance(exc, neo4j_exc.ServiceUnavailable | neo4j_exc.SessionExpired):
        return GraphStoreUnavailableError(
            f"graph database unreachable while {action}; check graph_db.config.uri "
            "and that the server runs (`memos up` for the embedded one)"
        )
    if isinstance(exc, neo4j_exc.ConstraintError):
        return GraphStoreConflictError(f"graph constraint violated while {action}: {_message(exc)}")
    if isinstance(exc, neo4j_exc.TransientError):
        return GraphStoreConflictError(f"graph database conflict while {action}: {_message(exc)}")
    if isinstance(exc, neo4j_exc.Neo4jError):
        return GraphStoreError(f"graph database failed while {action}: {_message(exc)}")
    return GraphStoreError(f"graph driver failed while {action}: {type(exc).__name__}: {exc}")


def _message(exc: neo4j_exc.Neo4jError) -> str:
    code = exc.code or "unknown"
    # The server message may echo the statement, never parameter values; keep it short.
    text = (exc.message or "").strip()
    return f"{code}: {text[:300]}"


DRIVER_ERRORS: tuple[type[Exception], ...] = (neo4j_exc.Neo4jError, neo4j_exc.DriverError)


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Context manager translating neo4j exceptions raised inside it."""
    try:
        yield
    except DRIVER_ERRORS as exc:
        raise translate(exc, action) from exc


def with_timeout(work: Callable[..., T], timeout_s: float) -> Callable[..., T]:
    """Wrap a transaction function so the server aborts it after ``timeout_s``."""
    wrapped: Callable[..., T] = neo4j.unit_of_work(timeout=timeout_s)(work)
    return wrapped


# Values that need no conversion: what properties and scalar columns come back as.
_PLAIN_TYPES = frozenset({str, int, float, bool, type(None), bytes})
_PLAIN_OR_NESTED = _PLAIN_TYPES | {list, dict}


def _is_plain(value: Any) -> bool:
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return True
    if kind is list:
        # A C-level pass over the element types: a 384-float embedding costs microseconds.
        types = set(map(type, value))
        if types <= _PLAIN_TYPES:
            return True
        return types <= _PLAIN_OR_NESTED and all(map(_is_plain, value))
    if kind is dict:
        # A node's ``properties(n)``: a map of scalars and lists of scalars (the embedding).
        return all(map(_is_plain, value.values()))
    return False


def records(result: Iterable[neo4j.Record]) -> list[dict[str, Any]]:
    """All records of ``result`` as plain dicts.

    ``Record.data()`` walks every value recursively in Python to turn graph objects (nodes,
    relationships, paths) into dicts; for rows of embeddings that walk was most of the time of
    reading a cube (profiled: 7.9M calls for 20k rows), and for the ten ``properties(n)`` maps
    a search fetches it was half the fetch. Records whose values are already plain (scalars,
    and lists and maps of plain values) are taken as they are; any other record (one holding a
    node, relationship, path or temporal value) goes through ``data()``, so the result is the
    same.
    """
    out: list[dict[str, Any]] = []
    keys: list[str] | None = None
    for record in result:
        values = record.values()
        if all(map(_is_plain, values)):
            if keys is None:
                keys = list(record.keys())
            out.append(dict(zip(keys, values, strict=True)))
        else:
            out.append(record.data())
    return out
