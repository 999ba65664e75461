"""MOS: the MemOS Python API as a facade over the event bus.

The facade does no memory work and loads no model. It checks access, publishes an event, and
waits (``config.event_timeout_s``) for the worker's result; a late result raises
:class:`~memos.errors.EventTimeoutError` while the event stays queued and will be applied.
Users, cubes and shares live in Redis (:mod:`memos.mem_os.registry`).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import redis
from pydantic import JsonValue

from memos import errors
from memos.configs.graph_db import EMBEDDED_URI, BaseGraphDBConfig
from memos.configs.mem_cube import GeneralMemCubeConfig, is_valid_cube_id
from memos.configs.mem_os import MOSConfig
from memos.errors import (
    AccessDeniedError,
    InvalidMemoryInputError,
    MemoryOperationError,
    MemOSError,
)
from memos.mem_cube.general import GeneralMemCube
from memos.mem_os import registry as registry_module
from memos.mem_os.cube_handle import CubeHandles
from memos.mem_os.registry import CubeRecord, Registry, UserRole, check_cube_id
from memos.mem_scheduler.events import Event, EventResult, make_event
from memos.mem_scheduler.transport import EventTransport, RedisEventTransport
from memos.messages import drop_empty_turns, parse_messages

logger = logging.getLogger(__name__)

_ERROR_CLASSES: dict[str, type[MemOSError]] = {
    name: obj
    for module in (errors, registry_module)
    for name, obj in vars(module).items()
    if isinstance(obj, type) and issubclass(obj, MemOSError)
}


class MOS:
    """MemOS's MOS: users, cubes, add / search / chat, all applied by workers through events.

    Args:
        config: the facade's settings.
        transport: inject a transport (tests use ``InMemoryEventTransport``); by default one to
            the bus that ``config`` names (starting the embedded stack when needed).
        redis_client: the registry's Redis when a transport is injected.
    """

    def __init__(
        self,
        config: MOSConfig,
        *,
        transport: EventTransport | None = None,
        redis_client: redis.Redis | None = None,
    ) -> None:
        self.config = config
        self.user_id = config.user_id
        self.session_id = config.session_id
        self.data_home: Path | None = None
        self._bus: redis.Redis | None = None
        prefix = config.scheduler.prefix if config.scheduler else "memos"
        if transport is None:
            scheduler = config.scheduler
            if config.embedded is not None:
                from memos.mem_os.services import ensure_embedded

                scheduler, self.data_home = ensure_embedded(config.embedded, config.scheduler)
            assert scheduler is not None
            prefix = scheduler.prefix
            # socket_timeout=None explicitly: redis-py 8 defaults it to 5 s, which would cut a
            # BLPOP for a result that takes longer (a first model load) short.
            self._bus = redis.Redis.from_url(scheduler.redis_url, socket_timeout=None)
            transport = RedisEventTransport(scheduler, client=self._bus)
            redis_client = redis.Redis.from_url(scheduler.redis_url)
        elif redis_client is None:
            raise MemoryOperationError("pass redis_client (the registry's Redis) with transport")
        self.transport: EventTransport = transport
        self._redis = redis_client
        self.registry = Registry(redis_client, prefix=prefix)
        self.registry.create_user(self.user_id, role="root")
        self.chat_history: dict[str, list[dict[str, str]]] = {}
        self.mem_cubes = CubeHandles(self)

    def close(self) -> None:
        """Close the transport and the registry connection."""
        self.transport.close()
        self._redis.close()
        if self._bus is not None:
            self._bus.close()

    def __enter__(self) -> MOS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- events ----------------------------------------------------------------------------
    def _user(self, user_id: str | None) -> str:
        user = user_id or self.user_id
        self.registry.require_user(user)
        return user

    def _cube(self, user_id: str, mem_cube_id: str | None) -> str:
        """Resolve a cube id (or MemOS-style path alias) and check access in the facade."""
        if mem_cube_id is None:
            cubes = self.registry.accessible_cubes(user_id)
            if not cubes:
                raise MemoryOperationError(
                    f"user {user_id!r} has no cube; register_mem_cube one first"
                )
            return cubes[0]
        cube_id = self._resolve(mem_cube_id)
        self.registry.check_access(user_id, cube_id)
        return cube_id

    def _user_cube(self, user_id: str | None, mem_cube_id: str | None) -> tuple[str, str]:
        """:meth:`_user` and :meth:`_cube` together: one registry round trip where it can.

        The user's existence and their access to the cube are read in one pipeline
        (``require_user``); the errors and their order are :meth:`_user`'s, then
        :meth:`_cube`'s. A path alias is resolved after the user check, as before.
        """
        user = user_id or self.user_id
        if mem_cube_id is None:
            cubes = self.registry.accessible_cubes(user, require_user=True)
            if not cubes:
                raise MemoryOperationError(
                    f"user {user!r} has no cube; register_mem_cube one first"
                )
            return user, cubes[0]
        if not is_valid_cube_id(mem_cube_id):
            self.registry.require_user(user)
            return user, self._cube(user, mem_cube_id)
        self.registry.check_access_all(user, [mem_cube_id], require_user=True)
        return user, mem_cube_id

    def _resolve(self, mem_cube_id: str) -> str:
        """A cube id as given, or the id registered for a MemOS-style path alias; checked."""
        cube_id = mem_cube_id
        if not is_valid_cube_id(cube_id):
            cube_id = self.registry.resolve_alias(mem_cube_id) or mem_cube_id
        check_cube_id(cube_id)
        return cube_id

    def _send(
        self,
        event_type: str,
        user_id: str,
        cube_id: str,
        payload: dict[str, Any],
        session_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        event = make_event(
            event_type,
            user_id=user_id,
            cube_id=cube_id,
            session_id=session_id or self.session_id,
            payload=payload,
            idempotency_key=idempotency_key,
        )
        return self._send_event(event)

    def _send_event(self, event: Event) -> Any:
        """Publish ``event``, wait for its result and return the value (or raise its error)."""
        result = self.transport.publish_and_wait(event, self.config.event_timeout_s)
        return _unwrap(result, event.user_id, event.cube_id)

    def _op(self, op: str, user_id: str, cube_id: str, **args: JsonValue) -> Any:
        """Run a management operation on a worker (a ``manage`` event) and return its result."""
        return self._send("manage", user_id, cube_id, {"op": op, "args": args})

    def _query_options(self) -> dict[str, JsonValue]:
        capacity = self.config.working_memory_capacity
        if self.config.mem_scheduler is not None:
            capacity = int(self.config.mem_scheduler.config.get("context_window_size", capacity))
        return {
            "top_k": self.config.top_k,
            "enable_textual_memory": self.config.enable_textual_memory,
            "enable_activation_memory": self.config.enable_activation_memory,
            "working_memory_capacity": capacity,
        }

    # -- users and cubes -------------------------------------------------------------------
    def create_user(
        self, user_id: str, role: UserRole = "user", user_name: str | None = None
    ) -> str:
        """Create a user (idempotent); returns its id."""
        return self.registry.create_user(user_id, user_name, role).user_id

    def list_users(self) -> list[dict[str, Any]]:
        """Every user as ``{"user_id", "user_name", "role", "created_at"}``."""
        return [user.model_dump() for user in self.registry.list_users()]

    def register_mem_cube(
        self,
        mem_cube_name_or_path: str | Path | GeneralMemCube,
        mem_cube_id: str | None = None,
        user_id: str | None = None,
    ) -> str:
        """Import a cube directory (or a GeneralMemCube) into the managed stores; returns its id.

        The source directory is only read. Without ``mem_cube_id`` the id is the config's
        ``cube_id`` when it is a valid id, else the directory name; the path given stays usable
        as an alias in later calls (as in MemOS).

        Raises:
            ConfigError: invalid cube id or config; CubeExistsError: the id is taken.
        """
        user = self._user(user_id)
        scratch: Path | None = None
        if isinstance(mem_cube_name_or_path, GeneralMemCube):
            scratch = Path(tempfile.mkdtemp(prefix="memos-cube-", dir=self._scratch_root()))
            source = scratch / "cube"
            self._dump_cube(mem_cube_name_or_path, source)
            alias = None
        else:
            source = Path(mem_cube_name_or_path).expanduser().absolute()
            alias = str(mem_cube_name_or_path)
        try:
            config = GeneralMemCubeConfig.from_json_file(source / "config.json")
            cube_id = mem_cube_id or (
                config.cube_id if is_valid_cube_id(config.cube_id) else source.name
            )
            check_cube_id(cube_id)
            existing = self.registry.get_cube(cube_id)
            if existing is not None and existing.owner_id == user:
                # MemOS skips a cube that is already installed; its memories stay as they are.
                logger.info("cube %s is already registered for %s; skipped", cube_id, user)
                return cube_id
            record = CubeRecord(
                cube_id=cube_id,
                owner_id=user,
                text_backend=config.text_mem.backend,
                act_backend=config.act_mem.backend,
                para_backend=config.para_mem.backend,
                config_json=config.model_dump_json(),
                source_path=alias,
            )
            self.registry.add_cube(record)
            try:
                self._op("import", user, cube_id, dir=str(source))
            except BaseException:
                self.registry.remove_cube(cube_id)
                raise
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        logger.info("cube %s registered for user %s", cube_id, user)
        return cube_id

    def _dump_cube(self, cube: GeneralMemCube, target: Path) -> None:
        """Dump a cube object; a tree memory on ``uri: embedded`` is read from this MOS's stack.

        The object's own store would find the stack through ``$MEMOS_HOME`` (``~/.memos`` when
        unset) and start a second one there; the graph's ``home`` or this MOS's data home
        names the stack meant, so the dump reads that one.
        """
        from memos.configs.memory import TreeTextMemoryConfig

        tree_config = cube.config.text_mem.config
        if not isinstance(tree_config, TreeTextMemoryConfig):
            cube.dump(target)
            return
        graph = tree_config.graph_db.config
        if not isinstance(graph, BaseGraphDBConfig) or graph.uri != EMBEDDED_URI:
            cube.dump(target)
            return
        home = Path(graph.home).expanduser().absolute() if graph.home else self.data_home
        if home is None:
            cube.dump(target)
            return
        from memos.mem_os.services import embedded_graph_store
        from memos.memories.textual.tree import TreeTextMemory

        store = embedded_graph_store(home, tree_config.graph_db)
        try:
            bound = GeneralMemCube(cube.config)
            bound.act_mem = cube.act_mem
            bound.text_mem = TreeTextMemory(
                tree_config, embedder=cube.text_mem.embedder, store=store
            )
            bound.dump(target)
        finally:
            store.close()

    def _scratch_root(self) -> str | None:
        if self.data_home is None:
            return None
        root = self.data_home / "tmp"
        root.mkdir(parents=True, exist_ok=True)
        return str(root)

    def unregister_mem_cube(self, mem_cube_id: str, user_id: str | None = None) -> None:
        """Drop a cube's memories and forget it; only its owner may."""
        user, cube_id = self._user_cube(user_id, mem_cube_id)
        if self.registry.require_cube(cube_id).owner_id != user:
            raise AccessDeniedError(user, cube_id)
        self._op("drop", user, cube_id)
        self.registry.remove_cube(cube_id)

    def share_cube_with_user(self, cube_id: str, target_user_id: str) -> bool:
        """Let ``target_user_id`` use a cube of the config's user; returns True."""
        self.registry.share(self._cube(self.user_id, cube_id), self.user_id, target_user_id)
        return True

    # -- memory operations -----------------------------------------------------------------
    def add(
        self,
        messages: list[dict[str, Any]] | None = None,
        memory_content: str | None = None,
        doc_path: str | None = None,
        mem_cube_id: str | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> list[str]:
        """Add messages, a plain memory or a document to a cube; returns the stored ids.

        ``messages`` have the one shape of :class:`memos.messages.ChatMessage`: ``role``,
        ``content``, optional ``chat_time``, ``message_id``, ``name`` and ``metadata``; the
        memories extracted from them cite ``message_id`` and ``chat_time`` in their sources.
        Empty or whitespace-only messages are skipped (and logged with their count); messages
        that are all empty, with nothing else to add, raise ``InvalidMemoryInputError``.

        ``idempotency_key`` (``[A-Za-z0-9_.:-]{1,128}``) makes a retry safe: a caller whose add
        failed mid-way (a timeout, the bus restarting) calls again with the same key, and the add
        has exactly one effect; the retry returns the same ids. Without it every call is a new add.
        """
        user, cube_id = self._user_cube(user_id, mem_cube_id)
        turns = _turns_to_store(messages, has_other=bool(memory_content or doc_path))
        payload: dict[str, Any] = {
            "messages": turns,
            "memory_content": memory_content,
            "doc_path": str(Path(doc_path).absolute()) if doc_path else None,
            "options": {
                "mem_reader": self.config.mem_reader.model_dump(mode="json"),
                "reorganize": self.config.reorganize.model_dump(mode="json"),
            },
        }
        key = idempotency_key and _scoped_key("add", user, cube_id, idempotency_key)
        result = self._send("add", user, cube_id, payload, session_id, key)
        return list(result["added_ids"])

    def reorganize(
        self, mem_cube_id: str | None = None, user_id: str | None = None, wait: bool = True
    ) -> dict[str, Any]:
        """Reorganise a tree cube now (dedup/merge, conflicts, tiers, hierarchy) on a worker.

        The run is bounded by ``config.reorganize.config.time_budget_s`` and holds the cube's
        lock; a run that finds another one in progress reports ``skipped: "locked"``.

        Returns:
            with ``wait``: the run's report (``ReorganizeReport`` as JSON); without it:
            ``{"event_id", "cube_id"}`` of the queued run.

        Raises:
            AccessDeniedError: the user may not use the cube; MemoryOperationError: the cube's
            textual memory is not a tree.
        """
        user, cube_id = self._user_cube(user_id, mem_cube_id)
        payload: dict[str, Any] = {
            "reason": "manual",
            "options": {"config": self.config.reorganize.config.model_dump(mode="json")},
        }
        if wait:
            return dict(self._send("reorganize", user, cube_id, payload))
        event = make_event(
            "reorganize",
            user_id=user,
            cube_id=cube_id,
            session_id=self.session_id,
            payload=payload,
        )
        return {"event_id": self.transport.publish(event), "cube_id": cube_id}

    def _search_scope(
        self, user: str, install_cube_ids: list[str] | None, *, require_user: bool = False
    ) -> list[str]:
        """The cubes a search reads, access checked; ``require_user`` checks the user too.

        Checking the user in the same pipeline as the cubes saves a registry round trip on
        every search; the errors and their order stay those of :meth:`_user` then this.
        """
        if install_cube_ids is None:
            cubes = self.registry.accessible_cubes(user, require_user=require_user)
        else:
            if require_user and not all(is_valid_cube_id(c) for c in install_cube_ids):
                # An alias is resolved with a read of its own; the user is checked before it.
                self.registry.require_user(user)
                require_user = False
            cubes = [self._resolve(c) for c in install_cube_ids]
            # One round trip for all of them (and the user).
            self.registry.check_access_all(user, cubes, require_user=require_user)
        if not cubes:
            raise MemoryOperationError(f"user {user!r} has no cube; register_mem_cube one first")
        return cubes

    def _search_event(
        self,
        query: str,
        user_id: str | None,
        install_cube_ids: list[str] | None,
        top_k: int | None,
    ) -> Event:
        """The query event of :meth:`search`, after the facade's checks (one registry read).

        Separate so that ``bench search-latency``'s hop profile times exactly these steps.
        """
        user = user_id or self.user_id
        cubes = self._search_scope(user, install_cube_ids, require_user=True)
        payload = {
            "query": query,
            "top_k": top_k or self.config.top_k,
            "install_cube_ids": cubes,
            "options": self._query_options(),
        }
        return make_event(
            "query",
            user_id=user,
            cube_id=cubes[0],
            session_id=self.session_id,
            payload=payload,
        )

    def search(
        self,
        query: str,
        user_id: str | None = None,
        install_cube_ids: list[str] | None = None,
        top_k: int | None = None,
    ) -> dict[str, Any]:
        """Search the user's cubes: ``{"text_mem": [{"cube_id", "memories"}], "act_mem", ...}``."""
        event = self._search_event(query, user_id, install_cube_ids, top_k)
        result = self._send_event(event)
        return {key: result[key] for key in ("text_mem", "act_mem", "para_mem")}

    def chat(self, query: str, user_id: str | None = None) -> str:
        """Answer with the chat model on a worker, from the user's memories and recent history."""
        user = user_id or self.user_id
        cubes = self._search_scope(user, None, require_user=True)
        history = self.chat_history.setdefault(user, [])
        options = {
            **self._query_options(),
            "chat_model": self.config.chat_model.model_dump(mode="json"),
        }
        payload = {
            "query": query,
            "top_k": self.config.top_k,
            "install_cube_ids": cubes,
            "chat": True,
            "history": history[-self.config.max_turns_window :],
            "options": options,
        }
        answer = str(self._send("query", user, cubes[0], payload)["answer"])
        history.extend(
            [{"role": "user", "content": query}, {"role": "assistant", "content": answer}]
        )
        del history[: -self.config.max_turns_window]
        return answer

    def clear_messages(self, user_id: str | None = None) -> None:
        """Forget the chat history of a user."""
        self.chat_history.pop(user_id or self.user_id, None)

    def get(self, mem_cube_id: str, memory_id: str, user_id: str | None = None) -> dict[str, Any]:
        """One textual memory as a plain dict."""
        user, cube_id = self._user_cube(user_id, mem_cube_id)
        return dict(self._op("get", user, cube_id, memory_id=memory_id))

    def inspect(self, mem_cube_id: str, view: str, user_id: str | None = None, **args: Any) -> Any:
        """A read-only inspector view of a tree cube, computed on a worker.

        ``view`` is ``counts``, ``page``, ``memory``, ``graph`` or ``search`` (the worker's
        ``inspect_<view>`` operation; see :mod:`memos.memories.textual.inspection`).
        """
        user, cube_id = self._user_cube(user_id, mem_cube_id)
        return self._op(f"inspect_{view}", user, cube_id, **args)

    def get_all(self, mem_cube_id: str | None = None, user_id: str | None = None) -> dict[str, Any]:
        """Every memory of one cube, or of all the user's cubes (tree cubes: nodes and edges)."""
        user = self._user(user_id)
        cubes = [self._cube(user, mem_cube_id)] if mem_cube_id else self._search_scope(user, None)
        merged: dict[str, Any] = {"text_mem": [], "act_mem": [], "para_mem": []}
        for cube_id in cubes:
            part = self._op("get_all", user, cube_id)
            for key in merged:
                merged[key].extend(part[key])
        return merged

    def update(
        self, mem_cube_id: str, memory_id: str, text_memory_item: Any, user_id: str | None = None
    ) -> None:
        """Replace a textual memory's text and/or metadata."""
        user, cube_id = self._user_cube(user_id, mem_cube_id)
        memory = (
            text_memory_item.to_dict()
            if hasattr(text_memory_item, "to_dict")
            else (text_memory_item)
        )
        self._op("update", user, cube_id, memory_id=memory_id, memory=memory)

    def delete(
        self, mem_cube_id: str, memory_id: str | list[str], user_id: str | None = None
    ) -> None:
        """Delete one memory (or several)."""
        user, cube_id = self._user_cube(user_id, mem_cube_id)
        ids: list[JsonValue] = [memory_id] if isinstance(memory_id, str) else list(memory_id)
        self._op("delete", user, cube_id, memory_ids=ids)

    def delete_all(self, mem_cube_id: str | None = None, user_id: str | None = None) -> None:
        """Delete every textual memory of a cube (the user's first cube by default)."""
        user = self._user(user_id)
        self._op("delete_all", user, self._cube(user, mem_cube_id))

    def dump(
        self, dump_dir: str | Path, user_id: str | None = None, mem_cube_id: str | None = None
    ) -> None:
        """Write a cube (config + memories) into a new directory ``dump_dir``."""
        user = self._user(user_id)
        target = Path(dump_dir).expanduser().absolute()
        self._op("dump", user, self._cube(user, mem_cube_id), dir=str(target))

    def load(
        self, load_dir: str | Path, user_id: str | None = None, mem_cube_id: str | None = None
    ) -> None:
        """Replace a cube's memories with those dumped in ``load_dir`` (which is only read)."""
        user = self._user(user_id)
        source = Path(load_dir).expanduser().absolute()
        self._op("load", user, self._cube(user, mem_cube_id), dir=str(source))

    def new_kv_id(self) -> str:
        """A fresh id for an activation memory item (the handle's extract uses it)."""
        return str(uuid.uuid4())


def _scoped_key(op: str, user_id: str, cube_id: str, key: str) -> str:
    """The bus's idempotency key for a caller's ``key``, private to the user and cube.

    Done markers are global on the bus: scoping keeps one tenant's key from ever matching (and
    returning the stored result of) another tenant's event that happens to use the same key.
    """
    if not is_valid_cube_id(key):
        raise MemoryOperationError(
            f"invalid idempotency_key {key!r}: use 1-128 characters from [A-Za-z0-9_.:-]"
        )
    digest = hashlib.sha256(f"{op}\0{user_id}\0{cube_id}\0{key}".encode()).hexdigest()
    return f"{op}:{digest[:48]}"


def _unwrap(result: EventResult, user_id: str, cube_id: str) -> Any:
    """The result's value, or the worker's error raised as the same class here."""
    if result.ok:
        return result.result
    assert result.error is not None
    name, message = result.error.type, result.error.message
    if name == "AccessDeniedError":
        raise AccessDeniedError(user_id, cube_id)
    cls = _ERROR_CLASSES.get(name)
    if cls is None:
        raise MemOSError(f"{name}: {message}")
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    raise error


def _turns_to_store(
    messages: list[dict[str, Any]] | None, *, has_other: bool
) -> list[dict[str, Any]] | None:
    """``messages`` validated as :class:`ChatMessage`, empty turns dropped (None if none left).

    Raises:
        InvalidMemoryInputError: a message is malformed, or every message is empty and there
            is nothing else to add.
    """
    if not messages:
        return None  # the add event refuses an add with nothing at all, naming what it needs
    kept, skipped = drop_empty_turns(parse_messages(messages))
    if not kept and not has_other:
        raise InvalidMemoryInputError(
            f"nothing to store: all {skipped} message(s) are empty or whitespace-only"
        )
    return [m.model_dump(exclude_none=True) for m in kept] or None
