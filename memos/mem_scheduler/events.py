"""Events on the bus and the results that come back, as JSON-on-the-wire pydantic models.

The facade publishes ``add``, ``query`` and ``answer``; the daemon and workers publish the
internal ``reorganize`` and ``kv_refresh``. Every event type has its own payload model, chosen by
the ``type`` field (a discriminated union), so a worker never sees an ``add`` with a query payload.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticSerializationError

from memos.errors import EventValidationError
from memos.messages import ChatMessage

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
DEFAULT_MAX_EVENT_BYTES = 1024 * 1024

EventType = Literal["add", "query", "answer", "reorganize", "kv_refresh", "manage"]
EVENT_TYPES: tuple[EventType, ...] = (
    "add",
    "query",
    "answer",
    "reorganize",
    "kv_refresh",
    "manage",
)

Identifier = Annotated[str, Field(pattern=ID_PATTERN)]


def _now() -> datetime:
    return datetime.now(UTC)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AddPayload(_Model):
    """``MOS.add``: messages, a plain memory string, or a document path (at least one)."""

    messages: list[ChatMessage] | None = None
    memory_content: str | None = None
    doc_path: str | None = None
    options: dict[str, JsonValue] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _something_to_add(self) -> AddPayload:
        if not self.messages and not self.memory_content and not self.doc_path:
            raise ValueError("an add needs messages, memory_content or doc_path")
        return self


class QueryPayload(_Model):
    """``MOS.search`` / ``MOS.chat``: ``chat=True`` asks the worker to generate an answer too."""

    query: str = Field(min_length=1)
    top_k: int | None = Field(None, ge=1, le=1000)
    install_cube_ids: list[Identifier] | None = None
    chat: bool = False
    history: list[ChatMessage] = Field(default_factory=list)
    options: dict[str, JsonValue] = Field(default_factory=dict)


class AnswerPayload(_Model):
    """A generated answer to record (working memory, activation memory refresh)."""

    query: str
    answer: str
    options: dict[str, JsonValue] = Field(default_factory=dict)


class ReorganizePayload(_Model):
    """Internal: reorganise the cube's memories (tiers, dedup, conflicts)."""

    reason: str = "scheduled"
    memory_ids: list[str] = Field(default_factory=list)
    options: dict[str, JsonValue] = Field(default_factory=dict)


class ManagePayload(_Model):
    """A facade management operation run on a worker (get, get_all, update, delete, dump, ...)."""

    op: str = Field(pattern=r"^[a-z_]{1,64}$")
    args: dict[str, JsonValue] = Field(default_factory=dict)


class KVRefreshPayload(_Model):
    """Internal: rebuild the cube's activation memory (KV cache) from working memory."""

    memory_ids: list[str] = Field(default_factory=list)
    options: dict[str, JsonValue] = Field(default_factory=dict)


