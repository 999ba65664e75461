"""``memos api`` (serve the REST API) and ``memos api-key create|list|revoke``."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated

import redis
import typer

from memos.api.auth import ApiKeyStore
from memos.api.settings import ApiSettings, build_runtime, load_mos_config, resolve_bus
from memos.configs.mem_os import MOSConfig
from memos.errors import MemOSError
from memos.mem_os.registry import Registry

logger = logging.getLogger(__name__)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="deployment file (config/*.yaml) or MOS config (JSON/YAML); default: embedded",
    ),
]

api_key_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


def _mos_config(config: Path | None) -> MOSConfig:
    if config is None:
        return MOSConfig()
    return load_mos_config(config, env=os.environ)


def _api_section(config: Path | None) -> tuple[str | None, int | None]:
    """Host and port of a deployment file's ``api`` section, if it has one."""
    if config is None:
        return None, None
    from memos.mem_scheduler.config import load_any_config

    try:
        _, deployment = load_any_config(config, env=os.environ)
    except MemOSError:
        return None, None
    if deployment is None:
        return None, None
    return deployment.api.host, deployment.api.port


def api(
    config: ConfigOption = None,
    host: Annotated[
        str | None, typer.Option(help="default: the file's api.host or 127.0.0.1")
    ] = None,
    port: Annotated[int | None, typer.Option(help="default: the file's api.port or 8000")] = None,
    rate_limit: Annotated[int, typer.Option(help="requests per tenant per window")] = 600,
    rate_window_s: Annotated[int, typer.Option(help="rate-limit window in seconds")] = 60,
    exports_dir: Annotated[Path | None, typer.Option(help="dump/load folder root")] = None,
) -> None:
    """Serve the REST API (OpenAPI schema at /openapi.json, health at /health)."""
    import uvicorn

    from memos.api.app import create_app

    file_host, file_port = _api_section(config)
    settings = ApiSettings(
        rate_limit_requests=rate_limit,
        rate_limit_window_s=rate_window_s,
        exports_dir=str(exports_dir) if exports_dir else None,
    )
    try:
        runtime = build_runtime(_mos_config(config))
    except MemOSError as exc:
        typer.echo(f"memos api: {exc}", err=True)
        raise typer.Exit(1) from None
    app = create_app(runtime, settings, close_runtime=True)
    uvicorn.run(
        app,
        host=host or file_host or "127.0.0.1",
        port=port or file_port or 8000,
        log_level="info",
        # The facade is thread-safe; one process keeps one MOS and one connection pool.
        workers=1,
    )


def _store(config: Path | None) -> tuple[redis.Redis, Registry, ApiKeyStore]:
    scheduler = resolve_bus(_mos_config(config))
    client = redis.Redis.from_url(scheduler.redis_url)
    return client, Registry(client, prefix=scheduler.prefix), ApiKeyStore(client, scheduler.prefix)


@api_key_app.command(
    "create", epilog="Example: memos api-key create --user alice --scopes read,write"
)
def create_key(
    user: Annotated[str, typer.Option("--user", help="the tenant (created when missing)")],
    scopes: Annotated[str, typer.Option("--scopes", help="comma-separated: read,write,admin")],
    config: ConfigOption = None,
    name: Annotated[str, typer.Option(help="a label for the key")] = "",
    rate_limit: Annotated[
        int | None, typer.Option(help="this tenant's requests per window")
    ] = None,
) -> None:
    """Create a key and print it once (only its salted hash is stored)."""
    from memos.api.auth import parse_scopes

    try:
        parsed = parse_scopes(scopes)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--scopes") from None
    try:
        client, registry, store = _store(config)
        try:
            registry.create_user(user)
            key, record = store.create(user, parsed, name=name, rate_limit_requests=rate_limit)
        finally:
            client.close()
    except MemOSError as exc:
        typer.echo(f"memos api-key create: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(key)
    typer.echo(f"key id {record.key_id} for user {user}, scopes {','.join(parsed)}", err=True)


@api_key_app.command("list", epilog="Example: memos api-key list --user alice")
def list_keys(
    config: ConfigOption = None,
    user: Annotated[str | None, typer.Option("--user")] = None,
) -> None:
    """Print key metadata as JSON lines (never the secrets)."""
    client, _, store = _store(config)
    try:
        for record in store.list(user):
            typer.echo(json.dumps(record.model_dump(mode="json", exclude={"salt", "digest"})))
    finally:
        client.close()


@api_key_app.command("revoke", epilog="Example: memos api-key revoke 3f9c2a1b")
def revoke_key(key_id: str, config: ConfigOption = None) -> None:
    """Revoke a key by its id."""
    client, _, store = _store(config)
    try:
        if not store.revoke(key_id):
            typer.echo(f"no API key {key_id}", err=True)
            raise typer.Exit(1)
    finally:
        client.close()
