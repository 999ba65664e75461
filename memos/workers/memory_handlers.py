"""The memory work behind MOS: handlers for add / query / answer / manage / kv_refresh / reorganize.

Importing this module registers the handlers (``handler_modules:
["memos.workers.memory_handlers"]``). Each handler is a broker-free function ``(event, ctx) ->
JSON``; tests call them directly with a :class:`HandlerContext`.

Every handler checks access first: the event's user must own the cube or have been given it
(the facade checks too; this second check is what holds when someone publishes events directly).

``add`` stores memories, ``query`` searches (and answers when ``chat`` is set), ``answer``
records a turn. Every other facade operation (get, update, delete, dump, cube import, the
activation memory handle, ...) is a ``manage`` event naming its operation in ``payload.op``;
:func:`op_of` is the one place that maps an event to its operation. ``reorganize`` events come
from the add path (:mod:`memos.workers.memory_reorganize`) or from ``MOS.reorganize``.

Effects outside Redis are idempotent on the event's scoped key: new memory ids are ``uuid5`` of
it, and imports and loads replace rather than append, so a replayed event leaves the same state.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import JsonValue

from memos.configs.llm import LLMConfigFactory
from memos.configs.loader import memos_home
from memos.configs.mem_reader import SimpleStructMemReaderConfig
from memos.errors import EventValidationError, InvalidMemoryInputError, MemoryOperationError
from memos.mem_cube.general import GeneralMemCube
from memos.mem_cube.managed import ManagedCubes, counts, require_slot
from memos.mem_os.prompts import ChatContext, chat_messages
from memos.mem_os.registry import CubeRecord, Registry
from memos.mem_scheduler.events import (
    AddEvent,
    AnswerEvent,
    Event,
    KVRefreshEvent,
    ManageEvent,
    QueryEvent,
    ReorganizeEvent,
)
from memos.memories.textual import inspection
from memos.memories.textual.item import TextualMemoryItem
from memos.workers import memory_reorganize as reorganize_jobs
from memos.workers.handlers import Handler, HandlerContext, register_handler

logger = logging.getLogger(__name__)

#: Namespace of the ids derived from an event's idempotency key.
_ID_NAMESPACE = uuid.UUID("5b0c0c5e-8d8e-4a39-9a38-2f3d8a1f6d11")
DEFAULT_TOP_K = 5
DEFAULT_WORKING_MEMORY_CAPACITY = 20
MAX_RECORDED_TURNS = 200

#: The operation of each event type that carries exactly one.
_OP_BY_TYPE = {
    "add": "add",
    "query": "search",
    "answer": "answer",
    "kv_refresh": "kv_refresh",
    "reorganize": "reorganize",
}

_state_lock = threading.Lock()
_cubes: dict[tuple[str, str], ManagedCubes] = {}
_llms: dict[str, Any] = {}


# -- plumbing -------------------------------------------------------------------------------


def op_of(event: Event) -> str:
    """The operation an event asks for: ``payload.op`` of a ``manage`` event, else its type's."""
    if event.type == "manage":
        op = str(event.payload.op)
        if op not in MANAGE_OPS:
            raise EventValidationError(
                f"unknown manage operation {op!r}; known: {', '.join(sorted(MANAGE_OPS))}"
            )
        return op
    if event.type not in _OP_BY_TYPE:
        raise EventValidationError(f"memory handlers do not apply {event.type!r} events")
    return _OP_BY_TYPE[event.type]


def registry_for(ctx: HandlerContext) -> Registry:
    """The registry under the bus's prefix."""
    return Registry(ctx.redis, prefix=ctx.keys.prefix)


def cubes_for(ctx: HandlerContext, home: Path | None = None) -> ManagedCubes:
    """This process's long-lived cube holder for the bus prefix and data home."""
    base = Path(home) if home is not None else memos_home()
    key = (ctx.keys.prefix, str(base))
    with _state_lock:
        held = _cubes.get(key)
        if held is None:
            held = ManagedCubes(registry_for(ctx), base)
            _cubes[key] = held
        return held


def _llm(config: Any) -> Any:
    """One chat model per distinct config in this process (models load once)."""
    factory = LLMConfigFactory.model_validate(config)
    key = factory.model_dump_json()
    with _state_lock:
        llm = _llms.get(key)
        if llm is None:
            from memos.llms.factory import LLMFactory

            llm = LLMFactory.from_config(factory)
            _llms[key] = llm
        return llm


