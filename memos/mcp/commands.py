"""``memos mcp --transport stdio|http``: serve the MCP tools."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Literal

import typer

from memos.api.auth import ApiKeyStore, Principal
from memos.api.ratelimit import FixedWindowRateLimiter
from memos.api.settings import API_KEY_ENV, ApiRuntime, build_runtime, load_mos_config
from memos.configs.mem_os import MOSConfig
from memos.errors import MemOSError
from memos.mcp.tenancy import USER_ENV, TenantResolver, principal_for_user

logger = logging.getLogger(__name__)


def mcp(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="deployment file or MOS config; default: embedded"),
    ] = None,
    transport: Annotated[
        str, typer.Option(help="stdio (one tenant per process) or http (API key per request)")
    ] = "stdio",
    user: Annotated[
        str | None, typer.Option(help=f"stdio tenant (default ${USER_ENV})", show_default=False)
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help=f"stdio API key (default ${API_KEY_ENV})", show_default=False)
    ] = None,
    host: str = "127.0.0.1",
    port: int = 8765,
    rate_limit: Annotated[int, typer.Option(help="http: requests per tenant per window")] = 600,
    rate_window_s: int = 60,
) -> None:
    """Serve add_memory, search_memories, get_memory, delete_memory and chat over MCP."""
    if transport not in ("stdio", "http"):
        raise typer.BadParameter("use stdio or http", param_hint="--transport")
    mode: Literal["stdio", "http"] = "stdio" if transport == "stdio" else "http"
    try:
        mos_config = load_mos_config(config, env=os.environ) if config else MOSConfig()
        runtime = build_runtime(mos_config)
    except MemOSError as exc:
        typer.echo(f"memos mcp: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        prefix = runtime.scheduler.prefix
        keys = ApiKeyStore(runtime.redis, prefix=prefix)
        limiter = FixedWindowRateLimiter(
            runtime.redis, prefix=prefix, limit=rate_limit, window_s=rate_window_s
        )
        resolver = TenantResolver(keys=keys, limiter=limiter)
        if mode == "stdio":
            try:
                resolver.fixed = _stdio_principal(keys, runtime, user, api_key)
            except MemOSError as exc:
                typer.echo(f"memos mcp: {exc}", err=True)
                raise typer.Exit(1) from None
        from memos.mcp.server import build_server

        server = build_server(runtime.mos, resolver)
        if mode == "stdio":
            server.run("stdio")
        else:
            import uvicorn

            uvicorn.run(server.streamable_http_app(host=host), host=host, port=port)
    finally:
        runtime.close()


def _stdio_principal(
    keys: ApiKeyStore, runtime: ApiRuntime, user: str | None, api_key: str | None
) -> Principal:
    key = api_key or os.environ.get(API_KEY_ENV)
    if key:
        return keys.verify(key)
    name = user or os.environ.get(USER_ENV)
    if not name:
        raise typer.BadParameter(
            f"stdio needs a tenant: --api-key / ${API_KEY_ENV} or --user / ${USER_ENV}"
        )
    return principal_for_user(runtime.mos.registry, name)
