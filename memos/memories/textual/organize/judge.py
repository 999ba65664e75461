"""The optional LLM judge: one chat model behind a call budget, failures counted, never fatal.

A judge that cannot answer (server down, bad JSON) leaves the decision to the rules: the pair
is treated as unrelated and the topic keeps its extractive summary.
"""

from __future__ import annotations

import logging

from memos.configs.organize import ReorganizeConfig
from memos.errors import LLMError
from memos.llms.base import BaseLLM
from memos.llms.factory import LLMFactory
from memos.llms.openai import OpenAILLM
from memos.memories.textual.organize.prompts import (
    PairContext,
    PairJudgement,
    TopicContext,
    TopicSummary,
    pair_messages,
    parse_pair,
    parse_topic,
    topic_messages,
)

logger = logging.getLogger(__name__)


class LLMJudge:
    """Asks a chat model about pairs and topics, at most ``max_calls`` times per run."""

    def __init__(self, llm: BaseLLM, max_calls: int) -> None:
        self.llm = llm
        self.max_calls = max_calls
        self.calls = 0
        self.failures = 0

    @classmethod
    def from_config(cls, config: ReorganizeConfig) -> LLMJudge | None:
        """The judge ``config.llm`` names, or ``None`` when there is none."""
        if config.llm is None or config.max_llm_calls == 0:
            return None
        return cls(LLMFactory.from_config(config.llm), config.max_llm_calls)

    @property
    def exhausted(self) -> bool:
        """True once the call budget is spent."""
        return self.calls >= self.max_calls

    def _ask(self, messages: list[dict[str, str]]) -> str | None:
        if self.exhausted:
            return None
        self.calls += 1
        # JSON mode where the server speaks OpenAI's API; other backends get the prompt alone.
        extra = (
            {"response_format": {"type": "json_object"}} if isinstance(self.llm, OpenAILLM) else {}
        )
        try:
            return self.llm.generate(messages, **extra)
        except LLMError as exc:
            self.failures += 1
            logger.warning("reorganise judge failed: %s", exc)
            return None

    def judge_pair(self, context: PairContext) -> PairJudgement | None:
        """How the newer memory relates to the older, or ``None`` (no budget, no answer)."""
        reply = self._ask(pair_messages(context))
        if reply is None:
            return None
        try:
            return parse_pair(reply)
        except LLMError as exc:
            self.failures += 1
            logger.warning("reorganise judge gave an unusable pair answer: %s", exc)
            return None

    def summarise(self, context: TopicContext) -> TopicSummary | None:
        """A title and summary of a cluster, or ``None``."""
        reply = self._ask(topic_messages(context))
        if reply is None:
            return None
        try:
            return parse_topic(reply)
        except LLMError as exc:
            self.failures += 1
            logger.warning("reorganise judge gave an unusable topic answer: %s", exc)
            return None

    def close(self) -> None:
        """Release the model's HTTP pool where it has one."""
        close = getattr(self.llm, "close", None)
        if callable(close):
            close()