def derived_id(event: Event, index: int) -> str:
    """A memory id fixed by the event's scoped idempotency key and the item's position."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{event.scoped_key}:{index}"))


def _options(event: Event) -> dict[str, Any]:
    return dict(getattr(event.payload, "options", {}) or {})


def _session(event: Event) -> str:
    return str(event.session_id or "default")


def _is_tree(cube: GeneralMemCube) -> bool:
    return cube.config.text_mem.backend == "tree_text"


def working_memory_key(ctx: HandlerContext, cube_id: str, session_id: str) -> str:
    """Redis list of a session's working memory in a cube (newest first)."""
    return f"{ctx.keys.prefix}:wm:{cube_id}:{session_id}"


def turns_key(ctx: HandlerContext, cube_id: str, session_id: str) -> str:
    """Redis list of recorded chat turns of a session in a cube (oldest first)."""
    return f"{ctx.keys.prefix}:turns:{cube_id}:{session_id}"


# -- add ------------------------------------------------------------------------------------


def _reader(options: dict[str, Any]) -> Any:
    from memos.mem_reader.simple_struct import SimpleStructMemReader

    raw = options.get("mem_reader")
    config = SimpleStructMemReaderConfig()
    if isinstance(raw, dict):
        inner = raw.get("config", raw) if "backend" in raw else raw
        config = SimpleStructMemReaderConfig.model_validate(inner)
    return SimpleStructMemReader(config)


def _with_ids(event: AddEvent, items: list[TextualMemoryItem]) -> list[TextualMemoryItem]:
    return [item.model_copy(update={"id": derived_id(event, i)}) for i, item in enumerate(items)]


def _tree_items(event: AddEvent) -> list[TextualMemoryItem]:
    payload = event.payload
    info = {"user_id": event.user_id, "session_id": _session(event)}
    reader = _reader(_options(event))
    items: list[TextualMemoryItem] = []
    if payload.messages:
        messages = [m.model_dump(exclude_none=True) for m in payload.messages]
        windows = reader.get_memory([messages], type="chat", info=info, mode="fast")
        items.extend(item for window in windows for item in window)
    if payload.doc_path:
        windows = reader.get_memory([payload.doc_path], type="doc", info=info, mode="fast")
        items.extend(item for window in windows for item in window)
    if payload.memory_content:
        items.append(
            TextualMemoryItem.from_dict(
                {
                    "memory": payload.memory_content,
                    "metadata": {"memory_type": "LongTermMemory", **info, "key": None},
                }
            )
        )
    return items


def _general_items(event: AddEvent, cube: GeneralMemCube) -> list[TextualMemoryItem]:
    payload = event.payload
    meta = {"user_id": event.user_id, "session_id": _session(event)}
    items: list[TextualMemoryItem] = []
    if payload.messages:
        messages = [m.model_dump(exclude_none=True) for m in payload.messages]
        items.extend(cube.text_mem.extract(messages))
    if payload.doc_path:
        info = {"user_id": event.user_id, "session_id": _session(event)}
        windows = _reader(_options(event)).get_memory(
            [payload.doc_path], type="doc", info=info, mode="fast"
        )
        items.extend(
            TextualMemoryItem(memory=item.memory, metadata={**meta, "source": payload.doc_path})
            for window in windows
            for item in window
        )
    if payload.memory_content:
        items.append(TextualMemoryItem(memory=payload.memory_content, metadata=meta))
    return [
        item.model_copy(update={"metadata": item.metadata.model_copy(update=meta)})
        for item in items
    ]


@dataclass(frozen=True)
class StoredAdd:
    """``ctx.prepared`` of an add its batch already wrote to the graph: the ids it stored.

    The write is idempotent on the event's scoped key (derived ids, dedup keys), so if the
    worker dies after the batch's graph commit and before this event's done marker, the
    redelivered event writes nothing new and gets the same ids.
    """

    ids: tuple[str, ...]


def checked_cube(ctx: HandlerContext, event: Event) -> tuple[ManagedCubes, GeneralMemCube]:
    """The worker's cubes and ``event``'s cube, after checking that its user may use it.

    Access and the cube's registry version come in one round trip, and the cube object is
    then current (reloaded if another process changed it).

    Raises:
        UnknownCubeError: the cube does not exist.
        AccessDeniedError: the cube is someone else's and was not shared with the user.
    """
    known = registry_for(ctx).check_access_versions(event.user_id, [event.cube_id])[0]
    cubes = cubes_for(ctx)
    return cubes, cubes.get(event.cube_id, known=known)


