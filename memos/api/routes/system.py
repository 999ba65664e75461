"""Health, the caller's identity and the scheduler's status."""

from __future__ import annotations

import redis
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from memos.api.deps import ERROR_RESPONSES, Admin, ContextDep, Reader
from memos.api.schemas import HealthResponse, SchedulerStatus, WhoAmI
from memos.mem_scheduler.health import read_health

router = APIRouter()


@router.get(
    "/health",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "Redis is unreachable"}},
    tags=["system"],
)
def health(context: ContextDep) -> JSONResponse:
    """Liveness for load balancers and compose: 200 while Redis answers, else 503.

    No key is needed and it is not rate limited. ``scheduler`` reports whether a daemon
    heartbeat is live; without one the API still answers but events wait (``degraded``).
    """
    try:
        redis_ok = bool(context.runtime.redis.ping())
    except (redis.RedisError, OSError):
        redis_ok = False
    scheduler_ok = False
    if redis_ok:
        try:
            scheduler_ok = bool(read_health(context.runtime.scheduler, context.runtime.redis))
        except (redis.RedisError, OSError, ValueError):
            scheduler_ok = False
    status = "unavailable" if not redis_ok else ("ok" if scheduler_ok else "degraded")
    body = HealthResponse(status=status, redis=redis_ok, scheduler=scheduler_ok)
    return JSONResponse(body.model_dump(), status_code=200 if redis_ok else 503)


@router.get("/v1/me", response_model=WhoAmI, responses=ERROR_RESPONSES, tags=["system"])
def whoami(principal: Reader) -> WhoAmI:
    """The tenant and scopes of the API key."""
    return WhoAmI(user_id=principal.user_id, key_id=principal.key_id, scopes=list(principal.scopes))


@router.get(
    "/v1/scheduler/status",
    response_model=SchedulerStatus,
    responses=ERROR_RESPONSES,
    tags=["system"],
)
def scheduler_status(context: ContextDep, principal: Admin) -> SchedulerStatus:
    """Every live scheduler replica's last heartbeat (counters), admin only."""
    try:
        replicas = read_health(context.runtime.scheduler, context.runtime.redis)
    except redis.RedisError as exc:
        from memos.errors import SchedulerError

        raise SchedulerError(f"cannot read scheduler heartbeats: {exc}") from exc
    return SchedulerStatus(healthy=bool(replicas), replicas=replicas)
