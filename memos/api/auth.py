"""Per-tenant API keys, stored hashed in Redis, with scopes ``read``, ``write`` and ``admin``.

A key reads ``mk_<key_id>_<secret>``: ``key_id`` (12 hex characters) finds the record, and only
``sha256(salt || secret)`` of the 32-byte random secret is stored, so a leaked Redis does not leak
usable keys. A fast salted hash is enough here because the secret has 256 bits of entropy (a slow
KDF such as scrypt protects low-entropy passwords and would cost CPU on every request). Keys::

    <p>:api:keys         hash  key_id -> ApiKeyRecord JSON
    <p>:api:user_keys:<u> set  key ids of user u
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from datetime import UTC, datetime
from typing import Literal

import redis
from pydantic import BaseModel, ConfigDict, Field

from memos.errors import MemOSError, SchedulerError

logger = logging.getLogger(__name__)

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")
KEY_PATTERN = re.compile(r"^mk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


class AuthenticationError(MemOSError):
    """No API key was sent, or the key is unknown, malformed or revoked."""


class InsufficientScopeError(MemOSError):
    """The API key lacks the scope the operation needs."""

    def __init__(self, needed: str, granted: tuple[str, ...]) -> None:
        self.needed = needed
        self.granted = granted
        have = ", ".join(granted) or "none"
        super().__init__(f"this operation needs the {needed!r} scope; the key has: {have}")


class ApiKeyNotFoundError(MemOSError):
    """No API key with this id exists."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(f"API key {key_id!r} not found; list keys with GET /v1/api-keys")


def parse_scopes(text: str) -> tuple[Scope, ...]:
    """``"read,write"`` -> ``("read", "write")``; raises ValueError naming an unknown scope."""
    scopes: list[Scope] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part not in SCOPES:
            raise ValueError(f"unknown scope {part!r}; use {', '.join(SCOPES)}")
        if part not in scopes:
            scopes.append(part)  # type: ignore[arg-type]
    if not scopes:
        raise ValueError("give at least one scope")
    return tuple(scopes)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class ApiKeyRecord(BaseModel):
    """What is stored for a key: never the key itself."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    key_id: str
    user_id: str
    scopes: tuple[Scope, ...]
    salt: str
    digest: str
    name: str = ""
    rate_limit_requests: int | None = Field(None, ge=1)
    created_at: str = Field(default_factory=_now)

    def has(self, scope: Scope) -> bool:
        """True when the key carries ``scope`` (``admin`` implies the other two)."""
        return scope in self.scopes or "admin" in self.scopes


class Principal(BaseModel):
    """The authenticated caller: a tenant (user id) and what its key may do."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    key_id: str
    scopes: tuple[Scope, ...]
    rate_limit_requests: int | None = None

    def require(self, scope: Scope) -> None:
        """Raise :class:`InsufficientScopeError` unless the key carries ``scope``."""
        if scope not in self.scopes and "admin" not in self.scopes:
            raise InsufficientScopeError(scope, self.scopes)


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode("ascii")).hexdigest()


class ApiKeyStore:
    """Create, verify, list and revoke API keys (synchronous redis-py)."""

    def __init__(self, client: redis.Redis, prefix: str = "memos") -> None:
        self._r = client
        self._p = f"{prefix}:api"

    @property
    def keys_key(self) -> str:
        """Hash of key records."""
        return f"{self._p}:keys"

    def user_keys_key(self, user_id: str) -> str:
        """Set of a user's key ids."""
        return f"{self._p}:user_keys:{user_id}"

    def create(
        self,
        user_id: str,
        scopes: tuple[Scope, ...],
        *,
        name: str = "",
        rate_limit_requests: int | None = None,
    ) -> tuple[str, ApiKeyRecord]:
        """Make a key for ``user_id``; returns the plaintext key (shown once) and its record."""
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        record = ApiKeyRecord(
            key_id=key_id,
            user_id=user_id,
            scopes=scopes,
            salt=salt,
            digest=_digest(salt, secret),
            name=name,
            rate_limit_requests=rate_limit_requests,
        )
        try:
            pipe = self._r.pipeline()
            pipe.hset(self.keys_key, key_id, record.model_dump_json())
            pipe.sadd(self.user_keys_key(user_id), key_id)
            pipe.execute()
        except redis.RedisError as exc:
            raise SchedulerError(f"cannot store the API key: {exc}") from exc
        logger.info("api key %s created for %s", key_id, user_id)
        return f"mk_{key_id}_{secret}", record

    def get(self, key_id: str) -> ApiKeyRecord | None:
        """The record of ``key_id``, or None."""
        try:
            raw = self._r.hget(self.keys_key, key_id)
        except redis.RedisError as exc:
            raise SchedulerError(f"cannot read API keys: {exc}") from exc
        return ApiKeyRecord.model_validate_json(raw) if raw else None

    def verify(self, key: str) -> Principal:
        """The caller behind ``key``; raises :class:`AuthenticationError`."""
        match = KEY_PATTERN.match(key)
        if match is None:
            raise AuthenticationError("malformed API key; expected mk_<id>_<secret>")
        key_id, secret = match.groups()
        record = self.get(key_id)
        # compare_digest even for an unknown id would not hide more: the id is not secret.
        if record is None or not hmac.compare_digest(record.digest, _digest(record.salt, secret)):
            raise AuthenticationError("unknown or revoked API key")
        return Principal(
            user_id=record.user_id,
            key_id=record.key_id,
            scopes=record.scopes,
            rate_limit_requests=record.rate_limit_requests,
        )

    def list(self, user_id: str | None = None) -> list[ApiKeyRecord]:
        """Every key record (of one user when ``user_id`` is given), oldest first."""
        try:
            raw = self._r.hgetall(self.keys_key)
        except redis.RedisError as exc:
            raise SchedulerError(f"cannot read API keys: {exc}") from exc
        records = [ApiKeyRecord.model_validate_json(v) for v in raw.values()]
        if user_id is not None:
            records = [r for r in records if r.user_id == user_id]
        return sorted(records, key=lambda r: (r.created_at, r.key_id))

    def revoke(self, key_id: str) -> bool:
        """Delete a key; False when it did not exist."""
        record = self.get(key_id)
        if record is None:
            return False
        try:
            pipe = self._r.pipeline()
            pipe.hdel(self.keys_key, key_id)
            pipe.srem(self.user_keys_key(record.user_id), key_id)
            pipe.execute()
        except redis.RedisError as exc:
            raise SchedulerError(f"cannot revoke the API key: {exc}") from exc
        logger.info("api key %s revoked", key_id)
        return True
