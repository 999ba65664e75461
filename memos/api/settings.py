"""Settings of the HTTP API and how a ``memos api`` process finds its MOS.

``memos api --config FILE`` accepts either a deployment file (``config/embedded.yaml``,
``config/production.yaml``: it has a top-level ``mode`` or ``api`` key) or a plain MOS config
(MemOS's ``MOSConfig`` JSON/YAML). :func:`build_runtime` resolves either into a running MOS plus
the Redis and scheduler settings the API needs for keys, limits and health.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import yaml
from pydantic import ConfigDict, Field

from memos.configs.base import BaseConfig
from memos.configs.loader import apply_env_overrides
from memos.configs.mem_os import MOSConfig
from memos.errors import ConfigError
from memos.mem_os.main import MOS
from memos.mem_scheduler.config import DeploymentConfig, SchedulerConfig

logger = logging.getLogger(__name__)

#: Environment variable holding an API key (``memos mcp --transport stdio`` reads it).
API_KEY_ENV = "MEMOS_API_KEY"


class ApiSettings(BaseConfig):
    """How the API authenticates, limits and where it reads and writes cube directories."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate_limit_requests: int = Field(
        600, ge=1, description="requests a tenant may make per window (a key may set its own)"
    )
    rate_limit_window_s: int = Field(60, ge=1, description="fixed window length")
    exports_dir: str | None = Field(
        None,
        description="where dump/load directories live (one folder per tenant); default "
        "<data home>/api-exports",
    )
    chat_chunk_chars: int = Field(
        48, ge=1, description="size of the SSE chunks a full chat answer is split into"
    )


@dataclass
class ApiRuntime:
    """What the app needs at run time: the facade, the bus Redis and the scheduler settings."""

    mos: MOS
    redis: redis.Redis
    scheduler: SchedulerConfig
    data_home: Path

    def close(self) -> None:
        """Close the facade and the Redis connection."""
        self.mos.close()
        self.redis.close()


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def load_mos_config(path: str | Path, env: Mapping[str, str] | None = None) -> MOSConfig:
    """A MOSConfig from a MOS config file or from a deployment file (see module doc)."""
    file = Path(path)
    data = _read(file)
    if env is not None:
        data = apply_env_overrides(data, env)
    if "mode" not in data and "api" not in data:
        return MOSConfig.validate_data(data, source=str(file))
    deployment = DeploymentConfig.validate_data(data, source=str(file))
    mos: dict[str, Any] = {"scheduler": deployment.scheduler.model_dump(mode="json")}
    if deployment.llm is not None:
        mos["chat_model"] = deployment.llm.model_dump(mode="json")
    if deployment.mode == "production":
        # The daemon and workers run in their own containers: never start them from here.
        mos["embedded"] = None
    return MOSConfig.validate_data(mos, source=str(file))


def build_runtime(config: MOSConfig) -> ApiRuntime:
    """Start (or reach) the bus, then build the process's one MOS on it.

    With ``embedded`` settings the stack, daemon and worker are started when they are not
    running; the MOS is then pointed at the resolved bus so it does not resolve it a second time.
    """
    from memos.mem_os.services import data_home as embedded_home
    from memos.mem_os.services import ensure_embedded

    if config.embedded is not None:
        scheduler, home = ensure_embedded(config.embedded, config.scheduler)
        resolved = config.model_copy(update={"embedded": None, "scheduler": scheduler})
    else:
        assert config.scheduler is not None  # MOSConfig's validator guarantees it
        scheduler = config.scheduler
        from memos.configs.loader import memos_home

        home = memos_home(os.environ)
        resolved = config
    mos = MOS(resolved)
    if config.embedded is not None:
        mos.data_home = embedded_home(config.embedded)
    client = redis.Redis.from_url(scheduler.redis_url)
    logger.info("api runtime ready on prefix %s", scheduler.prefix)
    return ApiRuntime(mos=mos, redis=client, scheduler=scheduler, data_home=home)


def resolve_bus(config: MOSConfig) -> SchedulerConfig:
    """The bus settings of ``config`` without starting the daemon or a worker.

    On the embedded default only the stack (Redis + ArcadeDB) is started when down, which is
    all that key management needs.
    """
    if config.embedded is None:
        assert config.scheduler is not None
        return config.scheduler
    from memos.embedded.stack import STACK_DIR_NAME, EmbeddedStack
    from memos.mem_os.services import data_home

    stack = EmbeddedStack(data_home(config.embedded) / STACK_DIR_NAME)
    state = stack.up(timeout_s=config.embedded.startup_timeout_s)
    base = config.scheduler or SchedulerConfig()
    return base.model_copy(update={"redis_url": state.redis.url})
