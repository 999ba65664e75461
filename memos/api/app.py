"""The FastAPI app factory.

One :class:`~memos.mem_os.main.MOS` serves the whole process. Routes are plain ``def``
functions, so FastAPI runs each in its threadpool and the facade's blocking wait for the
worker's result (a BLPOP on a per-request reply key) never stalls the event loop. Reusing the
facade, rather than publishing on the transport directly, keeps one implementation of access
checks, cube-alias resolution, payload shapes and error translation for Python and HTTP clients.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from memos.api.auth import ApiKeyStore
from memos.api.deps import ApiContext
from memos.api.errors import install_error_handlers
from memos.api.ratelimit import FixedWindowRateLimiter
from memos.api.routes import admin, chat, cubes, memories, system
from memos.api.settings import ApiRuntime, ApiSettings
from memos.api.ui.app import create_ui_app
from memos.api.ui.web import UI_PREFIX

API_VERSION = "1.0.0"


def create_app(
    runtime: ApiRuntime, settings: ApiSettings | None = None, *, close_runtime: bool = False
) -> FastAPI:
    """Build the app around ``runtime`` (closed at shutdown when ``close_runtime``)."""
    settings = settings or ApiSettings()
    prefix = runtime.scheduler.prefix
    context = ApiContext(
        runtime=runtime,
        settings=settings,
        keys=ApiKeyStore(runtime.redis, prefix=prefix),
        limiter=FixedWindowRateLimiter(
            runtime.redis,
            prefix=prefix,
            limit=settings.rate_limit_requests,
            window_s=settings.rate_limit_window_s,
        ),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if close_runtime:
                runtime.close()

    app = FastAPI(
        title="MemOS daemon API",
        version=API_VERSION,
        description="The MOS operations over HTTP; every request acts as its API key's user.",
        lifespan=lifespan,
    )
    app.state.context = context
    install_error_handlers(app)
    for module in (system, admin, cubes, memories, chat):
        app.include_router(module.router)
    # The web inspector (server-rendered pages behind the same keys); see memos.api.ui.
    app.mount(UI_PREFIX, create_ui_app(context))
    return app
