"""MemReader configs: ``MemReaderConfigFactory`` picks one by ``backend``.

Key names follow MemOS's ``simple_struct_reader_config.json`` (``llm``, ``embedder``,
``chunker``) so its example files validate; the extra keys (``mode``, ``max_retries``, ...)
tune the rule-based fast mode and the LLM fine mode and all have defaults.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from memos.configs.base import BaseConfig, BaseConfigFactory
from memos.configs.embedder import EmbedderConfigFactory
from memos.configs.llm import LLMConfigFactory


class BaseChunkerConfig(BaseConfig):
    """How documents are cut into overlapping chunks (MemOS's chunker keys).

    ``tokenizer_or_token_counter`` is kept for MemOS compatibility; tokens are counted as
    word-like pieces (no tokenizer download), which for English is within ~25% of GPT-2.
    """

    tokenizer_or_token_counter: str = "gpt2"
    chunk_size: int = Field(default=512, gt=0, description="maximum tokens per chunk")
    chunk_overlap: int = Field(default=128, ge=0, description="tokens shared by neighbours")
    min_sentences_per_chunk: int = Field(default=1, gt=0)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> BaseChunkerConfig:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than "
                f"chunk_size ({self.chunk_size})"
            )
        return self


class SentenceChunkerConfig(BaseChunkerConfig):
    """Sentence-aware chunker: chunks end on sentence boundaries where possible."""


class ChunkerConfigFactory(BaseConfigFactory):
    """``{"backend": "sentence", "config": {...}}``."""

    backend_to_class: ClassVar[dict[str, type[BaseConfig]]] = {
        "sentence": SentenceChunkerConfig,
    }


def _default_chunker() -> ChunkerConfigFactory:
    return ChunkerConfigFactory.model_validate({"backend": "sentence", "config": {}})


class BaseMemReaderConfig(BaseConfig):
    """Fields every MemReader has (MemOS names)."""

    created_at: datetime = Field(default_factory=datetime.now)
    llm: LLMConfigFactory | None = Field(
        default=None, description="chat model for fine mode; fast mode needs none"
    )
    embedder: EmbedderConfigFactory | None = Field(
        default=None,
        description="kept for MemOS compatibility; memories are embedded by the text memory",
    )
    chunker: ChunkerConfigFactory = Field(default_factory=_default_chunker)


class SimpleStructMemReaderConfig(BaseMemReaderConfig):
    """The simple structured reader: rule-based ``fast`` mode and LLM ``fine`` mode."""

    mode: Literal["fast", "fine"] = Field(
        default="fast", description="default extraction mode when get_memory gets none"
    )
    max_retries: int = Field(
        default=2, ge=0, description="extra LLM calls per window after malformed output"
    )
    window_size: int = Field(
        default=12, gt=0, description="chat messages per fine-mode window / fast-mode scene"
    )
    context_turns: int = Field(
        # 2 measured best on LoCoMo (R@10 0.682 vs 0.658 with 1 and 0.573 with 0, 2 convs).
        default=2,
        ge=0,
        description="fast mode: previous turns quoted in a memory's text for retrieval",
    )
    embed_context_turns: int = Field(
        # The vector quotes the nearest turn only (clipped to embed_quote_chars); keyword search
        # still reads all context_turns. 39 % fewer tokens to embed, same LoCoMo R@10 (see
        # BENCHMARKS.md, "Throughput at scale").
        default=1,
        ge=0,
        description="fast mode: previous turns quoted in the text a memory's vector is "
        "computed from (at most context_turns; fewer tokens make adds cheaper)",
    )
    embed_quote_chars: int = Field(
        default=60,
        gt=0,
        description="fast mode: characters of each quoted turn in the text the vector is "
        "computed from",
    )
    embedding_mode: Literal["text", "composite"] = Field(
        # composite: LoCoMo R@10 0.799 vs 0.783 in text mode (train, conversations 1-5, where the
        # weights were chosen) and 0.779 vs 0.743 (held-out 6-10), at about the raw turns' cost
        # (BENCHMARKS.md, "Composite vectors").
        default="composite",
        description="fast mode: how a memory's vector is made. text: embed one text (the "
        "turn with its header and a clipped quote of the previous turn); composite: embed the "
        "turn, its header and the previous turn(s) as parts (each distinct part once per call, "
        "recent parts cached) and combine their unit vectors with the weights below",
    )
    composite_turn_weight: float = Field(
        default=1.0, gt=0.0, description="composite mode: weight of the turn's own text"
    )
    composite_header_weight: float = Field(
        default=0.7,
        gt=0.0,
        description="composite mode: weight of the header ('<speaker> said on <date>')",
    )
    composite_context_weight: float = Field(
        # Header 0.7 and context 0.35 had the best R@10 on LoCoMo conversations 1-5 of a grid
        # of header 0.3-1.0 x context 0.2-0.5 (BENCHMARKS.md, "Composite vectors").
        default=0.35,
        gt=0.0,
        description="composite mode: weight of each quoted context turn (the embed_context_turns "
        "previous turns and the context_turns_after following ones)",
    )
    composite_context_ref_words: int = Field(
        default=0,
        ge=0,
        description="composite mode: a context turn longer than this many words weighs "
        "composite_context_weight * this / its words (0: every context turn weighs "
        "composite_context_weight)",
    )
    context_turns_after: int = Field(
        default=0,
        ge=0,
        description="fast mode: following turns quoted in a memory's text for retrieval",
    )
    backchannel_max_words: int = Field(
        default=2,
        ge=0,
        description="fast mode: messages this short with no content word fold into a neighbour",
    )


class MemReaderConfigFactory(BaseConfigFactory):
    """``{"backend": "simple_struct", "config": {...}}``."""

    backend_to_class: ClassVar[dict[str, type[BaseConfig]]] = {
        "simple_struct": SimpleStructMemReaderConfig,
    }
