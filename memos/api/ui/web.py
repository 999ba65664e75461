"""Shared pieces of the inspector's pages: templates, the logged-in viewer, CSRF-checked forms."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from memos.api.auth import Principal
from memos.api.deps import ApiContext
from memos.api.ui.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    CsrfError,
    SessionStore,
    UiSession,
    tokens_match,
)

UI_PREFIX = "/ui"
HERE = Path(__file__).parent

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(request: Request, name: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    """A page from ``templates/name`` (autoescaped), with the viewer's session if any."""
    ui: UiView | None = getattr(request.state, "ui", None)
    page = templates.get_template(name).render(
        prefix=UI_PREFIX,
        principal=ui.principal if ui else None,
        admin=ui.admin if ui else False,
        csrf=ui.session.csrf if ui else "",
        **values,
    )
    return HTMLResponse(page, status_code=status_code, headers={"Cache-Control": "no-store"})


class UiView:
    """The logged-in viewer of a request: session, key and the app's context."""

    def __init__(self, context: ApiContext, session: UiSession, principal: Principal) -> None:
        self.context = context
        self.session = session
        self.principal = principal

    @property
    def admin(self) -> bool:
        """Whether the key carries the ``admin`` scope."""
        return "admin" in self.principal.scopes


def ui_context(request: Request) -> ApiContext:
    """The REST API's context, shared with the inspector."""
    context = request.app.state.context
    assert isinstance(context, ApiContext)
    return context


def sessions(request: Request) -> SessionStore:
    """The inspector's session store."""
    store = request.app.state.sessions
    assert isinstance(store, SessionStore)
    return store


def viewer(request: Request) -> UiView:
    """The logged-in viewer (counted against its tenant's rate limit); else 401."""
    context = ui_context(request)
    session, principal = sessions(request).resolve(request.cookies.get(SESSION_COOKIE))
    principal.require("read")
    context.limiter.check(principal.user_id, principal.rate_limit_requests)
    view = UiView(context, session, principal)
    request.state.ui = view
    return view


def admin_viewer(view: Annotated[UiView, Depends(viewer)]) -> UiView:
    """The viewer, who must hold the ``admin`` scope."""
    view.principal.require("admin")
    return view


Viewer = Annotated[UiView, Depends(viewer)]
AdminViewer = Annotated[UiView, Depends(admin_viewer)]


async def checked_form(request: Request, view: Viewer) -> dict[str, str]:
    """The form of a POST whose CSRF token matches the session's; raises :class:`CsrfError`."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    given = fields.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not tokens_match(view.session.csrf, given):
        raise CsrfError("missing or wrong CSRF token; reload the page and try again")
    return fields


CheckedForm = Annotated[dict[str, str], Depends(checked_form)]