def handle_add(event: AddEvent, ctx: HandlerContext) -> JsonValue:
    """Extract memories from messages / a document / plain content and store them in the cube."""
    cubes, cube = checked_cube(ctx, event)
    text_mem = require_slot(cube, "text_mem")
    if _is_tree(cube):
        prepared = ctx.prepared
        if isinstance(prepared, StoredAdd):
            # Written in the transaction its batch shared (memos.workers.add_batch).
            ids = list(prepared.ids)
        else:
            # Read and embedded together with the other adds of its batch, or here alone.
            items = prepared if prepared is not None else _with_ids(event, _tree_items(event))
            ids = list(text_mem.add(items)) if items else []
        settings = reorganize_jobs.settings_from(_options(event))
        if settings is not None and reorganize_jobs.is_enabled(settings, text_mem.config):
            reorganize_jobs.schedule_after_add(ctx, event, settings)
    else:
        items = _with_ids(event, _general_items(event, cube))
        # A replay finds its derived ids already stored: add only the missing ones.
        fresh = [item for item in items if not _general_has(text_mem, item.id)]
        if fresh:
            text_mem.add(fresh)
        cubes.persist(event.cube_id, cube, ("text_mem",))
        ids = [item.id for item in items]
    logger.info("add event %s: %d memories into cube %s", event.id, len(ids), event.cube_id)
    added: list[JsonValue] = list(ids)
    return {"cube_id": event.cube_id, "added_ids": added}


def _general_has(text_mem: Any, memory_id: str) -> bool:
    try:
        text_mem.get(memory_id)
    except MemoryOperationError:
        return False
    return True


# -- query ----------------------------------------------------------------------------------


def _search_cubes(
    event: QueryEvent, ctx: HandlerContext
) -> tuple[list[str], dict[str, tuple[CubeRecord, int]]]:
    """The cubes a query reads, after checking the user may read each and its own cube.

    Also returns each checked cube's record and version, read in the same round trip as the
    access check, for :meth:`ManagedCubes.get`'s ``known`` (no second read per cube).
    """
    registry = registry_for(ctx)
    wanted = event.payload.install_cube_ids
    cube_ids = list(wanted) if wanted else registry.accessible_cubes(event.user_id)
    checked = cube_ids if event.cube_id in cube_ids else [event.cube_id, *cube_ids]
    found = registry.check_access_versions(event.user_id, checked)
    return cube_ids, dict(zip(checked, found, strict=True))


def _hit_dict(item: TextualMemoryItem) -> dict[str, Any]:
    """A search hit as it crosses the wire: without its embedding.

    The vector is most of a hit's bytes (384 floats of about 20 characters each), and a reply
    is serialised and parsed several times on its way (done marker, stored result, reply list,
    the daemon's notification); no caller of search reads it.
    """
    # Left out of the dump itself (not dumped and then dropped); the key stays, as None, so
    # a hit keeps the shape of ``to_dict()``.
    data = item.model_dump(mode="json", exclude={"metadata": {"embedding"}})
    meta = data.get("metadata")
    if isinstance(meta, dict) and "embedding" in type(item.metadata).model_fields:
        meta["embedding"] = None
    return data


def _promote(
    ctx: HandlerContext, cube_id: str, session: str, items: list[TextualMemoryItem], capacity: int
) -> None:
    """Put retrieved long-term memories at the front of the session's working memory."""
    key = working_memory_key(ctx, cube_id, session)
    for item in reversed(items):
        entry = json.dumps({"id": item.id, "memory": item.memory}, sort_keys=True)
        ctx.tx.lrem(key, 0, entry)
        ctx.tx.lpush(key, entry)
    ctx.tx.ltrim(key, 0, capacity - 1)


def _kv_summaries(cube: GeneralMemCube) -> list[Any]:
    act = cube.act_mem
    if act is None or not hasattr(act, "kv_cache_memories"):
        return []
    return [act.get_stored_view(i).summary() for i in list(act.kv_cache_memories)]


def embedder_key(text_mem: Any) -> str:
    """Which embedder a memory uses: equal keys give equal vectors for the same text."""
    return str(text_mem.config.embedder.model_dump_json())


