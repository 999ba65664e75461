"""Settings of the event bus, the MemScheduler daemon and its Celery workers."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from memos.configs.base import BaseConfig
from memos.configs.embedder import EmbedderConfigFactory
from memos.configs.graph_db import GraphDBConfigFactory
from memos.configs.llm import LLMConfigFactory
from memos.configs.loader import load_config
from memos.mem_scheduler.constants import ALL_QUEUES, DEFAULT_PREFIX, SchedulerKeys

_NAME_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"


def default_consumer_name() -> str:
    """A consumer name unique to this process: ``host-pid``."""
    return f"{socket.gethostname()}-{os.getpid()}"


class SchedulerConfig(BaseConfig):
    """Everything the daemon, the transport and the workers need to agree on.

    One file configures all three so that stream names, prefixes and limits cannot drift apart.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="redis-py URL of the event bus (redis://, rediss:// or unix://)",
    )
    prefix: str = Field(DEFAULT_PREFIX, pattern=_NAME_PATTERN)
    consumer_name: str | None = Field(
        None, description="consumer name in the group; host-pid when unset", pattern=_NAME_PATTERN
    )
    execution: Literal["celery", "inline"] = Field(
        "celery",
        description="celery: route events to Celery queues; inline: run handlers in the daemon",
    )
    broker_url: str | None = Field(None, description="Celery broker; derived from redis_url")
    result_backend: str | None = Field(None, description="Celery results; derived from redis_url")
    handler_modules: tuple[str, ...] = Field(
        (), description="modules imported at start-up that call register_handler(...)"
    )

    block_ms: int = Field(1000, ge=1, description="XREADGROUP BLOCK")
    read_count: int = Field(100, ge=1, description="entries fetched per XREADGROUP")
    max_buffered: int = Field(
        2000, ge=1, description="read-ahead across tenants; more makes fairness see further"
    )
    # 128, not 32: with batching, events in flight are what a batch is made of; at 100
    # tenants a limit of 32 kept most adds in the daemon's queue behind the (higher-priority)
    # queries instead of in the next batch (BENCHMARKS.md, issue 15).
    max_in_flight: int = Field(128, ge=1, description="events executing at once (all cubes)")
    # On by default since adds and queries are batched in separate lanes (a search waits for
    # at most one add batch, never for an add's slot): at 100 tenants on the 2-core VM this
    # more than doubled the throughput (BENCHMARKS.md, issue 15). 1 turns batching off.
    batch_max_events: int = Field(
        32,
        ge=1,
        description="adds (and, separately, queries) ready at once are sent to one worker "
        "together, up to this many (one embedding call and one graph transaction for all of "
        "them); 1: one task per event",
    )
    batch_max_outstanding: int = Field(
        1,
        ge=1,
        description="unfinished batch tasks per event type at a time; events ready beyond "
        "that wait and form the next batch (one per worker process that should apply adds at "
        "once; the embedded stack sets it to its worker count)",
    )
    # The trade-off between the two lanes on a worker that serves both: a search waits for
    # the add batch in progress, so smaller add batches while searches are around mean faster
    # searches and slower adds. At 100 tenants on the 2-core VM (BENCHMARKS.md, issue 15,
    # round 8): a quarter gave 88-98 ops/s, add p95 2.0-2.4 s, search p95 0.35-0.39 s; three
    # quarters 103-104 ops/s, add p95 1.7-1.8 s, search p95 0.69-0.73 s; the whole batch
    # 100-114 ops/s, add p95 1.5-1.6 s, search p95 0.8-1.0 s.
    add_batch_share_while_searching: float = Field(
        0.75,
        gt=0,
        le=1,
        description="while searches wait or run, an add batch takes at most this share of "
        "batch_max_events (at least 1): lower favours search latency, higher add latency and "
        "throughput",
    )
    claim_idle_s: float = Field(30.0, gt=0, description="XAUTOCLAIM entries idle this long")
    claim_interval_s: float | None = Field(None, gt=0, description="default claim_idle_s / 2")
    # 5 attempts with 0.5 s doubling backoff span about 7.5 s (plus the graph driver's own 10 s
    # of retries inside each attempt): enough to ride out a graph-server or Redis restart
    # without dead-lettering the events in flight, as the reliability suite measured.
    max_attempts: int = Field(5, ge=1)
    unavailable_retry_s: float = Field(
        300.0,
        ge=0,
        description=(
            "attempts failing because a backend is unreachable do not count toward max_attempts "
            "for this long from the first such failure (backoff up to backoff_max_s); 0: count them"
        ),
    )
    backoff_base_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(30.0, ge=0)
    task_timeout_s: float = Field(300.0, gt=0, description="wait for one worker attempt")
    result_ttl_s: int = Field(3600, ge=1, description="how long replies and results are kept")
    idempotency_ttl_s: int = Field(7 * 24 * 3600, ge=1, description="how long done:<key> lives")
    max_event_bytes: int = Field(1024 * 1024, ge=256)
    shutdown_grace_s: float = Field(10.0, ge=0)
    heartbeat_interval_s: float = Field(5.0, gt=0)
    loop_error_backoff_s: float = Field(1.0, ge=0)
    attempts_ttl_s: int = Field(
        7 * 24 * 3600, ge=1, description="how long an entry's persisted attempt counter lives"
    )
    trim_interval_s: float | None = Field(
        60.0, gt=0, description="how often a replica trims finished entries; None: never"
    )
    retain_s: float = Field(
        3600.0, ge=0, description="finished entries are kept this long (unless over max_len)"
    )
    max_len: int | None = Field(
        100_000,
        ge=1,
        description="over this many entries, every finished entry is trimmed whatever its age",
    )
    metrics_host: str = Field("127.0.0.1", description="address the /metrics endpoints bind")
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="the daemon's /metrics port; 0: any free port"
    )
    worker_metrics_port: int | None = Field(
        None, ge=0, le=65535, description="a worker's /metrics port; 0: any free port"
    )
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("redis_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("redis_url must start with redis://, rediss:// or unix://")
        return value

    @model_validator(mode="after")
    def _check_timings(self) -> SchedulerConfig:
        if self.backoff_max_s < self.backoff_base_s:
            raise ValueError("backoff_max_s must be >= backoff_base_s")
        return self

    @property
    def keys(self) -> SchedulerKeys:
        """Stream and key names under this config's prefix."""
        return SchedulerKeys(self.prefix)

    @property
    def consumer(self) -> str:
        """This process's consumer name."""
        return self.consumer_name or default_consumer_name()

    @property
    def claim_every_s(self) -> float:
        """How often to run XAUTOCLAIM (and touch our own pending entries)."""
        return self.claim_interval_s or self.claim_idle_s / 2

    @property
    def celery_broker_url(self) -> str:
        """Celery broker URL (kombu spells a unix socket ``redis+socket://``)."""
        return self.broker_url or celery_url(self.redis_url)

    @property
    def celery_result_backend(self) -> str:
        """Celery result backend URL."""
        return self.result_backend or celery_url(self.redis_url)

    def backoff_s(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (1-based): base * 2**(attempt-1), capped."""
        return float(min(self.backoff_max_s, self.backoff_base_s * (2 ** max(0, attempt - 1))))


def celery_url(redis_url: str) -> str:
    """Translate a redis-py URL to kombu's spelling (unix sockets differ)."""
    if redis_url.startswith("unix://"):
        path, _, query = redis_url[len("unix://") :].partition("?")
        db = "0"
        for part in query.split("&"):
            if part.startswith("db="):
                db = part[3:]
        return f"redis+socket://{path}?virtual_host={db}"
    return redis_url


class WorkerPoolConfig(BaseConfig):
    """How ``memos worker`` runs when started from a deployment file (CLI flags override)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queues: tuple[str, ...] = Field(ALL_QUEUES, min_length=1, description="first listed first")
    pool: Literal["prefork", "solo", "threads"] = "prefork"
    concurrency: int = Field(2, ge=1, description="processes (or threads) per worker container")

    @field_validator("queues")
    @classmethod
    def _known_queues(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(ALL_QUEUES))
        if unknown:
            raise ValueError(f"unknown queues {unknown}; known: {', '.join(ALL_QUEUES)}")
        return value


class ApiConfig(BaseConfig):
    """Where the HTTP API (``memos api``) listens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)


class DeploymentConfig(BaseConfig):
    """One file for a whole deployment: the bus and daemon, workers, graph store, chat model, API.

    ``config/embedded.yaml`` and ``config/production.yaml`` validate against it; every process
    (daemon, workers, API) reads the same file, and secrets come from environment overrides
    (``MEMOS__GRAPH_DB__CONFIG__PASSWORD=...``) applied by
    :func:`memos.configs.loader.load_config`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["embedded", "production"] = "embedded"
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)  # type: ignore[arg-type]
    workers: WorkerPoolConfig = Field(default_factory=WorkerPoolConfig)
    graph_db: GraphDBConfigFactory | None = None
    llm: LLMConfigFactory | None = None
    embedder: EmbedderConfigFactory | None = None
    api: ApiConfig = Field(default_factory=ApiConfig)

    @model_validator(mode="after")
    def _production_needs_services(self) -> DeploymentConfig:
        if self.mode == "production":
            missing = [name for name in ("graph_db", "llm") if getattr(self, name) is None]
            if missing:
                raise ValueError(f"a production deployment needs {', '.join(missing)}")
            graph = self.graph_db.config if self.graph_db is not None else None
            if graph is not None and not getattr(graph, "password", None):
                raise ValueError(
                    "graph_db.config.password is empty: set MEMOS__GRAPH_DB__CONFIG__PASSWORD"
                )
        return self


def load_deployment_config(
    path: str | Path, env: Mapping[str, str] | None = None
) -> DeploymentConfig:
    """Read a deployment file with environment overrides (``MEMOS__A__B=value``)."""
    return load_config(path, DeploymentConfig, env=env)


def load_scheduler_config(
    path: str | Path, env: Mapping[str, str] | None = None
) -> SchedulerConfig:
    """The scheduler settings of a deployment file, or of a plain scheduler config file."""
    return load_any_config(path, env)[0]


def load_any_config(
    path: str | Path, env: Mapping[str, str] | None = None
) -> tuple[SchedulerConfig, DeploymentConfig | None]:
    """Scheduler settings plus the deployment they belong to (None for a scheduler-only file).

    A file with a top-level ``scheduler`` key is a deployment file; anything else is validated
    as a :class:`SchedulerConfig` on its own.
    """
    if _is_deployment_file(Path(path)):
        deployment = load_deployment_config(path, env)
        return deployment.scheduler, deployment
    return load_config(path, SchedulerConfig, env=env), None


def _is_deployment_file(path: Path) -> bool:
    import json

    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError):
        return False  # load_config reports the problem with the file name
    return isinstance(data, dict) and "scheduler" in data
