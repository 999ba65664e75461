"""Request dependencies: the app's shared objects, authentication, scopes and the rate limit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from memos.api.auth import ApiKeyStore, AuthenticationError, Principal, Scope
from memos.api.ratelimit import FixedWindowRateLimiter
from memos.api.schemas import ErrorResponse
from memos.api.settings import ApiRuntime, ApiSettings
from memos.mem_os.main import MOS


@dataclass
class ApiContext:
    """Everything a request handler reaches, built once per process by the app factory."""

    runtime: ApiRuntime
    settings: ApiSettings
    keys: ApiKeyStore
    limiter: FixedWindowRateLimiter

    @property
    def mos(self) -> MOS:
        """The process's one MOS facade."""
        return self.runtime.mos

    def exports_root(self) -> Path:
        """The folder holding each tenant's dump/load directories."""
        if self.settings.exports_dir:
            return Path(self.settings.exports_dir).expanduser().absolute()
        return self.runtime.data_home / "api-exports"


def get_context(request: Request) -> ApiContext:
    """The app's :class:`ApiContext`."""
    context = request.app.state.context
    assert isinstance(context, ApiContext)
    return context


_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer mk_<id>_<secret>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="mk_<id>_<secret>")

ContextDep = Annotated[ApiContext, Depends(get_context)]


def authenticate(
    context: ContextDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> Principal:
    """The caller behind the API key; counts the request against the tenant's rate limit."""
    key = header or (bearer.credentials if bearer is not None else None)
    if not key:
        raise AuthenticationError(
            "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
        )
    principal = context.keys.verify(key)
    context.limiter.check(principal.user_id, principal.rate_limit_requests)
    return principal


def scoped(scope: Scope) -> Callable[..., Principal]:
    """A dependency that authenticates and requires ``scope``."""

    def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        principal.require(scope)
        return principal

    dependency.__name__ = f"require_{scope}"
    return dependency


Reader = Annotated[Principal, Depends(scoped("read"))]
Writer = Annotated[Principal, Depends(scoped("write"))]
Admin = Annotated[Principal, Depends(scoped("admin"))]

_ERROR_STATUSES = {
    400: "the operation cannot be applied (invalid_operation)",
    401: "no, malformed or unknown API key (unauthenticated)",
    403: "missing scope (insufficient_scope) or another tenant's cube (access_denied)",
    404: "unknown user, cube or memory (not_found)",
    409: "the id is taken (conflict)",
    422: "invalid request, config or input",
    429: "rate limited; see Retry-After (rate_limited)",
    500: "unexpected server error (internal_error)",
    502: "a model or store backend failed (backend_error)",
    503: "the bus or scheduler is unavailable",
    504: "the worker did not answer in time; the event stays queued (timeout)",
}

#: Documented on every authenticated route so the OpenAPI schema covers error bodies.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in _ERROR_STATUSES.items()
}