@dataclass(frozen=True)
class PreparedQuery:
    """What a batch prepared for one query: its vector per embedder key, and since when the
    indexes of its cubes are known to be caught up (epoch seconds, taken before the catch-ups
    started, after the query was received)."""

    vectors: dict[str, list[float]]
    index_fresh_since: float


def _search_text(
    ctx: HandlerContext, cube: GeneralMemCube, query: str, top_k: int
) -> list[TextualMemoryItem]:
    """Search ``cube``'s text memory, with what the query's batch prepared when it did
    (:mod:`memos.workers.query_batch`: the embedding, and cube indexes caught up meanwhile)."""
    prepared = ctx.prepared
    if isinstance(prepared, PreparedQuery) and _is_tree(cube):
        vector = prepared.vectors.get(embedder_key(cube.text_mem))
        if vector is not None:
            return list(
                cube.text_mem.search(
                    query,
                    top_k,
                    query_vector=vector,
                    index_fresh_since=prepared.index_fresh_since,
                )
            )
    return list(cube.text_mem.search(query, top_k))


def handle_query(event: QueryEvent, ctx: HandlerContext) -> JsonValue:
    """Search the user's cubes, and answer with the chat model when ``chat=True``."""
    payload = event.payload
    options = _options(event)
    top_k = payload.top_k or int(options.get("top_k", DEFAULT_TOP_K))
    capacity = int(options.get("working_memory_capacity", DEFAULT_WORKING_MEMORY_CAPACITY))
    use_text = bool(options.get("enable_textual_memory", True))
    with ctx.timer.step("access"):
        search_cubes, known = _search_cubes(event, ctx)  # checks event.cube_id too
    cubes = cubes_for(ctx)
    text_results: list[dict[str, Any]] = []
    act_results: list[dict[str, Any]] = []
    retrieved: list[str] = []
    kv_cube: GeneralMemCube | None = None
    for cube_id in search_cubes:
        with ctx.timer.step("cube"):
            cube = cubes.get(cube_id, known=known[cube_id])
        if use_text and cube.text_mem is not None:
            with ctx.timer.step("search"):
                found = _search_text(ctx, cube, payload.query, top_k)
            # The search's own steps (embedding, recall legs, fetch) as the tree memory timed
            # them, so the hop profile can set the worker's search against the direct one.
            for step, ms in getattr(cube.text_mem, "last_search_steps", {}).items():
                ctx.timer.add(f"search.{step}", ms)
            with ctx.timer.step("hits"):
                hits = [_hit_dict(i) for i in found]
            text_results.append({"cube_id": cube_id, "memories": hits})
            retrieved.extend(i.memory for i in found)
            if _is_tree(cube):
                promoted = [
                    i for i in found if getattr(i.metadata, "memory_type", "") != "WorkingMemory"
                ]
                _promote(ctx, cube_id, _session(event), promoted, capacity)
        summaries = _kv_summaries(cube)
        if summaries:
            act_results.append({"cube_id": cube_id, "memories": summaries})
            kv_cube = kv_cube or cube
    result: dict[str, Any] = {"text_mem": text_results, "act_mem": act_results, "para_mem": []}
    if payload.chat:
        history = tuple((m.role, m.content) for m in payload.history)
        context = ChatContext(query=payload.query, memories=tuple(retrieved), history=history)
        use_kv = bool(options.get("enable_activation_memory", False)) and kv_cube is not None
        answer = _generate(options, context, kv_cube if use_kv else None)
        result["answer"] = answer
        _record_turn(ctx, event.cube_id, _session(event), payload.query, answer)
    return result


def _generate(options: dict[str, Any], context: ChatContext, kv_cube: GeneralMemCube | None) -> str:
    if "chat_model" not in options:
        raise InvalidMemoryInputError("chat needs options.chat_model (MOSConfig.chat_model)")
    llm = _llm(options["chat_model"])
    messages = chat_messages(context)
    if kv_cube is not None:
        from memos.llms.hf import HFLLM
        from memos.memories.activation.chat import chat_with_kv

        act = kv_cube.act_mem
        ids = list(act.kv_cache_memories)
        if isinstance(llm, HFLLM) and act.llm.model_fingerprint == llm.model_fingerprint:
            item = act.merged_item(ids) if len(ids) > 1 else act.get_stored_view(ids[0])
            return str(chat_with_kv(llm, item, messages))
        # Another model cannot reuse these caches; give it the same memories as text instead.
        logger.warning("chat model differs from the KV memory's model; injecting text instead")
        records = tuple(r for i in ids for r in act.get_stored_view(i).records)
        context = context.model_copy(update={"memories": (*records, *context.memories)})
        messages = chat_messages(context)
    return str(llm.generate(messages))


