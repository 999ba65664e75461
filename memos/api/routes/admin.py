"""Users and API keys (the ``admin`` scope)."""

from __future__ import annotations

from fastapi import APIRouter

from memos.api.auth import ApiKeyNotFoundError, ApiKeyRecord
from memos.api.deps import ERROR_RESPONSES, Admin, ContextDep
from memos.api.schemas import (
    ApiKeyInfo,
    CreateApiKeyRequest,
    CreatedApiKey,
    CreateUserRequest,
    Done,
    UserInfo,
)

router = APIRouter(prefix="/v1", tags=["admin"], responses=ERROR_RESPONSES)


@router.post("/users", response_model=UserInfo, status_code=201)
def create_user(body: CreateUserRequest, context: ContextDep, principal: Admin) -> UserInfo:
    """Create a user (idempotent: an existing user is returned unchanged)."""
    registry = context.mos.registry
    record = registry.create_user(body.user_id, body.user_name, body.role)
    return UserInfo.model_validate(record.model_dump())


@router.get("/users", response_model=list[UserInfo])
def list_users(context: ContextDep, principal: Admin) -> list[UserInfo]:
    """Every user."""
    return [UserInfo.model_validate(user) for user in context.mos.list_users()]


def _info(record: ApiKeyRecord) -> dict[str, object]:
    return record.model_dump(exclude={"salt", "digest"})


@router.post("/api-keys", response_model=CreatedApiKey, status_code=201)
def create_api_key(
    body: CreateApiKeyRequest, context: ContextDep, principal: Admin
) -> CreatedApiKey:
    """Create a key for a user (the user is created when missing); the key is shown once."""
    context.mos.registry.create_user(body.user_id)
    key, record = context.keys.create(
        body.user_id,
        tuple(dict.fromkeys(body.scopes)),
        name=body.name,
        rate_limit_requests=body.rate_limit_requests,
    )
    return CreatedApiKey.model_validate({**_info(record), "key": key})


@router.get("/api-keys", response_model=list[ApiKeyInfo])
def list_api_keys(
    context: ContextDep, principal: Admin, user_id: str | None = None
) -> list[ApiKeyInfo]:
    """Keys' metadata (of one user with ``?user_id=``); secrets are never returned."""
    return [ApiKeyInfo.model_validate(_info(r)) for r in context.keys.list(user_id)]


@router.delete("/api-keys/{key_id}", response_model=Done)
def revoke_api_key(key_id: str, context: ContextDep, principal: Admin) -> Done:
    """Revoke a key; requests with it fail with 401 from now on."""
    if not context.keys.revoke(key_id):
        raise ApiKeyNotFoundError(key_id)
    return Done()
