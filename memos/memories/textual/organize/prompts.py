"""Prompts of the optional LLM judge: pair relation (duplicate / contradiction) and topic summary.

Each prompt is a function returning a new message list from a typed context, with the pydantic
model its JSON answer must validate against beside it, and a lenient parser (models wrap JSON in
prose or code fences).
"""

from __future__ import annotations

import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from memos.errors import LLMError

PairRelation = Literal["duplicate", "contradiction", "unrelated"]


class PairContext(BaseModel):
    """Two memories of the same tier; ``older`` became true no later than ``newer``."""

    older: str
    newer: str
    older_time: str | None = None
    newer_time: str | None = None


class PairJudgement(BaseModel):
    """The judge's answer about a pair."""

    model_config = ConfigDict(extra="ignore")

    relation: PairRelation
    merged: str | None = Field(
        default=None, description="for duplicates: one memory keeping every detail of both"
    )


class TopicContext(BaseModel):
    """Memories of one cluster (the most central first)."""

    memories: list[str]


class TopicSummary(BaseModel):
    """A topic node's text."""

    model_config = ConfigDict(extra="ignore")

    title: str = Field(min_length=1, max_length=120)
    summary: str = Field(min_length=1, max_length=1200)


_PAIR_SYSTEM = """You maintain a user's long-term memory. Compare two memories.
Answer with one JSON object and nothing else:
{"relation": "duplicate" | "contradiction" | "unrelated", "merged": "..."}
- "duplicate": both state the same information (maybe in other words). Put in "merged" one
  sentence that keeps every detail of both.
- "contradiction": both are about the same attribute of the same subject and cannot both be true
  now (for example a new home, job or partner); the NEWER one is taken as current.
- "unrelated": anything else, including memories that are merely on the same topic."""

_TOPIC_SYSTEM = """You organise a user's memories into topics. Given memories of one topic,
answer with one JSON object and nothing else: {"title": "...", "summary": "..."}
The title has at most 8 words; the summary has at most 3 sentences and names the main people,
places and things the memories mention."""


def pair_messages(context: PairContext) -> list[dict[str, str]]:
    """Messages asking how ``context.newer`` relates to ``context.older``."""
    older_when = f" (from {context.older_time})" if context.older_time else ""
    newer_when = f" (from {context.newer_time})" if context.newer_time else ""
    user = f"OLDER{older_when}: {context.older}\nNEWER{newer_when}: {context.newer}"
    return [{"role": "system", "content": _PAIR_SYSTEM}, {"role": "user", "content": user}]


def topic_messages(context: TopicContext) -> list[dict[str, str]]:
    """Messages asking for a title and summary of one cluster."""
    lines = "\n".join(f"- {text}" for text in context.memories)
    return [
        {"role": "system", "content": _TOPIC_SYSTEM},
        {"role": "user", "content": f"Memories:\n{lines}"},
    ]


_FENCE_RE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def _json_object(reply: str) -> object:
    fenced = _FENCE_RE.search(reply)
    text = fenced.group(1) if fenced else reply
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise LLMError("the judge's answer holds no JSON object")
    try:
        return json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise LLMError(f"the judge's answer is not valid JSON: {exc.msg}") from exc


def parse_pair(reply: str) -> PairJudgement:
    """The judgement in ``reply`` (raises :class:`LLMError` when it has none)."""
    try:
        return PairJudgement.model_validate(_json_object(reply))
    except ValidationError as exc:
        raise LLMError(
            f"the judge's pair answer has the wrong shape: {exc.errors()[0]['msg']}"
        ) from exc


def parse_topic(reply: str) -> TopicSummary:
    """The topic summary in ``reply`` (raises :class:`LLMError` when it has none)."""
    try:
        return TopicSummary.model_validate(_json_object(reply))
    except ValidationError as exc:
        raise LLMError(
            f"the judge's topic answer has the wrong shape: {exc.errors()[0]['msg']}"
        ) from exc
