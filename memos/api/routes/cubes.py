"""Cubes: list, create from a config, import a server directory, unregister, share, dump, load."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from fastapi import APIRouter

from memos.api.deps import ERROR_RESPONSES, Admin, ApiContext, ContextDep, Reader, Writer
from memos.api.schemas import (
    CreateCubeRequest,
    CubeCreated,
    CubeList,
    DirectoryRequest,
    DirectoryResponse,
    Done,
    ImportCubeRequest,
    ShareRequest,
)
from memos.configs.mem_cube import GeneralMemCubeConfig
from memos.mem_os.registry import CubeExistsError

router = APIRouter(prefix="/v1/cubes", tags=["cubes"], responses=ERROR_RESPONSES)


@router.get("", response_model=CubeList)
def list_cubes(context: ContextDep, principal: Reader) -> CubeList:
    """Cubes the tenant owns or was given."""
    return CubeList(cube_ids=context.mos.registry.accessible_cubes(principal.user_id))


def _scratch(context: ApiContext) -> Path:
    root = context.runtime.data_home / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="api-cube-", dir=root))


@router.post("", response_model=CubeCreated, status_code=201)
def create_cube(body: CreateCubeRequest, context: ContextDep, principal: Writer) -> CubeCreated:
    """Create an empty cube owned by the tenant from a GeneralMemCube config."""
    if context.mos.registry.get_cube(body.cube_id) is not None:
        # The facade skips an id its owner registered again; a create must say it exists.
        raise CubeExistsError(body.cube_id)
    data = {**body.config, "user_id": principal.user_id, "cube_id": body.cube_id}
    config = GeneralMemCubeConfig.validate_data(data, source="request body 'config'")
    scratch = _scratch(context)
    try:
        config.to_json_file(scratch / "config.json")
        cube_id = context.mos.register_mem_cube(
            str(scratch), mem_cube_id=body.cube_id, user_id=principal.user_id
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return CubeCreated(cube_id=cube_id)


@router.post("/import", response_model=CubeCreated, status_code=201)
def import_cube(body: ImportCubeRequest, context: ContextDep, principal: Admin) -> CubeCreated:
    """Register a cube directory that exists on the server for the admin's own user.

    Admin only: the path names the server's file system. The directory is only read.
    """
    cube_id = context.mos.register_mem_cube(
        body.path, mem_cube_id=body.cube_id, user_id=principal.user_id
    )
    return CubeCreated(cube_id=cube_id)


@router.delete("/{cube_id}", response_model=Done)
def unregister_cube(cube_id: str, context: ContextDep, principal: Writer) -> Done:
    """Drop a cube's memories and forget it; only its owner may."""
    context.mos.unregister_mem_cube(cube_id, user_id=principal.user_id)
    return Done()


@router.post("/{cube_id}/share", response_model=Done)
def share_cube(cube_id: str, body: ShareRequest, context: ContextDep, principal: Writer) -> Done:
    """Let another user use one of the tenant's cubes."""
    context.mos.registry.share(cube_id, principal.user_id, body.target_user_id)
    return Done()


def _tenant_dir(context: ApiContext, user_id: str) -> Path:
    # "u_" keeps a user id such as ".." from naming a parent directory.
    return context.exports_root() / f"u_{user_id}"


@router.post("/{cube_id}/dump", response_model=DirectoryResponse)
def dump_cube(
    cube_id: str, body: DirectoryRequest, context: ContextDep, principal: Writer
) -> DirectoryResponse:
    """Write the cube into a new directory ``name`` of the tenant's exports folder."""
    target = _tenant_dir(context, principal.user_id) / body.name
    target.parent.mkdir(parents=True, exist_ok=True)
    context.mos.dump(target, user_id=principal.user_id, mem_cube_id=cube_id)
    return DirectoryResponse(cube_id=cube_id, name=body.name)


@router.post("/{cube_id}/load", response_model=DirectoryResponse)
def load_cube(
    cube_id: str, body: DirectoryRequest, context: ContextDep, principal: Writer
) -> DirectoryResponse:
    """Replace the cube's memories with a dump ``name`` of the tenant's exports folder."""
    source = _tenant_dir(context, principal.user_id) / body.name
    context.mos.load(source, user_id=principal.user_id, mem_cube_id=cube_id)
    return DirectoryResponse(cube_id=cube_id, name=body.name)
