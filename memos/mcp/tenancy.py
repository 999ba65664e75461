"""Who an MCP call acts as.

Over stdio the server runs on the user's behalf: one tenant for the whole process, from an API
key (``--api-key`` / ``$MEMOS_API_KEY``, verified like the REST API's) or from a user name
(``--user`` / ``$MEMOS_MCP_USER``, trusted because whoever starts the process already holds the
deployment's config). Over HTTP every call must carry an API key in ``X-API-Key`` or
``Authorization: Bearer``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from memos.api.auth import ApiKeyStore, AuthenticationError, Principal, Scope
from memos.api.ratelimit import FixedWindowRateLimiter
from memos.mem_os.registry import Registry

USER_ENV = "MEMOS_MCP_USER"


def principal_for_user(registry: Registry, user_id: str) -> Principal:
    """A local stdio principal for an existing user, with read and write scopes."""
    registry.require_user(user_id)
    return Principal(user_id=user_id, key_id="local", scopes=("read", "write"))


def key_from_headers(headers: Mapping[str, str] | None) -> str | None:
    """The API key of an HTTP request, from ``X-API-Key`` or ``Authorization: Bearer``."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    if lowered.get("x-api-key"):
        return lowered["x-api-key"].strip()
    auth = lowered.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


@dataclass
class TenantResolver:
    """Resolve the principal of a tool call: fixed (stdio) or from request headers (HTTP)."""

    keys: ApiKeyStore
    limiter: FixedWindowRateLimiter
    fixed: Principal | None = None

    def resolve(self, headers: Mapping[str, str] | None, scope: Scope) -> Principal:
        """The caller, checked for ``scope`` and counted against its rate limit."""
        if self.fixed is not None:
            principal = self.fixed
        else:
            key = key_from_headers(headers)
            if key is None:
                raise AuthenticationError(
                    "an API key is required: send 'X-API-Key: <key>' or "
                    "'Authorization: Bearer <key>'"
                )
            principal = self.keys.verify(key)
            self.limiter.check(principal.user_id, principal.rate_limit_requests)
        principal.require(scope)
        return principal
