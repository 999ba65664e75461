"""Request and response bodies of the REST API (they make up the OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from memos.api.auth import Scope
from memos.messages import ChatMessage

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
NAME_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(_Body):
    """A stable ``code`` to branch on and a ``message`` for people."""

    code: str = Field(examples=["access_denied"])
    message: str


class ErrorResponse(_Body):
    """The body of every error response."""

    error: ErrorDetail


class HealthResponse(_Body):
    """Liveness of the API and what it depends on."""

    status: Literal["ok", "degraded", "unavailable"]
    redis: bool
    scheduler: bool = Field(description="a scheduler replica's heartbeat is live")


class WhoAmI(_Body):
    """The tenant behind the API key."""

    user_id: str
    key_id: str
    scopes: list[Scope]


class CreateUserRequest(_Body):
    """A new user (idempotent)."""

    user_id: str = Field(pattern=ID_PATTERN)
    user_name: str | None = Field(None, max_length=256)
    role: Literal["admin", "user", "guest"] = "user"


class UserInfo(_Body):
    """A user as MemOS's ``list_users`` returns it."""

    user_id: str
    user_name: str
    role: str
    created_at: str


class CreateApiKeyRequest(_Body):
    """A key for ``user_id`` (created when missing) with ``scopes``."""

    user_id: str = Field(pattern=ID_PATTERN)
    scopes: list[Scope] = Field(min_length=1)
    name: str = Field("", max_length=128)
    rate_limit_requests: int | None = Field(None, ge=1, description="per window; default global")


class ApiKeyInfo(_Body):
    """A key's metadata (never its secret)."""

    key_id: str
    user_id: str
    scopes: list[Scope]
    name: str
    rate_limit_requests: int | None
    created_at: str


class CreatedApiKey(ApiKeyInfo):
    """A new key: ``key`` is shown this once."""

    key: str


class CubeList(_Body):
    """Cube ids the tenant owns or was given."""

    cube_ids: list[str]


class CreateCubeRequest(_Body):
    """A new, empty cube from a GeneralMemCube config (MemOS's cube ``config.json``)."""

    cube_id: str = Field(pattern=ID_PATTERN)
    config: dict[str, Any] = Field(
        default_factory=lambda: {"text_mem": {"backend": "tree_text", "config": {}}},
        description="GeneralMemCubeConfig; user_id and cube_id are set by the server",
    )


class ImportCubeRequest(_Body):
    """Register a cube directory that exists on the server (admin only)."""

    path: str = Field(min_length=1, max_length=4096)
    cube_id: str | None = Field(None, pattern=ID_PATTERN)


class CubeCreated(_Body):
    """The id a cube was registered under."""

    cube_id: str


class ShareRequest(_Body):
    """Give another user access to a cube."""

    target_user_id: str = Field(pattern=ID_PATTERN)


#: One chat message: the shape shared by every entry point (see :mod:`memos.messages`).
Message = ChatMessage


class AddRequest(_Body):
    """Messages or one plain memory to add to a cube (the tenant's first cube by default)."""

    messages: list[Message] | None = Field(None, min_length=1, max_length=1000)
    memory_content: str | None = Field(None, min_length=1, max_length=100_000)
    cube_id: str | None = Field(None, pattern=ID_PATTERN)
    session_id: str | None = Field(None, pattern=ID_PATTERN)

    @model_validator(mode="after")
    def _one_input(self) -> AddRequest:
        if (self.messages is None) == (self.memory_content is None):
            raise ValueError("give exactly one of messages or memory_content")
        return self


class AddResponse(_Body):
    """Ids of the memories stored, and how many empty messages were skipped."""

    added_ids: list[str]
    skipped_messages: int = Field(
        0, description="empty or whitespace-only messages that were not stored"
    )


class SearchRequest(_Body):
    """A query over the tenant's cubes (all of them by default)."""

    query: str = Field(min_length=1, max_length=10_000)
    cube_ids: list[str] | None = Field(None, min_length=1, max_length=100)
    top_k: int | None = Field(None, ge=1, le=100)


class CubeMemories(BaseModel):
    """One cube's part of a result (tree cubes' get_all: ``{"nodes", "edges"}``)."""

    model_config = ConfigDict(extra="allow")

    cube_id: str
    memories: Any


class MemoryResult(BaseModel):
    """MemOS's result shape for search and get_all."""

    model_config = ConfigDict(extra="allow")

    text_mem: list[CubeMemories]
    act_mem: list[Any]
    para_mem: list[Any]


class UpdateRequest(_Body):
    """New text and/or metadata keys (merged over the old ones)."""

    memory: str | None = Field(None, min_length=1, max_length=100_000)
    metadata: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _something(self) -> UpdateRequest:
        if self.memory is None and self.metadata is None:
            raise ValueError("give memory and/or metadata")
        return self


class DirectoryRequest(_Body):
    """A dump/load directory name under the tenant's exports folder."""

    name: str = Field(pattern=NAME_PATTERN)


class DirectoryResponse(_Body):
    """Where a dump was written or a load read from (relative to the tenant's folder)."""

    cube_id: str
    name: str


class ChatRequest(_Body):
    """A question answered by the chat model from the tenant's memories and history."""

    query: str = Field(min_length=1, max_length=10_000)


class ChatResponse(_Body):
    """The full answer."""

    answer: str


class SchedulerStatus(_Body):
    """Live scheduler replicas and their counters (from their heartbeats)."""

    healthy: bool
    replicas: dict[str, dict[str, Any]]


class Done(_Body):
    """A mutation that returns nothing."""

    ok: Literal[True] = True
