"""The inspector's pages and the two JSON feeds its script reads (graph, metrics).

Reads are GETs; the only actions (log in, log out, retry or drop a dead letter) are POSTs with a
CSRF token. Retry and drop are admin only, confirmed on a page of their own, and audited on the
``memos.audit`` logger (who, which dead letter, what, when).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from memos.api.auth import AuthenticationError
from memos.api.ui import views
from memos.api.ui.session import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    CsrfError,
    new_token,
    tokens_match,
)
from memos.api.ui.web import (
    UI_PREFIX,
    AdminViewer,
    CheckedForm,
    UiView,
    Viewer,
    render,
    sessions,
)
from memos.errors import SchedulerError
from memos.mem_scheduler.dlq import DeadLetterQueue
from memos.memories.textual.inspection import (
    MAX_PAGE,
    MAX_TYPE_CHARS,
    STATUSES,
    TIERS,
    VALIDITIES,
)

router = APIRouter()
audit = logging.getLogger("memos.audit")

Tier = Literal["WorkingMemory", "LongTermMemory", "UserMemory", ""]
Status = Literal["activated", "archived", "deleted", ""]
Validity = Literal["valid", "ended", ""]


def _cookie_secure(request: Request) -> bool:
    return request.url.scheme == "https"


@router.get("/", include_in_schema=False)
def home() -> RedirectResponse:
    """The overview."""
    return RedirectResponse(f"{UI_PREFIX}/cubes", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, error: str | None = None) -> HTMLResponse:
    """The log-in form; sets the double-submit CSRF cookie the form must echo."""
    token = new_token()
    response = render(request, "login.html", login_csrf=token, error=error)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_cookie_secure(request),
        path=UI_PREFIX,
    )
    return response


@router.post("/login")
def login(
    request: Request,
    api_key: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Check the key, open a session (HttpOnly, SameSite=Strict cookie), go to the overview."""
    if not tokens_match(request.cookies.get(LOGIN_CSRF_COOKIE, ""), csrf):
        raise CsrfError("the log-in form expired or was not sent by this site; reload it")
    try:
        token, _, principal = sessions(request).login(api_key)
    except AuthenticationError as exc:
        return render(request, "login.html", 401, login_csrf=csrf, error=str(exc))
    audit.info("ui login: key %s (user %s)", principal.key_id, principal.user_id)
    response = RedirectResponse(f"{UI_PREFIX}/cubes", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=sessions(request).ttl_s,
        httponly=True,
        samesite="strict",
        secure=_cookie_secure(request),
        path=UI_PREFIX,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=UI_PREFIX)
    return response


