"""Add, search, get, get_all, update and delete memories of the tenant's cubes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from memos.api.deps import ERROR_RESPONSES, ContextDep, Reader, Writer
from memos.api.schemas import (
    AddRequest,
    AddResponse,
    Done,
    MemoryResult,
    SearchRequest,
    UpdateRequest,
)

router = APIRouter(prefix="/v1", tags=["memories"], responses=ERROR_RESPONSES)


@router.post("/memories", response_model=AddResponse, status_code=201)
def add_memories(body: AddRequest, context: ContextDep, principal: Writer) -> AddResponse:
    """Add messages (extracted into memories by a worker) or one plain memory."""
    messages = [m.model_dump(exclude_none=True) for m in body.messages] if body.messages else None
    skipped = sum(1 for m in body.messages if m.is_empty) if body.messages else 0
    ids = context.mos.add(
        messages=messages,
        memory_content=body.memory_content,
        mem_cube_id=body.cube_id,
        user_id=principal.user_id,
        session_id=body.session_id,
    )
    return AddResponse(added_ids=ids, skipped_messages=skipped)


@router.post("/search", response_model=MemoryResult)
def search(body: SearchRequest, context: ContextDep, principal: Reader) -> dict[str, Any]:
    """Search the tenant's cubes (or ``cube_ids``): MemOS's ``{"text_mem": [...], ...}``."""
    return context.mos.search(
        body.query, user_id=principal.user_id, install_cube_ids=body.cube_ids, top_k=body.top_k
    )


@router.get("/memories", response_model=MemoryResult)
def get_all_memories(context: ContextDep, principal: Reader) -> dict[str, Any]:
    """Every memory of every cube of the tenant."""
    return context.mos.get_all(user_id=principal.user_id)


@router.get("/cubes/{cube_id}/memories", response_model=MemoryResult)
def get_cube_memories(cube_id: str, context: ContextDep, principal: Reader) -> dict[str, Any]:
    """Every memory of one cube (tree cubes: ``{"nodes", "edges"}``)."""
    return context.mos.get_all(mem_cube_id=cube_id, user_id=principal.user_id)


@router.delete("/cubes/{cube_id}/memories", response_model=Done)
def delete_all_memories(cube_id: str, context: ContextDep, principal: Writer) -> Done:
    """Delete every textual memory of a cube."""
    context.mos.delete_all(mem_cube_id=cube_id, user_id=principal.user_id)
    return Done()


@router.get("/cubes/{cube_id}/memories/{memory_id}", response_model=dict[str, Any])
def get_memory(
    cube_id: str, memory_id: str, context: ContextDep, principal: Reader
) -> dict[str, Any]:
    """One memory as a plain dict (``id``, ``memory``, ``metadata``)."""
    return context.mos.get(cube_id, memory_id, user_id=principal.user_id)


@router.patch("/cubes/{cube_id}/memories/{memory_id}", response_model=Done)
def update_memory(
    cube_id: str, memory_id: str, body: UpdateRequest, context: ContextDep, principal: Writer
) -> Done:
    """Replace a memory's text and/or merge metadata keys over the old ones."""
    change = body.model_dump(exclude_none=True)
    context.mos.update(cube_id, memory_id, change, user_id=principal.user_id)
    return Done()


@router.delete("/cubes/{cube_id}/memories/{memory_id}", response_model=Done)
def delete_memory(cube_id: str, memory_id: str, context: ContextDep, principal: Writer) -> Done:
    """Delete one memory."""
    context.mos.delete(cube_id, memory_id, user_id=principal.user_id)
    return Done()