def _record_turn(ctx: HandlerContext, cube_id: str, session: str, query: str, answer: str) -> None:
    key = turns_key(ctx, cube_id, session)
    ctx.tx.rpush(key, json.dumps({"query": query, "answer": answer}))
    ctx.tx.ltrim(key, -MAX_RECORDED_TURNS, -1)


# -- answer, manage and reorganize -------------------------------------------------------


def handle_answer(event: AnswerEvent, ctx: HandlerContext) -> JsonValue:
    """Record a generated answer as a turn of the session."""
    registry_for(ctx).check_access(event.user_id, event.cube_id)
    _record_turn(ctx, event.cube_id, _session(event), event.payload.query, event.payload.answer)
    return {"recorded": True}


def handle_manage(event: ManageEvent, ctx: HandlerContext) -> JsonValue:
    """Apply a management operation (``payload.op`` with ``payload.args``) to the cube."""
    op = op_of(event)
    registry_for(ctx).check_access(event.user_id, event.cube_id)
    return MANAGE_OPS[op](event, ctx)


def handle_reorganize(event: ReorganizeEvent, ctx: HandlerContext) -> JsonValue:
    """Reorganise a tree cube once, within its deadline and under its lock; returns the report."""
    registry_for(ctx).check_access(event.user_id, event.cube_id)
    cube = cubes_for(ctx).get(event.cube_id)
    if not _is_tree(cube):
        raise MemoryOperationError(
            f"cube {event.cube_id!r} has a {cube.config.text_mem.backend} textual memory; only "
            "tree_text memories are reorganised"
        )
    return reorganize_jobs.run_reorganize(event, ctx, cube.text_mem)


def _args(event: ManageEvent) -> dict[str, Any]:
    return dict(event.payload.args)


def _op_get(event: ManageEvent, ctx: HandlerContext) -> JsonValue:
    cube = cubes_for(ctx).get(event.cube_id)
    item = require_slot(cube, "text_mem").get(str(_args(event)["memory_id"]))
    return item.to_dict()  # type: ignore[no-any-return]


def _op_get_all(event: ManageEvent, ctx: HandlerContext) -> JsonValue:
    cube = cubes_for(ctx).get(event.cube_id)
    text: Any = []
    if cube.text_mem is not None:
        everything = cube.text_mem.get_all()
        text = everything if isinstance(everything, dict) else [i.to_dict() for i in everything]
    return {
        "text_mem": [{"cube_id": event.cube_id, "memories": text}],
        "act_mem": [{"cube_id": event.cube_id, "memories": _kv_summaries(cube)}],
        "para_mem": [],
    }


def _op_dump(event: ManageEvent, ctx: HandlerContext) -> JsonValue:
    cube = cubes_for(ctx).get(event.cube_id)
    target = Path(str(_args(event)["dir"]))
    cube.dump(target)
    out: dict[str, Any] = {"cube_id": event.cube_id, "dir": str(target), "counts": counts(cube)}
    return out


def _op_working_memory(event: ManageEvent, ctx: HandlerContext) -> JsonValue:
    raw = ctx.redis.lrange(working_memory_key(ctx, event.cube_id, _session(event)), 0, -1)
    return [json.loads(entry) for entry in raw]


def _act(ctx: HandlerContext, event: Event) -> tuple[ManagedCubes, GeneralMemCube, Any]:
    cubes = cubes_for(ctx)
    cube = cubes.get(event.cube_id)
    return cubes, cube, require_slot(cube, "act_mem")


def _op_kv_get(event: ManageEvent, ctx: HandlerContext) -> JsonValue:
    _, _, act = _act(ctx, event)
    return act.get_stored_view(str(_args(event)["memory_id"])).summary()  # type: ignore[no-any-return]


def _op_kv_get_all(event: ManageEvent, ctx: HandlerContext) -> JsonValue:
    _, cube, _ = _act(ctx, event)
    return _kv_summaries(cube)


def _op_kv_get_cache(event: ManageEvent, ctx: HandlerContext) -> JsonValue:
    _, _, act = _act(ctx, event)
    merged = act.merged_item([str(i) for i in _args(event)["memory_ids"]])
    return merged.summary()  # type: ignore[no-any-return]


