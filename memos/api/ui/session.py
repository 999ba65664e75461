"""Inspector sessions: log in with an API key once, then a cookie; a CSRF token per session.

The API key is checked once, at log-in (:meth:`ApiKeyStore.verify`); the browser then holds only
a random session token in an ``HttpOnly``, ``SameSite=Strict`` cookie (scripts cannot read it,
other sites cannot send it). The session record in Redis names the key's id, never the key, and
every request re-reads the key's record, so revoking the key ends its sessions at once::

    <p>:ui:session:<sha256(token)>   string  UiSession JSON, expires after ttl_s

Every state-changing request (a POST) must carry the session's CSRF token in the form field
``csrf`` or the header ``X-CSRF-Token``; the log-in form, which has no session yet, uses a
double-submit cookie instead (:data:`LOGIN_CSRF_COOKIE`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import redis
from pydantic import BaseModel, ConfigDict

from memos.api.auth import ApiKeyStore, AuthenticationError, Principal
from memos.errors import MemOSError, SchedulerError

SESSION_COOKIE = "memos_ui_session"
LOGIN_CSRF_COOKIE = "memos_ui_login_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
DEFAULT_TTL_S = 8 * 3600


class CsrfError(MemOSError):
    """A state-changing request without the right CSRF token."""


class UiSession(BaseModel):
    """What a session remembers: whose key it is and its CSRF token."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: str
    user_id: str
    csrf: str


def new_token() -> str:
    """A fresh random token (session, CSRF)."""
    return secrets.token_urlsafe(32)


def tokens_match(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a CSRF token."""
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())


class SessionStore:
    """Create, resolve and end inspector sessions (synchronous redis-py)."""

    def __init__(
        self, client: redis.Redis, keys: ApiKeyStore, prefix: str, ttl_s: int = DEFAULT_TTL_S
    ) -> None:
        self._r = client
        self._keys = keys
        self._p = f"{prefix}:ui:session"
        self.ttl_s = ttl_s

    def _key(self, token: str) -> str:
        # Only a hash of the token is a Redis key: reading Redis does not give usable cookies.
        return f"{self._p}:{hashlib.sha256(token.encode()).hexdigest()}"

    def login(self, api_key: str) -> tuple[str, UiSession, Principal]:
        """Verify ``api_key`` and open a session; returns the cookie token, session, principal."""
        principal = self._keys.verify(api_key.strip())
        session = UiSession(key_id=principal.key_id, user_id=principal.user_id, csrf=new_token())
        token = new_token()
        try:
            self._r.set(self._key(token), session.model_dump_json(), ex=self.ttl_s)
        except redis.RedisError as exc:
            raise SchedulerError(f"cannot store the inspector session: {exc}") from exc
        return token, session, principal

    def resolve(self, token: str | None) -> tuple[UiSession, Principal]:
        """The session and the (still valid) key behind a cookie; :class:`AuthenticationError`."""
        if not token:
            raise AuthenticationError("not logged in")
        try:
            raw = self._r.get(self._key(token))
        except redis.RedisError as exc:
            raise SchedulerError(f"cannot read the inspector session: {exc}") from exc
        if raw is None:
            raise AuthenticationError("the session expired or was ended; log in again")
        session = UiSession.model_validate_json(raw)
        record = self._keys.get(session.key_id)
        if record is None:
            self.logout(token)
            raise AuthenticationError("the session's API key was revoked; log in again")
        principal = Principal(
            user_id=record.user_id,
            key_id=record.key_id,
            scopes=record.scopes,
            rate_limit_requests=record.rate_limit_requests,
        )
        return session, principal

    def logout(self, token: str | None) -> None:
        """End a session (unknown tokens are ignored)."""
        if token:
            try:
                self._r.delete(self._key(token))
            except redis.RedisError as exc:
                raise SchedulerError(f"cannot end the inspector session: {exc}") from exc