class _EventBase(_Model):
    id: Identifier = Field(default_factory=lambda: str(uuid.uuid4()))
    user_id: Identifier
    cube_id: Identifier
    session_id: Identifier | None = None
    idempotency_key: Identifier | None = None
    created_at: datetime = Field(default_factory=_now)
    attempt: int = Field(0, ge=0)
    reply_to: str | None = Field(None, max_length=300)

    @model_validator(mode="after")
    def _default_idempotency_key(self) -> _EventBase:
        # Frozen model: set the derived default through object.__setattr__ once, at validation.
        if self.idempotency_key is None:
            object.__setattr__(self, "idempotency_key", f"ev:{self.id}")
        return self

    @property
    def key(self) -> str:
        """The idempotency key (always set after validation)."""
        assert self.idempotency_key is not None
        return self.idempotency_key

    @property
    def scoped_key(self) -> str:
        """The idempotency key bound to this event's type, user and cube (a sha256 hex digest).

        Done markers and derived memory ids use this, not :attr:`key`: an event published straight
        onto the bus with another tenant's key is then a new effect in its own cube, never a
        replay of (or an id collision with) the other tenant's result.
        """
        kind = getattr(self, "type", "")
        scope = f"{kind}\0{self.user_id}\0{self.cube_id}\0{self.key}"
        return hashlib.sha256(scope.encode("utf-8")).hexdigest()

    def to_json(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> str:
        """Serialise for the wire, refusing events larger than ``max_event_bytes``.

        Text that is not valid Unicode (lone surrogates, e.g. from a bad decode) cannot be
        written as JSON: it is refused with :class:`EventValidationError`, never mangled.
        """
        try:
            text = self.model_dump_json()
        except PydanticSerializationError as exc:
            raise EventValidationError(
                f"event {self.id} cannot be serialised: {exc}; text must be valid Unicode "
                "(no lone surrogates)"
            ) from exc
        size = len(text.encode("utf-8"))
        if size > max_event_bytes:
            raise EventValidationError(
                f"event {self.id} is {size} bytes, over the {max_event_bytes}-byte limit "
                "(max_event_bytes); store large documents and pass their path instead"
            )
        return text


class AddEvent(_EventBase):
    """Write memories into a cube."""

    type: Literal["add"] = "add"
    payload: AddPayload


class QueryEvent(_EventBase):
    """Search a cube (and optionally answer with the chat model)."""

    type: Literal["query"] = "query"
    payload: QueryPayload


class AnswerEvent(_EventBase):
    """Record a generated answer."""

    type: Literal["answer"] = "answer"
    payload: AnswerPayload


class ReorganizeEvent(_EventBase):
    """Background reorganisation of a cube."""

    type: Literal["reorganize"] = "reorganize"
    payload: ReorganizePayload


class KVRefreshEvent(_EventBase):
    """Background rebuild of a cube's KV cache."""

    type: Literal["kv_refresh"] = "kv_refresh"
    payload: KVRefreshPayload


class ManageEvent(_EventBase):
    """A management operation on a cube's memories (reads and mutations outside add/query)."""

    type: Literal["manage"] = "manage"
    payload: ManagePayload


Event = Annotated[
    AddEvent | QueryEvent | AnswerEvent | ReorganizeEvent | KVRefreshEvent | ManageEvent,
    Field(discriminator="type"),
]
_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

EVENT_CLASSES: dict[str, type[_EventBase]] = {
    "add": AddEvent,
    "query": QueryEvent,
    "answer": AnswerEvent,
    "reorganize": ReorganizeEvent,
    "kv_refresh": KVRefreshEvent,
    "manage": ManageEvent,
}


def make_event(event_type: str, **fields: Any) -> Event:
    """Build and validate an event of ``event_type``; raises :class:`EventValidationError`."""
    return validate_event({"type": event_type, **fields})


def validate_event(data: Any) -> Event:
    """Validate a dict (or model) as an event of any type."""
    try:
        return _EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise EventValidationError(_describe(exc)) from exc


def parse_event(raw: str | bytes, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> Event:
    """Parse an event from its wire JSON, enforcing the size limit before parsing."""
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8"))
    if size > max_event_bytes:
        raise EventValidationError(
            f"event is {size} bytes, over the {max_event_bytes}-byte limit (max_event_bytes)"
        )
    try:
        return _EVENT_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        raise EventValidationError(_describe(exc)) from exc


def _describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors()[:5]:
        path = ".".join(str(p) for p in err["loc"]) or "<root>"
        problems.append(f"{path}: {err['msg']}")
    return "invalid event: " + "; ".join(problems)


class ErrorInfo(_Model):
    """Why an event failed: the exception type and a message (never the payload)."""

    type: str
    message: str


class EventResult(_Model):
    """What the facade receives for an event."""

    event_id: str
    ok: bool
    result: JsonValue = None
    error: ErrorInfo | None = None
    finished_at: datetime = Field(default_factory=_now)
    handler_s: float | None = Field(
        None, ge=0, description="seconds the worker's handler ran (the rest of a call is the bus)"
    )
    #: Wall-clock stamps (epoch seconds) of the event's way through the daemon and worker:
    #: ``read`` (the daemon took it from the stream), ``sent`` (handed to Celery),
    #: ``worker_start``, ``handler_start``, ``handler_end``. What ``bench search-latency``
    #: profiles the hops with; None where nobody stamped it (inline execution); a replay
    #: carries the first delivery's. Keys ``ms:<step>`` are not stamps but the milliseconds of
    #: the handler's own steps (``HandlerContext.timer``).
    trace: dict[str, float] | None = None

    @classmethod
    def success(
        cls, event_id: str, result: JsonValue, handler_s: float | None = None
    ) -> EventResult:
        """A successful outcome."""
        return cls(event_id=event_id, ok=True, result=result, handler_s=handler_s)

    @classmethod
    def failure(cls, event_id: str, error_type: str, message: str) -> EventResult:
        """A failed outcome."""
        return cls(event_id=event_id, ok=False, error=ErrorInfo(type=error_type, message=message))

    @classmethod
    def from_json(cls, raw: str | bytes) -> EventResult:
        """Parse a result from the wire."""
        return cls.model_validate_json(raw)
