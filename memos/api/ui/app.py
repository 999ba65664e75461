"""The inspector's app, mounted by :func:`memos.api.app.create_app` at ``/ui``.

A FastAPI sub-application of its own, so its errors are HTML pages (JSON under ``/ui/api``)
while the REST API keeps its JSON errors; the status and code of a project error are the REST
API's (:func:`memos.api.errors.classify`), and nothing of a stack trace is ever shown. Every
response carries a strict Content-Security-Policy (scripts only from ``/ui/static``, no inline
script), so even text that escaped the templates' escaping could not run.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from memos import errors
from memos.api.deps import ApiContext
from memos.api.errors import HTTP_CODES, classify, error_body
from memos.api.ui import pages
from memos.api.ui.session import CsrfError, SessionStore
from memos.api.ui.web import HERE, UI_PREFIX, render

logger = logging.getLogger(__name__)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(f"{UI_PREFIX}/api/") or request.url.path.startswith("/api/")


def _error(request: Request, status: int, code: str, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse(error_body(code, message), status_code=status)
    if status == 401 and request.method == "GET":
        return RedirectResponse(f"{UI_PREFIX}/login", status_code=303)
    return render(request, "error.html", status, status=status, code=code, message=message)


async def _memos_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.MemOSError)
    if isinstance(exc, CsrfError):
        status, code = 403, "csrf_failed"
    else:
        status, code = classify(exc)
    if status >= 500:
        logger.warning("ui %s %s failed: %s (%s)", request.method, request.url.path, code, exc)
    return _error(request, status, code, str(exc))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
        for e in exc.errors()[:5]
    ]
    return _error(request, 422, "invalid_request", "; ".join(problems) or "invalid request")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    return _error(request, exc.status_code, code, str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("ui %s %s crashed", request.method, request.url.path)
    return _error(request, 500, "internal_error", "internal server error; see the server log")


def create_ui_app(context: ApiContext) -> FastAPI:
    """The inspector app over the REST API's ``context`` (mount it at :data:`UI_PREFIX`)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.context = context
    app.state.sessions = SessionStore(
        context.runtime.redis, context.keys, prefix=context.runtime.scheduler.prefix
    )

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    app.add_exception_handler(errors.MemOSError, _memos_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(pages.router)
    return app
