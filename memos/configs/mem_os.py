"""``MOSConfig``: MemOS's configuration of the MOS facade, plus where the event bus is.

The MemOS keys (``user_id``, ``chat_model``, ``mem_reader``, ``top_k``, ``max_turns_window``,
``enable_*``, ``mem_scheduler``) keep their meaning. Two keys say where the work happens:

- ``embedded`` (the default): the embedded stack of the data home (``home`` or ``$MEMOS_HOME``)
  is started if it is not running, together with the scheduler daemon and a worker;
- ``scheduler``: the bus settings (:class:`SchedulerConfig`); with ``embedded: null`` its
  ``redis_url`` names a production Redis whose daemon and workers run elsewhere.

``reorganize`` says when tree cubes are reorganised in the background (after N adds or T
seconds) and how (:class:`~memos.configs.organize.ReorganizeConfig`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from memos.configs.base import BaseConfig
from memos.configs.llm import HFLLMConfig, LLMConfigFactory
from memos.configs.mem_reader import MemReaderConfigFactory, SimpleStructMemReaderConfig
from memos.configs.organize import ReorganizeConfig
from memos.embedded.supervision import RestartPolicy
from memos.mem_scheduler.config import SchedulerConfig

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"


def _default_chat_model() -> LLMConfigFactory:
    return LLMConfigFactory(backend="huggingface", config=HFLLMConfig())


def _default_reader() -> MemReaderConfigFactory:
    return MemReaderConfigFactory(backend="simple_struct", config=SimpleStructMemReaderConfig())


class EmbeddedSettings(BaseConfig):
    """Run on the embedded stack of a data home; start it (and daemon + worker) when needed."""

    home: str | None = Field(default=None, description="data home; default $MEMOS_HOME or ~/.memos")
    start_services: bool = Field(
        default=True, description="start the scheduler daemon and a Celery worker if not running"
    )
    worker_pool: Literal["solo", "prefork", "threads"] = "solo"
    worker_concurrency: int = Field(default=1, ge=1)
    worker_torch_threads: int = Field(
        default=1,
        ge=1,
        description="torch intra-op threads per worker process (caps the embedder's "
        "num_threads): with one, a model call never waits for a thread that the database or "
        "the daemon preempted on a machine with few cores; add worker processes for throughput",
    )
    startup_timeout_s: float = Field(default=120.0, gt=0)
    supervise: bool = Field(
        default=True,
        description="run the daemon and worker under a supervisor that restarts them when they "
        "die and repairs Redis and ArcadeDB (docs/supervision.md)",
    )
    restart: RestartPolicy = Field(
        default_factory=RestartPolicy, description="the supervisor's back-off and restart limit"
    )
    supervisor_metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="serve the supervisor's /metrics (restart counters) on this port",
    )


def _default_reorganize_config() -> ReorganizeConfig:
    # A run holds its cube's event order (later queries of that cube wait for it), so the
    # background default is shorter than a manual run's 120 s; an unfinished run is resumed.
    return ReorganizeConfig(time_budget_s=30.0)


class ReorganizeSettings(BaseConfig):
    """When the daemon reorganises a tree cube by itself, and what a run does.

    After an add, a cube is due when ``every_n_adds`` adds were applied since its last run, or
    when at least one was and ``every_s`` seconds have passed since that run. One ``reorganize``
    event is then published (never two at once for one cube); it runs at background priority,
    within ``config.time_budget_s``, under the cube's lock.
    """

    enabled: bool | None = Field(
        default=None,
        description="None: follow each tree cube's text_mem 'reorganize' flag (MemOS); "
        "true / false: for every tree cube",
    )
    every_n_adds: int = Field(default=50, ge=1, description="adds that make a cube due")
    every_s: float = Field(default=300.0, gt=0, description="seconds after which any add does")
    config: ReorganizeConfig = Field(default_factory=_default_reorganize_config)


class MemSchedulerSettings(BaseConfig):
    """MemOS's ``mem_scheduler`` block; the daemon replaces MemOS's in-process scheduler.

    Its ``config`` keys (``top_k``, ``act_mem_update_interval``, ...) are accepted so MemOS YAML
    loads; ``context_window_size`` sizes the working memory when given.
    """

    backend: str = "general_scheduler"
    config: dict[str, Any] = Field(default_factory=dict)


class MOSConfig(BaseConfig):
    """The MOS facade's settings (MemOS's keys plus ``embedded`` / ``scheduler``)."""

    user_id: str = Field(default="root", pattern=ID_PATTERN)
    session_id: str = Field(default="default", pattern=ID_PATTERN)
    chat_model: LLMConfigFactory = Field(default_factory=_default_chat_model)
    mem_reader: MemReaderConfigFactory = Field(default_factory=_default_reader)
    mem_scheduler: MemSchedulerSettings | None = None
    max_turns_window: int = Field(default=15, ge=1, description="chat history kept, in messages")
    top_k: int = Field(default=5, ge=1, le=1000)
    enable_textual_memory: bool = True
    enable_activation_memory: bool = False
    enable_parametric_memory: bool = False
    enable_mem_scheduler: bool = False
    PRO_MODE: bool = False
    working_memory_capacity: int = Field(default=20, ge=1)
    event_timeout_s: float = Field(default=300.0, gt=0, description="wait for one event's result")
    reorganize: ReorganizeSettings = Field(default_factory=ReorganizeSettings)
    scheduler: SchedulerConfig | None = None
    embedded: EmbeddedSettings | None = Field(default_factory=EmbeddedSettings)

    @model_validator(mode="after")
    def _bus_is_named(self) -> MOSConfig:
        if self.embedded is None and self.scheduler is None:
            raise ValueError("set 'scheduler' (with its redis_url) when 'embedded' is null")
        if self.enable_parametric_memory:
            raise ValueError(
                "parametric memory is not implemented; set enable_parametric_memory false"
            )
        return self
