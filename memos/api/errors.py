"""Errors as structured JSON with stable codes: ``{"error": {"code": ..., "message": ...}}``.

The code is derived from the class in the :mod:`memos.errors` hierarchy (the most specific
match wins), so clients can branch on ``code`` while ``message`` stays human-readable.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from memos import errors
from memos.api.auth import ApiKeyNotFoundError, AuthenticationError, InsufficientScopeError
from memos.api.ratelimit import RateLimitedError
from memos.mem_os.registry import CubeExistsError, UnknownCubeError, UnknownUserError

logger = logging.getLogger(__name__)

#: Most specific first: the first class the error is an instance of decides status and code.
ERROR_MAP: tuple[tuple[type[errors.MemOSError], int, str], ...] = (
    (AuthenticationError, 401, "unauthenticated"),
    (InsufficientScopeError, 403, "insufficient_scope"),
    (RateLimitedError, 429, "rate_limited"),
    (errors.AccessDeniedError, 403, "access_denied"),
    (ApiKeyNotFoundError, 404, "not_found"),
    (UnknownUserError, 404, "not_found"),
    (UnknownCubeError, 404, "not_found"),
    (errors.MemoryNotFoundError, 404, "not_found"),
    (CubeExistsError, 409, "conflict"),
    (errors.KVCacheCompatibilityError, 409, "incompatible_cache"),
    (errors.ConfigError, 422, "invalid_config"),
    (errors.InvalidMemoryInputError, 422, "invalid_input"),
    (errors.DumpFormatError, 422, "invalid_dump"),
    (errors.EventValidationError, 422, "invalid_event"),
    (errors.ExtractionError, 422, "extraction_failed"),
    (errors.MemoryOperationError, 400, "invalid_operation"),
    (errors.EventTimeoutError, 504, "timeout"),
    (errors.CubeLockBusyError, 503, "busy"),
    (errors.SchedulerError, 503, "scheduler_unavailable"),
    (errors.EmbeddedStackError, 503, "stack_unavailable"),
    (errors.BackendError, 502, "backend_error"),
    (errors.MemOSError, 500, "internal_error"),
)

#: Every code the API can answer with (documented in docs/api.md and the OpenAPI schema).
HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def classify(exc: errors.MemOSError) -> tuple[int, str]:
    """The HTTP status and stable code of a project error."""
    for cls, status, code in ERROR_MAP:
        if isinstance(exc, cls):
            return status, code
    return 500, "internal_error"


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    """The JSON body of every error response."""
    return {"error": {"code": code, "message": message}}


def _response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


async def _memos_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.MemOSError)
    status, code = classify(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(exc.retry_after_s)
    elif status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="memos"'
    if status >= 500:
        logger.warning(
            "%s %s failed: %s (%s)", request.method, request.url.path, code, type(exc).__name__
        )
    return _response(status, code, str(exc), headers or None)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors()[:5]:
        path = ".".join(str(p) for p in err.get("loc", ())) or "<request>"
        problems.append(f"{path}: {err.get('msg', 'invalid')}")
    return _response(422, "invalid_request", "; ".join(problems) or "invalid request")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    return _response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}) or None)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("%s %s crashed", request.method, request.url.path)
    return _response(500, "internal_error", "internal server error; see the server log")


def install_error_handlers(app: FastAPI) -> None:
    """Route project errors, validation errors and HTTP errors to the JSON error shape."""
    app.add_exception_handler(errors.MemOSError, _memos_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