def _op_update(event: ManageEvent, ctx: HandlerContext) -> JsonValue:
    args = _args(event)
    cubes = cubes_for(ctx)
    cube = cubes.get(event.cube_id)
    require_slot(cube, "text_mem").update(str(args["memory_id"]), args["memory"])
    cubes.persist(event.cube_id, cube, ("text_mem",))
    return {"updated": args["memory_id"]}


def _op_delete(event: ManageEvent, ctx: HandlerContext) -> JsonValue:
    ids = [str(i) for i in _args(event)["memory_ids"]]
    cubes = cubes_for(ctx)
    cube = cubes.get(event.cube_id)
    text_mem = require_slot(cube, "text_mem")
    if event.attempt == 0:
        present = ids
        text_mem.delete(ids)  # an unknown id raises MemoryNotFoundError and deletes nothing
    else:
        # A retry may follow a first attempt that already deleted them: delete what is left.
        present = [i for i in ids if _general_has(text_mem, i)]
        if present:
            text_mem.delete(present)
    cubes.persist(event.cube_id, cube, ("text_mem",))
    out: dict[str, Any] = {"deleted": present}
    return out


def _op_delete_all(event: ManageEvent, ctx: HandlerContext) -> JsonValue:
    cubes = cubes_for(ctx)
    cube = cubes.get(event.cube_id)
    require_slot(cube, "text_mem").delete_all()
    cubes.persist(event.cube_id, cube, ("text_mem",))
    return {"cube_id": event.cube_id, "deleted_all": True}


def _op_load(event: ManageEvent, ctx: HandlerContext) -> JsonValue:
    cubes = cubes_for(ctx)
    cube = cubes.get(event.cube_id)
    cube.load(Path(str(_args(event)["dir"])))
    cubes.persist(event.cube_id, cube, ("text_mem", "act_mem"))
    out: dict[str, Any] = {"cube_id": event.cube_id, "counts": counts(cube)}
    return out


def _op_import(event: ManageEvent, ctx: HandlerContext) -> JsonValue:
    return cubes_for(ctx).import_dir(event.cube_id, Path(str(_args(event)["dir"])))


def _op_drop(event: ManageEvent, ctx: HandlerContext) -> JsonValue:
    cubes_for(ctx).drop(event.cube_id)
    ctx.tx.delete(*reorganize_jobs.cube_keys(ctx.keys, event.cube_id))
    return {"cube_id": event.cube_id, "dropped": True}


def _op_kv_add(event: ManageEvent, ctx: HandlerContext) -> JsonValue:
    """Build and store KV caches of ``args.items`` (``[{"id", "source"}]``, ids from the facade)."""
    cubes, cube, act = _act(ctx, event)
    built = []
    for spec in _args(event)["items"]:
        item = act.extract(spec["source"])
        built.append(item.model_copy(update={"id": str(spec["id"])}))
    act.add(built)
    cubes.persist(event.cube_id, cube, ("act_mem",))
    return [item.summary() for item in built]


def _op_kv_delete(event: ManageEvent, ctx: HandlerContext) -> JsonValue:
    cubes, cube, act = _act(ctx, event)
    ids = [str(i) for i in _args(event)["memory_ids"]]
    present = ids if event.attempt == 0 else [i for i in ids if i in act.kv_cache_memories]
    act.delete(present)  # first attempt: an unknown id raises MemoryNotFoundError
    cubes.persist(event.cube_id, cube, ("act_mem",))
    out: dict[str, Any] = {"deleted": present}
    return out


def _op_kv_delete_all(event: ManageEvent, ctx: HandlerContext) -> JsonValue:
    cubes, cube, act = _act(ctx, event)
    act.delete_all()
    cubes.persist(event.cube_id, cube, ("act_mem",))
    return {"cube_id": event.cube_id, "deleted_all": True}


# -- kv_refresh -----------------------------------------------------------------------------


