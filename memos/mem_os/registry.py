"""Users, cubes and shares, kept in Redis: the durable store every process reaches.

The facade writes here when users and cubes are created; workers read it to check access before
touching a cube, and to notice that a cube changed since they cached it. Nothing lives in a
per-process file. Keys (under one prefix, ``memos`` by default)::

    <p>:reg:users              hash  user_id -> UserRecord JSON
    <p>:reg:cubes              hash  cube_id -> CubeRecord JSON
    <p>:reg:shares:<cube_id>   set   user ids the cube was shared with
    <p>:reg:access:<user_id>   set   cube ids the user owns or was given (for listing)
    <p>:reg:version:<cube_id>  int   bumped on every change of the cube's memories
    <p>:reg:alias              hash  source path -> cube_id (MemOS addresses cubes by path)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import redis
from pydantic import BaseModel, ConfigDict, Field

from memos.configs.mem_cube import CUBE_ID_PATTERN, is_valid_cube_id
from memos.errors import AccessDeniedError, ConfigError, MemoryOperationError, SchedulerError

logger = logging.getLogger(__name__)

UserRole = Literal["root", "admin", "user", "guest"]


def _now() -> str:
    return datetime.now(UTC).isoformat()


class UserRecord(BaseModel):
    """A user (MemOS's ``list_users`` shape: ``user_id``, ``user_name``, ``role``)."""

    model_config = ConfigDict(extra="ignore")

    user_id: str = Field(pattern=CUBE_ID_PATTERN)
    user_name: str
    role: UserRole = "user"
    created_at: str = Field(default_factory=_now)


class CubeRecord(BaseModel):
    """A registered cube: its owner, the backends of its slots and its config JSON."""

    model_config = ConfigDict(extra="ignore")

    cube_id: str = Field(pattern=CUBE_ID_PATTERN)
    owner_id: str
    text_backend: str
    act_backend: str
    para_backend: str
    config_json: str
    source_path: str | None = None
    created_at: str = Field(default_factory=_now)


class CubeExistsError(MemoryOperationError):
    """A cube id is already registered."""

    def __init__(self, cube_id: str) -> None:
        self.cube_id = cube_id
        super().__init__(
            f"cube {cube_id!r} is already registered; pass another mem_cube_id or unregister it"
        )


class UnknownCubeError(MemoryOperationError):
    """No cube is registered under this id."""

    def __init__(self, cube_id: str) -> None:
        self.cube_id = cube_id
        super().__init__(f"cube {cube_id!r} is not registered; register_mem_cube it first")


class UnknownUserError(MemoryOperationError):
    """No user exists under this id."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        super().__init__(f"user {user_id!r} does not exist; create_user it first")


def check_cube_id(cube_id: object) -> str:
    """Return ``cube_id`` if it matches :data:`CUBE_ID_PATTERN`, else raise ConfigError."""
    if not is_valid_cube_id(cube_id):
        raise ConfigError(
            f"invalid cube id {cube_id!r}: use 1-128 letters, digits, '_', '.', ':' or '-'"
        )
    assert isinstance(cube_id, str)
    return cube_id


class Registry:
    """Users, cubes, shares and cube versions in Redis (synchronous redis-py)."""

    def __init__(self, client: redis.Redis, prefix: str = "memos") -> None:
        self._r = client
        self._p = f"{prefix}:reg"

    # -- keys ------------------------------------------------------------------------------
    @property
    def users_key(self) -> str:
        """Hash of users."""
        return f"{self._p}:users"

    @property
    def cubes_key(self) -> str:
        """Hash of cubes."""
        return f"{self._p}:cubes"

    def shares_key(self, cube_id: str) -> str:
        """Set of users a cube was shared with."""
        return f"{self._p}:shares:{cube_id}"

    def access_key(self, user_id: str) -> str:
        """Set of cubes a user may touch."""
        return f"{self._p}:access:{user_id}"

    def version_key(self, cube_id: str) -> str:
        """Counter bumped whenever a cube's memories change."""
        return f"{self._p}:version:{cube_id}"

    @property
    def alias_key(self) -> str:
        """Hash of path aliases."""
        return f"{self._p}:alias"

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except redis.RedisError as exc:
            raise SchedulerError(f"registry: cannot {what}: {exc}") from exc

    # -- users -----------------------------------------------------------------------------
    def create_user(
        self, user_id: str, user_name: str | None = None, role: UserRole = "user"
    ) -> UserRecord:
        """Create a user, or return the existing one unchanged (idempotent)."""
        check_cube_id(user_id)
        record = UserRecord(user_id=user_id, user_name=user_name or user_id, role=role)
        created = self._call(
            "create a user", self._r.hsetnx, self.users_key, user_id, record.model_dump_json()
        )
        if not created:
            existing = self.get_user(user_id)
            assert existing is not None
            return existing
        logger.info("user %s created", user_id)
        return record

    def get_user(self, user_id: str) -> UserRecord | None:
        """The user, or None."""
        raw = self._call("read a user", self._r.hget, self.users_key, user_id)
        return UserRecord.model_validate_json(raw) if raw else None

    def require_user(self, user_id: str) -> UserRecord:
        """The user; raises :class:`UnknownUserError`."""
        user = self.get_user(user_id)
        if user is None:
            raise UnknownUserError(user_id)
        return user

    def list_users(self) -> list[UserRecord]:
        """Every user, by id."""
        raw = self._call("list users", self._r.hgetall, self.users_key)
        users = [UserRecord.model_validate_json(v) for v in raw.values()]
        return sorted(users, key=lambda u: u.user_id)

    # -- cubes -----------------------------------------------------------------------------
    def add_cube(self, record: CubeRecord) -> None:
        """Register a cube owned by ``record.owner_id``; raises :class:`CubeExistsError`."""
        self.require_user(record.owner_id)
        created = self._call(
            "register a cube",
            self._r.hsetnx,
            self.cubes_key,
            record.cube_id,
            record.model_dump_json(),
        )
        if not created:
            raise CubeExistsError(record.cube_id)
        pipe = self._r.pipeline()
        pipe.sadd(self.access_key(record.owner_id), record.cube_id)
        pipe.incr(self.version_key(record.cube_id))
        if record.source_path:
            pipe.hset(self.alias_key, record.source_path, record.cube_id)
        self._call("register a cube", pipe.execute)
        logger.info("cube %s registered for %s", record.cube_id, record.owner_id)

    def get_cube(self, cube_id: str) -> CubeRecord | None:
        """The cube's record, or None."""
        raw = self._call("read a cube", self._r.hget, self.cubes_key, cube_id)
        return CubeRecord.model_validate_json(raw) if raw else None

    def require_cube(self, cube_id: str) -> CubeRecord:
        """The cube's record; raises :class:`UnknownCubeError`."""
        record = self.get_cube(cube_id)
        if record is None:
            raise UnknownCubeError(cube_id)
        return record

    def remove_cube(self, cube_id: str) -> None:
        """Forget a cube, its shares and aliases (its memories are dropped by the worker)."""
        record = self.get_cube(cube_id)
        if record is None:
            return
        shared = self._call("read shares", self._r.smembers, self.shares_key(cube_id))
        pipe = self._r.pipeline()
        pipe.hdel(self.cubes_key, cube_id)
        pipe.srem(self.access_key(record.owner_id), cube_id)
        for user in shared:
            pipe.srem(self.access_key(_text(user)), cube_id)
        pipe.delete(self.shares_key(cube_id))
        pipe.incr(self.version_key(cube_id))
        if record.source_path:
            pipe.hdel(self.alias_key, record.source_path)
        self._call("remove a cube", pipe.execute)
        logger.info("cube %s unregistered", cube_id)

    def resolve_alias(self, name: str) -> str | None:
        """The cube id registered from source path ``name``, or None."""
        raw = self._call("read an alias", self._r.hget, self.alias_key, name)
        return _text(raw) if raw is not None else None

    # -- sharing and access ----------------------------------------------------------------
    def share(self, cube_id: str, owner_id: str, target_user_id: str) -> None:
        """Let ``target_user_id`` use ``cube_id``; only a user with access may share it."""
        self.require_user(target_user_id)
        self.check_access(owner_id, cube_id)
        pipe = self._r.pipeline()
        pipe.sadd(self.shares_key(cube_id), target_user_id)
        pipe.sadd(self.access_key(target_user_id), cube_id)
        self._call("share a cube", pipe.execute)
        logger.info("cube %s shared with %s", cube_id, target_user_id)

    def can_access(self, user_id: str, cube_id: str) -> bool:
        """True when ``user_id`` owns ``cube_id`` or it was shared with them."""
        record = self.get_cube(cube_id)
        if record is None:
            return False
        if record.owner_id == user_id:
            return True
        return bool(self._call("read shares", self._r.sismember, self.shares_key(cube_id), user_id))

    def check_access(self, user_id: str, cube_id: str) -> CubeRecord:
        """The cube's record if ``user_id`` may touch it.

        Raises:
            UnknownCubeError: no such cube.
            AccessDeniedError: the cube is someone else's and was not shared.
        """
        return self.check_access_all(user_id, [cube_id])[0]

    def check_access_all(
        self, user_id: str, cube_ids: Sequence[str], *, require_user: bool = False
    ) -> list[CubeRecord]:
        """:meth:`check_access` for each of ``cube_ids`` (in order), in one round trip.

        A search checks every cube it reads on each event; one pipeline reads the cubes'
        records and the user's membership in their shares together. With ``require_user`` the
        same round trip also checks that the user exists (the facade's :meth:`require_user`,
        which would otherwise cost a round trip of its own on every call).

        Raises:
            UnknownUserError: ``require_user`` and no such user (checked before the cubes).
            UnknownCubeError: a cube does not exist (the first such, in order).
            AccessDeniedError: a cube is someone else's and was not shared.
        """
        checked = self._checked(user_id, cube_ids, require_user=require_user, versions=False)
        return [record for record, _ in checked]

    def check_access_versions(
        self, user_id: str, cube_ids: Sequence[str]
    ) -> list[tuple[CubeRecord, int]]:
        """:meth:`check_access_all` plus each cube's current version, in the same round trip.

        What a worker needs before it touches cubes: may this user use them, and is the cube
        object it holds still current (:meth:`ManagedCubes.get`'s ``known``). Reading both in
        one pipeline saves the version read's round trip on every event.

        Raises:
            UnknownCubeError: a cube does not exist (the first such, in order).
            AccessDeniedError: a cube is someone else's and was not shared.
        """
        return self._checked(user_id, cube_ids, require_user=False, versions=True)

    def _checked(
        self, user_id: str, cube_ids: Sequence[str], *, require_user: bool, versions: bool
    ) -> list[tuple[CubeRecord, int]]:
        """One pipeline: (user exists), cube records, share memberships, (versions)."""
        if not cube_ids and not require_user:
            return []
        pipe = self._r.pipeline(transaction=False)
        if require_user:
            pipe.hexists(self.users_key, user_id)
        if cube_ids:
            pipe.hmget(self.cubes_key, list(cube_ids))
        for cube_id in cube_ids:
            pipe.sismember(self.shares_key(cube_id), user_id)
        if versions:
            for cube_id in cube_ids:
                pipe.get(self.version_key(cube_id))
        replies = list(self._call("check access", pipe.execute))
        if require_user and not replies.pop(0):
            raise UnknownUserError(user_id)
        if not cube_ids:
            return []
        n = len(cube_ids)
        raw, shared, found = replies[0], replies[1 : n + 1], replies[n + 1 :]
        records: list[tuple[CubeRecord, int]] = []
        for i, (cube_id, value, member) in enumerate(zip(cube_ids, raw, shared, strict=True)):
            if not value:
                raise UnknownCubeError(cube_id)
            record = CubeRecord.model_validate_json(value)
            if record.owner_id != user_id and not member:
                raise AccessDeniedError(user_id, cube_id)
            version = int(found[i]) if versions and found[i] is not None else 0
            records.append((record, version))
        return records

    def cube_with_version(self, cube_id: str) -> tuple[CubeRecord, int]:
        """The cube's record and current version, in one round trip.

        Raises:
            UnknownCubeError: no such cube.
        """
        pipe = self._r.pipeline(transaction=False)
        pipe.hget(self.cubes_key, cube_id)
        pipe.get(self.version_key(cube_id))
        raw, version = self._call("read a cube", pipe.execute)
        if not raw:
            raise UnknownCubeError(cube_id)
        return CubeRecord.model_validate_json(raw), int(version) if version is not None else 0

    def accessible_cubes(self, user_id: str, *, require_user: bool = False) -> list[str]:
        """Ids of the cubes ``user_id`` owns or was given, sorted.

        With ``require_user``, the same round trip checks that the user exists.

        Raises:
            UnknownUserError: ``require_user`` and no such user.
        """
        if not require_user:
            raw = self._call("list cubes", self._r.smembers, self.access_key(user_id))
            return sorted(_text(c) for c in raw)
        pipe = self._r.pipeline(transaction=False)
        pipe.hexists(self.users_key, user_id)
        pipe.smembers(self.access_key(user_id))
        exists, raw = self._call("list cubes", pipe.execute)
        if not exists:
            raise UnknownUserError(user_id)
        return sorted(_text(c) for c in raw)

    # -- versions --------------------------------------------------------------------------
    def cube_version(self, cube_id: str) -> int:
        """The cube's current version (0 if never set)."""
        raw = self._call("read a cube version", self._r.get, self.version_key(cube_id))
        return int(raw) if raw is not None else 0

    def bump_version(self, cube_id: str) -> int:
        """Mark the cube changed; workers holding an older version reload it."""
        return int(self._call("bump a cube version", self._r.incr, self.version_key(cube_id)))


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value