@router.post("/logout")
def logout(request: Request, view: Viewer, form: CheckedForm) -> RedirectResponse:
    """End the session."""
    sessions(request).logout(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(f"{UI_PREFIX}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=UI_PREFIX)
    return response


@router.get("/cubes", response_class=HTMLResponse)
def cubes(request: Request, view: Viewer) -> HTMLResponse:
    """Users and cubes with counts per tier and status."""
    users = views.overview(view.context, view.principal)
    return render(request, "cubes.html", users=users, tiers=TIERS, statuses=STATUSES)


def _inspect(view: UiView, cube_id: str, what: str, **args: Any) -> Any:
    user = views.acting_user(view.context, view.principal, cube_id)
    return view.context.mos.inspect(cube_id, what, user_id=user, **args)


def _page_url(cube_id: str, filters: dict[str, str], offset: int, limit: int) -> str:
    query: dict[str, Any] = {**filters, "offset": offset, "limit": limit}
    return f"{UI_PREFIX}/cubes/{cube_id}?" + urlencode({k: v for k, v in query.items() if v != ""})


@router.get("/cubes/{cube_id}", response_class=HTMLResponse)
def cube(
    request: Request,
    view: Viewer,
    cube_id: str,
    tier: Tier = "",
    status: Status = "",
    node_type: Annotated[str, Query(max_length=MAX_TYPE_CHARS)] = "",
    validity: Validity = "",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> HTMLResponse:
    """A page of the cube's memories, newest first, filtered by tier, status, type, validity."""
    filters = {"tier": tier, "status": status, "node_type": node_type, "validity": validity}
    page = _inspect(
        view,
        cube_id,
        "page",
        **{k: v or None for k, v in filters.items()},
        offset=offset,
        limit=limit,
    )
    prev_url = _page_url(cube_id, filters, max(0, offset - limit), limit) if offset > 0 else None
    next_url = (
        _page_url(cube_id, filters, offset + limit, limit)
        if offset + limit < page["total"]
        else None
    )
    return render(
        request,
        "cube.html",
        cube_id=cube_id,
        page=page,
        tier=tier,
        status=status,
        node_type=node_type,
        validity=validity,
        tiers=TIERS,
        statuses=STATUSES,
        validities=VALIDITIES,
        prev_url=prev_url,
        next_url=next_url,
        mode="fast",
    )


@router.get("/cubes/{cube_id}/search", response_class=HTMLResponse)
def search(
    request: Request,
    view: Viewer,
    cube_id: str,
    q: Annotated[str, Query(min_length=1, max_length=1000)],
    mode: Literal["fast", "fine"] = "fast",
    top_k: Annotated[int, Query(ge=1, le=50)] = 10,
) -> HTMLResponse:
    """Search results with each recall leg's rank and the fused score."""
    answer = _inspect(view, cube_id, "search", query=q, top_k=top_k, mode=mode)
    results = answer["results"]
    names: list[str] = []
    for hit in results:
        # Several signal lists share the name "signal": show the best rank, add the shares.
        by_leg: dict[str, dict[str, Any]] = {}
        for leg in hit["legs"]:
            known = by_leg.get(leg["leg"])
            if known is None:
                by_leg[leg["leg"]] = dict(leg)
            else:
                known["rank"] = min(known["rank"], leg["rank"])
                known["share"] += leg["share"]
            if leg["leg"] not in names:
                names.append(leg["leg"])
        hit["by_leg"] = by_leg
    order = ["vector", "fulltext", "graph", "session", "signal"]
    names.sort(key=lambda n: order.index(n) if n in order else len(order))
    return render(
        request,
        "search.html",
        cube_id=cube_id,
        query=q,
        mode=mode,
        results=results,
        leg_names=names,
        rrf_k=answer["rrf_k"],
    )


@router.get("/cubes/{cube_id}/memories/{memory_id}", response_class=HTMLResponse)
def memory(
    request: Request,
    view: Viewer,
    cube_id: str,
    memory_id: Annotated[str, Path(min_length=1, max_length=200)],
    hops: Annotated[int, Query(ge=1, le=3)] = 2,
) -> HTMLResponse:
    """One memory: its facts, lineage and its neighbourhood in the graph (drawn by the script)."""
    item = _inspect(view, cube_id, "memory", memory_id=memory_id)
    return render(request, "memory.html", cube_id=cube_id, item=item, hops=hops)


@router.get("/api/cubes/{cube_id}/graph/{memory_id}")
def graph(
    view: Viewer,
    cube_id: str,
    memory_id: str,
    hops: Annotated[int, Query(ge=1, le=3)] = 2,
    max_nodes: Annotated[int, Query(ge=1, le=300)] = 200,
) -> JSONResponse:
    """The neighbourhood as JSON: ``{center, nodes, edges, truncated}``."""
    data = _inspect(view, cube_id, "graph", memory_id=memory_id, hops=hops, max_nodes=max_nodes)
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


@router.get("/bus", response_class=HTMLResponse)
def bus(
    request: Request,
    view: AdminViewer,
    done: Annotated[str | None, Query(max_length=300)] = None,
) -> HTMLResponse:
    """Streams, pending entries, consumers and the dead letters with retry / drop."""
    return render(request, "bus.html", bus=views.bus(view.context), done=done)


@router.post("/bus/dlq/{dlq_id}/{action}", response_model=None)
def dead_letter_action(
    request: Request,
    view: AdminViewer,
    form: CheckedForm,
    dlq_id: str,
    action: Literal["retry", "drop"],
) -> Response:
    """Confirm, then retry or drop a dead letter (admin only; audited)."""
    runtime = view.context.runtime
    dlq = DeadLetterQueue(runtime.scheduler, runtime.redis)
    try:
        letter = dlq.get(dlq_id)
    except SchedulerError as exc:  # gone: retried or dropped already (or never there)
        raise StarletteHTTPException(404, str(exc)) from exc
    if form.get("confirm") != "yes":
        summary = {**letter.model_dump(), **views.event_summary(letter)}
        return render(request, "confirm.html", action=action, letter=summary)
    who = f"key {view.principal.key_id} (user {view.principal.user_id})"
    when = datetime.now(UTC).isoformat()
    if action == "retry":
        event_id = dlq.retry(dlq_id)
        audit.info(
            "ui audit: %s retried dead letter %s as event %s at %s", who, dlq_id, event_id, when
        )
        done = f"Dead letter {dlq_id} re-published as event {event_id}."
    else:
        dropped = dlq.drop(dlq_id)
        audit.info("ui audit: %s dropped dead letter %s (%s) at %s", who, dlq_id, dropped, when)
        done = f"Dead letter {dlq_id} dropped."
    return RedirectResponse(f"{UI_PREFIX}/bus?" + urlencode({"done": done}), status_code=303)


@router.get("/system", response_class=HTMLResponse)
def system(request: Request, view: AdminViewer) -> HTMLResponse:
    """The stack's parts (health, restarts), scheduler replicas and the metric charts."""
    sample = views.bus(view.context)
    return render(
        request,
        "system.html",
        stack=views.stack(view.context),
        replicas=sample["replicas"],
        counters=views.SUMMED_COUNTERS,
    )


@router.get("/api/metrics")
def metrics(view: AdminViewer) -> JSONResponse:
    """One sample of the key metrics for the charts."""
    return JSONResponse(views.metrics_sample(view.context), headers={"Cache-Control": "no-store"})