def handle_kv_refresh(event: KVRefreshEvent, ctx: HandlerContext) -> JsonValue:
    """Rebuild the cube's working-memory KV cache from the session's current working memory."""
    registry_for(ctx).check_access(event.user_id, event.cube_id)
    cubes, cube, act = _act(ctx, event)
    raw = ctx.redis.lrange(working_memory_key(ctx, event.cube_id, _session(event)), 0, -1)
    texts = [json.loads(entry)["memory"] for entry in raw]
    wanted = set(event.payload.memory_ids)
    if wanted:
        texts = [json.loads(e)["memory"] for e in raw if json.loads(e)["id"] in wanted]
    item_id = str(uuid.uuid5(_ID_NAMESPACE, f"working_memory:{event.cube_id}:{_session(event)}"))
    if item_id in act.kv_cache_memories:
        act.delete([item_id])
    if texts:
        item = act.extract(texts).model_copy(update={"id": item_id})
        act.add([item])
    cubes.persist(event.cube_id, cube, ("act_mem",))
    logger.info("kv_refresh of cube %s: %d working memories", event.cube_id, len(texts))
    return {
        "cube_id": event.cube_id,
        "memory_id": item_id if texts else None,
        "records": len(texts),
    }


def _tree_memory(event: ManageEvent, ctx: HandlerContext) -> Any:
    cube = cubes_for(ctx).get(event.cube_id)
    if not _is_tree(cube):
        raise MemoryOperationError(
            f"cube {event.cube_id!r} has a {cube.config.text_mem.backend} textual memory; the "
            "inspector reads tree_text memories"
        )
    return cube.text_mem


def _op_inspect_counts(event: ManageEvent, ctx: HandlerContext) -> JsonValue:
    return inspection.tier_counts(_tree_memory(event, ctx))


def _op_inspect_page(event: ManageEvent, ctx: HandlerContext) -> JsonValue:
    args = _args(event)
    return inspection.memory_page(
        _tree_memory(event, ctx),
        tier=args.get("tier"),
        status=args.get("status"),
        node_type=args.get("node_type"),
        validity=args.get("validity"),
        offset=int(args.get("offset", 0)),
        limit=int(args.get("limit", 50)),
    )


def _op_inspect_memory(event: ManageEvent, ctx: HandlerContext) -> JsonValue:
    return inspection.memory_detail(_tree_memory(event, ctx), str(_args(event)["memory_id"]))


def _op_inspect_graph(event: ManageEvent, ctx: HandlerContext) -> JsonValue:
    args = _args(event)
    return inspection.neighbourhood(
        _tree_memory(event, ctx),
        str(args["memory_id"]),
        hops=int(args.get("hops", 2)),
        max_nodes=int(args.get("max_nodes", 200)),
    )


def _op_inspect_search(event: ManageEvent, ctx: HandlerContext) -> JsonValue:
    args = _args(event)
    return inspection.explain_search(
        _tree_memory(event, ctx),
        str(args["query"]),
        top_k=int(args.get("top_k", 10)),
        mode=str(args.get("mode", "fast")),
    )


MANAGE_OPS: dict[str, Callable[[ManageEvent, HandlerContext], JsonValue]] = {
    "get": _op_get,
    "get_all": _op_get_all,
    "dump": _op_dump,
    "working_memory": _op_working_memory,
    "kv_get": _op_kv_get,
    "kv_get_all": _op_kv_get_all,
    "kv_get_cache": _op_kv_get_cache,
    "update": _op_update,
    "delete": _op_delete,
    "delete_all": _op_delete_all,
    "load": _op_load,
    "import": _op_import,
    "drop": _op_drop,
    "kv_add": _op_kv_add,
    "kv_delete": _op_kv_delete,
    "kv_delete_all": _op_kv_delete_all,
    # read-only views for the web inspector (memos.memories.textual.inspection)
    "inspect_counts": _op_inspect_counts,
    "inspect_page": _op_inspect_page,
    "inspect_memory": _op_inspect_memory,
    "inspect_graph": _op_inspect_graph,
    "inspect_search": _op_inspect_search,
}


def register(*, replace: bool = False) -> None:
    """Register the memory handlers; a worker does it through config ``handler_modules``.

    Importing this module registers nothing, so a process can import it (tests, tools) while
    other handlers are registered; ``replace=True`` swaps them for these.
    """
    for event_type, handler in MEMORY_HANDLERS.items():
        register_handler(event_type, handler, replace=replace)


#: The event type each memory handler serves.
MEMORY_HANDLERS: dict[str, Handler] = {
    "add": handle_add,
    "query": handle_query,
    "answer": handle_answer,
    "manage": handle_manage,
    "kv_refresh": handle_kv_refresh,
    "reorganize": handle_reorganize,
}
