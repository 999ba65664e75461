"""Config of background reorganisation of tree memory (tiers, dedup, conflicts, hierarchy)."""

from __future__ import annotations

from pydantic import Field, model_validator

from memos.configs.base import BaseConfig
from memos.configs.llm import LLMConfigFactory


class ReorganizeConfig(BaseConfig):
    """What one ``reorganize_cube`` run does and how far it may go.

    Phases run in order (tiers, dedup, conflicts, hierarchy); each can be switched off.
    Without ``llm`` every decision is rule-based; with it, an OpenAI-compatible (or any) chat
    model judges borderline duplicate / contradiction pairs and writes topic summaries.
    """

    # -- tiers ------------------------------------------------------------------------------
    tiers: bool = True
    working_capacity: int = Field(
        default=20, gt=0, description="WorkingMemory kept per (user, session); the rest moves on"
    )
    long_term_cap: int | None = Field(
        default=None, gt=0, description="activated LongTermMemory beyond this is archived"
    )
    user_memory_cap: int | None = Field(
        default=None, gt=0, description="activated UserMemory beyond this is archived"
    )
    recency_half_life_s: float = Field(default=7 * 86400.0, gt=0)
    recency_weight: float = Field(default=0.5, ge=0)
    usage_weight: float = Field(default=0.3, ge=0)
    importance_weight: float = Field(default=0.2, ge=0)

    # -- dedup ------------------------------------------------------------------------------
    dedup: bool = True
    near_dup_threshold: float = Field(
        default=0.92, gt=0.0, le=1.0, description="cosine at or above which two memories merge"
    )
    near_dup_neighbors: int = Field(
        default=8, gt=0, description="candidate neighbours kept per memory"
    )
    dedup_require_same_key: bool = Field(
        default=True, description="near duplicates must share their key when both have one"
    )
    max_group_size: int = Field(default=50, ge=2, description="largest set merged into one")

    # -- conflicts --------------------------------------------------------------------------
    conflicts: bool = True

    # -- hierarchy --------------------------------------------------------------------------
    hierarchy: bool = True
    cluster_min_size: int = Field(default=3, ge=2, description="smallest cluster given a parent")
    cluster_target_size: int = Field(default=25, ge=2, description="memories per cluster aimed at")
    max_clusters: int = Field(default=256, ge=2)
    parent_reuse_share: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="an existing parent is kept when more than this share of its children "
        "fall in one new cluster",
    )
    kmeans_iterations: int = Field(default=20, gt=0)
    seed: int = 1234

    # -- budget -----------------------------------------------------------------------------
    time_budget_s: float = Field(default=120.0, gt=0, description="default deadline of a run")
    write_batch: int = Field(default=200, gt=0, description="changes per write transaction")
    faiss_threads: int = Field(default=1, gt=0)

    # -- optional LLM judge -----------------------------------------------------------------
    llm: LLMConfigFactory | None = None
    llm_candidate_threshold: float = Field(
        default=0.80,
        gt=0.0,
        le=1.0,
        description="pairs at or above this cosine (and below near_dup_threshold) go to the LLM",
    )
    max_llm_calls: int = Field(default=64, ge=0, description="LLM requests per run at most")

    @model_validator(mode="after")
    def _thresholds(self) -> ReorganizeConfig:
        if self.llm_candidate_threshold > self.near_dup_threshold:
            raise ValueError("llm_candidate_threshold must not exceed near_dup_threshold")
        return self
